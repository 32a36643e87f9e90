"""The scale-up and scale-down state machines, executed by the local emulator with the real
Rust weight-step function, driven by scripted alarm sequences (see conftest.py)."""
import json
import time


def test_scale_up_to_the_limit_then_scale_down_to_zero(stack):
    # GIVEN the high alarm fires
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")

    # WHEN it keeps firing until the weight has been at the maximum for a while, then clears
    def clear_once_at_max(weights, _elapsed):
        if weights[0] == 75 and not getattr(clear_once_at_max, "done", False):
            clear_once_at_max.at_max_since = getattr(clear_once_at_max, "at_max_since", _elapsed)
            if _elapsed - clear_once_at_max.at_max_since > 5:
                stack.set_alarm(stack.high, "OK")
                clear_once_at_max.done = True

    seen_up = stack.watch([up], on_tick=clear_once_at_max)

    # THEN the serverless weight rose step by step to the maximum and stayed there
    assert seen_up == [(0, 100), (25, 100), (50, 100), (75, 100)], seen_up
    assert stack.status(up)["status"] == "SUCCEEDED"
    assert stack.final_state(up) == "Load is back under the threshold"

    # AND WHEN the low alarm fires, the scale-down brings it back to 0
    stack.set_alarm(stack.low, "ALARM")
    down = stack.start("scale-down")
    seen_down = stack.watch([down])
    assert seen_down == [(75, 100), (50, 100), (25, 100), (0, 100)], seen_down
    assert stack.final_state(down) == "The serverless weight is back to 0"


def test_scale_down_stops_when_the_low_alarm_clears(stack):
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    stack.watch([up], on_tick=lambda w, _t: w[0] == 50 and stack.set_alarm(stack.high, "OK"))
    start = stack.weights()
    assert start[0] in (50, 75), start

    stack.set_alarm(stack.low, "ALARM")
    down = stack.start("scale-down")
    # One step down, then the low alarm clears: the weight stays where it is.
    seen = stack.watch([down], on_tick=lambda w, _t: w[0] == start[0] - 25
                       and stack.set_alarm(stack.low, "OK"))
    assert seen == [start, (start[0] - 25, 100)], seen
    assert stack.final_state(down) == "Load rose again: stop lowering"


def test_scale_down_hands_over_to_scale_up_when_the_high_alarm_fires(stack):
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    stack.watch([up], on_tick=lambda w, _t: w[0] == 75 and stack.set_alarm(stack.high, "OK"))

    # GIVEN a scale-down under way
    stack.set_alarm(stack.low, "ALARM")
    down = stack.start("scale-down")
    handed_over = {}

    # WHEN the high alarm fires again after its first step down, while the slower low alarm
    # (more datapoints) has not cleared yet
    def spike_again(w, _t):
        if w[0] == 50 and not handed_over:
            stack.set_alarm(stack.high, "ALARM")
            handed_over["up"] = stack.start("scale-up")

    stack.watch([down], on_tick=spike_again)
    # THEN the scale-down stops and leaves the loop to the scale-up, which raises again
    assert stack.final_state(down) == "Scale-up owns the loop"
    stack.set_alarm(stack.low, "OK")
    second_up = handed_over["up"]
    seen = stack.watch([second_up], on_tick=lambda w, _t: w[0] == 75
                       and stack.set_alarm(stack.high, "OK"))
    assert seen[-1] == (75, 100), seen
    assert all(b[0] - a[0] == 25 for a, b in zip(seen, seen[1:])), f"one step at a time: {seen}"


def test_unavailable_serverless_reader_stops_scale_up_without_moving_traffic(make_stack):
    stack = make_stack(serverless_instance="no-such-serverless-reader")
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    seen = stack.watch([up])
    assert seen == [(0, 100)], f"weights must not move: {seen}"
    d = stack.status(up)
    assert d["status"] == "FAILED"
    assert d["error"] == "ScaleUpStopped"
    cause = json.loads(d["cause"])
    assert cause["Error"] == "ServerlessReaderUnavailable", cause


def test_a_second_overlapping_scale_up_leaves_the_loop_to_the_first(stack):
    before = stack.weights()
    stack.set_alarm(stack.high, "ALARM")
    first = stack.start("scale-up")
    # The alarm flaps: a second ALARM transition starts another execution while the first runs.
    time.sleep(1.0)
    second = stack.start("scale-up")
    seen = stack.watch([first, second],
                       on_tick=lambda w, _t: w[0] == 75 and stack.set_alarm(stack.high, "OK"))
    assert stack.final_state(second) == "Another execution owns the loop"
    sequence = [before] + [w for w in seen if w != before]
    assert sequence == [(0, 100), (25, 100), (50, 100), (75, 100)], f"no double step: {sequence}"


def test_dry_run_steps_without_writing(make_stack):
    stack = make_stack(dry_run=True)
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    time.sleep(3 * 2 + 1)
    stack.set_alarm(stack.high, "OK")
    seen = stack.watch([up])
    assert seen == [(0, 100)], f"dry run writes nothing: {seen}"
    out = json.loads(stack.status(up)["output"])
    assert out["last"]["step"]["dryRun"] is True
    assert out["last"]["step"]["serverlessWeight"] == 25, out["last"]
