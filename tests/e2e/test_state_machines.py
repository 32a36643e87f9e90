"""The scale-up and scale-down state machines, executed by the local emulator with the real
Rust weight-step function, driven by scripted alarm sequences (see conftest.py)."""
import json
import time
from concurrent.futures import ThreadPoolExecutor


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


def test_a_second_overlapping_scale_up_stands_by_and_never_steps(stack):
    before = stack.weights()
    stack.set_alarm(stack.high, "ALARM")
    first = stack.start("scale-up")
    # The alarm flaps (or EventBridge delivers the event again): another execution starts.
    time.sleep(1.0)
    second = stack.start("scale-up")
    seen = stack.watch([first, second],
                       on_tick=lambda w, _t: w[0] == 75 and stack.set_alarm(stack.high, "OK"))
    sequence = [before] + [w for w in seen if w != before]
    assert sequence == [(0, 100), (25, 100), (50, 100), (75, 100)], f"no double step: {sequence}"
    entered = stack.states_entered(second)
    assert "Count a standby round" in entered, entered
    assert "Raise the serverless weight" not in entered, "the standby never stepped"
    assert stack.lock_owner("scale-up") is None, "the owner released the loop when it ended"


def test_two_scale_ups_started_within_100_ms_elect_exactly_one_owner(stack):
    stack.set_alarm(stack.high, "ALARM")
    sfn, arn = stack.aws["stepfunctions"], stack.machines["scale-up"]
    event = stack.alarm_event(stack.high)
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        starts = [pool.submit(sfn.start_execution, stateMachineArn=arn, input=event)
                  for _ in range(2)]
        executions = [f.result()["executionArn"] for f in starts]
    assert time.monotonic() - t0 < 0.5, "both started together"
    seen = stack.watch(executions,
                       on_tick=lambda w, _t: w[0] == 75 and stack.set_alarm(stack.high, "OK"))
    assert all(b[0] - a[0] == 25 for a, b in zip(seen, seen[1:])), f"one step at a time: {seen}"
    assert seen[-1] == (75, 100), seen
    stepped = [e for e in executions if "Raise the serverless weight" in stack.states_entered(e)]
    assert len(stepped) == 1, f"exactly one owner stepped, not {len(stepped)}"


def test_a_holder_that_ended_without_releasing_is_taken_over(stack):
    # GIVEN the lock names an execution that has ended (failed, timed out, aborted) without
    # releasing it — what a stale or lost release leaves behind
    stack.set_alarm(stack.high, "OK")
    ended = stack.start("scale-up")
    stack.watch([ended])
    stack.hold_lock("scale-up", ended)
    # WHEN the high alarm fires
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    seen = stack.watch([up], on_tick=lambda w, _t: w[0] == 50 and stack.set_alarm(stack.high, "OK"))
    # THEN the new execution took the loop over and spilled
    assert (25, 100) in seen and (50, 100) in seen, seen
    assert "Take over from an ended holder" in stack.states_entered(up)


def test_a_holder_the_service_does_not_show_yet_is_taken_over(stack):
    # GIVEN the lock names an execution DescribeExecution does not know (eventually consistent
    # reads, or one of another account's): the taker replaces exactly that holder
    ghost = stack.machines["scale-up"].replace(":stateMachine:", ":execution:") + ":ghost"
    stack.hold_lock("scale-up", ghost)
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    seen = stack.watch([up], on_tick=lambda w, _t: w[0] == 25 and stack.set_alarm(stack.high, "OK"))
    assert (25, 100) in seen, seen
    assert "Take over from an ended holder" in stack.states_entered(up)


def test_a_sweep_brings_the_weight_back_to_0_when_no_execution_did(stack):
    # GIVEN traffic left on the serverless reader (a scale-down ended by a hand-over, an
    # operator, the round limit) while the low alarm stays in ALARM, and nothing running
    stack.set_weights(50, 100)
    stack.set_alarm(stack.low, "ALARM")
    # WHEN the periodic sweep starts scale-down
    sweep = stack.start("scale-down", sweep=True)
    seen = stack.watch([sweep])
    # THEN the weight comes back to 0
    assert seen == [(50, 100), (25, 100), (0, 100)], seen
    assert stack.final_state(sweep) == "The serverless weight is back to 0"


def test_a_sweep_leaves_a_live_owner_alone_and_does_nothing_without_an_alarm(stack):
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    time.sleep(1.5)  # the first execution takes the loop
    sweep = stack.start("scale-up", sweep=True)
    stack.watch([sweep], timeout=30)
    assert stack.final_state(sweep) == "Another execution owns the loop"
    stack.set_alarm(stack.high, "OK")
    stack.watch([up])
    quiet = stack.start("scale-down", sweep=True)
    stack.watch([quiet])
    assert stack.final_state(quiet) == "Load rose again: stop lowering", "low alarm not firing"


def test_a_provisioned_weight_zeroed_by_hand_while_holding_at_the_maximum_is_repaired(stack):
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    repaired = {}

    def zero_it_at_the_maximum(w, elapsed):
        if w == (75, 100) and "zeroed" not in repaired:
            stack.set_weights(75, 0)
            repaired["zeroed"] = elapsed
        elif "zeroed" in repaired and w == (75, 100) and "back" not in repaired:
            repaired["back"] = elapsed
            stack.set_alarm(stack.high, "OK")

    seen = stack.watch([up], on_tick=zero_it_at_the_maximum)
    assert (75, 0) in seen and seen[-1] == (75, 100), seen
    assert repaired["back"] - repaired["zeroed"] < 3 * 2 + 2, "repaired within a round or so"


def test_dry_run_steps_without_writing(make_stack):
    stack = make_stack(dry_run=True)
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    time.sleep(4 * 2 + 1)
    stack.set_alarm(stack.high, "OK")
    seen = stack.watch([up])
    assert seen == [(0, 100)], f"dry run writes nothing: {seen}"
    out = json.loads(stack.status(up)["output"])
    assert out["last"]["step"]["dryRun"] is True
    assert out["last"]["step"]["serverlessWeight"] == 75, "the trajectory a real run would take"
    entered = stack.states_entered(up)
    assert "Re-read the weights next round" not in entered, "no round fails as a conflict"
    assert entered.count("Raise the serverless weight") >= 3, entered


def test_a_direct_start_at_the_maximum_raises_nothing_and_undoes_nothing(stack):
    # GIVEN the serverless weight already at its maximum (an earlier spill), the alarm OK
    stack.set_weights(75, 100)
    up = stack.start("scale-up", direct="2026-01-01T00:00:00Z")
    # WHEN the direct start's raise (a no-op there) goes unconfirmed for the grace rounds
    seen = stack.watch([up], timeout=90)
    # THEN nothing moved: a raise that moved nothing has nothing to undo
    assert seen == [(75, 100)], seen
    entered = stack.states_entered(up)
    assert "Raise the serverless weight" in entered
    assert "Undo the unconfirmed raise" not in entered, entered
    assert stack.final_state(up) == "Load is back under the threshold"


def test_an_unconfirmed_direct_raise_is_undone_at_the_round_limit_too(make_stack):
    # GIVEN a round limit (2) that comes before the grace rounds (3) end
    stack = make_stack(max_rounds=2)
    up = stack.start("scale-up", direct="2026-01-01T00:00:00Z")
    seen = stack.watch([up], timeout=90)
    # THEN the raise is taken back at the limit, not left standing
    assert seen == [(0, 100), (25, 100), (0, 100)], seen
    assert "Release the loop at the round limit" not in stack.states_entered(up)
    assert stack.final_state(up) == "The alarm did not confirm the direct trigger"
