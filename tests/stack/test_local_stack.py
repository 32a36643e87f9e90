"""The stack deployed from template.yaml as written (sam build + sam deploy, by scripts/test)
in the local emulator: the metrics function receives real subscription payloads, the state
machines move the weights. Emulator quirks are handled in scripts/lib.sh (deploy parameters)
and here: the emulator evaluates no alarms and cannot receive aws.cloudwatch events, so the
tests set alarm states and start executions with the event EventBridge would deliver (the
rule's pattern is checked against that event with TestEventPattern)."""
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_stack  # noqa: E402

STACK = os.environ.get("SPILLWAY_STACK")


@pytest.fixture(scope="module")
def stack():
    assert STACK, "SPILLWAY_STACK must name the deployed local stack (scripts/test deploys it)"
    cf = boto3.client("cloudformation")
    s = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    return {"status": s["StackStatus"],
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in s["Outputs"]},
            "resources": {r["LogicalResourceId"]: r for r in
                          cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}}


alarm_event = local_stack.alarm_event


def test_the_template_deploys_as_written(stack):
    assert stack["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    kinds = {r["ResourceType"] for r in stack["resources"].values()}
    for kind in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine",
                 "AWS::CloudWatch::Alarm", "AWS::Route53::RecordSet", "AWS::Route53::HostedZone",
                 "AWS::Events::Rule", "AWS::Logs::SubscriptionFilter", "AWS::CloudWatch::Dashboard",
                 "AWS::IAM::Role"):
        assert kind in kinds, f"{kind} deployed"
    assert stack["outputs"]["ReadEndpointorders"] == "reads.orders.spillway.internal"


def test_the_rules_match_the_alarm_events_and_only_them(stack):
    events = boto3.client("events")
    # The rules listen to the composite signals, not to their CPU children.
    for rule_id, kind in (("HighAlarmRuleorders", "high"),
                          ("LowAlarmRuleorders", "low")):
        name = stack["resources"][rule_id]["PhysicalResourceId"].split("|")[-1].split("/")[-1]
        pattern = events.describe_rule(Name=name)["EventPattern"]
        alarm = f"{STACK}-orders-{kind}"
        fires = events.test_event_pattern(EventPattern=pattern,
                                          Event=json.dumps(alarm_event(kind, alarm)))["Result"]
        ok = events.test_event_pattern(EventPattern=pattern,
                                       Event=json.dumps(alarm_event(kind, alarm, "ok")))["Result"]
        other = "low" if kind == "high" else "high"
        wrong = events.test_event_pattern(
            EventPattern=pattern,
            Event=json.dumps(alarm_event(other, f"{STACK}-orders-{other}")))["Result"]
        child = events.test_event_pattern(
            EventPattern=pattern,
            Event=json.dumps(alarm_event(kind, f"{STACK}-orders-{kind}-cpu")))["Result"]
        assert (fires, ok, wrong, child) == (True, False, False, False), (kind, pattern)
        # The machine is started with the cluster it serves, not with the event.
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        assert [json.loads(t["Input"]) for t in targets] == [local_stack.rule_input()], targets


def test_the_clusters_settings_are_where_the_machines_look(stack):
    # The SSM parameter the deployed machines read (SettingsPrefix + the input's cluster), as
    # CloudFormation rendered it: the composites and the pair the weight-step function steps.
    value = boto3.client("ssm").get_parameter(
        Name=f"/spillway/{STACK}/clusters/orders")["Parameter"]["Value"]
    settings = json.loads(value)
    assert (settings["cluster"], settings["highAlarm"], settings["lowAlarm"]) == (
        "orders", f"{STACK}-orders-high", f"{STACK}-orders-low")
    shift = settings["shift"]
    assert shift["RECORD_NAME"] == stack["outputs"]["ReadEndpointorders"]
    assert shift["HOSTED_ZONE_ID"] == stack["resources"]["PrivateZone"]["PhysicalResourceId"]
    assert (shift["CLUSTER_IDENTIFIER"], shift["SERVERLESS_INSTANCE_IDENTIFIER"]) == (
        "orders", "orders-serverless")
    definition = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack["outputs"]["ScaleUpStateMachineArn"])["definition"]
    assert f"'/spillway/{STACK}/clusters/{{}}'" in definition


def test_the_cluster_check_derived_the_connections_thresholds_and_the_composites_follow(stack):
    # The deploy-time check read the local cluster (readers db.r6g.xlarge, Aurora MySQL:
    # max_connections 2,000 in AWS's table) and the connections alarms use its numbers.
    cw = boto3.client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(
        AlarmNamePrefix=f"{STACK}-", AlarmTypes=["MetricAlarm", "CompositeAlarm"])["MetricAlarms"]}
    assert alarms[f"{STACK}-orders-high-connections"]["Threshold"] == 1800
    assert alarms[f"{STACK}-orders-low-connections"]["Threshold"] == 800
    assert "max_connections 2000" in alarms[f"{STACK}-orders-high-connections"]["AlarmDescription"]
    composites = {a["AlarmName"]: a for a in cw.describe_alarms(
        AlarmNamePrefix=f"{STACK}-", AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]}
    assert composites[f"{STACK}-orders-high"]["AlarmRule"] == \
        f'ALARM("{STACK}-orders-high-cpu") OR ALARM("{STACK}-orders-high-connections")'
    assert composites[f"{STACK}-orders-low"]["AlarmRule"] == \
        f'ALARM("{STACK}-orders-low-cpu") AND ALARM("{STACK}-orders-low-connections")'

    def state(name):
        return cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])[
            "CompositeAlarms"][0]["StateValue"]

    def set_(name, value):
        cw.set_alarm_state(AlarmName=f"{STACK}-orders-{name}", StateValue=value, StateReason="test")

    try:
        # A connection storm alone is high; CPU low with connections high is not low.
        set_("high-cpu", "OK")
        set_("low-cpu", "ALARM")
        set_("high-connections", "ALARM")
        set_("low-connections", "OK")
        assert (state(f"{STACK}-orders-high"), state(f"{STACK}-orders-low")) == ("ALARM", "OK")
        set_("high-connections", "OK")
        set_("low-connections", "ALARM")
        assert (state(f"{STACK}-orders-high"), state(f"{STACK}-orders-low")) == ("OK", "ALARM")
    finally:
        set_("low-cpu", "OK")
        local_stack.settle_alarms(STACK)


def test_the_deployed_metrics_function_emits_the_emf_contract(stack):
    fn = stack["outputs"]["MetricsFunctionArn"].split(":")[-1]
    before = len(local_stack.emf_lines(fn, 0, timeout=1))
    start = (datetime.now(timezone.utc) - timedelta(minutes=10)).replace(microsecond=0)
    n = local_stack.put_spike(start, instances=["orders-reader-2", "orders-serverless"], seconds=20)
    assert n == 40
    lines = local_stack.emf_lines(fn, before + n)[before:]
    assert len(lines) == n, "one EMF line per recorded sample"
    expected_ts = {int((start + timedelta(seconds=s)).timestamp() * 1000) for s in range(20)}
    for line in lines:
        assert line["_aws"]["CloudWatchMetrics"] == [{
            "Namespace": "Spillway", "Dimensions": [["DBClusterIdentifier", "Role"]],
            "Metrics": [{"Name": "CPUUtilization", "Unit": "Percent", "StorageResolution": 1}]}]
        assert line["DBClusterIdentifier"] == "orders"
        assert line["_aws"]["Timestamp"] in expected_ts, "stamped with the sample's own time"
        role = {"orders-reader-2": "provisioned-reader",
                "orders-serverless": "serverless-reader"}[line["DBInstanceIdentifier"]]
        assert line["Role"] == role


def test_the_deployed_state_machines_move_the_weights_up_and_back(stack):
    out = stack["outputs"]
    cw, sfn = boto3.client("cloudwatch"), boto3.client("stepfunctions")
    record = out["ReadEndpointorders"] + "."
    zone = stack["resources"]["PrivateZone"]["PhysicalResourceId"].split("/")[-1]

    def weights():
        return local_stack.weights(zone, record)

    def watch(execution, on_change=lambda w: None, timeout=150):
        return local_stack.watch(weights, [execution], timeout=timeout, interval=0.5,
                                 on_tick=lambda w, _t: on_change(w))

    high, low = f"{STACK}-orders-high-cpu", f"{STACK}-orders-low-cpu"
    assert weights() == (0, 100), "the stack starts with the serverless weight at 0"
    cw.set_alarm_state(AlarmName=high, StateValue="ALARM", StateReason="test")
    up = sfn.start_execution(stateMachineArn=out["ScaleUpStateMachineArn"],
                             input=json.dumps(local_stack.rule_input()))["executionArn"]
    seen = watch(up, lambda w: w[0] == 100 and cw.set_alarm_state(
        AlarmName=high, StateValue="OK", StateReason="test"))
    assert seen == [(0, 100), (25, 100), (50, 100), (75, 100), (100, 100)], seen

    cw.set_alarm_state(AlarmName=low, StateValue="ALARM", StateReason="test")
    down = sfn.start_execution(stateMachineArn=out["ScaleDownStateMachineArn"],
                               input=json.dumps(local_stack.rule_input()))["executionArn"]
    seen = watch(down)
    cw.set_alarm_state(AlarmName=low, StateValue="OK", StateReason="test")
    assert seen == [(100, 100), (75, 100), (50, 100), (25, 100), (0, 100)], seen
    assert sfn.describe_execution(executionArn=down)["status"] == "SUCCEEDED"


def test_a_stack_update_that_rewrites_the_records_mid_spill_is_recovered_by_scale_up(stack):
    # GIVEN traffic spilled to the serverless reader by a running scale-up
    out = stack["outputs"]
    cw, sfn, cf = boto3.client("cloudwatch"), boto3.client("stepfunctions"), boto3.client("cloudformation")
    record = out["ReadEndpointorders"] + "."
    zone = stack["resources"]["PrivateZone"]["PhysicalResourceId"].split("/")[-1]
    high = f"{STACK}-orders-high-cpu"

    def weights():
        return local_stack.weights(zone, record)

    cw.set_alarm_state(AlarmName=high, StateValue="ALARM", StateReason="test")
    up = sfn.start_execution(stateMachineArn=out["ScaleUpStateMachineArn"],
                             input=json.dumps(local_stack.rule_input()))["executionArn"]
    deadline = time.monotonic() + 60
    while weights()[0] < 50:
        assert time.monotonic() < deadline, f"no spill: {weights()}"
        time.sleep(0.5)
    # WHEN a stack update changes a record property (the TTL)
    params = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
              for p in cf.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]
              if p["ParameterKey"] != "RecordTtl"]
    cf.update_stack(StackName=STACK, UsePreviousTemplate=True,
                    Parameters=params + [{"ParameterKey": "RecordTtl", "ParameterValue": "10"}],
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    reset = {"seen": False}

    def note(w):
        if w == (0, 100):
            reset["seen"] = True

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        note(weights())
        if status.endswith("_COMPLETE") and not status.startswith("UPDATE_IN"):
            break
        time.sleep(0.25)
    assert status == "UPDATE_COMPLETE", status
    sets = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    assert {r["TTL"] for r in sets if r["Name"] == record} == {10}, "the update reached the records"

    # THEN CloudFormation wrote the template's weights (serverless 0: the spill was reset), and
    # the running scale-up found the weight moved and climbs again from there
    def tick(w, _elapsed):
        note(w)
        if reset["seen"] and w[0] >= 50:
            cw.set_alarm_state(AlarmName=high, StateValue="OK", StateReason="test")

    seen = local_stack.watch(weights, [up], on_tick=tick, interval=0.25, timeout=120)
    assert reset["seen"], "the update rewrote the serverless weight to the template's 0"
    assert sfn.describe_execution(executionArn=up)["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=up, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history
               if e.get("stateEnteredEventDetails")]
    assert "Re-read the weights next round" in entered, "the reset was seen as a concurrent change"
    assert seen[-1][0] >= 50 and seen[-1][1] == 100, seen
