"""Tests of the strict ASL checker (aslcheck.py): for every rule a seeded violation - a small
definition that breaks exactly that rule - and a passing counterpart; then the repository's own
definitions, rendered with the template's worst-case values."""
import copy
import glob
import json
import os
import subprocess
import sys

import pytest
from cfnlint.decode import cfn_yaml

import aslcheck

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEMPLATE = os.path.join(ROOT, "template.yaml")
HANDLER = os.path.join(ROOT, "functions", "weight-step", "src", "handler.rs")
# The function each definition invokes, by file (its ERROR_TYPES are the definition's vocabulary).
HANDLERS = {
    "planned-event.asl.json": os.path.join(ROOT, "functions", "planned-event", "src",
                                           "handler.rs"),
}

VOCABULARY = {"Conflict", "Throttled"}

# A small machine that passes every rule: settings loaded as constants, a counter, a Lambda step
# with retries and catchers, a bounded loop through a Wait and an AWS SDK read. Its longest legal
# run is 620 s: the path Load .. Read (93 + 10 + 21 s) once, plus 4 passes of the same cycle.
BASELINE = {
    "Comment": "baseline",
    "StartAt": "Load",
    "TimeoutSeconds": 3600,
    "States": {
        "Load": {
            "Type": "Pass",
            "Parameters": {"maxRounds.$": "States.StringToJson('3')", "waitSeconds": 10},
            "ResultPath": "$.settings",
            "Next": "Start",
        },
        "Start": {"Type": "Pass", "Parameters": {"round": 0}, "ResultPath": "$.loop",
                  "Next": "Step"},
        "Step": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "TimeoutSeconds": 30,
            "Parameters": {
                "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:step",
                "Payload": {"round.$": "$.loop.round", "execution.$": "$$.Execution.Id"},
            },
            "ResultSelector": {"step.$": "$.Payload"},
            "ResultPath": "$.last",
            "Retry": [{"ErrorEquals": ["Throttled", "Lambda.ServiceException"],
                       "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2}],
            "Catch": [
                {"ErrorEquals": ["Conflict"], "ResultPath": "$.conflict", "Next": "Conflict"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Stop"},
            ],
            "Next": "Done?",
        },
        "Done?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.last.step.done", "BooleanEquals": True, "Next": "Finished"},
                {"Variable": "$.loop.round", "NumericGreaterThanEqualsPath": "$.settings.maxRounds",
                 "Next": "Finished"},
            ],
            "Default": "Count",
        },
        "Count": {"Type": "Pass", "Parameters": {"round.$": "States.MathAdd($.loop.round, 1)"},
                  "ResultPath": "$.loop", "Next": "Wait"},
        "Wait": {"Type": "Wait", "SecondsPath": "$.settings.waitSeconds", "Next": "Read"},
        "Read": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms",
            "TimeoutSeconds": 10,
            "Parameters": {"AlarmNames": ["high"]},
            "ResultSelector": {"state.$": "$.MetricAlarms[0].StateValue"},
            "ResultPath": "$.alarm",
            "Retry": [{"ErrorEquals": ["CloudWatch.LimitExceededException", "States.Timeout"],
                       "MaxAttempts": 1}],
            "Next": "Step",
        },
        "Conflict": {"Type": "Succeed", "Comment": "someone else moved"},
        "Finished": {"Type": "Succeed"},
        "Stop": {"Type": "Fail", "Error": "Stopped", "CausePath": "States.JsonToString($.error)"},
    },
}
BASELINE_LONGEST_RUN = 620


def baseline():
    return copy.deepcopy(BASELINE)


def listing(violations):
    return "\n".join(map(str, violations)) or "(none)"


def run(definition, **kwargs):
    return aslcheck.check(definition, vocabulary=VOCABULARY, **kwargs)


def assert_only(definition, rule, **kwargs):
    """The definition breaks `rule` and no other; returns its violations."""
    found = run(definition, **kwargs)
    assert found, f"expected a {rule} violation, found none"
    assert {v.rule for v in found} == {rule}, f"expected only {rule}, found:\n{listing(found)}"
    return found


def assert_clean(definition, **kwargs):
    found = run(definition, **kwargs)
    assert not found, f"expected no violation, found:\n{listing(found)}"


def single_task(task, timeout=3600):
    """A machine of one Task, ending in Succeed (or in Fail through its catchers)."""
    states = {"T": {"TimeoutSeconds": 10, "Next": "Ok", **task}, "Ok": {"Type": "Succeed"}}
    if "Catch" in task:
        states["Failed"] = {"Type": "Fail"}
    return {"StartAt": "T", "TimeoutSeconds": timeout, "States": states}


def choice_machine(choice, **states):
    """A machine starting at the Choice state C, with terminal states Yes and No."""
    return {"StartAt": "C", "TimeoutSeconds": 60,
            "States": {"C": {"Type": "Choice", **choice}, "Yes": {"Type": "Succeed"},
                       "No": {"Type": "Succeed"}, **states}}


def rename(definition, old, new):
    """The definition with state `old` called `new`, every reference included."""
    text = json.dumps(definition).replace(json.dumps(old), json.dumps(new))
    return json.loads(text)


# --- The baseline ------------------------------------------------------------------------------

def test_the_baseline_definition_passes_every_rule():
    assert_clean(baseline())


# --- structure ---------------------------------------------------------------------------------

def test_states_that_are_not_an_object_are_rejected():
    d = baseline()
    d["States"] = []
    assert_only(d, "structure")


def test_an_unknown_state_type_is_rejected():
    d = baseline()
    d["States"]["Finished"]["Type"] = "Sleep"
    found = assert_only(d, "structure")
    assert found[0].state == "Finished", f"names the state: {listing(found)}"


# --- checker-scope -----------------------------------------------------------------------------

def test_a_parallel_state_is_refused_as_not_analysed():
    d = baseline()
    d["States"]["Finished"] = {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}]}
    assert_only(d, "checker-scope")


def test_variables_are_refused_as_not_analysed():
    d = baseline()
    d["States"]["Count"]["Assign"] = {"counter": 1}
    d["States"]["Step"]["Parameters"]["Payload"]["counter.$"] = "$counter"
    found = assert_only(d, "checker-scope")
    assert len(found) == 2, f"the Assign and the read of $counter: {listing(found)}"


# --- field-allowed -----------------------------------------------------------------------------

@pytest.mark.parametrize("state, key, value", [
    ("Done?", "ResultPath", "$.choice"),
    ("Finished", "Parameters", {"a": 1}),
    ("Step", "Output", {"a": 1}),
    ("Wait", "Catch", []),
])
def test_a_field_the_state_type_does_not_support_is_rejected(state, key, value):
    d = baseline()
    d["States"][state][key] = value
    found = assert_only(d, "field-allowed")
    assert key in found[0].message and found[0].state == state, listing(found)


def test_an_unknown_top_level_field_is_rejected():
    d = baseline()
    d["Timeout"] = 60
    assert_only(d, "field-allowed")


def test_result_path_and_parameters_on_a_pass_state_are_accepted():
    d = baseline()
    assert "ResultPath" in d["States"]["Count"] and "Parameters" in d["States"]["Count"], \
        "the baseline has them"
    assert_clean(d)


# --- state-name-length -------------------------------------------------------------------------

def test_a_state_name_longer_than_80_characters_is_rejected():
    d = rename(baseline(), "Finished", "F" * 81)
    found = assert_only(d, "state-name-length")
    assert "81" in found[0].message, listing(found)


def test_a_state_name_of_80_characters_is_accepted():
    assert_clean(rename(baseline(), "Finished", "F" * 80))


# --- comment-type ------------------------------------------------------------------------------

@pytest.mark.parametrize("place", ["top", "state", "retrier", "choice rule"])
def test_a_comment_that_is_not_a_string_is_rejected(place):
    d = baseline()
    holder = {"top": d, "state": d["States"]["Wait"], "retrier": d["States"]["Step"]["Retry"][0],
              "choice rule": d["States"]["Done?"]["Choices"][0]}[place]
    holder["Comment"] = 5
    assert_only(d, "comment-type")


def test_string_comments_everywhere_are_accepted():
    d = baseline()
    d["States"]["Step"]["Retry"][0]["Comment"] = "transient"
    d["States"]["Step"]["Catch"][0]["Comment"] = "lost the race"
    d["States"]["Done?"]["Choices"][0]["Comment"] = "done"
    assert_clean(d)


# --- transition --------------------------------------------------------------------------------

def test_next_and_end_together_are_rejected():
    d = baseline()
    d["States"]["Count"]["End"] = True
    assert_only(d, "transition")


def test_end_false_is_rejected():
    d = baseline()
    d["States"]["Finished"] = {"Type": "Pass", "End": False}
    assert_only(d, "transition")


def test_a_transition_to_a_missing_state_is_rejected():
    d = baseline()
    d["States"]["Step"]["Catch"][1]["Next"] = "Stopp"
    found = assert_only(d, "transition")
    assert any("Stopp" in v.message for v in found), listing(found)


def test_an_unreachable_state_is_rejected():
    d = baseline()
    d["States"]["Orphan"] = {"Type": "Succeed"}
    found = assert_only(d, "transition")
    assert found[0].state == "Orphan", listing(found)


def test_a_start_at_naming_no_state_is_rejected():
    d = baseline()
    d["StartAt"] = "Begin"
    assert "transition" in {v.rule for v in run(d)}, "StartAt must name a state"


# --- wait-fields -------------------------------------------------------------------------------

def test_a_wait_with_two_durations_is_rejected():
    d = baseline()
    d["States"]["Wait"]["Seconds"] = 5
    assert_only(d, "wait-fields")


def test_negative_wait_seconds_are_rejected():
    d = baseline()
    d["States"]["Wait"] = {"Type": "Wait", "Seconds": -1, "Next": "Read"}
    assert_only(d, "wait-fields")


def test_a_wait_of_zero_seconds_is_accepted():
    d = baseline()
    d["States"]["Wait"] = {"Type": "Wait", "Seconds": 0, "Next": "Read"}
    assert_clean(d)


# --- retry-catch-fields ------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("BackoffRate", 0.5),
    ("MaxAttempts", -1),
    ("MaxAttempts", 100_000_000),
    ("IntervalSeconds", 0),
    ("MaxDelaySeconds", 0),
    ("MaxDelaySeconds", 31_622_401),
    ("JitterStrategy", "PARTIAL"),
    ("ErrorEquals", []),
    ("Backoff", 2),
])
def test_a_retrier_field_out_of_its_range_is_rejected(key, value):
    d = baseline()
    d["States"]["Step"]["Retry"][0][key] = value
    found = assert_only(d, "retry-catch-fields")
    assert key in found[0].message, listing(found)


def test_a_catcher_without_next_is_rejected():
    d = baseline()
    del d["States"]["Step"]["Catch"][0]["Next"]
    d["States"]["Conflict"]["Type"] = "Succeed"
    d["States"]["Done?"]["Choices"].append({"Variable": "$.last.step.moved",
                                            "BooleanEquals": True, "Next": "Conflict"})
    assert_only(d, "retry-catch-fields")


def test_retrier_fields_at_their_limits_are_accepted():
    d = baseline()
    d["States"]["Step"]["Retry"][0].update(
        MaxAttempts=0, IntervalSeconds=1, BackoffRate=1.0, MaxDelaySeconds=31_622_400,
        JitterStrategy="FULL")
    assert_clean(d)


# --- task-fields -------------------------------------------------------------------------------

def test_timeout_seconds_with_timeout_seconds_path_is_rejected():
    d = baseline()
    d["States"]["Read"]["TimeoutSecondsPath"] = "$.settings.waitSeconds"
    assert_only(d, "task-fields")


def test_a_heartbeat_not_below_the_timeout_is_rejected():
    d = baseline()
    d["States"]["Read"]["HeartbeatSeconds"] = 10
    assert_only(d, "task-fields")


def test_a_task_without_resource_is_rejected():
    d = baseline()
    del d["States"]["Read"]["Resource"]
    assert_only(d, "task-fields")


def test_a_heartbeat_below_the_timeout_is_accepted():
    d = baseline()
    d["States"]["Read"]["HeartbeatSeconds"] = 5
    assert_clean(d)


# --- fail-fields -------------------------------------------------------------------------------

def test_a_fail_state_with_error_and_error_path_is_rejected():
    d = baseline()
    d["States"]["Stop"]["ErrorPath"] = "$.error.Error"
    assert_only(d, "fail-fields")


def test_a_fail_state_with_error_path_alone_is_accepted():
    d = baseline()
    del d["States"]["Stop"]["Error"]
    d["States"]["Stop"]["ErrorPath"] = "$.error.Error"
    assert_clean(d)


# --- choice-rules ------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    {"And": [{"Variable": "$.last.step.done", "BooleanEquals": True, "Next": "Finished"}],
     "Next": "Finished"},
    {"Variable": "$.last.step.done", "BooleanEquals": True},
    {"Variable": "$.last.step.done", "BooleanEquals": True, "StringEquals": "yes",
     "Next": "Finished"},
    {"Variable": "$.last.step.done", "NumericEquals": "3", "Next": "Finished"},
    {"Variable": "$.last.step.done", "BooleanEquals": 1, "Next": "Finished"},
    {"Variable": "$.last.step.done", "NumericEqualsPath": "last.step", "Next": "Finished"},
    {"And": [], "Next": "Finished"},
    {"Variable": "$.last.step.done", "BooleanEquals": True, "Next": "Finished", "Else": "x"},
])
def test_a_malformed_choice_rule_is_rejected(rule):
    d = baseline()
    d["States"]["Done?"]["Choices"][0] = rule
    assert_only(d, "choice-rules")


def test_empty_choices_are_rejected():
    d = choice_machine({"Choices": [], "Default": "Yes"})
    del d["States"]["No"]
    assert_only(d, "choice-rules")


def test_nested_and_not_rules_are_accepted():
    d = baseline()
    d["States"]["Done?"]["Choices"][0] = {
        "And": [{"Variable": "$.last.step.done", "IsPresent": True},
                {"Not": {"Variable": "$.last.step.done", "BooleanEquals": False}}],
        "Next": "Finished"}
    assert_clean(d)


# --- payload-template --------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "States.Nope($.loop.round)",
    "States.Format('round {}', $.loop.round",
    "States.Format('an open escape \\ here', $.loop.round)",
    5,
])
def test_a_dollar_field_that_is_neither_a_path_nor_a_valid_intrinsic_is_rejected(value):
    d = baseline()
    d["States"]["Step"]["Parameters"]["Payload"]["label.$"] = value
    assert_only(d, "payload-template")


def test_two_fields_with_the_same_name_once_dollar_is_stripped_are_rejected():
    d = baseline()
    d["States"]["Step"]["Parameters"]["Payload"]["round"] = 1
    assert_only(d, "payload-template")


def test_nested_intrinsics_and_context_paths_are_accepted():
    d = baseline()
    d["States"]["Step"]["Parameters"]["Payload"]["label.$"] = \
        "States.Format('round {} of {}', States.MathAdd($.loop.round, 1), $$.Execution.Name)"
    assert_clean(d)


# --- states-all-alone-last ---------------------------------------------------------------------

def test_states_all_beside_other_names_is_rejected():
    d = baseline()
    d["States"]["Step"]["Catch"][1]["ErrorEquals"] = ["Throttled", "States.ALL"]
    found = assert_only(d, "states-all-alone-last")
    assert found[0].state == "Step" and "Catch[1]" in found[0].message, listing(found)


def test_states_all_before_another_retrier_is_rejected():
    d = baseline()
    d["States"]["Read"]["Retry"] = [{"ErrorEquals": ["States.ALL"]},
                                    {"ErrorEquals": ["States.Timeout"]}]
    found = assert_only(d, "states-all-alone-last")
    assert "Retry[0]" in found[0].message, listing(found)


def test_states_all_alone_in_the_last_catcher_is_accepted():
    d = baseline()
    assert d["States"]["Step"]["Catch"][-1]["ErrorEquals"] == ["States.ALL"], "the baseline"
    assert_clean(d)


# --- error-names -------------------------------------------------------------------------------

@pytest.mark.parametrize("error", ["Conflicted", "States.Everything", "States.Runtime",
                                   "ServiceException"])
def test_a_name_the_lambda_task_cannot_report_is_rejected(error):
    d = baseline()
    d["States"]["Step"]["Retry"][0]["ErrorEquals"] = [error]
    found = assert_only(d, "error-names")
    assert error in found[0].message, listing(found)


@pytest.mark.parametrize("error", ["LimitExceededException", "CloudWatch.LimitExceeded",
                                   "Sfn.LimitExceededException", "Lambda.ServiceException",
                                   "Throttled"])
def test_a_name_the_sdk_task_cannot_report_is_rejected(error):
    d = baseline()
    d["States"]["Read"]["Retry"][0]["ErrorEquals"] = [error]
    assert_only(d, "error-names")


def test_an_optimized_dynamodb_error_without_its_service_prefix_is_rejected():
    d = single_task({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                     "Parameters": {"TableName": "t", "Item": {}},
                     "Catch": [{"ErrorEquals": ["ConditionalCheckFailedException"],
                                "Next": "Failed"}]})
    assert_only(d, "error-names")


def test_names_each_integration_reports_are_accepted():
    d = baseline()
    d["States"]["Step"]["Retry"][0]["ErrorEquals"] = [
        "Throttled", "Lambda.TooManyRequestsException", "Lambda.Unknown", "States.TaskFailed"]
    d["States"]["Read"]["Retry"][0]["ErrorEquals"] = [
        "CloudWatch.ResourceNotFoundException", "States.Timeout", "States.HeartbeatTimeout"]
    assert_clean(d)
    assert_clean(single_task({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                              "Parameters": {"TableName": "t", "Item": {}},
                              "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException",
                                                         "DynamoDB.AmazonDynamoDBException"],
                                         "Next": "Failed"}]}))


# --- path-defined ------------------------------------------------------------------------------

def reference_failure():
    """The failure this checker was written for: a catcher (ResultPath $.conflict) routes to a
    Choice that reads $.last.step..., which only the Task's success sets."""
    d = baseline()
    d["States"]["Step"]["Catch"][0]["Next"] = "Done?"
    del d["States"]["Conflict"]
    return d


def test_a_choice_reading_a_path_a_catch_route_never_set_is_rejected():
    found = assert_only(reference_failure(), "path-defined")
    v = found[0]
    assert v.state == "Done?", f"names the reading state: {v}"
    assert "$.last.step.done" in v.message and "Choices[0].Variable" in v.message, \
        f"names the path and where it is read: {v}"
    assert "'Step' -(Catch[0])-> 'Done?'" in v.message, f"shows the route that misses it: {v}"


def test_an_is_present_guard_in_the_same_and_makes_the_read_safe():
    d = reference_failure()
    d["States"]["Done?"]["Choices"][0] = {
        "And": [{"Variable": "$.last", "IsPresent": True},
                {"Variable": "$.last.step.done", "BooleanEquals": True}],
        "Next": "Finished"}
    assert_clean(d)


def test_an_is_present_false_earlier_in_the_same_or_makes_the_read_safe():
    d = reference_failure()
    d["States"]["Done?"]["Choices"][0] = {
        "Or": [{"Variable": "$.last.step.done", "IsPresent": False},
               {"Variable": "$.last.step.done", "BooleanEquals": True}],
        "Next": "Finished"}
    assert_clean(d)


def test_an_is_present_guard_after_the_read_does_not_make_it_safe():
    d = reference_failure()
    d["States"]["Done?"]["Choices"][0] = {
        "And": [{"Variable": "$.last.step.done", "BooleanEquals": True},
                {"Variable": "$.last", "IsPresent": True}],
        "Next": "Finished"}
    assert_only(d, "path-defined")


def test_an_earlier_top_level_rule_is_no_guard():
    # Conservative: the docs say top-level rules are examined in order, not that a later rule
    # is skipped once an earlier one failed.
    d = reference_failure()
    d["States"]["Done?"]["Choices"].insert(
        0, {"Variable": "$.last", "IsPresent": False, "Next": "Finished"})
    assert_only(d, "path-defined")


def test_the_rule_taken_tells_the_next_state_what_is_present():
    d = reference_failure()
    d["States"]["Done?"]["Choices"][0] = {"Variable": "$.last", "IsPresent": True,
                                          "Next": "Check"}
    d["States"]["Check"] = {"Type": "Choice", "Choices": [
        {"Variable": "$.last.step.done", "BooleanEquals": True, "Next": "Finished"}],
        "Default": "Finished"}
    assert_clean(d)


def test_a_parameter_reading_an_unset_path_is_rejected():
    d = baseline()
    d["States"]["Step"]["Parameters"]["Payload"]["label.$"] = \
        "States.Format('round {}', $.loop.count)"
    found = assert_only(d, "path-defined")
    assert "$.loop.count" in found[0].message and "the execution input" in found[0].message, \
        listing(found)


def test_a_fail_cause_path_reading_an_unset_path_is_rejected():
    d = baseline()
    d["States"]["Stop"]["CausePath"] = "States.JsonToString($.failure)"
    assert_only(d, "path-defined")


def test_a_key_a_result_selector_does_not_produce_is_rejected():
    d = baseline()
    d["States"]["Step"]["Parameters"]["Payload"]["alarm.$"] = "$.alarm.status"
    d["States"]["Read"]["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Stop",
                                     "ResultPath": "$.error"}]
    assert_only(d, "path-defined")


def test_anything_below_an_opaque_task_result_is_accepted():
    d = baseline()
    del d["States"]["Step"]["ResultSelector"]
    d["States"]["Done?"]["Choices"][0]["Variable"] = "$.last.Payload.step.done"
    assert_clean(d)


def test_the_execution_input_holds_only_the_paths_given():
    d = baseline()
    d["States"]["Step"]["Parameters"]["Payload"]["request.$"] = "$.request.id"
    assert_only(d, "path-defined")
    assert_clean(d, input_paths=["$.request.id"])


@pytest.mark.parametrize("key", ["InputPath", "OutputPath"])
def test_an_input_or_output_path_to_an_unset_path_is_rejected(key):
    d = baseline()
    d["States"]["Finished"][key] = "$.summary"
    found = assert_only(d, "path-defined")
    assert found[0].state == "Finished" and key in found[0].message, listing(found)


def test_a_comparator_path_inside_not_is_read():
    d = choice_machine({"Choices": [
        {"Not": {"Variable": "$$.Execution.Name", "StringEqualsPath": "$.name"}, "Next": "Yes"}],
        "Default": "No"})
    found = assert_only(d, "path-defined")
    assert "Choices[0].Not.StringEqualsPath" in found[0].message, listing(found)


def result_then_read(result_path, read, output_path="$"):
    """A Task whose ResultSelector builds {v}, placed at `result_path`, then a Choice reading
    `read`."""
    return {"StartAt": "T", "TimeoutSeconds": 60, "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 10,
              "Parameters": {"FunctionName": "f"}, "ResultSelector": {"v.$": "$.Payload"},
              "ResultPath": result_path, "OutputPath": output_path, "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": read, "StringEquals": "a", "Next": "Ok"}], "Default": "Ok"},
        "Ok": {"Type": "Succeed"}}}


def test_result_path_places_the_result_and_null_discards_it():
    assert_clean(result_then_read("$.r", "$.r.v"))
    assert_only(result_then_read(None, "$.r.v"), "path-defined")


def test_output_path_narrows_what_the_next_state_sees():
    assert_clean(result_then_read("$.r", "$.v", output_path="$.r"))
    assert_only(result_then_read("$.r", "$.r.v", output_path="$.r"), "path-defined")


def test_a_path_dropped_by_a_state_names_that_state():
    d = baseline()
    d["States"]["Count"]["ResultPath"] = "$"  # the whole input becomes {round}
    found = [v for v in run(d) if v.rule == "path-defined"]
    assert found and "'Count' drops it" in found[0].message, listing(found)


# --- choice-default ----------------------------------------------------------------------------

def test_a_choice_without_default_is_rejected():
    d = choice_machine({"Choices": [
        {"Variable": "$$.Execution.Id", "IsPresent": True, "Next": "Yes"},
        {"Not": {"Variable": "$$.Execution.Id", "IsPresent": True}, "Next": "No"}]})
    assert_only(d, "choice-default")


def test_a_choice_with_default_is_accepted():
    d = choice_machine({"Choices": [
        {"Variable": "$$.Execution.Id", "IsPresent": True, "Next": "Yes"}], "Default": "No"})
    assert_clean(d)


# --- task-timeout ------------------------------------------------------------------------------

def test_a_task_without_timeout_is_rejected():
    d = baseline()
    del d["States"]["Read"]["TimeoutSeconds"]
    found = run(d)
    # The 99999999 s default also makes the longest run exceed any machine timeout.
    assert {v.rule for v in found} == {"task-timeout", "timeout-covers-longest-run"}, \
        listing(found)


def test_a_timeout_path_to_data_is_rejected():
    d = baseline()
    del d["States"]["Read"]["TimeoutSeconds"]
    d["States"]["Read"]["TimeoutSecondsPath"] = "$.last.step.timeout"
    assert_only(d, "task-timeout")


def test_a_timeout_path_to_a_constant_is_accepted():
    d = baseline()
    del d["States"]["Read"]["TimeoutSeconds"]
    d["States"]["Read"]["TimeoutSecondsPath"] = "$.settings.waitSeconds"
    assert_clean(d)


# --- wait-bounded ------------------------------------------------------------------------------

@pytest.mark.parametrize("duration", [
    {"Timestamp": "2030-01-01T00:00:00Z"},
    {"TimestampPath": "$.last.step.until"},
    {"SecondsPath": "$.last.step.seconds"},
])
def test_a_wait_the_checker_cannot_bound_is_rejected(duration):
    d = baseline()
    d["States"]["Wait"] = {"Type": "Wait", "Next": "Read", **duration}
    assert_only(d, "wait-bounded")


def two_pauses(short, long):
    """A machine that waits $.pause seconds, set to `short` on one route and `long` on the
    other."""
    return choice_machine(
        {"Choices": [{"Variable": "$$.Execution.Name", "IsPresent": True, "Next": "Short"}],
         "Default": "Long"},
        Short={"Type": "Pass", "Parameters": {"pause": short}, "Next": "W"},
        Long={"Type": "Pass", "Parameters": {"pause": long}, "Next": "W"},
        W={"Type": "Wait", "SecondsPath": "$.pause", "Next": "Yes"})


def test_a_seconds_path_that_differs_between_routes_is_rejected():
    d = two_pauses(10, 20)
    del d["States"]["No"]
    assert_only(d, "wait-bounded")


def test_a_seconds_path_with_the_same_constant_on_every_route_is_accepted():
    d = two_pauses(10, 10)
    del d["States"]["No"]
    assert_clean(d)


def test_a_literal_wait_is_accepted():
    d = baseline()
    d["States"]["Wait"] = {"Type": "Wait", "Seconds": 10, "Next": "Read"}
    assert_clean(d)


# --- loop-bounded ------------------------------------------------------------------------------

def test_a_loop_without_a_counter_is_rejected():
    d = baseline()
    del d["States"]["Done?"]["Choices"][1]
    found = assert_only(d, "loop-bounded")
    assert "'Done?'" in found[0].message and "'Read'" in found[0].message, \
        f"lists the loop's states: {listing(found)}"


def test_a_cycle_that_bypasses_the_counting_choice_is_rejected():
    d = baseline()
    d["States"]["Read"]["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.readError",
                                     "Next": "Wait"}]
    found = assert_only(d, "loop-bounded")
    assert "'Wait' -> 'Read' -(Catch[0])-> 'Wait'" in found[0].message, listing(found)


def test_a_cycle_through_the_choice_that_skips_the_increment_is_rejected():
    d = baseline()
    d["States"]["Done?"]["Choices"].append(
        {"Variable": "$.last.step.again", "BooleanEquals": True, "Next": "Wait"})
    found = assert_only(d, "loop-bounded")
    assert "never increments $.loop.round" in found[0].message, listing(found)


def test_a_counter_reset_inside_the_loop_is_rejected():
    d = baseline()
    d["States"]["Read"]["ResultPath"] = "$.loop.round"
    found = assert_only(d, "loop-bounded")
    assert "'Read' writes $.loop.round" in found[0].message, listing(found)


def test_a_rule_that_loops_back_before_the_limit_is_tested_is_rejected():
    d = baseline()
    d["States"]["Done?"]["Choices"].insert(
        0, {"Variable": "$.last.step.again", "BooleanEquals": True, "Next": "Count"})
    assert_only(d, "loop-bounded")


def test_a_limit_that_is_not_a_constant_is_rejected():
    d = baseline()
    d["States"]["Done?"]["Choices"][1]["NumericGreaterThanEqualsPath"] = "$.last.step.max"
    assert_only(d, "loop-bounded")


def test_a_counter_that_does_not_start_from_a_constant_is_rejected():
    d = baseline()
    d["States"]["Start"]["Parameters"] = {"round.$": "$.first"}
    assert_only(d, "loop-bounded", input_paths=["$.first"])


def test_a_literal_numeric_greater_than_limit_is_accepted():
    d = baseline()
    d["States"]["Done?"]["Choices"][1] = {"Variable": "$.loop.round", "NumericGreaterThan": 2,
                                          "Next": "Finished"}
    assert_clean(d)


# --- timeout-covers-longest-run ----------------------------------------------------------------

def test_a_machine_without_timeout_is_rejected():
    d = baseline()
    del d["TimeoutSeconds"]
    assert_only(d, "timeout-covers-longest-run")


def test_a_timeout_beyond_one_year_is_rejected():
    d = baseline()
    d["TimeoutSeconds"] = 31_536_001
    assert_only(d, "timeout-covers-longest-run")


def test_a_timeout_shorter_than_the_longest_run_is_rejected():
    d = baseline()
    d["TimeoutSeconds"] = BASELINE_LONGEST_RUN - 1
    found = assert_only(d, "timeout-covers-longest-run")
    assert f"{BASELINE_LONGEST_RUN} s" in found[0].message \
        and f"TimeoutSeconds {BASELINE_LONGEST_RUN - 1}" in found[0].message, \
        f"shows the computed run and the declared timeout: {listing(found)}"
    assert "4 x 124 s" in found[0].message, f"shows the loop's share: {listing(found)}"


def test_a_timeout_equal_to_the_longest_run_is_accepted():
    d = baseline()
    d["TimeoutSeconds"] = BASELINE_LONGEST_RUN
    assert_clean(d)


@pytest.mark.parametrize("retrier, worst", [
    # defaults: MaxAttempts 3, IntervalSeconds 1, BackoffRate 2: 4 attempts, waits 1 + 2 + 4
    ({"ErrorEquals": ["States.Timeout"]}, 10 * 4 + 7),
    # waits 10, 30 -> 15, 90 -> 15 (MaxDelaySeconds)
    ({"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 10, "BackoffRate": 3,
      "MaxAttempts": 3, "MaxDelaySeconds": 15}, 10 * 4 + 40),
    ({"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0}, 10),
])
def test_a_task_worst_time_counts_every_attempt_and_retry_interval(retrier, worst):
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "f"}, "Retry": [retrier]}
    found = assert_only(single_task(task, timeout=worst - 1), "timeout-covers-longest-run")
    assert f"{worst} s" in found[0].message, listing(found)
    assert_clean(single_task(task, timeout=worst))


# --- render, vocabulary_from_rust, the command line --------------------------------------------

def test_render_substitutes_every_placeholder():
    text = '{"a": "${A}", "b": "States.StringToJson(\'${B}\')"}'
    assert aslcheck.render(text, {"A": "x", "B": "7"}) == \
        '{"a": "x", "b": "States.StringToJson(\'7\')"}', "both placeholders replaced"


def test_render_refuses_a_placeholder_without_value():
    with pytest.raises(ValueError, match=r"\$\{B\}"):
        aslcheck.render('{"a": "${A}", "b": "${B}"}', {"A": "x"})


def test_the_vocabulary_is_read_from_a_plain_pub_const(tmp_path):
    source = tmp_path / "handler.rs"
    source.write_text('/// doc\npub const ERROR_TYPES: [&str; 2] = [\n    "A", // first\n'
                      '    "B",\n];\n')
    assert aslcheck.vocabulary_from_rust(str(source)) == {"A", "B"}, "both names"


@pytest.mark.parametrize("text", [
    "pub fn nothing() {}",
    "pub const ERROR_TYPES: [&str; 0] = [];",
    'pub const ERROR_TYPES: [&str; 3] = ["A", "B"];',
])
def test_a_missing_empty_or_miscounted_vocabulary_fails_loudly(tmp_path, text):
    source = tmp_path / "handler.rs"
    source.write_text(text)
    with pytest.raises(ValueError):
        aslcheck.vocabulary_from_rust(str(source))


def test_the_vocabulary_of_the_weight_step_function_is_found():
    vocabulary = aslcheck.vocabulary_from_rust(HANDLER)
    assert vocabulary and not any(n.startswith("States.") for n in vocabulary), vocabulary


def cli(tmp_path, definition, *args):
    path = tmp_path / "machine.asl.json"
    path.write_text(json.dumps(definition))
    return subprocess.run([sys.executable, os.path.join(HERE, "aslcheck.py"), *args, str(path)],
                          capture_output=True, text=True)


def test_the_command_line_prints_each_violation_and_exits_1(tmp_path):
    d = baseline()
    d["States"]["Step"]["Catch"][1]["ErrorEquals"] = ["Throttled", "States.ALL"]
    d["States"]["Wait"]["SecondsPath"] = "$.settings.${Pause}"
    run_ = cli(tmp_path, d, "--vocabulary", "Conflict,Throttled", "--subst", "Pause=waitSeconds")
    lines = run_.stdout.splitlines()
    assert run_.returncode == 1 and len(lines) == 1 and "states-all-alone-last" in lines[0], \
        run_.stdout + run_.stderr


def test_the_command_line_exits_0_on_a_clean_definition(tmp_path):
    run_ = cli(tmp_path, baseline(), "--vocabulary", "Conflict", "--vocabulary", "Throttled")
    assert run_.returncode == 0 and run_.stdout == "", run_.stdout + run_.stderr


# --- The repository's definitions --------------------------------------------------------------

def worst_case_substitutions(template, machine):
    """DefinitionSubstitutions of a machine: a numeric Parameter gets its largest allowed value
    (MaxValue, or the largest of AllowedValues); anything else (ARNs, names) a dummy string."""
    values = {}
    for name, value in machine["Properties"]["DefinitionSubstitutions"].items():
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
            values[name] = str(value)
            continue
        parameter = template["Parameters"].get(value.get("Ref")) if isinstance(value, dict) \
            else None
        if parameter is not None and parameter["Type"] == "Number":
            worst = parameter.get("MaxValue", max(parameter.get("AllowedValues", [None])))
            assert worst is not None, f"parameter {value['Ref']} has no upper bound"
            values[name] = str(worst)
        else:
            values[name] = f"dummy-{name}"
    return values


def test_repository_definitions_pass_the_strict_check():
    template = cfn_yaml.load(TEMPLATE)
    machines = [(name, m) for name, m in template["Resources"].items()
                if not name.startswith("Fn::ForEach::") and m["Type"] == "AWS::Serverless::StateMachine"]
    paths = sorted(glob.glob(os.path.join(ROOT, "state-machines", "*.asl.json")))
    assert paths, "the repository has state machine definitions"
    problems = []
    for path in paths:
        uri = os.path.relpath(path, ROOT)
        users = [(name, m) for name, m in machines if m["Properties"]["DefinitionUri"] == uri]
        assert users, f"{uri} is no DefinitionUri of template.yaml"
        vocabulary = aslcheck.vocabulary_from_rust(
            HANDLERS.get(os.path.basename(path), HANDLER))
        with open(path, encoding="utf-8") as f:
            source = f.read()
        # Each machine deployed from the file, with its own substitutions.
        for name, machine in users:
            text = aslcheck.render(source, worst_case_substitutions(template, machine))
            problems += [f"{uri} ({name}): {v}" for v in aslcheck.check(json.loads(text),
                                                                         vocabulary=vocabulary)]
    assert not problems, "violations of rules AWS enforces:\n" + "\n".join(problems)
