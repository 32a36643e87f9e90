"""The local AWS stack: the prerequisites template.yaml assumes, created in the emulator
(AWS_ENDPOINT_URL), and the stack's outputs. Used by scripts/demo and the end-to-end tests.

    prepare CLUSTER...   the Aurora clusters (each a writer, two provisioned readers, a
              serverless reader, shaped as events/spike/topology.json's orders), the RDSOSMetrics
              log group, a VPC and the deployment bucket; prints them, and the clusters'
              ClusterSettings, as JSON

As a module, the one harness of the demo and of both end-to-end suites (scripts/demo.py,
tests/e2e, tests/stack): put_spike() and emf_lines() play the recorded spike through the
deployed metrics function; alarm_event(), rule_input(), weights() and watch() drive and observe the state
machines.
"""
import base64
import gzip
import json
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = "orders"


def create_cluster(name):
    """An Aurora cluster `name` shaped as the recorded one (events/spike/topology.json: orders,
    a writer, two provisioned readers, a serverless reader), its instances named
    `<name>-writer`, `<name>-reader-1`… as orders' are `orders-…`, so the recorded spike
    plays on it renamed (renamed_spike)."""
    rds = boto3.client("rds")
    with open(os.path.join(ROOT, "events", "spike", "topology.json")) as f:
        topology = json.load(f)
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-mysql",
                          MasterUsername="spillway", MasterUserPassword="not-a-secret-1",
                          ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
    writer = next(m["instance"] for c in topology["clusters"] if c["id"] == CLUSTER
                  for m in c["members"] if m["writer"])
    for i in sorted((i for i in topology["instances"] if i["cluster"] == CLUSTER),
                    key=lambda i: i["id"] != writer):  # the writer first
        # As the README asks: 1-second Enhanced Monitoring on every instance, the serverless
        # reader in promotion tier 15 (last in failover order, scaling on its own load).
        tier = 15 if i["class"] == "db.serverless" else (0 if i["id"] == writer else 1)
        rds.create_db_instance(DBInstanceIdentifier=renamed(i["id"], name),
                               DBClusterIdentifier=name,
                               Engine="aurora-mysql", DBInstanceClass=i["class"],
                               MonitoringInterval=1, PromotionTier=tier,
                               MonitoringRoleArn="arn:aws:iam::000000000000:role/rds-monitoring-role")


def renamed(instance, cluster):
    """The recorded cluster's instance `instance` (orders-…) as cluster `cluster`'s."""
    return cluster + instance[len(CLUSTER):] if instance.startswith(CLUSTER + "-") else instance


def cluster_settings(clusters):
    """The ClusterSettings of the local stack: each cluster on the custom endpoint hosts the
    emulator cannot create (CreateEndpoints=false), named as the stack would name them."""
    return {c: {"ProvisionedEndpointHost": f"{c}-provisioned.cluster-custom.local",
                "ServerlessEndpointHost": f"{c}-serverless.cluster-custom.local"}
            for c in clusters}


def prepare(clusters):
    for name in clusters:
        create_cluster(name)
    boto3.client("logs").create_log_group(logGroupName="RDSOSMetrics")
    vpc = boto3.client("ec2").create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    bucket = "spillway-artifacts"
    boto3.client("s3").create_bucket(Bucket=bucket)
    # ClusterSettings compact and without single quotes: scripts/lib.sh passes it to
    # `sam deploy --parameter-overrides` in single quotes.
    print(json.dumps({"clusters": ",".join(clusters), "vpc": vpc, "bucket": bucket,
                      "settings": json.dumps(cluster_settings(clusters), separators=(",", ":"))}))


def settle_alarms(stack):
    """Emulator quirk: ministack evaluates no alarms, so every metric alarm of the deployed
    stack stays INSUFFICIENT_DATA until someone sets it. On AWS, at rest, the connections
    alarms settle by themselves: high OK (idle readers hold few connections), low ALARM (few
    connections; TreatMissingData breaching). Without that, the composite low signal (CPU low
    AND connections low) could never hold here. The tests then script the CPU alarms, as
    before, and the connections alarms where they test them."""
    cw = boto3.client("cloudwatch")
    # Every watched cluster's (<stack>-<key>-high-connections, -low-connections).
    alarms = cw.describe_alarms(AlarmNamePrefix=f"{stack}-")["MetricAlarms"]
    for suffix, state in (("-high-connections", "OK"), ("-low-connections", "ALARM")):
        for name in (a["AlarmName"] for a in alarms if a["AlarmName"].endswith(suffix)):
            cw.set_alarm_state(AlarmName=name, StateValue=state,
                               StateReason="settled by the harness (the emulator evaluates no alarms)")


# ---------------------------------------------------------------------------------------------
# Playing the recorded spike through the deployed stack.

STAMP = re.compile(r'"timestamp":"([0-9T:\-]+)Z"')


def recorded_batches(instances=None):
    """The recorded spike's batches: (log stream, [(ms, message)]), in time order."""
    folder = os.path.join(ROOT, "events", "spike", "batches")
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            data = json.load(f)["awslogs"]["data"]
        batch = json.loads(gzip.decompress(base64.b64decode(data)))
        events = [(e["timestamp"], e["message"]) for e in batch["logEvents"]]
        if instances and not any(i in name for i in instances):
            continue
        out.append((batch["logStream"], events))
    out.sort(key=lambda b: b[1][0][0])
    return out


def put_spike(shift_to, instances=None, seconds=None, cluster=CLUSTER):
    """Writes the recorded spike into RDSOSMetrics with its timestamps (the log events' and the
    documents' own) moved so the recording starts at `shift_to`; returns the sample count.
    `instances` (the recorded names, orders-…) selects some; `cluster` plays it as another
    cluster's (one create_cluster made): each document's instanceID renamed, its
    instanceResourceID and log stream (Enhanced Monitoring's stream is the DbiResourceId) too."""
    logs = boto3.client("logs")
    batches = recorded_batches(instances)
    first = batches[0][1][0][0]
    # Whole seconds, so each document's own second-precision time moves exactly as its event.
    first -= first % 1000
    offset_ms = int(shift_to.timestamp()) * 1000 - first
    streams = set()
    count = 0
    for stream, events in batches:
        if seconds is not None and events[0][0] - first >= seconds * 1000:
            continue
        recorded = json.loads(events[0][1])
        instance, resource = recorded["instanceID"], recorded["instanceResourceID"]
        if cluster != CLUSTER:
            new = renamed(instance, cluster)
            stream = "db-" + new.upper().replace("-", "")
        if stream not in streams:
            logs.create_log_stream(logGroupName="RDSOSMetrics", logStreamName=stream)
            streams.add(stream)

        def moved(message):
            if cluster != CLUSTER:
                message = message.replace(f'"instanceID":"{instance}"', f'"instanceID":"{new}"', 1)
                message = message.replace(f'"instanceResourceID":"{resource}"',
                                          f'"instanceResourceID":"{stream}"', 1)
            def sub(m):
                t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
                t += timedelta(milliseconds=offset_ms)
                return '"timestamp":"' + t.strftime("%Y-%m-%dT%H:%M:%S") + 'Z"'
            return STAMP.sub(sub, message, count=1)

        logs.put_log_events(logGroupName="RDSOSMetrics", logStreamName=stream, logEvents=[
            {"timestamp": ts + offset_ms, "message": moved(m)} for ts, m in events])
        count += len(events)
    return count


def emf_lines(function_name, want, timeout=60):
    """The EMF lines the deployed function printed (from its log group)."""
    logs = boto3.client("logs")
    group = f"/aws/lambda/{function_name}"
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        lines = []
        try:
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
            for page in pages:
                lines += [e["message"].strip() for e in page["events"]
                          if e["message"].lstrip().startswith('{"_aws"')]
        except logs.exceptions.ResourceNotFoundException:
            pass
        if len(lines) >= want:
            break
        time.sleep(1)
    return [json.loads(line) for line in lines]


# ---------------------------------------------------------------------------------------------
# Driving and watching the state machines.

def rule_input(cluster=CLUSTER):
    """The execution input EventBridge delivers to a weight loop when the cluster's alarm enters
    ALARM: the rule's constant Input (template.yaml), naming the cluster whose settings the
    machine loads."""
    return {"cluster": cluster}


def alarm_event(kind, name, state="alarm"):
    """The "CloudWatch Alarm State Change" event EventBridge delivers for alarm `name` (the
    execution input): events/alarm-{kind}-{state}.json with that alarm's name and ARN."""
    with open(os.path.join(ROOT, "events", f"alarm-{kind}-{state}.json")) as f:
        event = json.load(f)
    event["detail"]["alarmName"] = name
    event["resources"] = [f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"]
    return event


def weights(zone, record):
    """(serverless, provisioned) weights of the pair `record` (with its trailing dot)."""
    sets = boto3.client("route53").list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=record, StartRecordType="CNAME")["ResourceRecordSets"]
    w = {r["SetIdentifier"]: r["Weight"] for r in sets
         if r["Name"] == record and "SetIdentifier" in r}
    return w["serverless"], w["provisioned"]


def settled(stack, timeout=240):
    """The status of `stack` once its create, update, delete (or their rollback) has ended."""
    cf = boto3.client("cloudformation")
    deadline = time.monotonic() + timeout
    while True:
        status = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            return status
        assert time.monotonic() < deadline, f"{stack} is still {status}"
        time.sleep(1)


def set_weights(zone, record, serverless, provisioned):
    """Moves the pair `record` (with its trailing dot) by hand, as an operator would: both
    records in one change batch, each deleted exactly as read and created with its weight."""
    r53 = boto3.client("route53")
    sets = r53.list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=record, StartRecordType="CNAME")["ResourceRecordSets"]
    changes = []
    for r in sets:
        if r["Name"] == record and r.get("SetIdentifier") in ("serverless", "provisioned"):
            changes.append({"Action": "DELETE", "ResourceRecordSet": r})
            weight = serverless if r["SetIdentifier"] == "serverless" else provisioned
            changes.append({"Action": "CREATE", "ResourceRecordSet": dict(r, Weight=weight)})
    assert len(changes) == 4, f"no weighted pair {record}: {sets}"
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})


def watch(read, executions, on_tick=None, timeout=60, interval=0.25):
    """Polls `read()` (the weights) until every execution has ended; returns the distinct
    sequence of values seen, starting with the first. `on_tick(value, elapsed)` runs at every
    poll (to script the alarms). Fails after `timeout` seconds."""
    sfn = boto3.client("stepfunctions")
    seen = [read()]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = read()
        if value != seen[-1]:
            seen.append(value)
        if on_tick:
            on_tick(value, time.monotonic() - start)
        if all(sfn.describe_execution(executionArn=e)["status"] != "RUNNING" for e in executions):
            value = read()
            return seen + ([value] if value != seen[-1] else [])
        time.sleep(interval)
    raise AssertionError(f"executions still running after {timeout} s; seen {seen}")


if __name__ == "__main__":
    {"prepare": lambda: prepare(sys.argv[2:]),
     "settle-alarms": lambda: settle_alarms(sys.argv[2])}[sys.argv[1]]()
