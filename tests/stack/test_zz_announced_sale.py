"""An announced sale on the stack deployed from template.yaml: `spillway event` checks a plan,
dry-runs it, schedules it (EventBridge Scheduler, which fires Prepare), lists and cancels the
schedules, and runs Recover by hand. The cluster is the stack's own (`orders`).

Prepare changes the cluster the other stack tests read (Recover brings it back before the
end): scripts/test runs this file beside them on a stack of its own, in an emulator of its own;
run with the others, its name puts it last.

Emulator quirks (besides those of tests/e2e/test_planned_events.py): ministack's Scheduler fires
due schedules every 10 seconds and ignores the time zone (the schedules are in UTC anyway).
"""
import datetime
import json
import os
import subprocess
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_stack  # noqa: E402
CLI = os.environ.get("SPILLWAY_CLI_BIN", os.path.join(ROOT, "target", "debug", "spillway"))
STACK = os.environ.get("SPILLWAY_STACK")
PLAN = os.path.join(ROOT, "events", "plans", "local-sale.json")


def spillway(*args):
    assert os.path.exists(CLI), f"build it first: cargo build -p spillway-cli ({CLI})"
    return subprocess.run([CLI, "event", *args], capture_output=True, text=True, timeout=300)


def weights():
    """The weighted pair: a plan moves no weight (starting weights are refused)."""
    outputs = {o["OutputKey"]: o["OutputValue"] for o in boto3.client(
        "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]}
    record = outputs["ReadEndpointorders"].rstrip(".") + "."
    zone = next(z["Id"].split("/")[-1] for z in
                boto3.client("route53").list_hosted_zones()["HostedZones"]
                if record.endswith(z["Name"]))
    return local_stack.weights(zone, record)


def cluster_state():
    rds = boto3.client("rds")
    c = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    members = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in c["DBClusterMembers"]}
    classes = {i["DBInstanceIdentifier"]: i["DBInstanceClass"] for i in rds.describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["orders"]}])["DBInstances"]}
    writer = next(m for m, w in members.items() if w)
    scaling = c.get("ServerlessV2ScalingConfiguration", {})
    return {"writer": (writer, classes[writer]), "members": sorted(members),
            "acu": (scaling.get("MinCapacity"), scaling.get("MaxCapacity")),
            "tags": {t["Key"]: t["Value"] for t in c.get("TagList", [])}}


def test_a_plan_is_checked_and_its_dry_run_changes_nothing():
    done = spillway("check", PLAN)
    assert done.returncode == 0, done.stderr
    assert "Prepare starts 2026-12-12T18:50:00Z" in done.stdout, done.stdout
    assert "Recover starts 2026-12-12T22:30:00Z" in done.stdout, done.stdout

    before = cluster_state()
    done = spillway("dry-run", PLAN, "--stack", STACK)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    print(out)  # shown with pytest -s (the README's timeline is this output)
    expected = [
        "Prepare (scheduled at 2026-12-12T18:50:00Z)",
        "record-restore", "tag the cluster: spillway:event=20261212t1900z",
        "acu", "set the serverless range to 8–64 ACU",
        "writer-create", "create orders-ev202612121900-w (db.r5.2xlarge, promotion tier 0",
        "failover", "fail over to orders-ev202612121900-w",
        "set orders-writer's promotion tier to 15",
        "readers-create", "create orders-ev202612121900-r1 (db.r6g.xlarge",
        "done (about",
        "Recover (scheduled at 2026-12-12T22:30:00Z)",
        "delete orders-ev202612121900-r1",
        "failback", "fail over to orders-writer",
        "delete orders-ev202612121900-w",
        "set the serverless range to 0.5–16 ACU",
        "untag the cluster: spillway:event, spillway:restore",
        "done (about",
    ]
    at = 0
    for text in expected:
        found = out.find(text, at)
        assert found >= 0, f"{text!r} not found in order after offset {at}:\n{out}"
        at = found + len(text)
    assert cluster_state() == before, "a dry run changes nothing"

    # A bad plan file: every wrong field, exit 2.
    bad = os.path.join(os.environ.get("TMPDIR", "/tmp"), "spillway-bad-plan.json")
    with open(bad, "w") as f:
        json.dump({"cluster": "orders", "start": "soon", "provisionedReaders": 0}, f)
    done = spillway("check", bad)
    assert done.returncode == 2
    for field in ("start", "end", "provisionedReaders", "serverlessAcu"):
        assert f"  {field}: " in done.stderr, done.stderr


def plan_file(tmp_path, name, start):
    doc = json.load(open(PLAN))
    doc["start"] = start.isoformat()
    doc["end"] = (start + datetime.timedelta(hours=1)).isoformat()
    doc["leadMinutes"] = 5
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path), doc


def wait_for_prepare(since, timeout=90):
    sfn = boto3.client("stepfunctions")
    machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                   if m["name"] == f"{STACK}-prepare")
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"]
                if e["startDate"].timestamp() >= since]
        ended = [e for e in runs if e["status"] != "RUNNING"]
        if ended:
            return sfn.describe_execution(executionArn=ended[0]["executionArn"])
        time.sleep(2)
    raise AssertionError("the schedule did not start Prepare")


def test_a_scheduled_plan_is_prepared_cancelled_and_recovered(tmp_path):
    before = cluster_state()
    pair = weights()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    # Prepare 25 s from now (start − 5 min lead).
    start = now + datetime.timedelta(minutes=5, seconds=25)
    path, doc = plan_file(tmp_path, "sale.json", start)
    since = time.time()
    done = spillway("schedule", path, "--stack", STACK)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("scheduled spillway-") == 2, done.stdout

    listed = spillway("list", "--stack", STACK, "--json")
    assert listed.returncode == 0, listed.stderr
    names = sorted(s["name"] for s in json.loads(listed.stdout))
    assert len(names) == 2 and "-prepare-" in names[0] and "-recover-" in names[1], names

    # Another plan while this one holds the cluster: refused, nothing scheduled.
    other, _ = plan_file(tmp_path, "other.json", start + datetime.timedelta(minutes=30))
    done = spillway("schedule", other, "--stack", STACK)
    assert done.returncode == 1 and "overlaps the event" in done.stderr, done.stderr
    assert len(json.loads(spillway("list", "--stack", STACK, "--json").stdout)) == 2

    prepared = wait_for_prepare(since)
    assert prepared["status"] == "SUCCEEDED", prepared.get("cause")
    during = cluster_state()
    assert during["writer"][1] == "db.r5.2xlarge"
    assert during["acu"] == (8, 64)
    assert weights() == pair

    done = spillway("cancel", path, "--stack", STACK)
    assert done.returncode == 0, done.stderr
    assert "-recover-" in done.stdout and "cancelled" in done.stdout, done.stdout
    assert "Prepare has run" in done.stdout, done.stdout
    assert json.loads(spillway("list", "--stack", STACK, "--json").stdout) == []

    done = spillway("run", "recover", path, "--stack", STACK, "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recover: SUCCEEDED" in done.stdout
    assert cluster_state() == before
    assert weights() == pair
