"""The direct trigger and the lag guard on the stack deployed from template.yaml (the local
emulator; scripts/test deploys it with DirectTriggerWindowSeconds=60 and AlarmCycleSeconds=10,
so the grace is 3 rounds of 10 s).

Enhanced Monitoring documents are written into RDSOSMetrics as RDS writes them; the deployed
metrics function receives them through the subscription filter and starts scale-up itself.
Every alarm is held OK throughout, and no alarm event is sent, unless a test says so.

Harness quirks, named: the emulator runs no RDS agent, so the documents are the recorded ones
with their time and CPU rewritten; and nothing publishes AWS/RDS metrics, so the lag test
seeds AuroraReplicaLag with PutMetricData (AWS refuses writes into AWS/ namespaces). This
module runs last of tests/stack (file order): it leaves a lag datapoint that refuses raises for
three minutes, and the stack with the trigger off.
"""
import json
import os
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
WINDOW = 60  # DirectTriggerWindowSeconds of the local deployment


@pytest.fixture(scope="module")
def stack():
    assert STACK, "SPILLWAY_STACK must name the deployed local stack (scripts/test deploys it)"
    cf = boto3.client("cloudformation")
    s = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    out = {o["OutputKey"]: o["OutputValue"] for o in s["Outputs"]}
    resources = {r["LogicalResourceId"]: r for r in
                 cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    zone = resources["PrivateZone"]["PhysicalResourceId"].split("/")[-1]
    record = out["ReadEndpointorders"] + "."
    cw = boto3.client("cloudwatch")
    for alarm in (f"{STACK}-orders-high-cpu", f"{STACK}-orders-low-cpu"):
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="held OK by the test")
    # The earlier modules leave the weight spilled (the update test ends at 50): back to rest,
    # once no execution runs, as an operator would (both records in one change batch).
    sfn = boto3.client("stepfunctions")
    for machine in (out["ScaleUpStateMachineArn"], out["ScaleDownStateMachineArn"]):
        wait_for(lambda m=machine: not sfn.list_executions(
            stateMachineArn=m, statusFilter="RUNNING")["executions"], 120, "idle machines")
    local_stack.set_weights(zone, record, 0, 100)
    weights = lambda: local_stack.weights(zone, record)  # noqa: E731
    assert weights() == (0, 100)
    return {"out": out, "weights": weights}


def template_documents():
    """One recorded document per instance (reader-1, reader-2): what a rewrite starts from."""
    docs = {}
    for stream, events in local_stack.recorded_batches(["orders-reader-1", "orders-reader-2"]):
        doc = json.loads(events[0][1])
        docs.setdefault(doc["instanceID"], (stream, doc))
    return docs


DOCS = template_documents()


def document(instance, at, cpu, instance_id=None):
    stream, doc = DOCS[instance]
    doc = json.loads(json.dumps(doc))
    doc["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["cpuUtilization"]["total"] = cpu
    doc["cpuUtilization"]["idle"] = round(100.0 - cpu, 1)
    if instance_id:
        doc["instanceID"] = instance_id
        doc["instanceResourceID"] = "db-" + instance_id.upper().replace("-", "")
        stream = doc["instanceResourceID"]
    return stream, json.dumps(doc)


def put(instance, start, cpus, instance_id=None):
    """Writes one document per second from `start` with these CPU values (one batch)."""
    logs = boto3.client("logs")
    events = []
    stream = None
    for i, cpu in enumerate(cpus):
        at = start + timedelta(seconds=i)
        stream, message = document(instance, at, cpu, instance_id)
        events.append({"timestamp": int(at.timestamp() * 1000), "message": message})
    try:
        logs.create_log_stream(logGroupName="RDSOSMetrics", logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_log_events(logGroupName="RDSOSMetrics", logStreamName=stream, logEvents=events)


def direct_executions(stack):
    sfn = boto3.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=stack["out"]["ScaleUpStateMachineArn"])
    return [e for page in pages for e in page["executions"] if e["name"].startswith("direct-")]


def fresh_window(elapsed, left):
    """Waits until the current window has been running for `elapsed` seconds and has `left`
    more (so samples stamped up to `elapsed` s ago fall in it, and the test ends in it);
    returns its start."""
    assert elapsed + left <= WINDOW
    while True:
        position = datetime.now(timezone.utc).timestamp() % WINDOW
        if elapsed <= position <= WINDOW - left:
            return int(datetime.now(timezone.utc).timestamp()) // WINDOW * WINDOW
        time.sleep(0.2)


def name_for(window_start):
    return f"direct-{window_start}-orders"


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def now_s():
    return datetime.now(timezone.utc).replace(microsecond=0)


def test_bad_input_starts_nothing_and_three_hot_seconds_start_one_execution(stack):
    # (every sample below, 12 s old at most, and the start in one window: the start proves the
    # window was free while nothing started)
    window = fresh_window(elapsed=14, left=30)
    assert name_for(window) not in {e["name"] for e in direct_executions(stack)}, (
        "the window is free: each 'nothing started' below could have failed")
    before = len(direct_executions(stack))
    t = now_s()
    # WHEN one hot second (below the 3-s debounce), a lost sample breaking a streak, an
    # unknown instance, and a hot streak stamped 60 s ago (older than the 30-s limit) arrive
    put("orders-reader-1", t - timedelta(seconds=12), [40.0, 99.0, 40.0])
    put("orders-reader-2", t - timedelta(seconds=12), [99.0, 99.0])
    put("orders-reader-2", t - timedelta(seconds=9), [99.0, 40.0])
    put("orders-reader-1", t - timedelta(seconds=8), [99.0, 99.0, 99.0], instance_id="payments-1")
    put("orders-reader-1", t - timedelta(seconds=60), [99.0, 99.0, 99.0, 99.0])
    time.sleep(8)
    # THEN nothing started, and the weights did not move
    assert len(direct_executions(stack)) == before
    assert stack["weights"]() == (0, 100)
    # WHEN reader-1's three hot seconds arrive twice, and reader-2's at the same time
    hot = t - timedelta(seconds=4)
    writers = [threading.Thread(target=put, args=(i, hot, [95.0, 96.0, 97.0]))
               for i in ("orders-reader-1", "orders-reader-1", "orders-reader-2")]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    # THEN exactly one execution, named by the window, and the weight raised with every alarm OK
    started = wait_for(lambda: [e for e in direct_executions(stack) if e["name"] == name_for(window)],
                       30, "the direct start")
    raised = wait_for(lambda: stack["weights"]() == (25, 100), 30, "the first raise")
    time.sleep(3)
    assert len(direct_executions(stack)) == before + 1, direct_executions(stack)
    assert raised and len(started) == 1
    # AND with the alarm never confirming, the raise is undone after the grace rounds
    sfn = boto3.client("stepfunctions")
    arn = started[0]["executionArn"]
    wait_for(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", 90,
             "the execution's end")
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert stack["weights"]() == (0, 100)
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history
               if e.get("stateEnteredEventDetails")]
    assert entered.count("Hold while the alarm catches up") == 2, entered
    assert "Undo the unconfirmed raise" in entered


def test_a_lagging_serverless_reader_gets_no_raise_and_the_log_says_why(stack):
    out, cw = stack["out"], boto3.client("cloudwatch")
    # GIVEN the serverless reader 5 s behind its writer (seeded: see the module docstring)
    cw.put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "AuroraReplicaLag", "Unit": "Milliseconds", "Value": 5000.0,
        "Timestamp": datetime.now(timezone.utc) - timedelta(seconds=5),
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "orders-serverless"}]}])
    high = f"{STACK}-orders-high-cpu"
    cw.set_alarm_state(AlarmName=high, StateValue="ALARM", StateReason="test")
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=out["ScaleUpStateMachineArn"],
                              input=json.dumps(local_stack.rule_input()))["executionArn"]
    try:
        # WHEN two rounds pass with the alarm in ALARM
        time.sleep(14)
        # THEN no raise; each round held back, and the function said why
        assert stack["weights"]() == (0, 100)
    finally:
        cw.set_alarm_state(AlarmName=high, StateValue="OK", StateReason="test")
    wait_for(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", 30, "its end")
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history
               if e.get("stateEnteredEventDetails")]
    assert entered.count("Hold back: the serverless reader lags") >= 2, entered
    assert "Count the round" not in entered
    fn = out["WeightStepFunctionArn"].split(":")[-1]
    messages = [e["message"] for page in boto3.client("logs").get_paginator("filter_log_events")
                .paginate(logGroupName=f"/aws/lambda/{fn}") for e in page["events"]]
    said = [m for m in messages if "lags the writer by 5000 ms" in m]
    assert len(said) >= 2, "one line per refused round, naming the lag and the bound"
    assert all("1000 ms bound" in m for m in said)


def test_with_the_trigger_off_the_alarm_path_still_starts_scale_up(stack):
    cf, sfn, cw = (boto3.client(n) for n in ("cloudformation", "stepfunctions", "cloudwatch"))
    params = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
              for p in cf.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]
              if p["ParameterKey"] not in ("DirectTrigger", "MaxReplicaLagMilliseconds")]
    # (the lag guard off too: the previous test's lag datapoint would refuse the raise)
    cf.update_stack(StackName=STACK, UsePreviousTemplate=True, Parameters=params + [
        {"ParameterKey": "DirectTrigger", "ParameterValue": "false"},
        {"ParameterKey": "MaxReplicaLagMilliseconds", "ParameterValue": "0"}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    status = wait_for(lambda: (lambda s: s if s.endswith("_COMPLETE") and "IN_PROGRESS" not in s
                               else None)(cf.describe_stacks(StackName=STACK)["Stacks"][0]
                                          ["StackStatus"]), 180, "the update")
    assert status == "UPDATE_COMPLETE", status
    fn = stack["out"]["MetricsFunctionArn"].split(":")[-1]
    env = boto3.client("lambda").get_function_configuration(FunctionName=fn)["Environment"]
    assert env["Variables"].get("DIRECT_TRIGGER_TARGETS", "") == ""
    # WHEN three hot seconds arrive in a window no execution has used
    window = fresh_window(elapsed=6, left=20)
    assert name_for(window) not in {e["name"] for e in direct_executions(stack)}
    before = len(direct_executions(stack))
    put("orders-reader-1", now_s() - timedelta(seconds=4), [95.0, 96.0, 97.0])
    time.sleep(8)
    # THEN nothing starts (with the trigger on, the previous tests show this starts one)
    assert len(direct_executions(stack)) == before
    assert stack["weights"]() == (0, 100)
    # AND the alarm path does
    high = f"{STACK}-orders-high-cpu"
    cw.set_alarm_state(AlarmName=high, StateValue="ALARM", StateReason="test")
    arn = sfn.start_execution(stateMachineArn=stack["out"]["ScaleUpStateMachineArn"],
                              input=json.dumps(local_stack.rule_input()))["executionArn"]
    try:
        wait_for(lambda: stack["weights"]()[0] >= 25, 30, "the alarm path's raise")
    finally:
        cw.set_alarm_state(AlarmName=high, StateValue="OK", StateReason="test")
    wait_for(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", 30, "its end")
