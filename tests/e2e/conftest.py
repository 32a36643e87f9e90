"""Harness for the end-to-end tests: the real Rust weight-step function and the real state
machine definitions, running in the local AWS emulator started by scripts/test
(AWS_ENDPOINT_URL points at it).

Emulator quirks, isolated here and nowhere else:
- the functions must reach the emulator, not AWS: ministack sets the AWS_ENDPOINT_URL of its
  own environment into every function it runs (scripts/lib.sh starts it with its own URL), and
  the harness also sets it in the function's environment (on AWS the variable is absent).
- ministack evaluates no alarms and sends no alarm events to EventBridge: the tests drive the
  alarms with SetAlarmState and start executions themselves, as EventBridge would.
- ministack reports every RDS instance as `available`: the "serverless reader unavailable" test
  points the function at an instance that does not exist, which goes through the same guard.
"""
import io
import json
import os
import time
import uuid
import zipfile

import boto3
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get(
    "SPILLWAY_WEIGHT_STEP_BIN", os.path.join(ROOT, "target", "debug", "spillway-weight-step"))
RECORD = "reads.orders.internal."
# Shortened waits, through the same substitutions the template sets.
ALARM_CYCLE_SECONDS = 2
COOLDOWN_SECONDS = 2


def pytest_configure(config):
    if not os.environ.get("AWS_ENDPOINT_URL"):
        pytest.exit("AWS_ENDPOINT_URL must point at the local emulator (scripts/test sets it)", 2)


@pytest.fixture(scope="session")
def aws():
    return {name: boto3.client(name) for name in
            ("lambda", "stepfunctions", "cloudwatch", "route53", "rds", "iam")}


@pytest.fixture(scope="session")
def function_zip():
    assert os.path.exists(BINARY), f"build it first: cargo build -p spillway-weight-step ({BINARY})"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        with open(BINARY, "rb") as f:
            z.writestr(info, f.read())
    return buf.getvalue()


@pytest.fixture(scope="session")
def cluster(aws):
    rds = aws["rds"]
    name = "orders-" + uuid.uuid4().hex[:6]
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-mysql",
                          MasterUsername="spillway", MasterUserPassword="not-a-secret-1")
    for suffix, klass in (("writer", "db.r6g.large"), ("reader-1", "db.r6g.large"),
                          ("serverless", "db.serverless")):
        rds.create_db_instance(DBInstanceIdentifier=f"{name}-{suffix}", DBClusterIdentifier=name,
                               Engine="aurora-mysql", DBInstanceClass=klass)
    return name


class Stack:
    """One isolated copy of the traffic-shifting loop: zone + pair, alarms, function, machines."""

    def __init__(self, aws, function_zip, cluster, serverless_instance=None, dry_run=False):
        self.aws = aws
        tag = uuid.uuid4().hex[:8]
        r53 = aws["route53"]
        self.zone = r53.create_hosted_zone(
            Name="orders.internal", CallerReference=tag,
            HostedZoneConfig={"PrivateZone": True})["HostedZone"]["Id"].split("/")[-1]

        def record(set_id, weight, target):
            return {"Action": "CREATE", "ResourceRecordSet": {
                "Name": RECORD, "Type": "CNAME", "SetIdentifier": set_id, "Weight": weight,
                "TTL": 5, "ResourceRecords": [{"Value": target}]}}

        r53.change_resource_record_sets(HostedZoneId=self.zone, ChangeBatch={"Changes": [
            record("provisioned", 100, f"{cluster}.cluster-custom-ro.example.com"),
            record("serverless", 0, f"{cluster}.cluster-custom-sv.example.com")]})
        self.high, self.low = f"high-{tag}", f"low-{tag}"
        for name, threshold, op in ((self.high, 70, "GreaterThanThreshold"),
                                    (self.low, 30, "LessThanThreshold")):
            aws["cloudwatch"].put_metric_alarm(
                AlarmName=name, Namespace="Spillway", MetricName="CPUUtilization",
                Dimensions=[{"Name": "DBClusterIdentifier", "Value": cluster},
                            {"Name": "Role", "Value": "provisioned-reader"}],
                Statistic="Average", Period=10, EvaluationPeriods=1, Threshold=threshold,
                ComparisonOperator=op, TreatMissingData="notBreaching")
            self.set_alarm(name, "OK")
        role = aws["iam"].create_role(RoleName=f"spillway-{tag}",
                                      AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        env = {
            "HOSTED_ZONE_ID": self.zone, "RECORD_NAME": RECORD.rstrip("."),
            "SERVERLESS_INSTANCE_IDENTIFIER": serverless_instance or f"{cluster}-serverless",
            "CLUSTER_IDENTIFIER": cluster, "WEIGHT_STEP": "25", "MAX_SERVERLESS_WEIGHT": "75",
            "PROVISIONED_WEIGHT": "100", "DRY_RUN": "true" if dry_run else "false",
            # Emulator quirk (see the module docstring).
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        }
        self.function = aws["lambda"].create_function(
            FunctionName=f"weight-step-{tag}", Runtime="provided.al2023", Role=role,
            Handler="bootstrap", Code={"ZipFile": function_zip}, Timeout=30,
            Environment={"Variables": env})["FunctionArn"]
        subs = {"WeightStepFunctionArn": self.function, "HighAlarmName": self.high,
                "LowAlarmName": self.low, "AlarmCycleSeconds": str(ALARM_CYCLE_SECONDS),
                "CooldownSeconds": str(COOLDOWN_SECONDS), "MaxRounds": "30"}
        self.machines = {}
        for kind in ("scale-up", "scale-down"):
            with open(os.path.join(ROOT, "state-machines", f"{kind}.asl.json")) as f:
                definition = f.read()
            for key, value in subs.items():
                definition = definition.replace("${" + key + "}", value)
            assert "${" not in definition
            self.machines[kind] = aws["stepfunctions"].create_state_machine(
                name=f"{kind}-{tag}", definition=definition, roleArn=role,
                type="STANDARD")["stateMachineArn"]

    def set_alarm(self, name, state):
        self.aws["cloudwatch"].set_alarm_state(AlarmName=name, StateValue=state,
                                               StateReason="set by the end-to-end test")

    def alarm_event(self, name):
        """The EventBridge event AWS sends when the alarm enters ALARM (the execution input):
        events/alarm-*-alarm.json with this stack's alarm name."""
        kind = "high" if name == self.high else "low"
        with open(os.path.join(ROOT, "events", f"alarm-{kind}-alarm.json")) as f:
            event = json.load(f)
        event["detail"]["alarmName"] = name
        event["resources"] = [f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"]
        return json.dumps(event)

    def start(self, kind):
        name = self.high if kind == "scale-up" else self.low
        return self.aws["stepfunctions"].start_execution(
            stateMachineArn=self.machines[kind], input=self.alarm_event(name))["executionArn"]

    def weights(self):
        sets = self.aws["route53"].list_resource_record_sets(
            HostedZoneId=self.zone, StartRecordName=RECORD, StartRecordType="CNAME")
        w = {r["SetIdentifier"]: r["Weight"] for r in sets["ResourceRecordSets"]
             if r["Name"] == RECORD and "SetIdentifier" in r}
        return w["serverless"], w["provisioned"]

    def status(self, execution):
        return self.aws["stepfunctions"].describe_execution(executionArn=execution)

    def watch(self, executions, until=None, timeout=60, on_tick=None):
        """Polls the weights until every execution has ended; returns the distinct sequence of
        (serverless, provisioned) weights seen, starting with the initial one."""
        seen = [self.weights()]
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            w = self.weights()
            if w != seen[-1]:
                seen.append(w)
            if on_tick:
                on_tick(w, time.monotonic() - start)
            if all(self.status(e)["status"] != "RUNNING" for e in executions):
                w = self.weights()
                if w != seen[-1]:
                    seen.append(w)
                return seen
            time.sleep(0.25)
        raise AssertionError(f"executions still running after {timeout} s; weights seen {seen}")

    def final_state(self, execution):
        """The name of the state the execution ended in."""
        events = self.aws["stepfunctions"].get_execution_history(
            executionArn=execution, reverseOrder=True)["events"]
        for e in events:
            details = e.get("stateEnteredEventDetails")
            if details:
                return details["name"]
        raise AssertionError("no state entered")


@pytest.fixture
def stack(aws, function_zip, cluster):
    return Stack(aws, function_zip, cluster)


@pytest.fixture
def make_stack(aws, function_zip, cluster):
    return lambda **kw: Stack(aws, function_zip, cluster, **kw)
