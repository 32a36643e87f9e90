#!/usr/bin/env python3
"""Regenerates the sample events in this folder (deterministic: same output every run).

Documents are built from the real Enhanced Monitoring captures in
tests/fixtures/enhanced-monitoring/ (percona/rds_exporter test data, Apache-2.0): the same
fields, sizes and shapes, with this folder's instance names, timestamps and CPU values.

    python3 events/generate.py        # from the repository root
"""
import base64
import copy
import gzip
import hashlib
import json
import os
import random
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "enhanced-monitoring")
START = datetime(2026, 11, 22, 10, 0, 0, tzinfo=timezone.utc)
OWNER = "123456789012"


def resource_id(instance):
    digest = hashlib.sha256(instance.encode()).digest()
    return "db-" + base64.b32encode(digest).decode()[:26]


def load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


MYSQL = load("aurora-mysql-56.json")
POSTGRES = load("aurora-psql-11.json")

# The clusters of the samples; also written as the replay's topology file.
CLUSTERS = {
    "orders": {
        "orders-writer": ("db.r6g.xlarge", True),
        "orders-reader-1": ("db.r6g.xlarge", False),
        "orders-reader-2": ("db.r6g.xlarge", False),
        "orders-serverless": ("db.serverless", False),
    },
    "tickets": {
        "tickets-writer": ("db.r6g.large", True),
        "tickets-reader-1": ("db.r6g.large", False),
    },
}


def document(template, instance, at, cpu):
    doc = copy.deepcopy(template)
    doc["instanceID"] = instance
    doc["instanceResourceID"] = resource_id(instance)
    doc["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    cpu = round(cpu, 1)
    c = doc["cpuUtilization"]
    c["total"] = cpu
    c["idle"] = round(100.0 - cpu, 1)
    c["user"] = round(cpu * 0.7, 1)
    c["system"] = round(cpu * 0.25, 1)
    return json.dumps(doc, separators=(",", ":"))


def envelope(stream, messages, first_id=0):
    events = [
        {
            "id": str(36000000000000000000000000000000000000000000000000000000 + first_id + i),
            "timestamp": int(ts.timestamp() * 1000) + 400,
            "message": message,
        }
        for i, (ts, message) in enumerate(messages)
    ]
    batch = {
        "messageType": "DATA_MESSAGE",
        "owner": OWNER,
        "logGroup": "RDSOSMetrics",
        "logStream": stream,
        "subscriptionFilters": ["spillway-metrics"],
        "logEvents": events,
    }
    return raw_envelope(batch)


def raw_envelope(batch):
    data = gzip.compress(json.dumps(batch, separators=(",", ":")).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode()}}


def write(path, obj):
    with open(os.path.join(HERE, path), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def series(instance, template, cpus, start=START):
    return envelope(
        resource_id(instance),
        [(start + timedelta(seconds=i), document(template, instance, start + timedelta(seconds=i), c))
         for i, c in enumerate(cpus)],
    )


def alarm_event(alarm, state, previous, threshold):
    """A "CloudWatch Alarm State Change" event of a composite signal as EventBridge delivers it
    ("Alarm events and EventBridge", CloudWatch User Guide, the composite alarm's tab: the rule in
    configuration.alarmRule, the children that moved it in state.reasonData): the machines
    listen to the composites spillway-orders-high / -low, whose CPU child moved here."""
    name = f"spillway-orders-{alarm}"
    child = f"spillway-orders-{alarm}-cpu"
    child_arn = f"arn:aws:cloudwatch:us-east-1:{OWNER}:alarm:{child}"
    at = START + timedelta(seconds=70 if alarm == "high" else 200)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    rule = (f'ALARM("{child}") OR ALARM("spillway-orders-high-connections")' if alarm == "high"
            else f'ALARM("{child}") AND ALARM("spillway-orders-low-connections")')
    # An AND rule in ALARM names every child (all are in ALARM); an OR rule the one that moved.
    triggering = [child_arn] + ([f"arn:aws:cloudwatch:us-east-1:{OWNER}:alarm:spillway-orders-low-connections"]
                                if alarm == "low" and state == "ALARM" else [])
    reason_data = json.dumps({"triggeringAlarms": [
        {"arn": arn, "state": {"value": state, "timestamp": stamp}} for arn in triggering]})
    previous_data = json.dumps({"triggeringAlarms": [
        {"arn": child_arn, "state": {"value": previous, "timestamp": stamp}}]})
    return {
        "version": "0",
        "id": hashlib.sha256(f"{alarm}{state}".encode()).hexdigest()[:8] + "-0000-4000-8000-000000000000",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": OWNER,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:{OWNER}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": state,
                      "reason": f"{child_arn} transitioned to {state} at {at.strftime('%A %d %B, %Y %H:%M:%S UTC')}",
                      "reasonData": reason_data, "timestamp": stamp},
            "previousState": {"value": previous, "reason": f"{child_arn} transitioned to {previous}",
                              "reasonData": previous_data, "timestamp": stamp},
            "configuration": {
                "alarmRule": rule,
                "description": f"Spillway: the readers are {'busy (CPU or connections)' if alarm == 'high' else 'quiet (CPU and connections)'}; CPU {'above' if alarm == 'high' else 'below'} {threshold} %",
            },
        },
    }


def main():
    write("metrics-provisioned-reader.json",
          series("orders-reader-1", MYSQL, [41.0, 43.5, 47.2, 52.8, 58.1]))
    write("metrics-writer.json", series("orders-writer", MYSQL, [22.0, 23.1, 21.7]))
    write("metrics-serverless-reader.json", series("orders-serverless", MYSQL, [3.2, 3.0, 4.1]))
    write("metrics-aurora-postgresql.json",
          series("tickets-reader-1", POSTGRES, [12.4, 15.9, 33.3]))

    control = {
        "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
        "logStream": "", "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": int(START.timestamp() * 1000),
                       "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda."}],
    }
    write("metrics-control-message.json", raw_envelope(control))

    # A batch whose 2nd event is cut JSON, 3rd has CPU as a string, 4th is SQL Server-shaped;
    # the 1st and 5th are valid and must still be emitted.
    t = [START + timedelta(seconds=i) for i in range(5)]
    good = lambda i, c: document(MYSQL, "orders-reader-2", t[i], c)
    sqlserver = json.dumps({"engine": "SQLServer", "instanceID": "orders-reader-2",
                            "instanceResourceID": resource_id("orders-reader-2"),
                            "timestamp": t[3].strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "cpuUtilization": {"idle": 97.0, "kern": 1.0, "user": 2.0}})
    write("metrics-corrupt-documents.json", envelope(resource_id("orders-reader-2"), [
        (t[0], good(0, 35.0)),
        (t[1], good(1, 36.0)[:150]),
        (t[2], good(2, 37.0).replace('"total":37.0', '"total":"37.0"')),
        (t[3], sqlserver),
        (t[4], good(4, 39.0)),
    ]))
    write("metrics-corrupt-payload.json", {"awslogs": {"data": base64.b64encode(
        b"\x1f\x8b\x08\x00this is not a gzip stream").decode()}})

    # The recorded spike: 6 minutes of the `orders` cluster, one batch per instance per 10 s.
    # Readers idle at ~25 %, a ticket sale at 10:01:00 drives them past 90 % for two minutes,
    # then load falls to ~15 % as the sale's queue drains (long enough for the low alarm, 15 of
    # 18 ten-second periods, to fire within the recording).
    rng = random.Random(20261122)
    spike_dir = os.path.join(HERE, "spike", "batches")
    for f in os.listdir(spike_dir):
        os.remove(os.path.join(spike_dir, f))

    def level(instance, second):
        if instance == "orders-writer":
            return 30.0 + (15.0 if 60 <= second < 180 else 0.0)
        if instance == "orders-serverless":
            return 4.0
        if second < 60:
            return 25.0
        if second < 70:
            return 25.0 + (second - 60) * 6.8
        if second < 180:
            return 93.0
        return 15.0

    for instance in ("orders-writer", "orders-reader-1", "orders-reader-2", "orders-serverless"):
        for batch_no in range(36):
            start = START + timedelta(seconds=10 * batch_no)
            cpus = [min(100.0, max(0.0, level(instance, 10 * batch_no + i) + rng.uniform(-3, 3)))
                    for i in range(10)]
            env = series(instance, MYSQL, cpus, start)
            name = f"{start.strftime('%H%M%S')}-{instance}.json"
            with open(os.path.join(spike_dir, name), "w") as f:
                json.dump(env, f)
                f.write("\n")

    # Traffic shifting: the EventBridge events of the two alarms, as they arrive, and the
    # weight-step inputs the state machines send.
    for alarm, threshold in (("high", 70.0), ("low", 30.0)):
        for state, previous in (("ALARM", "OK"), ("OK", "ALARM")):
            write(f"alarm-{alarm}-{state.lower()}.json",
                  alarm_event(alarm, state, previous, threshold))
    # RDS "DB instance created" as EventBridge delivers it (Aurora guide, USER_Events.overview:
    # the event shape; USER_Events.Messages: RDS-EVENT-0005), for the monitor-new-readers machine.
    write("rds-instance-created.json", {
        "version": "0", "id": "3b6f1c2e-0000-4000-8000-000000000005",
        "detail-type": "RDS DB Instance Event", "source": "aws.rds", "account": OWNER,
        "time": "2026-11-22T10:06:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:rds:us-east-1:{OWNER}:db:orders-reader-3"],
        "detail": {
            "EventCategories": ["creation"], "SourceType": "DB_INSTANCE",
            "SourceArn": f"arn:aws:rds:us-east-1:{OWNER}:db:orders-reader-3",
            "Date": "2026-11-22T10:06:00.000Z", "Message": "DB instance created",
            "SourceIdentifier": "orders-reader-3", "EventID": "RDS-EVENT-0005"}})
    # A step as the machines ask for it: the cluster's settings (its SSM parameter's "shift")
    # travel with the request.
    settings = {"CLUSTER_IDENTIFIER": "orders", "SERVERLESS_INSTANCE_IDENTIFIER": "orders-serverless",
                "HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ", "ZONE_NAME": "orders.spillway.internal",
                "RECORD_NAME": "reads.orders.spillway.internal",
                "PROVISIONED_SET_IDENTIFIER": "provisioned", "SERVERLESS_SET_IDENTIFIER": "serverless",
                "WEIGHT_STEP": 25, "MAX_SERVERLESS_WEIGHT": 100, "PROVISIONED_WEIGHT": 100,
                "DRY_RUN": False, "MAX_REPLICA_LAG_MS": 1000, "SCALE_DOWN_DELAY_SECONDS": 600}
    write("weight-step-up.json", {"direction": "up", "expectedServerlessWeight": None,
                                  "settings": settings})
    write("weight-step-down.json", {"direction": "down", "expectedServerlessWeight": 25,
                                    "settings": settings})

    topology = {"clusters": [], "instances": []}
    for cluster, members in CLUSTERS.items():
        topology["clusters"].append({"id": cluster, "members": [
            {"instance": i, "writer": w} for i, (_, w) in members.items()]})
        for i, (klass, _) in members.items():
            topology["instances"].append({"id": i, "cluster": cluster, "status": "available",
                                          "class": klass, "resourceId": resource_id(i)})
    write(os.path.join("spike", "topology.json"), topology)


if __name__ == "__main__":
    main()
