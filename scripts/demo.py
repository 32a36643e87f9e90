"""The demo's play, run by scripts/demo once the stack is deployed in the emulator: the
recorded spike goes into RDSOSMetrics, the deployed metrics function turns it into EMF, then
the alarms are driven (the emulator evaluates none) and the deployed state machines move the
Route 53 weights, round by round, printed as a timeline."""
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local_stack  # noqa: E402

STACK = os.environ.get("SPILLWAY_STACK", "spillway-local")


def outputs():
    stack = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def main():
    out = outputs()
    cw, sfn, r53 = boto3.client("cloudwatch"), boto3.client("stepfunctions"), boto3.client("route53")
    high, low = f"{STACK}-high-cpu", f"{STACK}-low-cpu"
    record = out["ReadEndpoint"].rstrip(".") + "."
    zone = next(z["Id"].split("/")[-1] for z in r53.list_hosted_zones()["HostedZones"]
                if record.endswith(z["Name"]))

    print("\n1. The recorded spike (4 minutes of RDSOSMetrics, 4 instances) goes into the log group")
    start = datetime.now(timezone.utc) - timedelta(minutes=4)
    n = local_stack.put_spike(start)
    lines = local_stack.emf_lines(out["MetricsFunctionArn"].split(":")[-1], n)
    print(f"   {n} log events put; the deployed metrics function printed {len(lines)} EMF lines, e.g.:")
    print("   " + json.dumps(lines[len(lines) // 2], separators=(",", ":")))
    by_role = {}
    for line in lines:
        by_role.setdefault(line["Role"], []).append(line["CPUUtilization"])
    for role, values in sorted(by_role.items()):
        print(f"   {role:<19} {len(values):>4} samples, CPU {min(values):5.1f} - {max(values):5.1f} %")

    def weights():
        return local_stack.weights(zone, record)

    def alarm(name):
        return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]

    def set_alarm(name, state):
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="set by the demo")

    def event(kind, name):
        return json.dumps(local_stack.alarm_event(kind, name))

    t0 = time.monotonic()

    def row(note=""):
        s, p = weights()
        print(f"   {time.monotonic() - t0:6.1f} s   high {alarm(high):<5}  low {alarm(low):<5}  "
              f"provisioned {p:>3}  serverless {s:>3}  share {100 * s / (s + p):5.1f} %  {note}")
        return s

    def run(arn, on_change=None):
        """Prints a row at every weight change until the execution ends (bounded: the
        execution's own round limit, and this timeout)."""
        last = {}

        def tick(w, _elapsed):
            if w != last.get("w"):
                last["w"] = w
                row()
                if on_change:
                    on_change(w[0])

        local_stack.watch(weights, [arn], on_tick=tick, timeout=600, interval=0.5)
        return sfn.describe_execution(executionArn=arn)

    print("\n2. The provisioned readers' CPU crosses the high threshold: the high alarm fires")
    print("   (the emulator evaluates no alarms: set-alarm-state, then the event EventBridge sends)")
    row("at rest")
    set_alarm(high, "ALARM")
    up = sfn.start_execution(stateMachineArn=out["ScaleUpStateMachineArn"],
                             input=event("high", high))["executionArn"]

    def clear_at_max(s):
        if s == 100:
            time.sleep(12)  # one more alarm cycle at the maximum: it keeps watching
            set_alarm(high, "OK")

    done = run(up, clear_at_max)
    row(f"scale-up {done['status'].lower()}")

    print("\n3. Load falls: the low alarm fires, the scale-down brings the weight back to 0")
    set_alarm(low, "ALARM")
    down = sfn.start_execution(stateMachineArn=out["ScaleDownStateMachineArn"],
                               input=event("low", low))["executionArn"]
    done = run(down)
    set_alarm(low, "OK")
    row(f"scale-down {done['status'].lower()}")
    if weights()[0] != 0:
        sys.exit("the serverless weight did not come back to 0")


if __name__ == "__main__":
    main()
