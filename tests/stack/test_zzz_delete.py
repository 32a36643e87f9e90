"""`sam delete` while a cluster is spilled: each cluster's RecordGuard<key> is deleted before
its records (it references them) and refuses while their serverless weight is above 0
(template.yaml, spillway::region::removal). On AWS the delete then stops with that cluster's
records, and everything they depend on, still there: CloudFormation deletes a resource only
after every resource that depends on it.

Emulator quirk (ministack 1.5.33): after a resource fails to delete, ministack goes on deleting
every other resource, those the failed one depends on included, and leaves the stack
DELETE_FAILED with the failed one alone (a second delete then finds its function gone). So
here the test holds the refusal itself (the stack's status names the guard, the check
function's log the reason); the order that keeps the records and the machines is held by
tests/template (test_each_clusters_record_guard_is_deleted_before_its_records,
test_the_records_are_deleted_before_anything_that_brings_the_weight_back), and a guard's delete
at rest by test_region.py's removal (payments' guard goes with its copy).

Runs last in its group: it deletes the deployed stack."""
import os
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_stack  # noqa: E402

STACK = os.environ.get("SPILLWAY_STACK")
CLUSTERS = ("orders", "tickets", "search")


def test_a_delete_while_spilled_is_refused_by_the_clusters_record_guard():
    assert STACK, "SPILLWAY_STACK must name the deployed local stack (scripts/test deploys it)"
    cf, sfn = boto3.client("cloudformation"), boto3.client("stepfunctions")
    out = {o["OutputKey"]: o["OutputValue"]
           for o in cf.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]}
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for page in cf.get_paginator("list_stack_resources").paginate(StackName=STACK)
                 for r in page["StackResourceSummaries"]}
    zone = resources["PrivateZone"].split("/")[-1]
    record = {k: out[f"ReadEndpoint{k}"] + "." for k in CLUSTERS}
    function = resources["ClusterCheckFunction"]
    # GIVEN no execution running, orders and search at rest and tickets spilled at 25 (by hand)
    for machine in (out["ScaleUpStateMachineArn"], out["ScaleDownStateMachineArn"]):
        deadline = time.monotonic() + 120
        while sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
            assert time.monotonic() < deadline, f"{machine} still runs an execution"
            time.sleep(1)
    for k in CLUSTERS:
        local_stack.set_weights(zone, record[k], 25 if k == "tickets" else 0, 100)
    # WHEN the stack is deleted
    cf.delete_stack(StackName=STACK)
    # THEN the delete fails at tickets' guard, and only there (orders' and search's, at rest,
    # are deleted)
    assert local_stack.settled(STACK) == "DELETE_FAILED"
    reason = cf.describe_stacks(StackName=STACK)["Stacks"][0].get("StackStatusReason", "")
    assert "RecordGuardtickets" in reason, reason
    assert "RecordGuardorders" not in reason and "RecordGuardsearch" not in reason, reason
    # AND the guard's answer names the record and its weight, and what to do
    logs = boto3.client("logs")
    group = f"/aws/lambda/{function}"
    refused = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=group) for e in page["events"]
        if "cluster check failed" in e["message"] and "reads.tickets" in e["message"]]
    assert len(refused) == 1, refused
    assert "reads.tickets.spillway.internal sends weight 25 to its serverless reader" in \
        refused[0] and "then delete again" in refused[0], refused
