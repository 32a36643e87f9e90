"""A strict checker of Amazon States Language definitions (JSONPath), for the rules a real AWS
account enforces, at CreateStateMachine or while an execution runs, that no local tool checks:
the emulator (ministack) accepts and runs definitions AWS refuses, and asl-validator checks the
JSON schema only.

What it is for: proving, without an AWS account, that a rendered definition
- would be accepted by CreateStateMachine (fields per state type, transitions, retriers,
  States.ALL alone and last, error names that can match, payload templates, name lengths);
- cannot fail at run time on a path that matches nothing (a small data-flow pass over every
  route, loops included), nor on a Choice without a Default;
- is bounded: every Task has a timeout, every Wait a known duration, every loop a counter, and
  the machine's TimeoutSeconds covers the longest legal run.

What it is not: an interpreter, nor a full validator. It does not analyse JSONata, variables
(Assign), Parallel or Map states; it refuses them (rule `checker-scope`) rather than pass them
unchecked. It does not know what a Task returns: a result without a ResultSelector is opaque
(see `_OPAQUE`). IAM, resource existence and payload sizes are out of its reach.

Sources. Each rule's docstring cites the page it comes from: a page name such as
state-task.html is a page of the Step Functions Developer Guide,
https://docs.aws.amazon.com/step-functions/latest/dg/<page>; SPEC is the Amazon States Language
specification, https://states-language.net/spec.html.
- concepts-error-handling.html    "Handling errors in Step Functions workflows"
- state-task.html                 "Task workflow state"
- state-choice.html               "Choice workflow state"
- state-wait.html                 "Wait workflow state"
- state-fail.html                 "Fail workflow state"
- statemachine-structure.html     "State machine structure" (common state fields)
- intrinsic-functions.html        "Intrinsic functions for JSONPath states"
- supported-services-awssdk.html  "AWS SDK service integrations" (error names)
- service-quotas.html             "Step Functions service quotas"
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, NamedTuple

# Quotas (service-quotas.html): a Standard execution runs at most one year.
STANDARD_MAX_SECONDS = 31_536_000
# Task state (state-task.html): "If not provided, the default value [of TimeoutSeconds] is
# 99999999" - about 3.17 years, longer than any execution may run.
TASK_DEFAULT_TIMEOUT = 99_999_999
# Task TimeoutSeconds/HeartbeatSeconds, retrier IntervalSeconds/MaxAttempts and Wait Seconds
# share this maximum (state-task.html, concepts-error-handling.html, state-wait.html).
MAX_FIELD_SECONDS = 99_999_999
# Retrier MaxDelaySeconds: 1..31622400 (concepts-error-handling.html).
MAX_DELAY_SECONDS = 31_622_400
# SPEC "States": a state name's length MUST BE less than or equal to 80 Unicode characters.
STATE_NAME_MAX = 80
# Work the exhaustive searches may do before giving up on a definition (far above what a
# machine of a few dozen states needs).
_SEARCH_LIMIT = 1_000_000

# concepts-error-handling.html "Error names", and SPEC Appendix A (States.BranchFailed is in
# the spec's appendix; the current guide page no longer lists it).
STATES_ERRORS = frozenset({
    "States.ALL", "States.BranchFailed", "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold", "States.HeartbeatTimeout", "States.Http.Socket",
    "States.IntrinsicFailure", "States.ItemReaderFailed", "States.NoChoiceMatched",
    "States.ParameterPathFailure", "States.Permissions", "States.QueryEvaluationError",
    "States.ResultPathMatchFailure", "States.ResultWriterFailed", "States.Runtime",
    "States.TaskFailed", "States.Timeout",
})
# concepts-error-handling.html: "A States.Runtime error is not retriable, and will always cause
# the execution to fail. A retry or catch on States.ALL will not catch States.Runtime errors."
UNCATCHABLE = frozenset({"States.Runtime"})

# SPEC Appendix B / intrinsic-functions.html.
INTRINSICS = frozenset({
    "States.Format", "States.StringToJson", "States.JsonToString", "States.Array",
    "States.ArrayPartition", "States.ArrayContains", "States.ArrayRange", "States.ArrayGetItem",
    "States.ArrayLength", "States.ArrayUnique", "States.Base64Encode", "States.Base64Decode",
    "States.Hash", "States.JsonMerge", "States.MathRandom", "States.MathAdd",
    "States.StringSplit", "States.UUID",
})

# The fields each JSONPath state type accepts: SPEC "Table of State Types and Fields (JSONPath)"
# plus each type's own fields. AWS refuses any other field at create time with
# "SCHEMA_VALIDATION_FAILED: Field 'X' is not supported" (measured against AWS in
# floci-io/floci#2735; the JSONata-only fields Arguments/Output are refused the same way).
_COMMON = {"Type", "Comment", "QueryLanguage"}
STATE_FIELDS = {
    "Task": _COMMON | {"Resource", "InputPath", "OutputPath", "Parameters", "ResultSelector",
                       "ResultPath", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath",
                       "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign",
                       "Next", "End"},
    "Pass": _COMMON | {"InputPath", "OutputPath", "Parameters", "Result", "ResultPath",
                       "Assign", "Next", "End"},
    "Choice": _COMMON | {"InputPath", "OutputPath", "Choices", "Default", "Assign"},
    "Wait": _COMMON | {"InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp",
                       "TimestampPath", "Assign", "Next", "End"},
    "Succeed": _COMMON | {"InputPath", "OutputPath"},
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
}
# Parallel and Map are valid ASL; the checker does not analyse them (rule checker-scope).
STATE_TYPES = set(STATE_FIELDS) | {"Parallel", "Map"}
TOP_LEVEL_FIELDS = {"Comment", "StartAt", "States", "TimeoutSeconds", "Version",
                    "QueryLanguage"}
RETRIER_RANGES = {"IntervalSeconds": (1, MAX_FIELD_SECONDS),
                  "MaxAttempts": (0, MAX_FIELD_SECONDS),
                  "MaxDelaySeconds": (1, MAX_DELAY_SECONDS)}
RETRIER_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
                  "MaxDelaySeconds", "JitterStrategy", "Comment"}
CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Comment", "Assign"}
_TRANSITIONING = {"Task", "Pass", "Wait", "Parallel", "Map"}


def _choice_operators() -> dict[str, type | tuple]:
    """Choice rule comparison operators (state-choice.html, SPEC "Data-test expression") and
    the JSON type each one's operand must have (a path, a string, for the ...Path ones)."""
    operators: dict[str, type | tuple] = {"StringMatches": str}
    for kind, operand in (("String", str), ("Numeric", (int, float)), ("Boolean", bool),
                          ("Timestamp", str)):
        for comparison in (("Equals",) if kind == "Boolean" else
                           ("Equals", "LessThan", "GreaterThan", "LessThanEquals",
                            "GreaterThanEquals")):
            operators[kind + comparison] = operand
            operators[kind + comparison + "Path"] = str
    for test in ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"):
        operators[test] = bool
    return operators


CHOICE_OPERATORS = _choice_operators()
BOUND_OPERATORS = ("NumericGreaterThanEquals", "NumericGreaterThanEqualsPath",
                   "NumericGreaterThan", "NumericGreaterThanPath")


@dataclass(frozen=True)
class Violation:
    rule: str
    state: str | None
    message: str

    def __str__(self) -> str:
        where = f"state {self.state!r}: " if self.state is not None else ""
        return f"{self.rule}: {where}{self.message}"


# --- Public API --------------------------------------------------------------------------------

def check(definition: dict, *, vocabulary: Iterable[str],
          input_paths: Iterable[str] = ()) -> list[Violation]:
    """Every violation in a rendered definition (no `${X}` left). `vocabulary` is the set of
    error types the Lambda functions the definition invokes can return; `input_paths` are the
    JSONPaths the execution input is known to hold (none by default: the input is unknown)."""
    basic = _check_structure(definition)
    if basic:
        return basic  # nothing else can be analysed
    analysis = _Analysis(definition, frozenset(vocabulary), tuple(input_paths))
    violations: list[Violation] = []
    for rule in RULES:
        violations += rule(analysis)
    return violations


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def render(text: str, values: dict[str, str]) -> str:
    """`text` with every CloudFormation `${Name}` placeholder replaced by `values[Name]`, as
    DefinitionSubstitutions does; a placeholder without a value is an error."""
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise ValueError("no value for " + ", ".join("${%s}" % name for name in missing))
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


_RUST_ERROR_TYPES = re.compile(
    r"pub\s+const\s+ERROR_TYPES\s*:\s*\[\s*&\s*(?:'static\s+)?str\s*;\s*(\d+)\s*\]\s*=\s*"
    r"\[(.*?)\]\s*;", re.S)


def vocabulary_from_rust(path: str) -> set[str]:
    """The names in `pub const ERROR_TYPES: [&str; N] = ["A", ...];` of a Rust source file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = _RUST_ERROR_TYPES.search(text)
    if not found:
        raise ValueError(f"{path}: no `pub const ERROR_TYPES: [&str; N] = [...];`")
    body = re.sub(r"//[^\n]*", "", found.group(2))
    names = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    if not names:
        raise ValueError(f"{path}: ERROR_TYPES is empty")
    if len(names) != int(found.group(1)):
        raise ValueError(f"{path}: ERROR_TYPES declares {found.group(1)} names, lists "
                         f"{len(names)}")
    return set(names)


# --- The definition as a graph -----------------------------------------------------------------

@dataclass(frozen=True)
class _Edge:
    src: str
    dst: str
    via: str  # "Next", "Default", "Choices[i]" or "Catch[i]"


class _Machine:
    def __init__(self, definition: dict):
        self.definition = definition
        self.states: dict[str, dict] = definition["States"]
        self.start: str = definition["StartAt"]
        self.order = {name: i for i, name in enumerate(self.states)}
        self.edges = [e for name, state in self.states.items() for e in _edges(name, state)]
        self.succ: dict[str, list[_Edge]] = {name: [] for name in self.states}
        self.pred: dict[str, list[_Edge]] = {name: [] for name in self.states}
        for e in self.edges:
            if e.dst in self.states:
                self.succ[e.src].append(e)
                self.pred[e.dst].append(e)
        self.reachable = self._reachable()

    def _reachable(self) -> list[str]:
        if self.start not in self.states:
            return []
        seen, queue = {self.start}, deque([self.start])
        while queue:
            for e in self.succ[queue.popleft()]:
                if e.dst not in seen:
                    seen.add(e.dst)
                    queue.append(e.dst)
        return [name for name in self.states if name in seen]


def _edges(name: str, state: dict) -> list[_Edge]:
    edges = []
    if state["Type"] == "Choice":
        for i, rule in enumerate(_list(state.get("Choices"))):
            if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
                edges.append(_Edge(name, rule["Next"], f"Choices[{i}]"))
        if isinstance(state.get("Default"), str):
            edges.append(_Edge(name, state["Default"], "Default"))
    elif isinstance(state.get("Next"), str):
        edges.append(_Edge(name, state["Next"], "Next"))
    for i, catcher in enumerate(_list(state.get("Catch"))):
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            edges.append(_Edge(name, catcher["Next"], f"Catch[{i}]"))
    return edges


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(seconds: float) -> str:
    return f"{seconds:.0f}" if float(seconds).is_integer() else f"{seconds:.1f}"


def _route(edges: list[_Edge]) -> str:
    """'A' -> 'B' -(Catch[0])-> 'C'"""
    text = repr(edges[0].src)
    for e in edges:
        text += (" -> " if e.via == "Next" else f" -({e.via})-> ") + repr(e.dst)
    return text


# --- JSONPath and intrinsic functions ----------------------------------------------------------

_DOT_NAME = re.compile(r"\.([^.\[\]]+)")
_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r"\['((?:[^'\\]|\\.)*)'\]")


def _parse_path(text) -> tuple[tuple[str, ...], bool] | None:
    """A path into the state's data as (segments, exact): '$.a.b' -> (('a', 'b'), True),
    '$.a[0]' -> (('a', '[0]'), True). A path with wildcards, slices or filters gives its
    analysable prefix with exact=False. None for context paths ('$$...'), variables ('$name')
    and anything that is not a path."""
    if not isinstance(text, str) or not text.startswith("$") or text.startswith("$$"):
        return None
    rest = text[1:].strip()
    if rest and rest[0] not in ".[":
        return None
    segments, i = [], 0
    while i < len(rest):
        for pattern, segment in ((_QUOTED, lambda m: m.group(1)),
                                 (_INDEX, lambda m: f"[{m.group(1)}]"),
                                 (_DOT_NAME, lambda m: m.group(1))):
            m = pattern.match(rest, i)
            if m and m.group(1) != "*":
                segments.append(segment(m))
                i = m.end()
                break
        else:
            return tuple(segments), False
    return tuple(segments), True


class _Lit(NamedTuple):
    value: object


class _Ref(NamedTuple):
    text: str  # a path argument


class _Call(NamedTuple):
    name: str
    args: tuple


class _IntrinsicParser:
    """SPEC "Intrinsic Functions": Name(arg, ...) with arguments that are 'strings' (escapes
    \\' \\{ \\} \\\\), numbers, null, true/false, paths or nested calls."""
    _NAME = re.compile(r"[A-Za-z0-9._]+")
    _NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
    _WORD = re.compile(r"(null|true|false)\b")

    def __init__(self, text: str):
        self.text, self.i = text, 0

    def parse(self) -> _Call:
        call = self._call()
        self._space()
        if self.i != len(self.text):
            raise ValueError(f"unexpected {self.text[self.i:]!r} after the call")
        return call

    def _space(self):
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def _call(self) -> _Call:
        self._space()
        m = self._NAME.match(self.text, self.i)
        if not m or not self.text.startswith("(", m.end()):
            raise ValueError(f"expected a function call at {self.text[self.i:]!r}")
        self.i = m.end() + 1
        args = []
        self._space()
        if self.text.startswith(")", self.i):
            self.i += 1
            return _Call(m.group(), ())
        while True:
            args.append(self._arg())
            self._space()
            if self.text.startswith(")", self.i):
                self.i += 1
                return _Call(m.group(), tuple(args))
            if not self.text.startswith(",", self.i):
                raise ValueError(f"expected ',' or ')' at {self.text[self.i:]!r}")
            self.i += 1

    def _arg(self):
        self._space()
        if self.text.startswith("'", self.i):
            return self._string()
        if self.text.startswith("$", self.i):
            return self._path()
        for pattern, convert in ((self._NUMBER, json.loads), (self._WORD, json.loads)):
            m = pattern.match(self.text, self.i)
            if m:
                self.i = m.end()
                return _Lit(convert(m.group()))
        return self._call()

    def _string(self) -> _Lit:
        self.i += 1
        out = []
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch == "\\":
                nxt = self.text[self.i + 1:self.i + 2]
                if nxt not in ("'", "{", "}", "\\"):
                    raise ValueError("an open escape backslash in a string argument")
                out.append(nxt)
                self.i += 2
            elif ch == "'":
                self.i += 1
                return _Lit("".join(out))
            else:
                out.append(ch)
                self.i += 1
        raise ValueError("a string argument without its closing quote")

    def _path(self) -> _Ref:
        start, depth, quoted = self.i, 0, False
        while self.i < len(self.text):
            ch = self.text[self.i]
            if quoted:
                if ch == "\\":
                    self.i += 1
                elif ch == "'":
                    quoted = False
            elif ch == "'":
                quoted = True
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            elif depth == 0 and ch in ",)":
                break
            self.i += 1
        return _Ref(self.text[start:self.i].strip())


def _parse_intrinsic(text: str) -> _Call:
    return _IntrinsicParser(text).parse()


def _call_refs(node) -> list[str]:
    """The path arguments of an intrinsic call, nested calls included."""
    if isinstance(node, _Ref):
        return [node.text]
    if isinstance(node, _Call):
        return [ref for arg in node.args for ref in _call_refs(arg)]
    return []


def _expr_paths(text) -> list[str]:
    """The paths a `.$` value (a path or an intrinsic call) reads; [] if it does not parse."""
    if not isinstance(text, str):
        return []
    if text.startswith("$"):
        return [text]
    try:
        return _call_refs(_parse_intrinsic(text))
    except ValueError:
        return []


def _template_exprs(template, where: str) -> list[tuple[str, object]]:
    """(field, value) of every `key.$` field of a payload template, however deep."""
    found = []
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                found.append((f"{where}.{key}", value))
            else:
                found += _template_exprs(value, f"{where}.{key}")
    elif isinstance(template, list):
        for i, value in enumerate(template):
            found += _template_exprs(value, f"{where}[{i}]")
    return found


# --- What the checker knows about the data: shapes ---------------------------------------------

@dataclass(frozen=True)
class _Shape:
    """What is known of a JSON value on every route: the children that surely exist (each with
    its own shape), whether every other child is assumed to exist too (`open`), the value when
    it is a known constant (as JSON text), and the children that exist on some routes only
    (`maybe`, with their shape there: what an IsPresent test recovers)."""
    children: dict = field(default_factory=dict)
    open: bool = False
    const: str | None = None
    maybe: dict = field(default_factory=dict)

    def child(self, name: str) -> _Shape | None:
        if name in self.children:
            return self.children[name]
        return _OPAQUE if self.open else None


# A Task's raw result is opaque: anything below it is assumed present. The function's (or the
# service's) output contract is tested where it is produced (the Rust tests of weight-step);
# this checker only sees the state machine.
_OPAQUE = _Shape(open=True)
# The Error Output a catcher injects (SPEC "Error output": an object with Error and - SHOULD -
# Cause; AWS fills both).
_ERROR_OUTPUT = _Shape({"Error": _Shape(), "Cause": _Shape()})
# Shapes deeper than this are cut (knowing less is safe), so the fixpoint terminates even when a
# loop nests the data into itself.
_MAX_DEPTH = 24


def _literal_shape(value) -> _Shape:
    if isinstance(value, dict):
        return _Shape({k: _literal_shape(v) for k, v in value.items()})
    if isinstance(value, list):
        return _Shape({f"[{i}]": _literal_shape(v) for i, v in enumerate(value)})
    return _Shape(const=json.dumps(value))


def _at(shape: _Shape | None, segments: tuple[str, ...]) -> _Shape | None:
    for segment in segments:
        if shape is None:
            return None
        shape = shape.child(segment)
    return shape


def _number(shape: _Shape | None):
    if shape is None or shape.const is None:
        return None
    value = json.loads(shape.const)
    return value if _is_number(value) else None


def _join(a: _Shape, b: _Shape, depth: int = 0) -> _Shape:
    """What holds on both routes: a child is surely present if surely present on both (else it
    is a `maybe`); a constant survives if equal on both."""
    if a == b:
        return a
    if depth >= _MAX_DEPTH:
        return _Shape()
    children, maybe = {}, {}
    for name in set(a.children) | set(b.children) | set(a.maybe) | set(b.maybe):
        ca, cb = a.child(name), b.child(name)
        if ca is not None and cb is not None:
            children[name] = _join(ca, cb, depth + 1)
        else:
            maybe[name] = _join_all([s for s in (ca, cb, a.maybe.get(name), b.maybe.get(name))
                                     if s is not None], depth + 1)
    return _Shape(children, a.open and b.open, a.const if a.const == b.const else None, maybe)


def _join_all(shapes: list[_Shape], depth: int = 0) -> _Shape | None:
    joined = None
    for shape in shapes:
        joined = shape if joined is None else _join(joined, shape, depth)
    return joined


def _set(shape: _Shape, segments: tuple[str, ...], value: _Shape) -> _Shape:
    """ResultPath semantics: place `value` at `segments`, creating intervening objects."""
    if not segments:
        return value
    name = segments[0]
    current = shape.child(name) or _Shape()
    return _Shape({**shape.children, name: _set(current, segments[1:], value)}, shape.open,
                  maybe={k: v for k, v in shape.maybe.items() if k != name})


def _assume(shape: _Shape, segments: tuple[str, ...]) -> _Shape:
    """`shape` where the path is known to exist: with the shape it has on the routes where it
    does, or of unknown content."""
    if not segments:
        return shape
    name = segments[0]
    current = shape.child(name) or shape.maybe.get(name) or _Shape()
    return _Shape({**shape.children, name: _assume(current, segments[1:])}, shape.open,
                  maybe={k: v for k, v in shape.maybe.items() if k != name})


def _assume_all(shape: _Shape, paths: Iterable[tuple[str, ...]]) -> _Shape:
    for segments in paths:
        shape = _assume(shape, segments)
    return shape


def _select(shape: _Shape, path) -> _Shape:
    """InputPath/OutputPath semantics; null gives {}, a path that matches nothing gives {} too
    (the read itself is reported by path-defined)."""
    if isinstance(path, str) and path.startswith("$$"):
        return _OPAQUE
    parsed = _parse_path(path)
    if parsed is None or not parsed[1]:
        return _Shape()
    return _at(shape, parsed[0]) or _Shape()


def _apply_result_path(raw: _Shape, result_path, result: _Shape) -> _Shape:
    if result_path is None:
        return raw  # the result is discarded
    parsed = _parse_path(result_path)
    return _set(raw, parsed[0], result) if parsed else _Shape()


def _template_shape(template, data: _Shape) -> _Shape:
    """The payload a Parameters/ResultSelector template builds from `data`."""
    if isinstance(template, dict):
        children = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                children[key[:-2]] = _expr_shape(value, data)
            else:
                children[key] = _template_shape(value, data)
        return _Shape(children)
    if isinstance(template, list):
        return _Shape({f"[{i}]": _template_shape(v, data) for i, v in enumerate(template)})
    return _literal_shape(template)


def _expr_shape(text: str, data: _Shape) -> _Shape:
    if text.startswith("$$"):
        return _OPAQUE  # the Context Object
    if text.startswith("$"):
        parsed = _parse_path(text)
        found = _at(data, parsed[0]) if parsed and parsed[1] else None
        return found or _Shape()
    try:
        return _call_shape(_parse_intrinsic(text), data)
    except ValueError:
        return _Shape()


def _call_shape(call: _Call, data: _Shape) -> _Shape:
    """Constant propagation through the intrinsics that matter here: States.StringToJson of a
    literal (how the definitions receive substituted numbers) and States.MathAdd of constants.
    Any other call gives a value with no known children."""
    args = [_arg_shape(arg, data) for arg in call.args]
    if call.name == "States.StringToJson" and len(args) == 1:
        if args[0].const is None:
            return _OPAQUE  # decoded from a string the checker cannot see, like a task result
        try:
            return _literal_shape(json.loads(json.loads(args[0].const)))
        except (TypeError, ValueError):
            return _Shape()
    if call.name == "States.MathAdd" and len(args) == 2:
        a, b = _number(args[0]), _number(args[1])
        if a is not None and b is not None:
            return _Shape(const=json.dumps(a + b))
    return _Shape()


def _arg_shape(arg, data: _Shape) -> _Shape:
    if isinstance(arg, _Lit):
        return _literal_shape(arg.value)
    if isinstance(arg, _Ref):
        return _expr_shape(arg.text, data)
    return _call_shape(arg, data)


# --- Data flow ---------------------------------------------------------------------------------

def _bases(state: dict, raw: _Shape) -> dict[str, _Shape]:
    """The data a state works on: its raw input, the input selected by InputPath, and its result
    placed by ResultPath (before OutputPath) - SPEC "Input and Output Processing with JSONPath"."""
    selected = _select(raw, state.get("InputPath", "$"))
    kind = state["Type"]
    if kind == "Pass":
        if "Result" in state:
            result = _literal_shape(state["Result"])
        elif isinstance(state.get("Parameters"), dict):
            result = _template_shape(state["Parameters"], selected)
        else:
            result = selected
        placed = _apply_result_path(raw, state.get("ResultPath", "$"), result)
    elif kind in ("Task", "Parallel", "Map"):
        selector = state.get("ResultSelector")
        # ResultSelector reads the raw result, not the state input: its keys are the shape.
        result = _template_shape(selector, _OPAQUE) if isinstance(selector, dict) else _OPAQUE
        placed = _apply_result_path(raw, state.get("ResultPath", "$"), result)
    else:
        placed = selected
    return {"raw": raw, "selected": selected, "placed": placed}


def _outputs(state: dict, raw: _Shape) -> dict[str, _Shape]:
    """The data each outgoing transition carries, by `_Edge.via`."""
    bases = _bases(state, raw)
    out = {}
    if state["Type"] == "Choice":
        # A transition also tells what the rules found: the taken rule is true, the ones before
        # it are false (whatever order AWS evaluates them in).
        earlier_false: list[tuple[str, ...]] = []
        for i, rule in enumerate(_list(state.get("Choices"))):
            facts = _implied(rule, True) + earlier_false
            out[f"Choices[{i}]"] = _select(_assume_all(bases["selected"], facts),
                                           state.get("OutputPath", "$"))
            earlier_false += _implied(rule, False)
        out["Default"] = _select(_assume_all(bases["selected"], earlier_false),
                                 state.get("OutputPath", "$"))
        return out
    out["Next"] = _select(bases["placed"], state.get("OutputPath", "$"))
    for i, catcher in enumerate(_list(state.get("Catch"))):
        if isinstance(catcher, dict):
            # A catcher injects the Error Output into the state's raw input (SPEC "JSONPath
            # Catchers"; default ResultPath "$": the Error Output alone).
            out[f"Catch[{i}]"] = _apply_result_path(raw, catcher.get("ResultPath", "$"),
                                                    _ERROR_OUTPUT)
    return out


def _implied(rule, truth: bool) -> list[tuple[str, ...]]:
    """Paths that surely exist when the Choice rule evaluated to `truth`."""
    if not isinstance(rule, dict):
        return []
    if "Not" in rule:
        return _implied(rule["Not"], not truth)
    for op, all_have_truth in (("And", True), ("Or", False)):
        if op in rule:
            parts = [set(_implied(sub, truth)) for sub in _list(rule[op])]
            if not parts:
                return []
            # And true / Or false: every operand had that value; otherwise only one did.
            merged = set.union(*parts) if truth == all_have_truth else set.intersection(*parts)
            return sorted(merged)
    variable = _parse_path(rule.get("Variable"))
    if variable is None or not variable[1]:
        return []
    if "IsPresent" in rule:
        return [variable[0]] if rule["IsPresent"] is truth else []
    # Any other test that evaluated (true or false) read its paths without failing.
    found = [variable[0]]
    for op in rule:
        if op.endswith("Path") and op in CHOICE_OPERATORS:
            other = _parse_path(rule[op])
            if other and other[1]:
                found.append(other[0])
    return found


class _Flow:
    """The shape of every reachable state's input on all routes, by iteration to a fixpoint
    (loops included): a state's input is the join of what its incoming transitions carry."""

    def __init__(self, machine: _Machine, input_paths: tuple[str, ...]):
        self.initial = _Shape()
        for path in input_paths:
            parsed = _parse_path(path)
            if not parsed or not parsed[1]:
                raise ValueError(f"input path {path!r} is not a plain JSONPath")
            self.initial = _assume(self.initial, parsed[0])
        self.inputs: dict[str, _Shape] = {}
        self.carried: dict[_Edge, _Shape] = {}
        if machine.start in machine.states:
            self._run(machine)

    def _run(self, machine: _Machine):
        self.inputs[machine.start] = self.initial
        pending = deque([machine.start])
        visits = 0
        while pending:
            visits += 1
            if visits > _SEARCH_LIMIT:  # shapes are finite, so this only guards against a bug
                raise RuntimeError("the data-flow analysis did not converge")
            name = pending.popleft()
            outputs = _outputs(machine.states[name], self.inputs[name])
            for edge in machine.succ[name]:
                self.carried[edge] = outputs[edge.via]
                incoming = [self.carried[e] for e in machine.pred[edge.dst] if e in self.carried]
                if edge.dst == machine.start:
                    incoming.append(self.initial)
                joined = _join_all(incoming)
                if self.inputs.get(edge.dst) != joined:
                    self.inputs[edge.dst] = joined
                    if edge.dst not in pending:
                        pending.append(edge.dst)

    def number(self, state: dict, name: str, path) -> float | None:
        """The constant a path of the state's selected input holds on every route, if any."""
        parsed = _parse_path(path)
        if name not in self.inputs or not parsed or not parsed[1]:
            return None
        return _number(_at(_bases(state, self.inputs[name])["selected"], parsed[0]))


@dataclass(frozen=True)
class _Read:
    field: str      # where the state reads it, e.g. "Choices[1].And[0].Variable"
    path: str
    base: str       # "raw", "selected" or "placed" (see _bases)
    guards: tuple = ()  # paths an earlier operand of the same And/Or proved present


def _state_reads(state: dict) -> list[_Read]:
    """Every path the state reads from its data (context paths excluded: always there)."""
    reads = []

    def add(where, text, base, guards=()):
        if isinstance(text, str) and text.startswith("$") and not text.startswith("$$"):
            reads.append(_Read(where, text, base, guards))

    kind = state["Type"]
    add("InputPath", state.get("InputPath"), "raw")
    if kind in ("Task", "Pass"):
        for where, value in _template_exprs(state.get("Parameters"), "Parameters"):
            for path in _expr_paths(value):
                add(where, path, "selected")
    if kind == "Choice":
        for i, rule in enumerate(_list(state.get("Choices"))):
            # Top-level rules get no guard from the rules before them: the docs say rules are
            # examined in order, not that later ones are skipped once one is false.
            reads += _choice_reads(rule, f"Choices[{i}]", ())
    for where in ("SecondsPath", "TimestampPath", "TimeoutSecondsPath", "HeartbeatSecondsPath"):
        add(where, state.get(where), "selected")
    if kind == "Fail":
        for where in ("ErrorPath", "CausePath"):
            for path in _expr_paths(state.get(where)):
                add(where, path, "raw")
    add("OutputPath", state.get("OutputPath"), "placed")
    return reads


def _choice_reads(rule, where: str, guards: tuple) -> list[_Read]:
    """Reads of a Choice rule. And/Or short-circuit: SPEC "Boolean expression": "the
    interpreter processes the array elements in order ... ceasing array processing when the
    boolean value has been unambiguously determined", and the Choice page's example guards a
    StringEquals with an earlier IsPresent in the same And. So an operand is evaluated only if
    the earlier ones were all true (And) or all false (Or): their implied paths guard it."""
    if not isinstance(rule, dict):
        return []
    if "Not" in rule:
        return _choice_reads(rule["Not"], f"{where}.Not", guards)
    for op in ("And", "Or"):
        if op in rule:
            reads, known = [], list(guards)
            for i, sub in enumerate(_list(rule[op])):
                reads += _choice_reads(sub, f"{where}.{op}[{i}]", tuple(known))
                known += _implied(sub, op == "And")
            return reads
    variable = rule.get("Variable")
    # IsPresent never fails: "if the Variable-field Path fails to match anything in the input
    # no exception is thrown and the Choice Rule just returns false" (SPEC).
    operands = [("Variable", variable)] if "IsPresent" not in rule else []
    operands += [(op, value) for op, value in rule.items()
                 if op.endswith("Path") and op in CHOICE_OPERATORS]
    return [_Read(f"{where}.{op}", value, "selected", guards) for op, value in operands
            if isinstance(value, str) and value.startswith("$") and not value.startswith("$$")]


# --- Loops -------------------------------------------------------------------------------------

@dataclass
class _Loop:
    """A strongly connected set of states (it holds every cycle through them)."""
    states: list[str]
    bounds: list[_Bound]
    unbounded: list[_Edge] | None  # a cycle no counter bounds
    reasons: list[str]             # why candidate bounds were refused


@dataclass(frozen=True)
class _Bound:
    choice: str
    rule: int
    variable: str
    limit: float
    passes: int  # an upper bound on the cycles run before the rule exits the loop


def _strongly_connected(machine: _Machine) -> list[list[str]]:
    """Tarjan's algorithm over the reachable states; only sets that hold a cycle."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for e in machine.succ[v]:
            if e.dst not in index:
                visit(e.dst)
                low[v] = min(low[v], low[e.dst])
            elif e.dst in on_stack:
                low[v] = min(low[v], index[e.dst])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or any(e.dst == v for e in machine.succ[v]):
                found.append(sorted(component, key=machine.order.get))

    for v in machine.reachable:
        if v not in index:
            visit(v)
    return found


def _cycle_through(machine: _Machine, start: str, allowed: set[str]) -> list[_Edge] | None:
    """The shortest cycle from `start` back to it through `allowed` states only."""
    parent: dict[str, _Edge] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for e in machine.succ[v]:
            if e.dst == start:
                route = [e]
                while route[0].src != start:
                    route.insert(0, parent[route[0].src])
                return route
            if e.dst in allowed and e.dst not in parent:
                parent[e.dst] = e
                queue.append(e.dst)
    return None


def _any_cycle(machine: _Machine, states: set[str]) -> list[_Edge] | None:
    for v in sorted(states, key=machine.order.get):
        cycle = _cycle_through(machine, v, states)
        if cycle:
            return cycle
    return None


def _prefix(a: tuple, b: tuple) -> bool:
    return b[:len(a)] == a


def _effect_on(state: dict, variable: tuple[str, ...]) -> tuple[str, object]:
    """("keep", None), ("inc", k) when the state sets V to States.MathAdd(V, k) with a literal
    k >= 1 in its Parameters, or ("reset", why) when it changes V otherwise."""
    kind = state["Type"]
    if state.get("OutputPath", "$") != "$":
        return "reset", "narrows its output with OutputPath"
    if kind in ("Choice", "Wait", "Succeed", "Fail"):
        if state.get("InputPath", "$") != "$":
            return "reset", "narrows its output with InputPath"
        return "keep", None
    result_path = state.get("ResultPath", "$")
    if result_path is None:
        return "keep", None
    parsed = _parse_path(result_path)
    if not parsed or not parsed[1]:
        return "reset", f"has a ResultPath ({result_path!r}) the checker cannot follow"
    target = parsed[0]
    if not (_prefix(target, variable) or _prefix(variable, target)):
        return "keep", None
    if kind == "Pass" and len(target) < len(variable) and state.get("InputPath", "$") == "$":
        step = _increment(state.get("Parameters"), variable[len(target):], variable)
        if step:
            return "inc", step
    return "reset", f"writes {result_path}"


def _increment(template, relative: tuple[str, ...], variable: tuple[str, ...]) -> int | None:
    node = template
    for segment in relative[:-1]:
        node = node.get(segment) if isinstance(node, dict) else None
    if not isinstance(node, dict) or not isinstance(node.get(relative[-1] + ".$"), str):
        return None
    try:
        call = _parse_intrinsic(node[relative[-1] + ".$"])
    except ValueError:
        return None
    if call.name != "States.MathAdd" or len(call.args) != 2:
        return None
    for a, b in (call.args, call.args[::-1]):
        if isinstance(a, _Ref) and _parse_path(a.text) == (variable, True) \
                and isinstance(b, _Lit) and _is_int(b.value) and b.value >= 1:
            return b.value
    return None


def _counter_bound(machine: _Machine, flow: _Flow, name: str, loop: set[str],
                   reasons: list[str]) -> _Bound | None:
    """The counter bound a Choice state puts on the loop: a rule comparing V with
    NumericGreaterThan(Equals)[Path] a constant n whose Next leaves the loop, tested before any
    rule that stays in it, with V constant when the loop is entered, incremented by a constant
    on every cycle through the Choice, and changed nowhere else in the loop."""
    state = machine.states[name]
    if state["Type"] != "Choice" or state.get("InputPath", "$") != "$":
        return None
    rules = _list(state.get("Choices"))
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        op = next((o for o in BOUND_OPERATORS if o in rule), None)
        variable = _parse_path(rule.get("Variable"))
        if op is None or rule.get("Next") in loop or not variable or not variable[1]:
            continue
        where = f"{name!r} Choices[{i}] ({rule['Variable']} {op} {rule[op]})"
        limit = flow.number(state, name, rule[op]) if op.endswith("Path") else rule[op]
        if not _is_number(limit):
            reasons.append(f"{where}: the limit is not a constant on every route")
            continue
        looping = [j for j in range(i) if isinstance(rules[j], dict)
                   and rules[j].get("Next") in loop]
        if looping:
            reasons.append(f"{where}: Choices[{looping[0]}] stays in the loop before the "
                           f"limit is tested")
            continue
        steps, resets = {}, []
        for member in loop:
            effect, detail = _effect_on(machine.states[member], variable[0])
            if effect == "inc":
                steps[member] = detail
            elif effect == "reset":
                resets.append(f"{member!r} {detail}")
        for e in machine.edges:
            if e.src in loop and e.dst in loop and e.via.startswith("Catch"):
                catcher = machine.states[e.src]["Catch"][int(e.via[6:-1])]
                if catcher.get("ResultPath", "$") is None:
                    continue  # the catcher keeps the input as it is
                target = _parse_path(catcher.get("ResultPath", "$"))
                if target is None or _prefix(target[0], variable[0]) \
                        or _prefix(variable[0], target[0]):
                    resets.append(f"{e.src!r} {e.via} writes {catcher.get('ResultPath', '$')}")
        if resets:
            reasons.append(f"{where}: {rule['Variable']} is also changed in the loop by "
                           + ", ".join(sorted(resets)))
            continue
        uncounted = _cycle_through(machine, name, loop - set(steps))
        if uncounted:
            reasons.append(f"{where}: the cycle {_route(uncounted)} never increments "
                           f"{rule['Variable']} with States.MathAdd({rule['Variable']}, k>=1)")
            continue
        entering = [flow.carried[e] for e in machine.edges
                    if e.src not in loop and e.dst in loop and e in flow.carried]
        start = _number(_at(_join_all(entering), variable[0])) if entering else None
        if start is None:
            reasons.append(f"{where}: {rule['Variable']} is not a constant when the loop is "
                           f"entered")
            continue
        passes = max(0, math.floor((limit - start) / min(steps.values()))) + 1
        return _Bound(name, i, rule["Variable"], limit, passes)
    return None


# --- Analysis shared by the rules --------------------------------------------------------------

class _Analysis:
    def __init__(self, definition: dict, vocabulary: frozenset, input_paths: tuple):
        self.definition = definition
        self.vocabulary = vocabulary
        self.machine = _Machine(definition)
        self.flow = _Flow(self.machine, input_paths)

    def states(self, *kinds: str) -> list[tuple[str, dict]]:
        return [(n, s) for n, s in self.machine.states.items() if not kinds or s["Type"] in kinds]

    @cached_property
    def loops(self) -> list[_Loop]:
        loops = []
        for component in _strongly_connected(self.machine):
            members, reasons = set(component), []
            bounds = [b for name in component
                      if (b := _counter_bound(self.machine, self.flow, name, members, reasons))]
            unbounded = _any_cycle(self.machine, members - {b.choice for b in bounds})
            loops.append(_Loop(component, bounds, unbounded, reasons))
        return loops


# --- Rules -------------------------------------------------------------------------------------

def _check_structure(definition) -> list[Violation]:
    """`structure`: the skeleton every other rule relies on - SPEC "Top-level fields": States
    (an object of states), StartAt (a string), every state an object with a known Type."""
    def fail(message, state=None):
        return [Violation("structure", state, message)]

    if not isinstance(definition, dict):
        return fail("the definition is not a JSON object")
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        return fail("States must be a non-empty object")
    if not isinstance(definition.get("StartAt"), str):
        return fail("StartAt must be a string naming the first state")
    found = []
    for name, state in states.items():
        if not isinstance(state, dict) or not isinstance(state.get("Type"), str) \
                or state["Type"] not in STATE_TYPES:
            found += fail(f"must be an object whose Type is one of {sorted(STATE_TYPES)}", name)
    return found


def _check_checker_scope(a: _Analysis) -> list[Violation]:
    """`checker-scope` (not an AWS rule): what this checker does not analyse is refused rather
    than passed unchecked - Parallel and Map states, JSONata, variables (Assign, `$name`)."""
    found = []
    if a.definition.get("QueryLanguage") == "JSONata":
        found.append(Violation("checker-scope", None, "QueryLanguage JSONata is not analysed"))
    for name, state in a.states():
        if state["Type"] in ("Parallel", "Map"):
            found.append(Violation("checker-scope", name,
                                   f"{state['Type']} states are not analysed by this checker"))
        if state.get("QueryLanguage") == "JSONata":
            found.append(Violation("checker-scope", name, "QueryLanguage JSONata is not "
                                                          "analysed"))
        assigns = ["Assign"] if "Assign" in state else []
        assigns += [f"Choices[{i}].Assign" for i, r in enumerate(_list(state.get("Choices")))
                    if isinstance(r, dict) and "Assign" in r]
        assigns += [f"Catch[{i}].Assign" for i, c in enumerate(_list(state.get("Catch")))
                    if isinstance(c, dict) and "Assign" in c]
        for where in assigns:
            found.append(Violation("checker-scope", name,
                                   f"{where}: variables are not analysed by this checker"))
        for read in _state_reads(state):
            if _parse_path(read.path) is None:
                found.append(Violation("checker-scope", name,
                                       f"{read.field} reads the variable {read.path}, which "
                                       f"this checker does not analyse"))
    return found


def _check_field_allowed(a: _Analysis) -> list[Violation]:
    """`field-allowed`: only the fields the state type supports (SPEC tables of state types and
    fields; AWS: "SCHEMA_VALIDATION_FAILED: Field 'X' is not supported", floci-io/floci#2735)."""
    found = [Violation("field-allowed", None, f"top-level field {key!r} is not supported")
             for key in a.definition if key not in TOP_LEVEL_FIELDS]
    for name, state in a.states(*STATE_FIELDS):
        for key in state:
            if key not in STATE_FIELDS[state["Type"]]:
                found.append(Violation("field-allowed", name, f"field {key!r} is not supported "
                                                              f"by a {state['Type']} state"))
    return found


def _check_state_name_length(a: _Analysis) -> list[Violation]:
    """`state-name-length`: SPEC "States": a state name is at most 80 Unicode characters."""
    return [Violation("state-name-length", name, f"the name has {len(name)} characters; at most "
                                                 f"{STATE_NAME_MAX} are allowed")
            for name in a.machine.states if not 0 < len(name) <= STATE_NAME_MAX]


def _comment_places(a: _Analysis):
    yield None, "Comment", a.definition
    for name, state in a.states():
        yield name, "Comment", state
        for list_name in ("Retry", "Catch"):
            for i, item in enumerate(_list(state.get(list_name))):
                yield name, f"{list_name}[{i}].Comment", item
        stack = [(f"Choices[{i}]", r) for i, r in enumerate(_list(state.get("Choices")))]
        while stack:
            where, rule = stack.pop()
            yield name, f"{where}.Comment", rule
            if isinstance(rule, dict):
                stack += [(f"{where}.{op}[{i}]", r) for op in ("And", "Or")
                          for i, r in enumerate(_list(rule.get(op)))]
                if "Not" in rule:
                    stack.append((f"{where}.Not", rule["Not"]))


def _check_comment_type(a: _Analysis) -> list[Violation]:
    """`comment-type`: a Comment is a string (SPEC "Top-level fields" and "States": "a string
    field named Comment"; statemachine-structure.html common state fields)."""
    return [Violation("comment-type", name, f"{where} must be a string, not "
                                            f"{type(holder['Comment']).__name__}")
            for name, where, holder in _comment_places(a)
            if isinstance(holder, dict) and "Comment" in holder
            and not isinstance(holder["Comment"], str)]


def _check_transitions(a: _Analysis) -> list[Violation]:
    """`transition`: SPEC "Transitions" and statemachine-structure.html - StartAt names a state;
    a Task/Pass/Wait has exactly one of Next or "End": true; every Next, Default and catcher Next
    names a state; AWS refuses unreachable states ("MISSING_TRANSITION_TARGET: State X is not
    reachable") and a machine without a terminal state ("MISSING_END_STATE")."""
    m, found = a.machine, []
    if m.start not in m.states:
        found.append(Violation("transition", None, f"StartAt {m.start!r} names no state"))
    for name, state in a.states(*_TRANSITIONING):
        if ("Next" in state) == ("End" in state):
            found.append(Violation("transition", name, "must have exactly one of Next and End"))
        elif "End" in state and state["End"] is not True:
            found.append(Violation("transition", name, "End must be true (or use Next)"))
        elif "Next" in state and not isinstance(state["Next"], str):
            found.append(Violation("transition", name, "Next must be a state name"))
    for e in m.edges:
        if e.dst not in m.states:
            found.append(Violation("transition", e.src, f"{e.via} names {e.dst!r}, which is no "
                                                        f"state of this machine"))
    if m.start in m.states:
        found += [Violation("transition", name, "is not reachable from StartAt")
                  for name in m.states if name not in m.reachable]
    if not any(s["Type"] in ("Succeed", "Fail") or s.get("End") is True
               for s in m.states.values()):
        found.append(Violation("transition", None, "the machine has no terminal state "
                                                   "(Succeed, Fail or End: true)"))
    return found


def _check_wait_fields(a: _Analysis) -> list[Violation]:
    """`wait-fields`: state-wait.html - "You must specify exactly one of Seconds, Timestamp,
    SecondsPath, or TimestampPath"; Seconds is an integer from 0 to 99999999."""
    found = []
    for name, state in a.states("Wait"):
        given = [f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")
                 if f in state]
        if len(given) != 1:
            found.append(Violation("wait-fields", name, "must have exactly one of Seconds, "
                                                        f"SecondsPath, Timestamp, TimestampPath "
                                                        f"(has {given or 'none'})"))
        seconds = state.get("Seconds", 0)
        if not _is_int(seconds) or not 0 <= seconds <= MAX_FIELD_SECONDS:
            found.append(Violation("wait-fields", name, f"Seconds must be an integer from 0 to "
                                                        f"{MAX_FIELD_SECONDS}, not {seconds!r}"))
    return found


def _check_retry_catch_fields(a: _Analysis) -> list[Violation]:
    """`retry-catch-fields`: concepts-error-handling.html "Retrying after an error" / "Fallback
    states" (and SPEC): ErrorEquals a non-empty array of strings; IntervalSeconds an integer
    1..99999999; MaxAttempts an integer 0..99999999; BackoffRate a number >= 1.0;
    MaxDelaySeconds an integer 1..31622400; JitterStrategy FULL or NONE; a catcher's Next a
    state name. Retry and Catch exist on Task, Parallel and Map only (field-allowed)."""
    found = []

    def bad(name, where, message):
        found.append(Violation("retry-catch-fields", name, f"{where}: {message}"))

    for name, state in a.states("Task", "Parallel", "Map"):
        for list_name, allowed in (("Retry", RETRIER_FIELDS), ("Catch", CATCHER_FIELDS)):
            if list_name in state and not isinstance(state[list_name], list):
                bad(name, list_name, "must be an array")
            for i, item in enumerate(_list(state.get(list_name))):
                where = f"{list_name}[{i}]"
                if not isinstance(item, dict):
                    bad(name, where, "must be an object")
                    continue
                errors = item.get("ErrorEquals")
                if not isinstance(errors, list) or not errors \
                        or not all(isinstance(e, str) for e in errors):
                    bad(name, where, "ErrorEquals must be a non-empty array of strings")
                for key in item:
                    if key not in allowed:
                        bad(name, where, f"field {key!r} is not supported")
                for key, (low, high) in RETRIER_RANGES.items():
                    if list_name == "Retry" and key in item and not (
                            _is_int(item[key]) and low <= item[key] <= high):
                        bad(name, where, f"{key} must be an integer from {low} to {high}, "
                                         f"not {item[key]!r}")
                if list_name == "Retry" and "BackoffRate" in item and not (
                        _is_number(item["BackoffRate"]) and item["BackoffRate"] >= 1.0):
                    bad(name, where, f"BackoffRate must be a number >= 1.0, not "
                                     f"{item['BackoffRate']!r}")
                if list_name == "Retry" and item.get("JitterStrategy", "NONE") not in (
                        "FULL", "NONE"):
                    bad(name, where, f"JitterStrategy must be FULL or NONE, not "
                                     f"{item['JitterStrategy']!r}")
                if list_name == "Catch" and not isinstance(item.get("Next"), str):
                    bad(name, where, "a catcher needs Next, the state to go to")
    return found


def _check_task_fields(a: _Analysis) -> list[Violation]:
    """`task-fields`: state-task.html - Resource is required; TimeoutSeconds and HeartbeatSeconds
    are positive integers (at most 99999999); a Task cannot include both TimeoutSeconds and
    TimeoutSecondsPath, nor both HeartbeatSeconds and HeartbeatSecondsPath; HeartbeatSeconds is
    less than TimeoutSeconds."""
    found = []
    for name, state in a.states("Task"):
        def bad(message):
            found.append(Violation("task-fields", name, message))

        if not isinstance(state.get("Resource"), str):
            bad("Resource must be a string (the ARN of the work to run)")
        for key in ("TimeoutSeconds", "HeartbeatSeconds"):
            if key in state and not (_is_int(state[key]) and 0 < state[key] <= MAX_FIELD_SECONDS):
                bad(f"{key} must be a positive integer up to {MAX_FIELD_SECONDS}, "
                    f"not {state[key]!r}")
            if key in state and key + "Path" in state:
                bad(f"cannot have both {key} and {key}Path")
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if _is_int(timeout) and _is_int(heartbeat) and heartbeat >= timeout:
            bad(f"HeartbeatSeconds ({heartbeat}) must be less than TimeoutSeconds ({timeout})")
    return found


def _check_fail_fields(a: _Analysis) -> list[Violation]:
    """`fail-fields`: state-fail.html - a Fail state cannot have both Error and ErrorPath, nor
    both Cause and CausePath; Error and Cause are strings."""
    found = []
    for name, state in a.states("Fail"):
        for key in ("Error", "Cause"):
            if key in state and key + "Path" in state:
                found.append(Violation("fail-fields", name, f"cannot have both {key} and "
                                                            f"{key}Path"))
            if key in state and not isinstance(state[key], str):
                found.append(Violation("fail-fields", name, f"{key} must be a string"))
    return found


def _check_choice_rules(a: _Analysis) -> list[Violation]:
    """`choice-rules`: state-choice.html and SPEC "Choice State" - Choices is a non-empty array;
    a top-level rule has Next, a nested one (inside And/Or/Not) has not; And/Or hold non-empty
    arrays; a data-test rule has a Variable path and exactly one comparison operator, whose
    operand has the operator's type (a path for the ...Path operators)."""
    found = []
    for name, state in a.states("Choice"):
        rules = state.get("Choices")
        if not isinstance(rules, list) or not rules:
            found.append(Violation("choice-rules", name, "Choices must be a non-empty array"))
            continue
        for i, rule in enumerate(rules):
            found += [Violation("choice-rules", name, message)
                      for message in _rule_problems(rule, f"Choices[{i}]", top=True)]
    return found


def _rule_problems(rule, where: str, top: bool) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{where} must be an object"]
    problems = []
    if top and not isinstance(rule.get("Next"), str):
        problems.append(f"{where} needs Next, the state to go to")
    if not top and "Next" in rule:
        problems.append(f"{where} is nested inside And/Or/Not and cannot have Next")
    extra = {"Comment"} | ({"Next", "Assign"} if top else set())
    combinators = [op for op in ("And", "Or", "Not") if op in rule]
    operators = [op for op in rule if op in CHOICE_OPERATORS]
    if combinators:
        if len(combinators) > 1 or operators or "Variable" in rule:
            problems.append(f"{where} mixes {combinators + operators}; a rule is either one "
                            f"And/Or/Not or one comparison")
        for op in combinators:
            if op == "Not":
                problems += _rule_problems(rule["Not"], f"{where}.Not", top=False)
            elif not isinstance(rule[op], list) or not rule[op]:
                problems.append(f"{where}.{op} must be a non-empty array of rules")
            else:
                for i, sub in enumerate(rule[op]):
                    problems += _rule_problems(sub, f"{where}.{op}[{i}]", top=False)
        allowed = extra | set(combinators)
    else:
        variable = rule.get("Variable")
        if not isinstance(variable, str) or not variable.startswith("$"):
            problems.append(f"{where}.Variable must be a path")
        if len(operators) != 1:
            problems.append(f"{where} must have exactly one comparison operator "
                            f"(has {operators or 'none'})")
        for op in operators:
            value, expected = rule[op], CHOICE_OPERATORS[op]
            wrong_type = not isinstance(value, expected) or (
                expected != bool and isinstance(value, bool))
            if wrong_type or (op.endswith("Path") and not value.startswith("$")):
                problems.append(f"{where}.{op} has {value!r}, which is not "
                                + ("a path" if op.endswith("Path") else
                                   f"a {getattr(expected, '__name__', 'number')}"))
        allowed = extra | {"Variable"} | set(operators)
    problems += [f"{where}: field {key!r} is not supported" for key in rule
                 if key not in allowed and key not in CHOICE_OPERATORS
                 and key not in ("And", "Or", "Not")]
    return problems


def _check_payload_templates(a: _Analysis) -> list[Violation]:
    """`payload-template`: SPEC "Payload Template" / intrinsic-functions.html - a `key.$` field
    holds a string that is a path ("$...", "$$..." for the Context Object) or an intrinsic
    function call, whose name is a known States.* intrinsic; no two fields of an object share a
    name once ".$" is stripped. A Fail state's ErrorPath/CausePath is a path or an intrinsic."""
    found = []
    for name, state in a.states("Task", "Pass", "Fail"):
        exprs = []
        for template_name in ("Parameters", "ResultSelector"):
            template = state.get(template_name)
            if template_name in state and state["Type"] != "Fail" \
                    and not isinstance(template, dict):
                found.append(Violation("payload-template", name,
                                       f"{template_name} must be a JSON object"))
            exprs += _template_exprs(template, template_name)
            found += [Violation("payload-template", name, message)
                      for message in _duplicate_fields(template, template_name)]
        if state["Type"] == "Fail":
            exprs += [(key, state[key]) for key in ("ErrorPath", "CausePath") if key in state]
        for where, value in exprs:
            problem = _expression_problem(value)
            if problem:
                found.append(Violation("payload-template", name, f"{where}: {problem}"))
    return found


def _duplicate_fields(template, where: str) -> list[str]:
    problems = []
    if isinstance(template, dict):
        names = [key[:-2] if key.endswith(".$") else key for key in template]
        problems += [f"{where}: two fields are named {n!r} once '.$' is stripped"
                     for n in sorted({n for n in names if names.count(n) > 1})]
        for key, value in template.items():
            problems += _duplicate_fields(value, f"{where}.{key}")
    elif isinstance(template, list):
        for i, value in enumerate(template):
            problems += _duplicate_fields(value, f"{where}[{i}]")
    return problems


def _expression_problem(value) -> str | None:
    if not isinstance(value, str):
        return f"must be a string (a path or an intrinsic function), not {value!r}"
    if value.startswith("$"):
        return None
    try:
        call = _parse_intrinsic(value)
    except ValueError as e:
        return f"{value!r} is neither a path nor a valid intrinsic function call ({e})"
    stack = [call]
    while stack:
        node = stack.pop()
        if node.name not in INTRINSICS:
            return f"{node.name} is not an intrinsic function"
        stack += [arg for arg in node.args if isinstance(arg, _Call)]
    return None


def _check_states_all_alone_last(a: _Analysis) -> list[Violation]:
    """`states-all-alone-last`: concepts-error-handling.html - States.ALL "must appear alone in
    the ErrorEquals array and must appear in the last retrier [catcher]". AWS refuses it at
    create time: "SCHEMA_VALIDATION_FAILED: States.ALL must appear alone and at end of list"
    (aws/aws-cdk#10530)."""
    found = []
    for name, state in a.states():
        for list_name in ("Retry", "Catch"):
            items = [i for i in _list(state.get(list_name)) if isinstance(i, dict)]
            for i, item in enumerate(items):
                errors = _list(item.get("ErrorEquals"))
                if "States.ALL" not in errors:
                    continue
                if len(errors) > 1:
                    others = [e for e in errors if e != "States.ALL"]
                    found.append(Violation("states-all-alone-last", name,
                                           f"{list_name}[{i}] lists States.ALL beside {others}; "
                                           f"it must be alone in its ErrorEquals"))
                if i != len(items) - 1:
                    found.append(Violation("states-all-alone-last", name,
                                           f"{list_name}[{i}] matches States.ALL but is not the "
                                           f"last entry of {list_name}"))
    return found


_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[^:]+(:[^:]+)?$")
_SDK = re.compile(r"^arn:aws[a-z-]*:states:::aws-sdk:(?P<service>[a-z0-9]+):\w+(\.\w+)?$")
_OPTIMIZED = re.compile(r"^arn:aws[a-z-]*:states:::(?P<service>[a-z0-9-]+):\w+(\.\w+)?$")
# The optimized integration of Step Functions itself reports StepFunctions.* errors.
_OPTIMIZED_PREFIX = {"states": "stepfunctions"}


def _error_name_problem(error: str, resource, vocabulary: frozenset) -> str | None:
    """Why a name in ErrorEquals can never match an error of this Task, if it cannot."""
    if error.startswith("States."):
        if error not in STATES_ERRORS:
            return "is not a predefined States.* error name (other errors cannot begin with " \
                   "'States.')"
        if error in UNCATCHABLE:
            return "is never retried nor caught: AWS always fails the execution on it"
        return None
    resource = resource if isinstance(resource, str) else ""
    sdk, optimized = _SDK.match(resource), _OPTIMIZED.match(resource)
    if _LAMBDA_ARN.match(resource) or (optimized and optimized["service"] == "lambda"):
        # Lambda: the function's errorType, or a Lambda service error reported as Lambda.*
        # (concepts-error-handling.html, "Handle transient Lambda service exceptions").
        if error in vocabulary or re.fullmatch(r"Lambda\.[A-Z]\w*", error):
            return None
        return f"is neither an error type of the function ({', '.join(sorted(vocabulary))}) " \
               f"nor a Lambda.* service error"
    if sdk:
        # supported-services-awssdk.html: AWS SDK integration errors are ServiceName.ErrorName,
        # both PascalCase, the service as in the Resource (any case), and always with the
        # Exception suffix even where the service's own API reference omits it.
        service = sdk["service"]
        m = re.fullmatch(r"([A-Za-z0-9]+)\.[A-Z][A-Za-z0-9]*Exception", error)
        if m and m.group(1).lower() == service:
            return None
        return f"is not an AWS SDK integration error name, which has the form " \
               f"<{service} in PascalCase>.<Name>Exception"
    if optimized:
        # Optimized integrations report the service's exception under its name, e.g.
        # DynamoDB.ConditionalCheckFailedException, DynamoDB.AmazonDynamoDBException
        # (the guide's Synchronous Express sample retries the latter on dynamodb:getItem).
        service = _OPTIMIZED_PREFIX.get(optimized["service"], optimized["service"])
        m = re.fullmatch(r"([A-Za-z0-9]+)\.[A-Z][A-Za-z0-9]*", error)
        if m and m.group(1).lower() == service.replace("-", ""):
            return None
        return f"is not an error of the {optimized['service']} integration, which has the " \
               f"form <{service} in PascalCase>.<Exception>"
    return None  # activities and other resources may report any name outside States.*


def _check_error_names(a: _Analysis) -> list[Violation]:
    """`error-names`: every name in a Task's Retry/Catch ErrorEquals can match an error that Task
    reports (concepts-error-handling.html "Error names"; supported-services-awssdk.html)."""
    found = []
    for name, state in a.states("Task"):
        for list_name in ("Retry", "Catch"):
            for i, item in enumerate(_list(state.get(list_name))):
                if not isinstance(item, dict):
                    continue
                for error in _list(item.get("ErrorEquals")):
                    problem = isinstance(error, str) and _error_name_problem(
                        error, state.get("Resource"), a.vocabulary)
                    if problem:
                        found.append(Violation("error-names", name,
                                               f"{list_name}[{i}] ErrorEquals {error!r} "
                                               f"{problem}"))
    return found


def _missing_route(a: _Analysis, target: str, segments: tuple[str, ...]) -> str:
    """A route on which the raw-input path `segments` is not set when `target` is entered: from
    the execution input, or from the state that drops it (backwards breadth-first search over
    transitions that do not carry it)."""
    m, flow = a.machine, a.flow
    next_edge: dict[str, _Edge] = {}
    queue = deque([target])
    while queue:
        v = queue.popleft()
        if v == m.start and _at(flow.initial, segments) is None:
            return "the execution input" + (f" -> {_route(_forward(v, next_edge, target))}"
                                            if v != target else f" -> {target!r}")
        for e in m.pred[v]:
            if e.src in next_edge or e.src == target or e not in flow.carried \
                    or _at(flow.carried[e], segments) is not None:
                continue
            next_edge[e.src] = e
            if _at(flow.inputs.get(e.src), segments) is not None:
                return f"{e.src!r} drops it: {_route(_forward(e.src, next_edge, target))}"
            queue.append(e.src)
    return "a route the checker could not single out"


def _forward(v: str, next_edge: dict[str, _Edge], target: str) -> list[_Edge]:
    route = []
    while v != target:
        route.append(next_edge[v])
        v = next_edge[v].dst
    return route


def _check_paths_defined(a: _Analysis) -> list[Violation]:
    """`path-defined`: every path a state reads is set on every route into it, or guarded by
    an earlier operand of the same And (IsPresent: true) or Or (IsPresent: false). A path that
    matches nothing fails the execution at run time: state-choice.html ("If the state input
    doesn't contain the field, the execution fails"); AWS reports States.Runtime ("The choice
    state's condition path references an invalid value"), which no Catch handles
    (concepts-error-handling.html "States.Runtime"); in Parameters it is
    States.ParameterPathFailure (SPEC "Payload Template"). ResultSelector is not checked: it
    reads the raw task result, which is opaque."""
    found = []
    for name in a.machine.reachable:
        state = a.machine.states[name]
        bases = _bases(state, a.flow.inputs[name])
        for read in _state_reads(state):
            parsed = _parse_path(read.path)
            if parsed is None:
                continue  # a variable: checker-scope
            base = _assume_all(bases[read.base], read.guards)
            if _at(base, parsed[0]) is not None:
                continue
            selected_is_raw = state.get("InputPath", "$") == "$"
            traceable = read.base == "raw" or (read.base == "selected" and selected_is_raw)
            route = (f"it is missing on the route {_missing_route(a, name, parsed[0])}"
                     if traceable else f"it is missing from the state's {read.base} data")
            found.append(Violation(
                "path-defined", name,
                f"{read.field} reads {read.path}, which is not set on every route into the "
                f"state: {route}. On AWS a path that matches nothing fails the execution "
                f"(States.Runtime in a Choice, which no Catch handles); set it on that route or "
                f"test it first with an IsPresent: true operand of an And."))
    return found


def _check_choice_default(a: _Analysis) -> list[Violation]:
    """`choice-default`: state-choice.html - without Default, "If no Choices evaluate to true
    ... the state machine will throw an error" (States.NoChoiceMatched), and a Choice state has
    no Catch to handle it."""
    return [Violation("choice-default", name, "has no Default: when no rule matches, the "
                                              "execution fails with States.NoChoiceMatched")
            for name, state in a.states("Choice") if "Default" not in state]


def _task_timeout(a: _Analysis, name: str, state: dict):
    """The Task's TimeoutSeconds, literal or through a path to a constant; None if unknown."""
    timeout = state.get("TimeoutSeconds")
    if "TimeoutSecondsPath" in state:
        timeout = a.flow.number(state, name, state["TimeoutSecondsPath"])
    return timeout if _is_int(timeout) and timeout > 0 else None


def _check_task_timeout(a: _Analysis) -> list[Violation]:
    """`task-timeout`: state-task.html - TimeoutSeconds "If not provided, the default value is
    99999999" (3.17 years): a task without an explicit timeout can hold the execution until the
    machine's own timeout, making every other bound meaningless."""
    found = []
    for name, state in a.states("Task"):
        if _task_timeout(a, name, state) is not None:
            continue
        if "TimeoutSecondsPath" in state:
            message = f"TimeoutSecondsPath {state['TimeoutSecondsPath']} is not a positive " \
                      f"integer constant on every route"
        elif "TimeoutSeconds" in state:
            message = f"TimeoutSeconds {state['TimeoutSeconds']!r} is not a positive integer"
        else:
            message = f"has no TimeoutSeconds; the default is {TASK_DEFAULT_TIMEOUT} s"
        found.append(Violation("task-timeout", name, message))
    return found


def _wait_seconds(a: _Analysis, name: str, state: dict):
    if "Seconds" in state:
        return state["Seconds"] if _is_int(state["Seconds"]) else None
    if "SecondsPath" in state:
        return a.flow.number(state, name, state["SecondsPath"])
    return None


def _check_wait_bounded(a: _Analysis) -> list[Violation]:
    """`wait-bounded`: a Wait lasts a known time: Seconds, or SecondsPath to a constant on every
    route. A Timestamp/TimestampPath, or a SecondsPath to data, can wait up to a year
    (state-wait.html: the maximum wait of a Standard workflow)."""
    found = []
    for name, state in a.states("Wait"):
        if _wait_seconds(a, name, state) is not None:
            continue
        if "SecondsPath" in state:
            message = f"SecondsPath {state['SecondsPath']} is not a constant on every route"
        else:
            given = next((f for f in ("Timestamp", "TimestampPath") if f in state), "no Seconds")
            message = f"waits on {given}, which the checker cannot bound; use Seconds or a " \
                      f"SecondsPath to a constant"
        found.append(Violation("wait-bounded", name, message))
    return found


def _check_loops_bounded(a: _Analysis) -> list[Violation]:
    """`loop-bounded`: every cycle of transitions (Next, Choice rules, Default, Catch) passes a
    Choice whose rule V >= n (or > n, or ...Path to a constant) leaves the loop, and every cycle
    through that Choice sets V to States.MathAdd(V, k >= 1), with nothing else in the loop
    changing V. Otherwise an execution can loop until TimeoutSeconds - or 25,000 history events
    (service-quotas.html) - ends it as a failure."""
    found = []
    for loop in a.loops:
        if loop.unbounded is None:
            continue
        why = ("; candidate bounds refused: " + "; ".join(loop.reasons)) if loop.reasons else \
            "; no Choice on it tests a counter with NumericGreaterThan(Equals)"
        found.append(Violation("loop-bounded", loop.unbounded[0].src,
                               f"the cycle {_route(loop.unbounded)} (loop of "
                               f"{', '.join(map(repr, loop.states))}) is not bounded by a "
                               f"counter{why}"))
    return found


def _retry_seconds(retrier: dict) -> tuple[int, float]:
    """(attempts, seconds waited between them) of a retrier at worst; defaults from
    concepts-error-handling.html: IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0, and without
    MaxDelaySeconds no cap below the maximum duration of an execution. JitterStrategy FULL only
    shortens the waits."""
    def value(key, default):
        # An invalid value is reported by retry-catch-fields; the default stands in for it.
        v = retrier.get(key)
        low, high = RETRIER_RANGES[key]
        return v if _is_int(v) and low <= v <= high else default

    interval = value("IntervalSeconds", 1)
    attempts = value("MaxAttempts", 3)
    cap = value("MaxDelaySeconds", STANDARD_MAX_SECONDS)
    rate = retrier.get("BackoffRate", 2.0)
    rate = rate if _is_number(rate) and rate >= 1 else 2.0
    if interval >= cap:
        return attempts, float(cap) * attempts
    if rate == 1:
        return attempts, float(interval) * attempts
    uncapped = min(attempts, math.ceil(math.log(cap / interval, rate)))
    return attempts, interval * (rate ** uncapped - 1) / (rate - 1) + cap * (attempts - uncapped)


def _state_seconds(a: _Analysis, name: str, state: dict) -> float | None:
    """The longest a state can take, or None when the checker cannot bound it."""
    if state["Type"] == "Wait":
        return _wait_seconds(a, name, state)
    if state["Type"] != "Task":
        return 0.0
    timeout = _task_timeout(a, name, state)
    if timeout is None and "TimeoutSecondsPath" in state:
        return None
    retries = [_retry_seconds(r) for r in _list(state.get("Retry")) if isinstance(r, dict)]
    attempts = 1 + sum(n for n, _ in retries)
    return (timeout or TASK_DEFAULT_TIMEOUT) * attempts + sum(s for _, s in retries)


def _longest_simple(a: _Analysis, cost: dict[str, float], start: str,
                    members: set[str], closing: bool) -> tuple[float, list[str]]:
    """The longest path without a repeated state from `start` within `members`, or (closing)
    the longest cycle back to `start`; exhaustive, which the small machines here allow."""
    best: tuple[float, list[str]] = (0.0, []) if closing else (cost[start], [start])
    stack = [(start, [start], cost[start])]
    steps = 0
    while stack:
        v, path, total = stack.pop()
        for e in a.machine.succ[v]:
            steps += 1
            if steps > _SEARCH_LIMIT:
                raise RuntimeError("the definition has too many paths for this checker")
            if closing and e.dst == start:
                best = max(best, (total, path))
            elif e.dst in members and e.dst not in path:
                longer = (e.dst, path + [e.dst], total + cost[e.dst])
                stack.append(longer)
                if not closing:
                    best = max(best, (longer[2], longer[1]))
    return best


def _check_timeout_covers_longest_run(a: _Analysis) -> list[Violation]:
    """`timeout-covers-longest-run`: the machine's TimeoutSeconds exists, is at most one year
    (service-quotas.html: the maximum execution time of a Standard workflow), and is at least the
    longest legal run: the longest path without repeated states, plus for each loop
    (its bounds' passes) x (its longest cycle). A state's worst time: a Wait its seconds; a Task
    TimeoutSeconds x (1 + the retriers' MaxAttempts) + all retry intervals; others 0. When a
    Task, Wait or loop cannot be bounded, the rule that says so reports it and this one is
    silent."""
    timeout = a.definition.get("TimeoutSeconds")
    if timeout is None:
        return [Violation("timeout-covers-longest-run", None,
                          "the machine has no TimeoutSeconds: a Standard execution may then run "
                          "for a year")]
    if not _is_int(timeout) or not 0 < timeout <= STANDARD_MAX_SECONDS:
        return [Violation("timeout-covers-longest-run", None,
                          f"TimeoutSeconds must be a positive integer up to "
                          f"{STANDARD_MAX_SECONDS} (one year), not {timeout!r}")]
    cost = {n: _state_seconds(a, n, a.machine.states[n]) for n in a.machine.reachable}
    if not a.machine.reachable or None in cost.values() \
            or any(loop.unbounded for loop in a.loops):
        return []
    acyclic, path = _longest_simple(a, cost, a.machine.start, set(a.machine.reachable), False)
    total, parts = acyclic, [f"{_fmt(acyclic)} s along {' -> '.join(map(repr, path))}"]
    for loop in a.loops:
        cycle = max(_longest_simple(a, cost, s, set(loop.states), True)[0] for s in loop.states)
        passes = sum(b.passes for b in loop.bounds)
        total += passes * cycle
        limits = ", ".join(f"{b.choice!r} Choices[{b.rule}] ({b.variable} up to {_fmt(b.limit)})"
                           for b in loop.bounds)
        parts.append(f"{passes} x {_fmt(cycle)} s around the loop bounded by {limits}")
    if math.ceil(total) <= timeout:
        return []
    return [Violation("timeout-covers-longest-run", None,
                      f"TimeoutSeconds {timeout} is shorter than the longest legal run, "
                      f"{math.ceil(total)} s ({' + '.join(parts)}): the execution would time out "
                      f"before its own bounds end it")]


RULES = (
    _check_checker_scope,
    _check_field_allowed,
    _check_state_name_length,
    _check_comment_type,
    _check_transitions,
    _check_wait_fields,
    _check_retry_catch_fields,
    _check_task_fields,
    _check_fail_fields,
    _check_choice_rules,
    _check_payload_templates,
    _check_states_all_alone_last,
    _check_error_names,
    _check_paths_defined,
    _check_choice_default,
    _check_task_timeout,
    _check_wait_bounded,
    _check_loops_bounded,
    _check_timeout_covers_longest_run,
)


# --- Command line ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check rendered Amazon States Language definitions against rules AWS "
                    "enforces. Prints one line per violation; exits 1 if there is any.")
    parser.add_argument("--vocabulary", action="append", default=[], metavar="NAME[,NAME...]",
                        help="error types the invoked Lambda functions return")
    parser.add_argument("--subst", action="append", default=[], metavar="Name=Value",
                        help="a value for a ${Name} placeholder")
    parser.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args(argv)
    vocabulary = {n.strip() for item in args.vocabulary for n in item.split(",") if n.strip()}
    values = {}
    for item in args.subst:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--subst {item!r} is not Name=Value")
        values[key] = value
    failed = False
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            definition = json.loads(render(text, values))
        except ValueError as e:
            print(f"{path}: {e}")
            return 2
        for violation in check(definition, vocabulary=vocabulary):
            print(f"{path}: {violation}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
