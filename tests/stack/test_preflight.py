"""`spillway check` against the stack deployed from template.yaml in the emulator: the correct
deployment passes; each mistake that silently breaks a spill, seeded alone into the deployed
stack and undone afterwards, is reported by its rule with the fix.

Emulator quirks (named here, not worked around in the check): ministack enforces no IAM, so the
IAM rule says it needs real AWS — the test asserts it says so rather than passing; and its
ModifyDBInstance ignores PromotionTier, so the tier seed deletes the serverless reader and
creates it again in tier 1 (and back in tier 15).
"""
import json
import os
import subprocess
import time

import sys

import boto3
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_stack  # noqa: E402
CLI = os.environ.get("SPILLWAY_CLI_BIN", os.path.join(ROOT, "target", "debug", "spillway"))
STACK = os.environ.get("SPILLWAY_STACK")


def check(*extra):
    assert os.path.exists(CLI), f"build it first: cargo build -p spillway-cli ({CLI})"
    done = subprocess.run([CLI, "check", "--stack", STACK, "--cluster", "orders", "--json", *extra],
                          capture_output=True, text=True)
    assert done.returncode in (0, 1), f"exit {done.returncode}: {done.stderr}"
    report = json.loads(done.stdout)
    return done.returncode, {f["rule"]: f for f in report["findings"]}, report


def bad(findings):
    return {rule: f for rule, f in findings.items() if f["verdict"] in ("warn", "fail")}


@pytest.fixture(scope="module")
def deployed():
    assert STACK, "SPILLWAY_STACK must name the deployed local stack (scripts/test deploys it)"
    cf = boto3.client("cloudformation")
    s = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in s["Outputs"]}
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in s["Parameters"]}
    r53 = boto3.client("route53")
    record = outputs["ReadEndpointorders"].rstrip(".") + "."
    zone = next(z["Id"].split("/")[-1] for z in r53.list_hosted_zones()["HostedZones"]
                if record.endswith(z["Name"]))
    return {"outputs": outputs, "parameters": parameters, "zone": zone, "record": record}


def test_the_deployed_stack_passes_and_iam_says_it_needs_aws(deployed):
    code, findings, report = check()
    assert bad(findings) == {}, json.dumps(report, indent=1)
    assert code == 0
    iam = [f for f in findings.values() if "roles" in f["rule"]]
    assert [f["verdict"] for f in iam] == ["not_checked"], iam
    assert "real AWS" in iam[0]["detail"]


def records(deployed):
    sets = boto3.client("route53").list_resource_record_sets(
        HostedZoneId=deployed["zone"], StartRecordName=deployed["record"],
        StartRecordType="CNAME")["ResourceRecordSets"]
    return [r for r in sets if r["Name"] == deployed["record"] and "SetIdentifier" in r]


def upsert(deployed, changed):
    boto3.client("route53").change_resource_record_sets(
        HostedZoneId=deployed["zone"],
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in changed]})


def seed_reader_monitoring(deployed):
    rds = boto3.client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="orders-reader-1", MonitoringInterval=60,
                           ApplyImmediately=True)
    return lambda: rds.modify_db_instance(DBInstanceIdentifier="orders-reader-1",
                                          MonitoringInterval=1, ApplyImmediately=True)


def seed_serverless_tier(deployed):
    rds = boto3.client("rds")

    def recreate(tier):
        rds.delete_db_instance(DBInstanceIdentifier="orders-serverless", SkipFinalSnapshot=True)
        rds.create_db_instance(DBInstanceIdentifier="orders-serverless",
                               DBClusterIdentifier="orders", Engine="aurora-mysql",
                               DBInstanceClass="db.serverless", MonitoringInterval=1,
                               PromotionTier=tier,
                               MonitoringRoleArn="arn:aws:iam::000000000000:role/rds-monitoring-role")
    recreate(1)
    return lambda: recreate(15)


def seed_ttl(deployed):
    before = records(deployed)
    upsert(deployed, [dict(r, TTL=300) for r in before])
    return lambda: upsert(deployed, before)


def seed_provisioned_weight_zero(deployed):
    before = records(deployed)
    upsert(deployed, [dict(r, Weight=0) for r in before if r["SetIdentifier"] == "provisioned"])
    return lambda: upsert(deployed, before)


def seed_extra_filters(deployed):
    """Two more filters beside the stack's own (AWS refuses a third on one log group: if the
    emulator refuses it too, the check sees two, the limit, and warns)."""
    logs = boto3.client("logs")
    arn = deployed["outputs"]["MetricsFunctionArn"]
    added = []
    for name in ("someone-else", "a-third"):
        try:
            logs.put_subscription_filter(logGroupName="RDSOSMetrics", filterName=name,
                                         filterPattern="", destinationArn=arn)
            added.append(name)
        except logs.exceptions.LimitExceededException:
            break

    def undo():
        for name in added:
            logs.delete_subscription_filter(logGroupName="RDSOSMetrics", filterName=name)
    return undo


def seed_alarm_edited(deployed):
    cw = boto3.client("cloudwatch")
    name = f"{STACK}-orders-high-cpu"
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    keys = ("AlarmName", "AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic",
            "Period", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
            "ComparisonOperator", "TreatMissingData")
    original = {k: alarm[k] for k in keys if k in alarm}
    cw.put_metric_alarm(**dict(original, Threshold=95.0))
    return lambda: cw.put_metric_alarm(**original)


SEEDS = [
    ("1-second Enhanced Monitoring", seed_reader_monitoring, "orders-reader-1"),
    ("promotion tier", seed_serverless_tier, "tier 1"),
    ("record TTLs", seed_ttl, "300"),
    ("provisioned weight above 0", seed_provisioned_weight_zero, "provisioned weight 0"),
    ("subscription filters", seed_extra_filters, "filters ("),
    ("alarms as the template defines", seed_alarm_edited, "threshold"),
]


@pytest.mark.parametrize("rule, seed, says", SEEDS, ids=[s[0] for s in SEEDS])
def test_each_seeded_mistake_is_reported_with_its_fix(deployed, rule, seed, says):
    undo = seed(deployed)
    try:
        code, findings, report = check()
    finally:
        undo()
    reported = bad(findings)
    assert list(reported) and all(rule in r for r in reported), json.dumps(report, indent=1)
    finding = next(iter(reported.values()))
    assert says in finding["detail"], finding
    assert finding["fix"], "a fix is given"
    assert code == (1 if finding["verdict"] == "fail" else 0)
    # and undone: the stack passes again
    assert bad(check()[1]) == {}


def test_an_execution_running_past_its_bound_is_reported(deployed):
    """The executions' age is judged at a given moment (`--at`, a test seam): a running
    scale-up, judged as of three days later, is past any legal run of the deployed settings."""
    cw, sfn = boto3.client("cloudwatch"), boto3.client("stepfunctions")
    high = f"{STACK}-orders-high-cpu"
    before = records(deployed)
    cw.set_alarm_state(AlarmName=high, StateValue="ALARM", StateReason="test")
    arn = sfn.start_execution(stateMachineArn=deployed["outputs"]["ScaleUpStateMachineArn"],
                              input=json.dumps(local_stack.rule_input()))["executionArn"]
    try:
        time.sleep(1)
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        code, findings, report = check("--at", str(int(time.time()) + 3 * 86400))
        reported = bad(findings)
        assert list(reported) == ["no execution running longer than its bound"], report
        assert code == 1
        code_now, findings_now, _ = check()
        assert "no execution running longer than its bound" not in bad(findings_now)
    finally:
        sfn.stop_execution(executionArn=arn)
        cw.set_alarm_state(AlarmName=high, StateValue="OK", StateReason="test")
        upsert(deployed, before)  # the weights it raised, back to rest
