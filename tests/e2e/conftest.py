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
- ministack names a missing execution behind `aws-sdk:sfn:describeExecution`
  `Sfn.ExecutionDoesNotExist`, and a missing SSM parameter behind `aws-sdk:ssm:getParameter`
  `Ssm.ParameterNotFound`; AWS appends `Exception` to every aws-sdk error name
  (`Sfn.ExecutionDoesNotExistException`, `Ssm.ParameterNotFoundException`, which the
  definitions match). The harness renames the definitions' names to the emulator's when it
  renders them (`EMULATOR_ERROR_NAMES`).
- ministack's ListExecutions and DescribeExecution are strongly consistent and it delivers each
  event once; AWS's are eventually consistent and at least once. The owner election does not
  rest on either: the tests seed the lock with holders AWS could show (ended, not yet visible).
"""
import io
import json
import os
import sys
import uuid
import zipfile

import boto3
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_stack  # noqa: E402
BINARY = os.environ.get(
    "SPILLWAY_WEIGHT_STEP_BIN", os.path.join(ROOT, "target", "debug", "spillway-weight-step"))
# The simulator (`spillway simulate`), for the conformance test.
SIMULATOR = os.environ.get("SPILLWAY_CLI_BIN", os.path.join(ROOT, "target", "debug", "spillway"))
RECORD = "reads.orders.internal."
# Shortened waits, through the same substitutions the template sets.
ALARM_CYCLE_SECONDS = 2
COOLDOWN_SECONDS = 2
# Emulator quirk (see the module docstring): AWS's error name -> ministack's.
EMULATOR_ERROR_NAMES = {'"Sfn.ExecutionDoesNotExistException"': '"Sfn.ExecutionDoesNotExist"',
                        '"Ssm.ParameterNotFoundException"': '"Ssm.ParameterNotFound"'}


def pytest_configure(config):
    if not os.environ.get("AWS_ENDPOINT_URL"):
        pytest.exit("AWS_ENDPOINT_URL must point at the local emulator (scripts/test sets it)", 2)


@pytest.fixture(scope="session")
def aws():
    return {name: boto3.client(name) for name in
            ("lambda", "stepfunctions", "cloudwatch", "route53", "rds", "iam", "dynamodb", "ssm")}


def bootstrap_zip(binary):
    """A Lambda deployment package (provided.al2023) of one Rust binary."""
    assert os.path.exists(binary), f"build it first: cargo build --workspace --bins ({binary})"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        with open(binary, "rb") as f:
            z.writestr(info, f.read())
    return buf.getvalue()


@pytest.fixture(scope="session")
def function_zip():
    return bootstrap_zip(BINARY)


@pytest.fixture(scope="session")
def simulator():
    """The path of the `spillway` binary (the simulator)."""
    assert os.path.exists(SIMULATOR), (
        f"build it first: cargo build -p spillway-cli ({SIMULATOR}; or set SPILLWAY_CLI_BIN)")
    return SIMULATOR


@pytest.fixture(scope="session")
def cluster(aws):
    return rds_cluster(aws, "orders")


def rds_cluster(aws, prefix):
    """An Aurora MySQL cluster of three: writer, provisioned reader, serverless reader."""
    rds = aws["rds"]
    name = f"{prefix}-" + uuid.uuid4().hex[:6]
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-mysql",
                          MasterUsername="spillway", MasterUserPassword="not-a-secret-1")
    for suffix, klass in (("writer", "db.r6g.large"), ("reader-1", "db.r6g.large"),
                          ("serverless", "db.serverless")):
        rds.create_db_instance(DBInstanceIdentifier=f"{name}-{suffix}", DBClusterIdentifier=name,
                               Engine="aurora-mysql", DBInstanceClass=klass)
    return name


class Cluster:
    """One watched cluster of a Stack: its zone and weighted pair, its CPU and connections
    alarms with the two composites the machines read, and its settings document in SSM, as
    template.yaml writes them."""

    def __init__(self, stack, name, serverless_instance=None, dry_run=False, scale_down_delay=0):
        aws, tag = stack.aws, uuid.uuid4().hex[:8]
        self.name = name
        r53 = aws["route53"]
        self.zone = r53.create_hosted_zone(
            Name="orders.internal", CallerReference=tag,
            HostedZoneConfig={"PrivateZone": True})["HostedZone"]["Id"].split("/")[-1]

        def record(set_id, weight, target):
            return {"Action": "CREATE", "ResourceRecordSet": {
                "Name": RECORD, "Type": "CNAME", "SetIdentifier": set_id, "Weight": weight,
                "TTL": 5, "ResourceRecords": [{"Value": target}]}}

        r53.change_resource_record_sets(HostedZoneId=self.zone, ChangeBatch={"Changes": [
            record("provisioned", 100, f"{name}.cluster-custom-ro.example.com"),
            record("serverless", 0, f"{name}.cluster-custom-sv.example.com")]})
        # The signals as template.yaml builds them: CPU and connections alarms, and the two
        # composite alarms the machines read (CPU OR connections up, CPU AND connections down).
        # The tests script the children; the emulator derives the composites' states.
        self.high, self.low = f"high-{tag}", f"low-{tag}"
        self.cpu_high, self.cpu_low = f"high-cpu-{tag}", f"low-cpu-{tag}"
        self.conn_high, self.conn_low = f"high-connections-{tag}", f"low-connections-{tag}"
        cw = aws["cloudwatch"]
        for alarm, threshold, op, ns, metric, role in (
                (self.cpu_high, 70, "GreaterThanThreshold", "Spillway", "CPUUtilization", "provisioned-reader"),
                (self.cpu_low, 30, "LessThanThreshold", "Spillway", "CPUUtilization", "provisioned-reader"),
                (self.conn_high, 900, "GreaterThanOrEqualToThreshold", "AWS/RDS", "DatabaseConnections", "READER"),
                (self.conn_low, 400, "LessThanThreshold", "AWS/RDS", "DatabaseConnections", "READER")):
            cw.put_metric_alarm(
                AlarmName=alarm, Namespace=ns, MetricName=metric,
                Dimensions=[{"Name": "DBClusterIdentifier", "Value": name},
                            {"Name": "Role", "Value": role}],
                Statistic="Average", Period=10, EvaluationPeriods=1, Threshold=threshold,
                ComparisonOperator=op, TreatMissingData="notBreaching")
            stack.set_alarm(alarm, "OK")
        # At rest the readers' connections are low: the low signal is then CPU's.
        stack.set_alarm(self.conn_low, "ALARM")
        cw.put_composite_alarm(AlarmName=self.high, AlarmRule=(
            f'ALARM("{self.cpu_high}") OR ALARM("{self.conn_high}")'))
        cw.put_composite_alarm(AlarmName=self.low, AlarmRule=(
            f'ALARM("{self.cpu_low}") AND ALARM("{self.conn_low}")'))
        # The settings document (template.yaml's ClusterSettings), where the machines look.
        self.shift = {
            "HOSTED_ZONE_ID": self.zone, "ZONE_NAME": "orders.internal",
            "RECORD_NAME": RECORD.rstrip("."),
            "SERVERLESS_INSTANCE_IDENTIFIER": serverless_instance or f"{name}-serverless",
            "CLUSTER_IDENTIFIER": name, "WEIGHT_STEP": 25, "MAX_SERVERLESS_WEIGHT": 75,
            "PROVISIONED_WEIGHT": 100, "DRY_RUN": "true" if dry_run else "false",
            "PROVISIONED_SET_IDENTIFIER": "provisioned", "SERVERLESS_SET_IDENTIFIER": "serverless",
            "MAX_REPLICA_LAG_MS": 1000, "SCALE_DOWN_DELAY_SECONDS": scale_down_delay,
        }
        aws["ssm"].put_parameter(
            Name=stack.settings_prefix + name, Type="String", Overwrite=True,
            Value=json.dumps({"cluster": name, "highAlarm": self.high, "lowAlarm": self.low,
                              "shift": self.shift}))


class Stack:
    """One isolated copy of the traffic-shifting loop: the weight-step function, the lock table
    and the two machines, shared by its clusters (`add_cluster`) as in the deployed stack; the
    first cluster's attributes (zone, alarms, settings) are the stack's own, for the tests that
    watch one."""

    def __init__(self, aws, function_zip, cluster, serverless_instance=None, dry_run=False,
                 max_rounds=30, grace_rounds=3, scale_down_delay=0):
        self.aws = aws
        self.max_rounds = max_rounds
        self.grace_rounds = grace_rounds
        tag = uuid.uuid4().hex[:8]
        self.settings_prefix = f"/spillway/e2e-{tag}/clusters/"
        role = aws["iam"].create_role(RoleName=f"spillway-{tag}",
                                      AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        # As deployed: no cluster in the function's environment, each request carries its
        # cluster's settings. Emulator quirk (see the module docstring): the endpoint.
        self.function = aws["lambda"].create_function(
            FunctionName=f"weight-step-{tag}", Runtime="provided.al2023", Role=role,
            Handler="bootstrap", Code={"ZipFile": function_zip}, Timeout=30,
            Environment={"Variables": {"AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"]}}
        )["FunctionArn"]
        self.lock_table = f"locks-{tag}"
        aws["dynamodb"].create_table(
            TableName=self.lock_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}])
        subs = {"WeightStepFunctionArn": self.function, "SettingsPrefix": self.settings_prefix,
                "AlarmCycleSeconds": str(ALARM_CYCLE_SECONDS),
                "CooldownSeconds": str(COOLDOWN_SECONDS), "MaxRounds": str(max_rounds),
                "LockTableName": self.lock_table, "DirectTriggerGraceRounds": str(grace_rounds)}
        self.machines = {}
        for kind in ("scale-up", "scale-down"):
            with open(os.path.join(ROOT, "state-machines", f"{kind}.asl.json")) as f:
                definition = f.read()
            for key, value in subs.items():
                definition = definition.replace("${" + key + "}", value)
            assert "${" not in definition
            for aws_name, emulator_name in EMULATOR_ERROR_NAMES.items():
                definition = definition.replace(aws_name, emulator_name)
            self.machines[kind] = aws["stepfunctions"].create_state_machine(
                name=f"{kind}-{tag}", definition=definition, roleArn=role,
                type="STANDARD")["stateMachineArn"]
        self.clusters = {}
        first = self.add_cluster(cluster, serverless_instance=serverless_instance,
                                 dry_run=dry_run, scale_down_delay=scale_down_delay)
        self.cluster = cluster
        for attribute in ("zone", "high", "low", "cpu_high", "cpu_low", "conn_high", "conn_low",
                          "shift"):
            setattr(self, attribute, getattr(first, attribute))

    def add_cluster(self, name, **kw):
        """Another watched cluster, served by the same function and machines."""
        self.clusters[name] = Cluster(self, name, **kw)
        return self.clusters[name]

    def set_alarm(self, name, state):
        """Sets an alarm's state. For the composite signals (any cluster's `high`, `low`) it
        sets their CPU child, and the emulator derives the composite from its children."""
        children = {}
        for c in getattr(self, "clusters", {}).values():
            children.update({c.high: c.cpu_high, c.low: c.cpu_low})
        child = children.get(name, name)
        self.aws["cloudwatch"].set_alarm_state(AlarmName=child, StateValue=state,
                                               StateReason="set by the end-to-end test")

    def state(self, name):
        """The alarm's state (a composite's as derived from its children)."""
        cw = self.aws["cloudwatch"]
        found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm", "MetricAlarm"])
        alarms = found["CompositeAlarms"] + found["MetricAlarms"]
        return alarms[0]["StateValue"]

    def alarm_event(self, name=None, cluster=None):
        """The execution input EventBridge delivers when the cluster's alarm enters ALARM: its
        rule's constant Input, naming the cluster (template.yaml)."""
        return json.dumps({"cluster": cluster or self.cluster})

    def start(self, kind, sweep=False, direct=None, cluster=None):
        """Starts an execution for `cluster` (the stack's first by default) as its alarm's rule
        does, as its sweep does, or (`direct`: the window's start, ISO) as the metrics function's
        direct trigger does."""
        cluster = cluster or self.cluster
        if direct:
            payload = {"cluster": cluster, "direct": {"cluster": cluster, "window": direct}}
        else:
            payload = {"cluster": cluster, "sweep": True} if sweep else {"cluster": cluster}
        return self.aws["stepfunctions"].start_execution(
            stateMachineArn=self.machines[kind], input=json.dumps(payload))["executionArn"]

    def set_weights(self, serverless, provisioned, cluster=None):
        """Moves the pair by hand, as an operator (or a stack update) would."""
        r53 = self.aws["route53"]
        zone = self.clusters[cluster or self.cluster].zone
        sets = r53.list_resource_record_sets(
            HostedZoneId=zone, StartRecordName=RECORD, StartRecordType="CNAME")
        changes = []
        for r in sets["ResourceRecordSets"]:
            if r["Name"] == RECORD and r.get("SetIdentifier") in ("serverless", "provisioned"):
                changes.append({"Action": "DELETE", "ResourceRecordSet": r})
                new = dict(r, Weight=serverless if r["SetIdentifier"] == "serverless" else provisioned)
                changes.append({"Action": "CREATE", "ResourceRecordSet": new})
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})

    def lock_key(self, kind, cluster=None):
        """The lock item of the machine's loop for the cluster (the machine's and the cluster's)."""
        return f"{self.machines[kind]}#{cluster or self.cluster}"

    def hold_lock(self, kind, owner, cluster=None):
        """Writes the lock item as if `owner` (an execution ARN) held the machine's loop."""
        self.aws["dynamodb"].put_item(TableName=self.lock_table, Item={
            "lock": {"S": self.lock_key(kind, cluster)}, "owner": {"S": owner}})

    def lock_owner(self, kind, cluster=None):
        item = self.aws["dynamodb"].get_item(
            TableName=self.lock_table, Key={"lock": {"S": self.lock_key(kind, cluster)}},
            ConsistentRead=True).get("Item")
        return item["owner"]["S"] if item else None

    def states_entered(self, execution):
        """The names of the states the execution entered, in order."""
        events = self.aws["stepfunctions"].get_execution_history(
            executionArn=execution, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events
                if e.get("stateEnteredEventDetails")]

    def weights(self, cluster=None):
        return local_stack.weights(self.clusters[cluster or self.cluster].zone, RECORD)

    def status(self, execution):
        return self.aws["stepfunctions"].describe_execution(executionArn=execution)

    def watch(self, executions, timeout=60, on_tick=None):
        """The distinct (serverless, provisioned) weights seen until every execution ended."""
        return local_stack.watch(self.weights, executions, on_tick=on_tick, timeout=timeout)

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
