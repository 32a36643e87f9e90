"""Every cluster of a Region from one stack (issue 10): the local stack watches three clusters
(orders, tickets, search: scripts/lib.sh LOCAL_CLUSTERS), deployed from template.yaml as
written. One subscription filter and one metrics function serve all three; a spike on one
cluster moves only that cluster's weights; adding a fourth cluster by a stack update, and
removing it again, each while another cluster spills, leave the others' resources, weights and
executions untouched.

This file runs last in its group (its tests build on each other's weights). Emulator quirks, as
in test_local_stack.py: it evaluates no alarms (the tests set the CPU alarms' states, the
composites follow) and cannot deliver aws.cloudwatch events (the tests start the executions
with the input the cluster's rule gives)."""
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_stack  # noqa: E402

STACK = os.environ.get("SPILLWAY_STACK")
CLI = os.environ.get("SPILLWAY_CLI_BIN", os.path.join(ROOT, "target", "debug", "spillway"))
CLUSTERS = ("orders", "tickets", "search")


def describe():
    cf = boto3.client("cloudformation")
    s = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    resources = []
    for page in cf.get_paginator("list_stack_resources").paginate(StackName=STACK):
        resources += page["StackResourceSummaries"]
    return {"status": s["StackStatus"],
            "parameters": {p["ParameterKey"]: p["ParameterValue"] for p in s["Parameters"]},
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in s["Outputs"]},
            "resources": {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}}


@pytest.fixture(scope="module")
def stack():
    assert STACK, "SPILLWAY_STACK must name the deployed local stack (scripts/test deploys it)"
    s = describe()
    assert s["parameters"]["Clusters"] == ",".join(CLUSTERS), s["parameters"]["Clusters"]
    zone = s["resources"]["PrivateZone"].split("/")[-1]
    s["weights"] = lambda key: local_stack.weights(zone, s["outputs"][f"ReadEndpoint{key}"] + ".")
    return s


def test_one_subscription_filter_and_one_function_serve_every_cluster(stack):
    # GIVEN the stack watching three clusters
    fn = stack["outputs"]["MetricsFunctionArn"]
    filters = boto3.client("logs").describe_subscription_filters(
        logGroupName="RDSOSMetrics")["subscriptionFilters"]
    # THEN RDSOSMetrics (one per Region, at most two filters) carries one filter, to the one
    # function, and that function watches the three clusters
    assert [f["destinationArn"] for f in filters] == [fn], filters
    env = boto3.client("lambda").get_function_configuration(
        FunctionName=fn)["Environment"]["Variables"]
    assert env["CLUSTER_IDENTIFIERS"].split(",") == list(CLUSTERS), env
    assert [t["cluster"] for t in json.loads(env["DIRECT_TRIGGER_TARGETS"])] == list(CLUSTERS)
    # WHEN the recorded spike plays as tickets' and search's readers at once
    name = fn.split(":")[-1]
    before = len(local_stack.emf_lines(name, 0, timeout=1))
    start = (datetime.now(timezone.utc) - timedelta(minutes=20)).replace(microsecond=0)
    n = sum(local_stack.put_spike(start, instances=["orders-reader-1", "orders-serverless"],
                                  seconds=10, cluster=c) for c in ("tickets", "search"))
    assert n == 40
    lines = local_stack.emf_lines(name, before + n)[before:]
    # THEN one EMF line per sample, each under its own cluster, role from that cluster's topology
    assert len(lines) == n, "one EMF line per sample"
    seen = {}
    for line in lines:
        key = (line["DBClusterIdentifier"], line["DBInstanceIdentifier"], line["Role"])
        seen[key] = seen.get(key, 0) + 1
    assert seen == {(c, f"{c}-{i}", role): 10 for c in ("tickets", "search")
                    for i, role in (("reader-1", "provisioned-reader"),
                                    ("serverless", "serverless-reader"))}, seen


def test_every_cluster_passes_the_preflight_check_in_one_run(stack):
    done = subprocess.run([CLI, "check", "--stack", STACK, "--json"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # JSON Lines: one report per watched cluster
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["cluster"] for r in reports] == list(CLUSTERS)
    for r in reports:
        bad = [f for f in r["findings"] if f["verdict"] in ("warn", "fail")]
        assert bad == [], (r["cluster"], bad)
    only = subprocess.run([CLI, "check", "--stack", STACK, "--cluster", "nope"],
                          capture_output=True, text=True)
    assert only.returncode == 2
    assert "watches no cluster key nope (its keys: orders, tickets, search)" in only.stderr


def high(key, state):
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=f"{STACK}-{key}-high-cpu", StateValue=state, StateReason="test")


def start_scale_up(stack, key):
    return boto3.client("stepfunctions").start_execution(
        stateMachineArn=stack["outputs"]["ScaleUpStateMachineArn"],
        input=json.dumps(local_stack.rule_input(key)))["executionArn"]


def entered(execution):
    history = boto3.client("stepfunctions").get_execution_history(
        executionArn=execution, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history
            if e.get("stateEnteredEventDetails")]


def test_a_spike_on_one_cluster_moves_only_its_weights(stack):
    # GIVEN tickets at rest, orders and search where the group's earlier tests left them
    # (test_local_stack's last test leaves orders spilled)
    assert stack["weights"]("tickets") == (0, 100)
    still = (stack["weights"]("orders"), stack["weights"]("search"))
    # WHEN tickets' high signal fires and its scale-up runs (as its rule starts it)
    high("tickets", "ALARM")
    up = start_scale_up(stack, "tickets")
    others = []

    def tick(w, _elapsed):
        others.append((stack["weights"]("orders"), stack["weights"]("search")))
        if w[0] >= 50:
            high("tickets", "OK")

    try:
        seen = local_stack.watch(lambda: stack["weights"]("tickets"), [up], on_tick=tick,
                                 timeout=90, interval=0.5)
    finally:
        high("tickets", "OK")
    # THEN tickets' weights rose step by step, and orders' and search's never moved
    assert seen == [(0, 100), (25, 100), (50, 100)], seen
    assert boto3.client("stepfunctions").describe_execution(executionArn=up)["status"] == "SUCCEEDED"
    assert others and set(others) == {still}, set(others)
    # (tickets stays spilled at 50: the next test adds a cluster while it and orders spill)


def update_while_spilling(stack, key, changed):
    """Updates the stack with the `changed` parameters while `key` spills (its high signal
    firing, a scale-up running, its serverless weight at 50 or more), and lets that scale-up
    end (the alarm cleared at 100). Returns the stack before and after, the weights of the
    starting three clusters as read throughout, and the scale-up's execution ARN."""
    sfn = boto3.client("stepfunctions")
    high(key, "ALARM")
    up = start_scale_up(stack, key)
    deadline = time.monotonic() + 60
    while stack["weights"](key)[0] < 50:
        assert time.monotonic() < deadline, f"no spill: {stack['weights'](key)}"
        time.sleep(0.5)
    before = describe()
    send_update(before, changed)
    seen = {k: [stack["weights"](k)] for k in CLUSTERS}
    stop = threading.Event()

    def read_weights():
        while not stop.is_set():
            for k in CLUSTERS:
                w = stack["weights"](k)
                if w != seen[k][-1]:
                    seen[k].append(w)
            time.sleep(0.25)

    reader = threading.Thread(target=read_weights)
    reader.start()
    try:
        status = local_stack.settled(STACK)
        assert status == "UPDATE_COMPLETE", status
        after = describe()
        deadline = time.monotonic() + 90
        while sfn.describe_execution(executionArn=up)["status"] == "RUNNING":
            if stack["weights"](key)[0] == 100:
                high(key, "OK")
            assert time.monotonic() < deadline, f"{key}'s scale-up still running: {seen}"
            time.sleep(0.5)
    finally:
        high(key, "OK")
        stop.set()
        reader.join()
    return before, after, seen, up


def send_update(before, changed):
    """Starts an update of the stack with the `changed` parameters (the others as they are).
    The template is sent again, as `sam deploy` sends it (packaged, by URL): with
    UsePreviousTemplate CloudFormation does not expand Fn::ForEach again for a new Clusters
    (aws-cloudformation/cfn-language-discussion#146; ministack does the same)."""
    cf = boto3.client("cloudformation")
    body = cf.get_template(StackName=STACK, TemplateStage="Original")["TemplateBody"]
    if not isinstance(body, str):
        body = json.dumps(body)
    boto3.client("s3").put_object(Bucket="spillway-artifacts", Key="region/template.yaml",
                                  Body=body.encode())
    url = f"{os.environ['AWS_ENDPOINT_URL']}/spillway-artifacts/region/template.yaml"
    cf.update_stack(StackName=STACK, TemplateURL=url,
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                    Parameters=[{"ParameterKey": k, "UsePreviousValue": True}
                                for k in before["parameters"] if k not in changed]
                    + [{"ParameterKey": k, "ParameterValue": v} for k, v in changed.items()])


def assert_spill_undisturbed(key, seen, up):
    """`key`'s scale-up ran through the update and ended as it would have: nothing but the
    execution wrote its weights, which only climbed, to 100."""
    assert boto3.client("stepfunctions").describe_execution(executionArn=up)["status"] == \
        "SUCCEEDED"
    assert "Re-read the weights next round" not in entered(up), \
        f"nothing but the execution wrote {key}'s weights"
    assert seen[key] == sorted(seen[key]) and seen[key][-1] == (100, 100), seen


def test_adding_a_fourth_cluster_mid_spill_leaves_the_others_untouched(stack):
    # GIVEN orders spilling (a scale-up running, its high signal firing), tickets spilled at 50
    # by the test above, search at rest, and a fourth Aurora cluster, payments
    assert stack["weights"]("tickets") == (50, 100)
    local_stack.create_cluster("payments")
    # WHEN the stack is updated with payments added: one more key, one more settings entry
    settings = json.loads(describe()["parameters"]["ClusterSettings"])
    settings["payments"] = local_stack.cluster_settings(["payments"])["payments"]
    before, after, seen, up = update_while_spilling(stack, "orders", {
        "Clusters": ",".join(CLUSTERS + ("payments",)), "ClusterSettings": json.dumps(settings)})
    # THEN the orders spill carries on and ends as it would have
    assert_spill_undisturbed("orders", seen, up)
    # AND no weight of the other two was reset or moved by the update: tickets held its 50,
    # search its 0
    assert seen["tickets"] == [(50, 100)] and seen["search"] == [(0, 100)], seen
    # AND every resource of the three clusters, and every shared one, is the same resource
    # (nothing replaced); payments has its own, in the same shape as theirs
    replaced = {r: (p, after["resources"].get(r)) for r, p in before["resources"].items()
                if after["resources"].get(r) != p}
    assert replaced == {}, replaced
    added = set(after["resources"]) - set(before["resources"])
    assert added == copy_of(before, "payments"), (added ^ copy_of(before, "payments"))
    assert after["outputs"]["ReadEndpointpayments"] == "reads.payments.spillway.internal"
    zone = after["resources"]["PrivateZone"].split("/")[-1]
    assert local_stack.weights(zone, "reads.payments.spillway.internal.") == (0, 100)
    value = boto3.client("ssm").get_parameter(
        Name=f"/spillway/{STACK}/clusters/payments")["Parameter"]["Value"]
    assert json.loads(value)["shift"]["CLUSTER_IDENTIFIER"] == "payments"
    assert watched(after) == list(CLUSTERS) + ["payments"]
    # AND the three clusters' alarms are the ones they had (same thresholds, same rules)
    for key in CLUSTERS:
        assert alarm_shapes(key) == ALARMS_BEFORE[key], key
    assert alarm_shapes("payments"), "payments' alarms exist"


def test_removing_a_cluster_is_refused_while_it_spills_and_leaves_the_others_untouched(stack):
    # GIVEN the four clusters of the test above, orders spilled to 100, tickets to 50
    before = describe()
    assert before["parameters"]["Clusters"] == ",".join(CLUSTERS + ("payments",))
    assert stack["weights"]("orders") == (100, 100) and stack["weights"]("tickets") == (50, 100)
    zone = before["resources"]["PrivateZone"].split("/")[-1]
    payments = "reads.payments.spillway.internal."
    assert records(zone, payments) == ["provisioned", "serverless"]
    settings = json.loads(before["parameters"]["ClusterSettings"])
    del settings["payments"]
    changed = {"Clusters": ",".join(CLUSTERS), "ClusterSettings": json.dumps(settings)}
    # WHEN payments is removed while its own pair is spilled (set by hand, at 25)
    local_stack.set_weights(zone, payments, 25, 100)
    try:
        send_update(before, changed)
        # THEN the Region's check refuses the update, naming the key and its weight, and it
        # rolls back with nothing of any cluster changed: payments' pair still there, at 25
        assert local_stack.settled(STACK) == "UPDATE_ROLLBACK_COMPLETE"
        events = boto3.client("cloudformation").describe_stack_events(
            StackName=STACK)["StackEvents"]
        failed = [e for e in events if e["LogicalResourceId"] == "RegionCheck"
                  and e["ResourceStatus"] == "UPDATE_FAILED"]
        assert failed, [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events[:20]]
        assert "cluster key payments is still spilled: reads.payments.spillway.internal " \
               "sends weight 25" in failed[0]["ResourceStatusReason"], failed[0]
        refused = describe()
        assert refused["resources"] == before["resources"]
        assert refused["parameters"]["Clusters"] == before["parameters"]["Clusters"]
        assert local_stack.weights(zone, payments) == (25, 100)
    finally:
        local_stack.set_weights(zone, payments, 0, 100)
    # WHEN, payments back at 0, it is removed again while search spills
    before, after, seen, up = update_while_spilling(stack, "search", changed)
    # THEN the update completes, the search spill carries on and ends as it would have, and
    # orders' and tickets' weights never moved
    assert_spill_undisturbed("search", seen, up)
    assert seen["orders"] == [(100, 100)] and seen["tickets"] == [(50, 100)], seen
    # AND the stack lost payments' copy and nothing else: every other resource is the same one
    removed = set(before["resources"]) - set(after["resources"])
    assert removed == copy_of(before, "payments"), removed ^ copy_of(before, "payments")
    assert set(after["resources"]) <= set(before["resources"])
    replaced = {r: (p, before["resources"][r]) for r, p in after["resources"].items()
                if before["resources"][r] != p}
    assert replaced == {}, replaced
    assert "ReadEndpointpayments" not in after["outputs"]
    # AND payments' resources are gone from the services, not only from the stack: its record
    # pair, its settings document, its alarms; the metrics function no longer watches it
    assert records(zone, "reads.payments.spillway.internal.") == []
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        boto3.client("ssm").get_parameter(Name=f"/spillway/{STACK}/clusters/payments")
    assert alarm_shapes("payments") == {}
    assert watched(after) == list(CLUSTERS)
    # AND the three clusters' alarms are the ones they had
    for key in CLUSTERS:
        assert alarm_shapes(key) == ALARMS_BEFORE[key], key


def copy_of(described, key):
    """The logical ids of cluster `key`'s copy of the loop: orders' own ids, renamed."""
    return {r[:-len("orders")] + key for r in described["resources"] if r.endswith("orders")}


def records(zone, name):
    """The set identifiers of the records named `name` (with its trailing dot) in `zone`."""
    sets = boto3.client("route53").list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType="CNAME")["ResourceRecordSets"]
    return sorted(r["SetIdentifier"] for r in sets if r["Name"] == name and "SetIdentifier" in r)


def watched(described):
    """The clusters the metrics function watches, and those its direct trigger targets."""
    env = boto3.client("lambda").get_function_configuration(
        FunctionName=described["outputs"]["MetricsFunctionArn"])["Environment"]["Variables"]
    clusters = env["CLUSTER_IDENTIFIERS"].split(",")
    assert [t["cluster"] for t in json.loads(env["DIRECT_TRIGGER_TARGETS"])] == clusters, env
    return clusters


def alarm_shapes(key):
    """Cluster `key`'s metric and composite alarms: name -> threshold, rule, dimensions."""
    found = boto3.client("cloudwatch").describe_alarms(
        AlarmNamePrefix=f"{STACK}-{key}-", AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return {a["AlarmName"]: {k: a.get(k) for k in ("Threshold", "AlarmRule", "Dimensions")}
            for a in found["MetricAlarms"] + found["CompositeAlarms"]}


ALARMS_BEFORE = {}


@pytest.fixture(scope="module", autouse=True)
def alarms_before():
    """The clusters' alarms as deployed, before any test of this file."""
    ALARMS_BEFORE.update({key: alarm_shapes(key) for key in CLUSTERS})
