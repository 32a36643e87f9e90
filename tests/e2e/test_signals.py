"""Aurora's rules as the machines' signals (issue 10): the composite alarms template.yaml
builds, read by the real machines with the real weight-step function. The tests script the
child alarms (CPU, connections); the emulator derives the composites' states from them.
ALARM_CYCLE_SECONDS / COOLDOWN_SECONDS: conftest.py."""
import time
from datetime import datetime

from conftest import COOLDOWN_SECONDS


def test_cpu_alone_or_connections_alone_raise_the_weight(make_stack):
    for child in ("cpu_high", "conn_high"):
        stack = make_stack()
        # GIVEN only one child of the high signal fires
        stack.set_alarm(getattr(stack, child), "ALARM")
        assert stack.state(stack.high) == "ALARM", child
        up = stack.start("scale-up")
        # THEN the weight rises; it stops when that child clears
        seen = stack.watch([up], on_tick=lambda w, _t, s=stack, c=child: w[0] == 50
                           and s.set_alarm(getattr(s, c), "OK"))
        assert seen[:3] == [(0, 100), (25, 100), (50, 100)], (child, seen)
        assert stack.final_state(up) == "Load is back under the threshold", child


def test_cpu_low_but_connections_high_is_no_scale_down(stack):
    stack.set_weights(50, 100)
    # GIVEN CPU is low but the readers still hold many connections (a connection storm with
    # idle CPU): the high signal holds, the low one does not
    stack.set_alarm(stack.cpu_low, "ALARM")
    stack.set_alarm(stack.conn_low, "OK")
    stack.set_alarm(stack.conn_high, "ALARM")
    assert (stack.state(stack.high), stack.state(stack.low)) == ("ALARM", "OK")
    # WHEN scale-down is started (the sweep, or a late event)
    down = stack.start("scale-down", sweep=True)
    seen = stack.watch([down])
    # THEN nothing is lowered: scale-up owns the pair while the high signal holds
    assert seen == [(50, 100)], seen
    assert stack.final_state(down) == "Scale-up owns the loop"
    # AND with connections high but no longer above the high bar, still no scale-down
    stack.set_alarm(stack.conn_high, "OK")
    down = stack.start("scale-down", sweep=True)
    assert stack.watch([down]) == [(50, 100)]
    assert stack.final_state(down) == "Load rose again: stop lowering"


def test_no_scale_down_step_until_the_delay_after_the_last_raise(make_stack):
    delay = 3 * COOLDOWN_SECONDS
    stack = make_stack(scale_down_delay=delay)
    # GIVEN scale-up raised the weight (its last raise noted in the lock table)
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    stack.watch([up], on_tick=lambda w, _t: w[0] == 50 and stack.set_alarm(stack.high, "OK"))
    assert stack.weights()[0] in (50, 75)
    note = stack.aws["dynamodb"].get_item(TableName=stack.lock_table, Key={
        "lock": {"S": f"last-raise#{stack.cluster}"}}, ConsistentRead=True)["Item"]
    raised_at = datetime.fromisoformat(note["at"]["S"].replace("Z", "+00:00")).timestamp()
    assert note["by"]["S"] == up
    # WHEN the low signal holds at once
    stack.set_alarm(stack.low, "ALARM")
    down = stack.start("scale-down")
    start = stack.weights()[0]
    first_step = {}

    def on_tick(w, _t):
        if w[0] < start and "at" not in first_step:
            first_step["at"] = time.time() - raised_at

    seen = stack.watch([down], timeout=60 + delay, on_tick=on_tick)
    # THEN scale-down held its rounds ("Hold back: the scale-down delay") and its first step
    # came only after the delay, then it went on to 0
    assert seen[-1] == (0, 100), seen
    entered = stack.states_entered(down)
    assert entered.count("Hold back: the scale-down delay") >= 2, entered
    # (the emulator and the test share this machine's clock)
    assert first_step["at"] >= delay, first_step
