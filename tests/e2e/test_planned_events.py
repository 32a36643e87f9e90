"""Announced sales end to end: the real planned-event function and the real Prepare / Recover
definition (state-machines/planned-event.asl.json) in the local emulator, on an Aurora cluster
of the emulator.

Emulator quirks, isolated here (besides those of conftest.py):
- ministack's instances are `available` at once and its failover lands at once: the waits the
  function bounds are exercised by the domain's tests (spillway::planned), not here.
- ministack does not apply `PromotionTier` through ModifyDBInstance: the tiers are not asserted
  here (the function issues them and does not wait for them, see reconcile.rs).
- ministack has no custom endpoints and no Application Auto Scaling: the function runs here with
  neither (PROVISIONED_ENDPOINT_ID empty, AUTO_SCALING false), the readers are created by it.
- ministack offers its own short list of classes to DescribeOrderableDBInstanceOptions (db.r5.*,
  db.m5.*, db.t3.*): the plans here ask for db.r5.2xlarge.
- The drain reads DatabaseConnections from AWS/RDS, which RDS publishes on AWS; here the test
  publishes it (PutMetricData into AWS/RDS, which the emulator allows and AWS refuses).
"""
import json
import os
import time
import uuid

import pytest

from conftest import EMULATOR_ERROR_NAMES, ROOT, bootstrap_zip

BINARY = os.environ.get(
    "SPILLWAY_PLANNED_EVENT_BIN", os.path.join(ROOT, "target", "debug", "spillway-planned-event"))
EVENT_CLASS = "db.r5.2xlarge"
START = "2026-12-12T20:00:00+01:00"
STAMP = "202612121900"


def plan(cluster, /, **extra):
    doc = {"cluster": cluster, "start": START, "end": "2026-12-12T23:00:00+01:00",
           "writerClass": EVENT_CLASS, "provisionedReaders": 3,
           "serverlessAcu": {"min": 8, "max": 64}}
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


class Planned:
    """A cluster of three (writer, reader, serverless reader), the planned-event function and
    the Prepare / Recover machines rendered as template.yaml renders them."""

    def __init__(self, aws, max_calls=300, max_busy_polls=3):
        self.aws = aws
        tag = uuid.uuid4().hex[:6]
        self.cluster = f"sale-{tag}"
        rds = aws["rds"]
        rds.create_db_cluster(
            DBClusterIdentifier=self.cluster, Engine="aurora-mysql",
            MasterUsername="spillway", MasterUserPassword="not-a-secret-1",
            ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
        for suffix, klass in (("writer", "db.r5.large"), ("reader-1", "db.r5.large"),
                              ("serverless", "db.serverless")):
            rds.create_db_instance(
                DBInstanceIdentifier=f"{self.cluster}-{suffix}", DBClusterIdentifier=self.cluster,
                Engine="aurora-mysql", DBInstanceClass=klass)
        role = aws["iam"].create_role(RoleName=f"planned-{tag}",
                                      AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        # As deployed: no cluster in the function's environment; the machines pass the plan's
        # cluster settings, read from its settings document (template.yaml's ClusterSettings).
        env = {"RECORD_TTL": "1", "POLL_SECONDS": "1", "DRAIN_SECONDS": "20",
               # Emulator quirk (conftest.py).
               "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"]}
        self.settings_prefix = f"/spillway/planned-{tag}/clusters/"
        aws["ssm"].put_parameter(
            Name=self.settings_prefix + self.cluster, Type="String", Value=json.dumps({
                "cluster": self.cluster, "planned": {
                    "CLUSTER_IDENTIFIER": self.cluster,
                    "SERVERLESS_INSTANCE_IDENTIFIER": f"{self.cluster}-serverless",
                    "PROVISIONED_ENDPOINT_ID": "", "AUTO_SCALING": "false"}}))
        self.function = aws["lambda"].create_function(
            FunctionName=f"planned-{tag}", Runtime="provided.al2023", Role=role,
            Handler="bootstrap", Code={"ZipFile": bootstrap_zip(BINARY)}, Timeout=50,
            Environment={"Variables": env})["FunctionArn"]
        self.lock_table = f"planned-locks-{tag}"
        aws["dynamodb"].create_table(
            TableName=self.lock_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}])
        # The weight loops' machines are only named here: their lock items are what is read.
        region = aws["stepfunctions"].meta.region_name
        self.scale_up = f"arn:aws:states:{region}:000000000000:stateMachine:up-{tag}"
        self.scale_down = f"arn:aws:states:{region}:000000000000:stateMachine:down-{tag}"
        self.role = role
        self.machines = {phase: self.machine(phase, max_calls, max_busy_polls)
                         for phase in ("prepare", "recover")}

    def machine(self, phase, max_calls, max_busy_polls=3):
        """The definition rendered with template.yaml's substitutions (test-sized bounds)."""
        with open(os.path.join(ROOT, "state-machines", "planned-event.asl.json")) as f:
            definition = f.read()
        subs = {"Phase": phase, "PlannedEventFunctionArn": self.function,
                "LockTableName": self.lock_table, "ScaleUpStateMachineArn": self.scale_up,
                "ScaleDownStateMachineArn": self.scale_down, "PollSeconds": "1",
                "MaxCalls": str(max_calls), "MaxBusyPolls": str(max_busy_polls),
                "SettingsPrefix": self.settings_prefix}
        for key, value in subs.items():
            definition = definition.replace("${" + key + "}", value)
        assert "${" not in definition
        for aws_name, emulator_name in EMULATOR_ERROR_NAMES.items():
            definition = definition.replace(aws_name, emulator_name)
        return self.aws["stepfunctions"].create_state_machine(
            name=f"{phase}-{uuid.uuid4().hex[:8]}", definition=definition, roleArn=self.role,
            type="STANDARD")["stateMachineArn"]

    def run(self, phase, document, timeout=120, machine=None):
        sfn = self.aws["stepfunctions"]
        arn = sfn.start_execution(stateMachineArn=machine or self.machines[phase],
                                  input=json.dumps({"plan": document}))["executionArn"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            d = sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                return d
            # The drain reads the created readers' connections: AWS/RDS publishes them on AWS.
            self.publish_connections(0)
            time.sleep(0.5)
        raise AssertionError(f"{phase} still running after {timeout} s")

    def publish_connections(self, value):
        ours = [m for m in self.members() if f"-ev{STAMP}-" in m["DBInstanceIdentifier"]]
        if not ours:
            return
        self.aws["cloudwatch"].put_metric_data(Namespace="AWS/RDS", MetricData=[
            {"MetricName": "DatabaseConnections", "Value": value,
             "Dimensions": [{"Name": "DBInstanceIdentifier",
                             "Value": m["DBInstanceIdentifier"]}]} for m in ours])

    def members(self):
        return self.aws["rds"].describe_db_instances(Filters=[
            {"Name": "db-cluster-id", "Values": [self.cluster]}])["DBInstances"]

    def writer(self):
        c = self.aws["rds"].describe_db_clusters(DBClusterIdentifier=self.cluster)["DBClusters"][0]
        writer = next(m["DBInstanceIdentifier"] for m in c["DBClusterMembers"]
                      if m["IsClusterWriter"])
        klass = next(m["DBInstanceClass"] for m in self.members()
                     if m["DBInstanceIdentifier"] == writer)
        return writer, klass

    def cluster_view(self):
        c = self.aws["rds"].describe_db_clusters(DBClusterIdentifier=self.cluster)["DBClusters"][0]
        scaling = c.get("ServerlessV2ScalingConfiguration", {})
        tags = {t["Key"]: t["Value"] for t in c.get("TagList", [])}
        return (scaling.get("MinCapacity"), scaling.get("MaxCapacity")), tags

    def provisioned_readers(self):
        writer, _ = self.writer()
        return sorted(m["DBInstanceIdentifier"] for m in self.members()
                      if m["DBInstanceIdentifier"] != writer
                      and m["DBInstanceClass"] != "db.serverless")


@pytest.fixture
def planned(aws):
    return Planned(aws)


def cause(execution):
    return f"{execution.get('error')}: {execution.get('cause')}"


def test_a_plan_is_prepared_and_recovered(planned):
    c = planned.cluster
    assert planned.writer() == (f"{c}-writer", "db.r5.large")
    assert planned.cluster_view() == ((0.5, 16), {})

    prepared = planned.run("prepare", plan(c))
    assert prepared["status"] == "SUCCEEDED", cause(prepared)
    temp = f"{c}-ev{STAMP}-w"
    assert planned.writer() == (temp, EVENT_CLASS)
    # The old writer stays as a reader (the failback target); one reader is created.
    assert planned.provisioned_readers() == sorted(
        [f"{c}-reader-1", f"{c}-writer", f"{c}-ev{STAMP}-r1"])
    acu, tags = planned.cluster_view()
    assert acu == (8, 64)
    assert tags == {"spillway:event": f"{STAMP[:8]}t{STAMP[8:]}z",
                    "spillway:restore": f"writer={c}-writer tier=1 acu=0.5/16 aasmin=-"}
    created = {m["DBInstanceIdentifier"]: {t["Key"]: t["Value"] for t in m.get("TagList", [])}
               for m in planned.members() if f"-ev{STAMP}-" in m["DBInstanceIdentifier"]}
    assert created == {
        temp: {"spillway:event": tags["spillway:event"], "spillway:role": "event-writer"},
        f"{c}-ev{STAMP}-r1": {"spillway:event": tags["spillway:event"],
                              "spillway:role": "event-reader"}}

    # Prepared twice: nothing more to do, nothing created twice.
    again = planned.run("prepare", plan(c))
    assert again["status"] == "SUCCEEDED", cause(again)
    assert len(planned.members()) == 5

    recovered = planned.run("recover", plan(c))
    assert recovered["status"] == "SUCCEEDED", cause(recovered)
    assert planned.writer() == (f"{c}-writer", "db.r5.large")
    assert planned.provisioned_readers() == [f"{c}-reader-1"]
    assert sorted(m["DBInstanceIdentifier"] for m in planned.members()) == sorted(
        [f"{c}-writer", f"{c}-reader-1", f"{c}-serverless"])
    assert planned.cluster_view() == ((0.5, 16), {})

    # Recover again: nothing is on record any more, and it says so.
    twice = planned.run("recover", plan(c))
    assert twice["status"] == "FAILED"
    assert twice["error"] == "PlanRefused" and "no prepare on record" in twice["cause"], cause(twice)


def test_a_run_that_stops_mid_way_resumes_without_a_second_writer(aws):
    short = Planned(aws, max_calls=3)
    c = short.cluster
    # Three calls: the restore record, the ACU range, the temporary writer's creation; then
    # out of calls.
    first = short.run("prepare", plan(c))
    assert first["status"] == "FAILED" and first["error"] == "PlanCallsExhausted", cause(first)
    temp = f"{c}-ev{STAMP}-w"
    assert temp in [m["DBInstanceIdentifier"] for m in short.members()]
    assert short.writer()[0] == f"{c}-writer", "not failed over yet"

    # The same plan, by a machine with room: it goes on from there.
    resumed = short.run("prepare", plan(c), machine=short.machine("prepare", max_calls=300))
    assert resumed["status"] == "SUCCEEDED", cause(resumed)
    ids = [m["DBInstanceIdentifier"] for m in short.members()]
    assert ids.count(temp) == 1 and len([i for i in ids if i.endswith("-w")]) == 1
    assert short.writer() == (temp, EVENT_CLASS)


def test_two_overlapping_plans_are_refused(planned):
    c = planned.cluster
    assert planned.run("prepare", plan(c, writerClass=None))["status"] == "SUCCEEDED"
    other = planned.run("prepare", plan(c, start="2026-12-13T20:00:00+01:00",
                                        end="2026-12-13T22:00:00+01:00"))
    assert other["status"] == "FAILED" and other["error"] == "PlanRefused", cause(other)
    assert "recover it before preparing 20261213t1900z" in other["cause"], cause(other)
    # The other plan cannot recover this one either.
    wrong = planned.run("recover", plan(c, start="2026-12-13T20:00:00+01:00",
                                        end="2026-12-13T22:00:00+01:00"))
    assert wrong["status"] == "FAILED" and "not 20261213t1900z" in wrong["cause"], cause(wrong)


@pytest.mark.parametrize("document, error, words", [
    ({"provisionedReaders": 0, "serverlessAcu": {"min": 8, "max": 4}}, "InvalidPlan",
     ["provisionedReaders", "serverlessAcu"]),
    ({"writerClass": "db.x9.huge"}, "PlanRefused", ["db.x9.huge is not offered"]),
    ({"oldWriter": "remove"}, "PlanRefused", ["which Spillway did not create"]),
    ({"provisionedReaders": 14}, "PlanRefused", ["Aurora allows 16"]),
    # A cluster the stack does not watch has no settings document: refused before any call.
    ({"cluster": "payments"}, "PlanRefused", ["the stack does not watch it"]),
])
def test_every_bad_plan_is_refused_with_its_message_and_changes_nothing(planned, document,
                                                                        error, words):
    before = (planned.writer(), planned.provisioned_readers(), planned.cluster_view())
    done = planned.run("prepare", plan(planned.cluster, **document))
    assert done["status"] == "FAILED" and done["error"] == error, cause(done)
    for w in words:
        assert w in done["cause"], cause(done)
    assert (planned.writer(), planned.provisioned_readers(), planned.cluster_view()) == before


def test_a_recover_with_no_prepare_is_refused(planned):
    done = planned.run("recover", plan(planned.cluster))
    assert done["status"] == "FAILED" and done["error"] == "PlanRefused", cause(done)
    assert "no prepare on record" in done["cause"]


def test_no_failover_while_a_weight_loop_runs(aws, planned):
    # A running execution holds the scale-up loop of the plan's cluster (its lock item is the
    # machine's and the cluster's, and names the owner).
    sfn = aws["stepfunctions"]
    role = aws["iam"].create_role(RoleName=f"busy-{uuid.uuid4().hex[:6]}",
                                  AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    busy = sfn.create_state_machine(
        name=f"busy-{uuid.uuid4().hex[:6]}", roleArn=role, type="STANDARD",
        definition=json.dumps({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 120, "End": True}}}))["stateMachineArn"]
    owner = sfn.start_execution(stateMachineArn=busy)["executionArn"]
    aws["dynamodb"].put_item(TableName=planned.lock_table, Item={
        "lock": {"S": f"{planned.scale_up}#{planned.cluster}"}, "owner": {"S": owner}})
    try:
        done = planned.run("prepare", plan(planned.cluster))
    finally:
        sfn.stop_execution(executionArn=owner)
    assert done["status"] == "FAILED" and done["error"] == "WeightLoopsBusy", cause(done)
    # It created and waited for the temporary writer, but did not fail over to it.
    assert planned.writer()[0] == f"{planned.cluster}-writer"

    # Once the loop has ended (its holder no longer running), the same plan goes on.
    resumed = planned.run("prepare", plan(planned.cluster))
    assert resumed["status"] == "SUCCEEDED", cause(resumed)
    assert planned.writer() == (f"{planned.cluster}-ev{STAMP}-w", EVENT_CLASS)
