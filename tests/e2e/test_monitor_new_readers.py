"""The monitor-new-readers machine in the emulator: an RDS "DB instance created" event for a
reader of the watched cluster sets 1-second Enhanced Monitoring on it; other instances are left
alone. (The emulator applies ModifyDBInstance at once and has no cluster-level monitoring, so
the "the cluster sets it itself" branch is exercised on AWS only.)"""
import json
import time
import os
import uuid

import pytest

from conftest import ROOT

ROLE = "arn:aws:iam::000000000000:role/rds-monitoring-role"


@pytest.fixture
def machine(aws, cluster):
    with open(os.path.join(ROOT, "state-machines", "monitor-new-readers.asl.json")) as f:
        definition = f.read()
    # Every watched cluster: another one, and the test's.
    definition = definition.replace("${ClusterIdentifiers}", f"tickets-eu-1,{cluster}").replace(
        "${MonitoringRoleArn}", ROLE)
    assert "${" not in definition
    role = aws["iam"].create_role(RoleName=f"monitor-{uuid.uuid4().hex[:8]}",
                                  AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return aws["stepfunctions"].create_state_machine(
        name=f"monitor-{uuid.uuid4().hex[:8]}", definition=definition, roleArn=role,
        type="STANDARD")["stateMachineArn"]


def created(aws, machine, instance):
    """Runs the machine on events/rds-instance-created.json naming `instance`; returns the
    execution's description once it has ended."""
    with open(os.path.join(ROOT, "events", "rds-instance-created.json")) as f:
        event = json.load(f)
    arn = aws["rds"].describe_db_instances(
        DBInstanceIdentifier=instance)["DBInstances"][0]["DBInstanceArn"]
    event["detail"]["SourceArn"] = arn
    event["detail"]["SourceIdentifier"] = instance
    event["resources"] = [arn]
    sfn = aws["stepfunctions"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(event))["executionArn"]
    for _ in range(120):
        d = sfn.describe_execution(executionArn=execution)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.25)
    raise AssertionError("still running")


def interval(aws, instance):
    return aws["rds"].describe_db_instances(
        DBInstanceIdentifier=instance)["DBInstances"][0].get("MonitoringInterval", 0)


def test_a_new_reader_of_the_cluster_gets_1_second_monitoring(aws, cluster, machine):
    # GIVEN a reader added to the watched cluster without Enhanced Monitoring (as auto scaling
    # adds them when monitoring was set per instance)
    reader = f"{cluster}-auto-{uuid.uuid4().hex[:4]}"
    aws["rds"].create_db_instance(DBInstanceIdentifier=reader, DBClusterIdentifier=cluster,
                                  Engine="aurora-mysql", DBInstanceClass="db.r6g.large")
    assert interval(aws, reader) != 1
    # WHEN its "DB instance created" event arrives
    d = created(aws, machine, reader)
    # THEN it reports every second, with the monitoring role
    assert d["status"] == "SUCCEEDED", d
    described = aws["rds"].describe_db_instances(DBInstanceIdentifier=reader)["DBInstances"][0]
    assert described["MonitoringInterval"] == 1
    assert described["MonitoringRoleArn"] == ROLE
    # AND a second event for it changes nothing
    again = created(aws, machine, reader)
    assert again["status"] == "SUCCEEDED"
    history = aws["stepfunctions"].get_execution_history(executionArn=again["executionArn"])
    names = [e["stateEnteredEventDetails"]["name"] for e in history["events"]
             if e.get("stateEnteredEventDetails")]
    assert "Already measured every second" in names, names


def test_an_instance_of_another_cluster_is_left_alone(aws, machine):
    other = "other-" + uuid.uuid4().hex[:6]
    aws["rds"].create_db_cluster(DBClusterIdentifier=other, Engine="aurora-mysql",
                                 MasterUsername="spillway", MasterUserPassword="not-a-secret-1")
    aws["rds"].create_db_instance(DBInstanceIdentifier=f"{other}-r1", DBClusterIdentifier=other,
                                  Engine="aurora-mysql", DBInstanceClass="db.r6g.large")
    d = created(aws, machine, f"{other}-r1")
    assert d["status"] == "SUCCEEDED", d
    assert interval(aws, f"{other}-r1") != 1, "not ours: untouched"
