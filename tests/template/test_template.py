"""template.yaml checked without deploying: cfn-lint, and the cross-checks that keep the
template, the state machine definitions, the workspace and the EMF contract in step. The parts
the local emulator cannot deploy (Application Auto Scaling, RDS custom endpoints) are proven
here by their properties."""
import os
import re
import subprocess
import sys
import tomllib

import pytest
from cfnlint.decode import cfn_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "template.yaml")


@pytest.fixture(scope="module")
def template():
    return cfn_yaml.load(TEMPLATE)


def resources(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_reports_nothing():
    lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    run = subprocess.run([lint, TEMPLATE], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_substitutions_match_the_placeholders_of_each_definition(template):
    machines = resources(template, "AWS::Serverless::StateMachine")
    assert len(machines) == 2
    for name, sm in machines.items():
        props = sm["Properties"]
        with open(os.path.join(ROOT, props["DefinitionUri"])) as f:
            placeholders = set(re.findall(r"\$\{(\w+)\}", f.read()))
        given = set(props["DefinitionSubstitutions"])
        assert placeholders <= given, f"{name}: no substitution for {placeholders - given}"
        unused = given - placeholders
        # One shared substitution map serves both machines; each uses its own subset.
        assert unused <= {"LowAlarmName", "AlarmCycleSeconds", "CooldownSeconds"}, unused
        assert props["Type"] == "STANDARD"


def test_every_function_is_a_workspace_binary_built_with_cargo_lambda(template):
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        members = tomllib.load(f)["workspace"]["members"]
    binaries = set()
    for member in members:
        with open(os.path.join(ROOT, member, "Cargo.toml"), "rb") as f:
            binaries |= {b["name"] for b in tomllib.load(f).get("bin", [])}
    functions = resources(template, "AWS::Serverless::Function")
    assert len(functions) == 2
    for name, fn in functions.items():
        assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda", name
        assert fn["Metadata"]["BuildProperties"]["Binary"] in binaries, name
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "provided.al2023"
    assert globals_["Handler"] == "bootstrap"


def test_alarms_watch_the_emf_metric_of_the_provisioned_readers(template):
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {"HighCpuAlarm", "LowCpuAlarm"}
    for name, alarm in alarms.items():
        p = alarm["Properties"]
        assert p["MetricName"] == "CPUUtilization"
        assert p["Namespace"] == {"Ref": "MetricsNamespace"}
        assert p["Dimensions"] == [
            {"Name": "DBClusterIdentifier", "Value": {"Ref": "ClusterIdentifier"}},
            {"Name": "Role", "Value": "provisioned-reader"},
        ], name
        assert p["TreatMissingData"] in ("notBreaching", "missing", "breaching", "ignore")
    params = template["Parameters"]
    assert params["HighCpuThreshold"]["MinValue"] > params["LowCpuThreshold"]["MaxValue"], \
        "the low threshold is always below the high one"
    assert set(params["AlarmPeriodSeconds"]["AllowedValues"]) == {10, 20, 30, 60}


def test_replica_auto_scaling_tracks_the_same_metric(template):
    target = template["Resources"]["ReplicaScalableTarget"]["Properties"]
    assert target["ScalableDimension"] == "rds:cluster:ReadReplicaCount"
    assert target["ServiceNamespace"] == "rds"
    policy = template["Resources"]["ReplicaScalingPolicy"]["Properties"]
    spec = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    alarm = template["Resources"]["HighCpuAlarm"]["Properties"]
    assert (spec["MetricName"], spec["Namespace"], spec["Dimensions"]) == \
        (alarm["MetricName"], alarm["Namespace"], alarm["Dimensions"])
    assert spec["Statistic"] == "Average" and spec["Unit"] == "Percent"
    for r in ("ReplicaScalableTarget", "ReplicaScalingPolicy"):
        assert template["Resources"][r]["Condition"] == "AutoScaling"


def test_provisioned_endpoint_excludes_the_serverless_reader_so_new_replicas_join(template):
    prov = template["Resources"]["ProvisionedReadersEndpoint"]["Properties"]
    assert prov["ExcludedMembers"] == [{"Ref": "ServerlessInstanceIdentifier"}]
    assert "StaticMembers" not in prov
    sv = template["Resources"]["ServerlessReaderEndpoint"]["Properties"]
    assert sv["StaticMembers"] == [{"Ref": "ServerlessInstanceIdentifier"}]


def test_weighted_records_start_safe(template):
    prov = template["Resources"]["ProvisionedRecord"]["Properties"]
    sv = template["Resources"]["ServerlessRecord"]["Properties"]
    assert sv["Weight"] == 0
    assert prov["Weight"] == {"Ref": "ProvisionedWeight"}
    assert template["Parameters"]["ProvisionedWeight"]["MinValue"] >= 1, "never 0"
    assert prov["Name"] == sv["Name"] and prov["Type"] == sv["Type"] == "CNAME"
    fn_env = template["Resources"]["WeightStepFunction"]["Properties"]["Environment"]["Variables"]
    assert fn_env["PROVISIONED_SET_IDENTIFIER"] == prov["SetIdentifier"]
    assert fn_env["SERVERLESS_SET_IDENTIFIER"] == sv["SetIdentifier"]


def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def test_iam_has_no_wildcard_actions_and_route53_changes_are_limited_to_the_record(template):
    actions = []
    for node in walk(template["Resources"]):
        if "Action" in node and "Effect" in node:
            a = node["Action"]
            actions += a if isinstance(a, list) else [a]
            if "route53:ChangeResourceRecordSets" in (a if isinstance(a, list) else [a]):
                cond = node["Condition"]["ForAllValues:StringEquals"]
                assert cond["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == [
                    {"Ref": "RecordName"}]
    assert actions, "policies found"
    assert all("*" not in a for a in actions), [a for a in actions if "*" in a]


def test_names_derive_from_the_stack_name(template):
    for key in ("FunctionName", "Name", "AlarmName", "DashboardName"):
        for name, r in template["Resources"].items():
            value = r.get("Properties", {}).get(key)
            if value is not None and r["Type"] != "AWS::Route53::RecordSet" \
                    and r["Type"] != "AWS::Route53::HostedZone":
                assert "${AWS::StackName}" in str(value), f"{name}.{key} = {value}"
