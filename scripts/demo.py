"""The demo's play, run by scripts/demo once the stack is deployed in the emulator.

The loop is closed on the data: the recorded spike goes into RDSOSMetrics and through the
deployed metrics function; `spillway alarms` evaluates the EMF that function wrote, with the
deployed stack's own parameters, the way CloudWatch evaluates the alarms; the alarms are set
and their events sent at the moments that evaluation gives (the emulator evaluates no alarms),
and the deployed state machines move the Route 53 weights. The timeline shows cause and effect:
the readers' CPU in the data, the alarms, the weights. The simulated picture of the same spike
(`spillway simulate --recorded`, same parameters) is written beside it.

Time: the play follows the recording's clock, second for second, while an execution runs; when
none runs nothing can change, and the play skips ahead to the next alarm transition (said so in
the timeline)."""
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local_stack  # noqa: E402

STACK = os.environ.get("SPILLWAY_STACK", "spillway-local")
ROOT = local_stack.ROOT
TMP = os.path.join(ROOT, ".tmp")
CLI = os.environ.get("SPILLWAY_CLI_BIN", os.path.join(ROOT, "target", "debug", "spillway"))


def stack():
    """The stack's outputs, and its description saved for `--stack-description` (what is
    evaluated and simulated is what is deployed)."""
    described = boto3.client("cloudformation").describe_stacks(StackName=STACK)
    described.pop("ResponseMetadata", None)
    os.makedirs(TMP, exist_ok=True)
    path = os.path.join(TMP, "demo-stack.json")
    with open(path, "w") as f:
        json.dump(described, f, default=str)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
    return outputs, path


def cli(*args):
    done = subprocess.run([CLI, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"spillway {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def main():
    out, described = stack()
    cw, sfn, r53 = boto3.client("cloudwatch"), boto3.client("stepfunctions"), boto3.client("route53")
    high, low = f"{STACK}-orders-high-cpu", f"{STACK}-orders-low-cpu"
    record = out["ReadEndpointorders"].rstrip(".") + "."
    zone = next(z["Id"].split("/")[-1] for z in r53.list_hosted_zones()["HostedZones"]
                if record.endswith(z["Name"]))

    print("\n1. The recorded spike (6 minutes of RDSOSMetrics, 4 instances) goes into the log group")
    start = datetime.now(timezone.utc) - timedelta(minutes=6)
    n = local_stack.put_spike(start)
    lines = local_stack.emf_lines(out["MetricsFunctionArn"].split(":")[-1], n)
    print(f"   {n} log events put; the deployed metrics function printed {len(lines)} EMF lines")
    os.makedirs(TMP, exist_ok=True)
    emf = os.path.join(TMP, "demo-emf.jsonl")
    with open(emf, "w") as f:
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
    # The readers' average CPU of each second of the recording, for the timeline.
    first = min(line["_aws"]["Timestamp"] for line in lines) // 1000
    per_second = {}
    for line in lines:
        if line["Role"] == "provisioned-reader":
            per_second.setdefault(line["_aws"]["Timestamp"] // 1000 - first, []).append(
                line["CPUUtilization"])

    def cpu_at(offset):
        known = [s for s in per_second if s <= offset]
        return sum(per_second[max(known)]) / len(per_second[max(known)]) if known else float("nan")

    print("\n2. When would the alarms fire on AWS? `spillway alarms` on that EMF, with the deployed")
    print("   stack's parameters (CloudWatch's evaluation: periods, M of N, missing data)")
    report = json.loads(cli("alarms", emf, "--json", "--stack-description", described))
    plan = sorted([(t["offset"], "high", t["state"]) for t in report["high"]] +
                  [(t["offset"], "low", t["state"]) for t in report["low"]])
    for offset, alarm, state in plan:
        print(f"   +{offset:>4} s  {alarm:<4} -> {state}   (readers' CPU then {cpu_at(offset):5.1f} %)")
    if not any(a == "high" and s == "ALARM" for _, a, s in plan):
        sys.exit("the evaluation never fires the high alarm on the recorded spike")

    picture = os.path.join(TMP, "demo-simulated.png")
    print("\n3. The simulator on the same recording and parameters (what the picture shows):")
    table = cli("simulate", "--recorded", emf, "--picture", picture,
                "--stack-description", described)
    print("   " + table.rstrip().replace("\n", "\n   "))
    print(f"   picture: {picture}")

    print("\n4. The play: each alarm set, and its event sent, at the evaluated moment; the deployed")
    print("   state machines move the weights")

    def weights():
        return local_stack.weights(zone, record)

    def set_alarm(name, state):
        cw.set_alarm_state(AlarmName=name, StateValue=state,
                           StateReason="evaluated by spillway alarms on the recorded EMF")

    machines = {"high": (high, out["ScaleUpStateMachineArn"]),
                "low": (low, out["ScaleDownStateMachineArn"])}
    running = []
    state = {"high": "INSUFFICIENT_DATA", "low": "INSUFFICIENT_DATA"}
    clock = {"offset": 0.0, "at": time.monotonic()}  # recording offset <-> real time

    def offset_now():
        return clock["offset"] + time.monotonic() - clock["at"]

    def row(note=""):
        s, p = weights()
        t = offset_now()
        print(f"   +{t:6.1f} s  CPU {cpu_at(t):5.1f} %  high {state['high']:<5}  low {state['low']:<5}"
              f"  provisioned {p:>3}  serverless {s:>3}  share {100 * s / (s + p):5.1f} %  {note}")

    def busy():
        running[:] = [a for a in running
                      if sfn.describe_execution(executionArn=a)["status"] == "RUNNING"]
        return bool(running)

    last = weights()
    row("at rest")

    def wait_until(offset):
        nonlocal last
        while offset_now() < offset:
            if not busy():
                clock["offset"], clock["at"] = offset, time.monotonic()
                row(f"no execution running: skipped ahead to +{offset} s")
                return
            w = weights()
            if w != last:
                last = w
                row()
            time.sleep(0.5)

    for offset, alarm, new in plan:
        wait_until(offset)
        state[alarm] = new
        name, machine = machines[alarm]
        set_alarm(name, new)
        note = f"{alarm} alarm -> {new}"
        if new == "ALARM":
            # What the alarm's rule delivers (its constant Input: the cluster).
            event = local_stack.rule_input()
            running.append(sfn.start_execution(stateMachineArn=machine,
                                               input=json.dumps(event))["executionArn"])
            note += f" (event sent: {'scale-up' if alarm == 'high' else 'scale-down'} starts)"
        row(note)
    # The recording ends; the executions finish what they started (bounded by their round limit
    # and this timeout).
    deadline = time.monotonic() + 300
    while busy() and time.monotonic() < deadline:
        w = weights()
        if w != last:
            last = w
            row()
        time.sleep(0.5)
    row("executions ended" if not running else "still running after 300 s")
    if weights()[0] != 0:
        sys.exit("the serverless weight did not come back to 0")
    announced_sale()


def announced_sale():
    """An announced sale's plan: its dry run, then Prepare and Recover on the deployed stack."""
    plan = os.path.join(ROOT, "events", "plans", "local-sale.json")
    rds = boto3.client("rds")

    def cluster():
        c = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
        classes = {i["DBInstanceIdentifier"]: i["DBInstanceClass"] for i in rds.describe_db_instances(
            Filters=[{"Name": "db-cluster-id", "Values": ["orders"]}])["DBInstances"]}
        writer = next(m["DBInstanceIdentifier"] for m in c["DBClusterMembers"] if m["IsClusterWriter"])
        readers = [m for m in classes if m != writer and classes[m] != "db.serverless"]
        acu = c.get("ServerlessV2ScalingConfiguration", {})
        return (f"writer {writer} ({classes[writer]}), {len(readers)} provisioned readers, "
                f"serverless {acu.get('MinCapacity')}-{acu.get('MaxCapacity')} ACU")

    print(f"\n5. An announced sale ({os.path.relpath(plan, ROOT)}): the dry run of its plan, then")
    print("   Prepare and Recover on the deployed stack (`spillway event run ... --wait`)")
    dry = cli("event", "dry-run", plan, "--stack", STACK).splitlines()
    for line in dry:
        if line.startswith(("Prepare", "Recover")) or "done (about" in line or "fail over" in line:
            print("   " + line.strip())
    print(f"   before:  {cluster()}")
    for phase in ("prepare", "recover"):
        started = time.monotonic()
        cli("event", "run", phase, plan, "--stack", STACK, "--wait")
        print(f"   {phase} done in {time.monotonic() - started:4.1f} s (the emulator creates and "
              f"fails over at once): {cluster()}")


if __name__ == "__main__":
    main()
