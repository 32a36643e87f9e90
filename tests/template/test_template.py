"""template.yaml checked without deploying: cfn-lint, and the cross-checks that keep the
template, the state machine definitions, the workspace and the EMF contract in step. The parts
the local emulator cannot deploy (Application Auto Scaling, RDS custom endpoints) are proven
here by their properties."""
import json
import os
import re
import subprocess
import sys
import tomllib

import pytest
from cfnlint.decode import cfn_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "template.yaml")


# The clusters the template tests expand its loops for.
KEYS = ["orders", "tickets"]


def expand(node, bindings=None, keys=None):
    """The template with its Fn::ForEach loops expanded for KEYS, as AWS::LanguageExtensions
    expands them (measured on an account, ministack's language_extensions module): the key is
    substituted in the fragment's keys, in Fn::Sub strings and through a Ref to the identifier;
    a Ref or Fn::GetAtt whose name is an Fn::Sub the key completes names that copy. Plain
    strings keep their placeholders (so does DependsOn)."""
    bindings = bindings or {}

    def sub(text):
        for k, v in bindings.items():
            text = text.replace("${" + k + "}", v)
        return text

    if isinstance(node, list):
        return [expand(x, bindings, keys) for x in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (k, v), = node.items()
        if k == "Fn::Sub":
            if isinstance(v, str):
                return {"Fn::Sub": sub(v)}
            return {"Fn::Sub": [sub(v[0]), expand(v[1], bindings, keys)]}
        if k == "Ref":
            if isinstance(v, str) and v in bindings:
                return bindings[v]
            if isinstance(v, dict) and "Fn::Sub" in v:
                return {"Ref": sub(v["Fn::Sub"])}
            return {"Ref": v}
        if k == "Fn::GetAtt" and isinstance(v, list):
            return {"Fn::GetAtt": [sub(a["Fn::Sub"]) if isinstance(a, dict) else a for a in v]}
    out = {}
    for k, v in node.items():
        if k.startswith("Fn::ForEach::"):
            identifier, collection, fragment = v
            items = (keys or KEYS) if collection == {"Ref": "Clusters"} else collection
            for item in items:
                inner = dict(bindings, **{identifier: item})
                for fk, fv in fragment.items():
                    out[fk.replace("${" + identifier + "}", item)] = expand(fv, inner, keys)
            continue
        out[k] = expand(v, bindings, keys)
    return out


@pytest.fixture(scope="module")
def raw_template():
    return cfn_yaml.load(TEMPLATE)


@pytest.fixture(scope="module")
def template(raw_template):
    return expand(json.loads(json.dumps(raw_template)))


def resources(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_reports_nothing():
    lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    run = subprocess.run([lint, TEMPLATE], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_substitutions_match_the_placeholders_of_each_definition(template):
    machines = resources(template, "AWS::Serverless::StateMachine")
    on_disk = {f for f in os.listdir(os.path.join(ROOT, "state-machines")) if f.endswith(".asl.json")}
    assert {os.path.basename(m["Properties"]["DefinitionUri"]) for m in machines.values()} == on_disk
    for name, sm in machines.items():
        props = sm["Properties"]
        with open(os.path.join(ROOT, props["DefinitionUri"])) as f:
            placeholders = set(re.findall(r"\$\{(\w+)\}", f.read()))
        given = set(props["DefinitionSubstitutions"])
        assert placeholders <= given, f"{name}: no substitution for {placeholders - given}"
        if name == "MonitorNewReadersStateMachine":
            assert given == placeholders, name
            assert props["Type"] == "STANDARD"
            continue
        unused = given - placeholders
        if name not in ("ScaleUpStateMachine", "ScaleDownStateMachine"):
            assert unused == set(), (name, unused)
            continue
        # The weight loops take only what every cluster shares (the loop's timing and bound
        # too; one shared map, each its subset); the rest is the cluster's settings document
        # (test_the_settings_document_has_what_the_loops_read).
        assert unused <= {"AlarmCycleSeconds", "CooldownSeconds", "DirectTriggerGraceRounds"}, unused
        assert {"WeightStepFunctionArn", "LockTableName", "SettingsPrefix"} <= placeholders, name
        assert not {"HighAlarmName", "LowAlarmName"} & given, name
        assert props["DefinitionSubstitutions"]["LockTableName"] == {"Ref": "LockTable"}
        assert props["Type"] == "STANDARD"


def test_every_function_is_a_workspace_binary_built_with_cargo_lambda(template):
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        members = tomllib.load(f)["workspace"]["members"]
    binaries = set()
    for member in members:
        with open(os.path.join(ROOT, member, "Cargo.toml"), "rb") as f:
            binaries |= {b["name"] for b in tomllib.load(f).get("bin", [])}
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {
        "MetricsFunction", "WeightStepFunction", "PlannedEventFunction", "ClusterCheckFunction"}
    for name, fn in functions.items():
        assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda", name
        assert fn["Metadata"]["BuildProperties"]["Binary"] in binaries, name
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "provided.al2023"
    assert globals_["Handler"] == "bootstrap"


def test_alarms_watch_the_emf_metric_of_the_provisioned_readers(template):
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {f"{a}{k}" for k in KEYS for a in (
        "HighCpuAlarm", "LowCpuAlarm", "HighConnectionsAlarm", "LowConnectionsAlarm")}
    for k in KEYS:
        for name in (f"HighCpuAlarm{k}", f"LowCpuAlarm{k}"):
            p = alarms[name]["Properties"]
            assert p["MetricName"] == "CPUUtilization"
            assert p["Namespace"] == {"Ref": "MetricsNamespace"}
            # The cluster its own check resolved, not a stack parameter.
            assert p["Dimensions"] == [
                {"Name": "DBClusterIdentifier",
                 "Value": {"Fn::GetAtt": [f"ClusterCheck{k}", "ClusterIdentifier"]}},
                {"Name": "Role", "Value": "provisioned-reader"},
            ], name
    params = template["Parameters"]
    assert params["HighCpuThreshold"]["MinValue"] > params["LowCpuThreshold"]["MaxValue"], \
        "the low threshold is always below the high one"
    assert set(params["AlarmPeriodSeconds"]["AllowedValues"]) == {10, 20, 30, 60}


def test_replica_auto_scaling_tracks_the_same_metric(template):
    r = template["Resources"]
    for k in KEYS:
        target = r[f"ReplicaScalableTarget{k}"]["Properties"]
        assert target["ScalableDimension"] == "rds:cluster:ReadReplicaCount"
        assert target["ServiceNamespace"] == "rds"
        policy = r[f"ReplicaScalingPolicy{k}"]["Properties"]
        assert policy["ScalingTargetId"] == {"Ref": f"ReplicaScalableTarget{k}"}
        spec = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
        alarm = r[f"HighCpuAlarm{k}"]["Properties"]
        assert (spec["MetricName"], spec["Namespace"], spec["Dimensions"]) == \
            (alarm["MetricName"], alarm["Namespace"], alarm["Dimensions"])
        assert spec["Statistic"] == "Average" and spec["Unit"] == "Percent"
        assert r[f"ReplicaScalableTarget{k}"]["Condition"] == "AutoScaling"
        assert r[f"ReplicaScalingPolicy{k}"]["Condition"] == "ScaleReplicasOnCpu"
        # Or the predefined connections metric, with the target the check derived.
        other = r[f"ReplicaConnectionsScalingPolicy{k}"]
        assert other["Condition"] == "ScaleReplicasOnConnections"
        spec = other["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert spec["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
            "RDSReaderAverageDatabaseConnections"
        assert spec["TargetValue"] == {"Fn::GetAtt": [f"ClusterCheck{k}", "TargetConnections"]}
    conditions = template["Conditions"]
    assert conditions["ScaleReplicasOnCpu"]["Fn::And"][0] == {"Condition": "AutoScaling"}
    assert conditions["ScaleReplicasOnConnections"]["Fn::And"][0] == {"Condition": "AutoScaling"}


def test_the_signals_are_composite_alarms_by_auroras_rules(template):
    r = template["Resources"]
    for k in KEYS:
        check = f"ClusterCheck{k}"
        # Connections: the busiest reader (AWS/RDS, Maximum over the cluster's readers) against
        # the thresholds the deploy-time check derived.
        for name, attribute, operator, missing in (
            (f"HighConnectionsAlarm{k}", "HighConnections", "GreaterThanOrEqualToThreshold", "missing"),
            (f"LowConnectionsAlarm{k}", "LowConnections", "LessThanThreshold", "breaching"),
        ):
            p = r[name]["Properties"]
            assert r[name]["Condition"] == "ConnectionsOn", name
            assert (p["Namespace"], p["MetricName"], p["Statistic"], p["Period"]) == \
                ("AWS/RDS", "DatabaseConnections", "Maximum", 60), name
            assert p["Dimensions"] == [
                {"Name": "DBClusterIdentifier", "Value": {"Fn::GetAtt": [check, "ClusterIdentifier"]}},
                {"Name": "Role", "Value": "READER"}], name
            assert p["Threshold"] == {"Fn::GetAtt": [check, attribute]}, name
            assert (p["ComparisonOperator"], p["TreatMissingData"]) == (operator, missing), name
        # The composites: CPU OR connections up, CPU AND connections down; CPU alone when off.
        # The same text spillway::region::signals::alarm_rules writes.
        for name, op, cpu, conn in ((f"HighAlarm{k}", "OR", f"HighCpuAlarm{k}", f"HighConnectionsAlarm{k}"),
                                    (f"LowAlarm{k}", "AND", f"LowCpuAlarm{k}", f"LowConnectionsAlarm{k}")):
            assert r[name]["Type"] == "AWS::CloudWatch::CompositeAlarm"
            on, off = r[name]["Properties"]["AlarmRule"]["Fn::If"][1:]
            assert r[name]["Properties"]["AlarmRule"]["Fn::If"][0] == "ConnectionsOn"
            assert on["Fn::Sub"] == [f'ALARM("${{Cpu}}") {op} ALARM("${{Connections}}")',
                                     {"Cpu": {"Ref": cpu}, "Connections": {"Ref": conn}}], name
            assert off["Fn::Sub"] == ['ALARM("${Cpu}")', {"Cpu": {"Ref": cpu}}], name
        # The machines and EventBridge read the composites only.
        document = r[f"Settings{k}"]["Properties"]["Value"]["Fn::Sub"]
        assert '"highAlarm": "${High}"' in document[0] and '"lowAlarm": "${Low}"' in document[0]
        assert (document[1]["High"], document[1]["Low"]) == (
            {"Ref": f"HighAlarm{k}"}, {"Ref": f"LowAlarm{k}"})
        for rule, alarm in ((f"HighAlarmRule{k}", f"HighAlarm{k}"), (f"LowAlarmRule{k}", f"LowAlarm{k}")):
            pattern = r[rule]["Properties"]["EventPattern"]
            assert pattern["resources"] == [{"Fn::GetAtt": [alarm, "Arn"]}], rule
        assert r[check]["Properties"]["ServiceToken"] == \
            {"Fn::GetAtt": ["ClusterCheckFunction", "Arn"]}
    # The low threshold range is always below the high one.
    params = template["Parameters"]
    assert params["HighConnectionsPercent"]["MinValue"] > params["LowConnectionsPercent"]["MaxValue"]
    assert params["HighConnectionsPercent"]["MaxValue"] == 100
    assert params["LowConnectionsPercent"]["MinValue"] >= 0


def test_provisioned_endpoint_excludes_the_serverless_reader_so_new_replicas_join(template):
    for k in KEYS:
        serverless = {"Fn::GetAtt": [f"ClusterCheck{k}", "ServerlessInstanceIdentifier"]}
        prov = template["Resources"][f"ProvisionedReadersEndpoint{k}"]
        assert prov["Condition"] == "CreateEndpoints"
        assert prov["Properties"]["ExcludedMembers"] == [serverless]
        assert "StaticMembers" not in prov["Properties"]
        sv = template["Resources"][f"ServerlessReaderEndpoint{k}"]["Properties"]
        assert sv["StaticMembers"] == [serverless]


def test_weighted_records_start_safe(template):
    for k in KEYS:
        prov = template["Resources"][f"ProvisionedRecord{k}"]["Properties"]
        sv = template["Resources"][f"ServerlessRecord{k}"]["Properties"]
        assert sv["Weight"] == 0
        assert prov["Weight"] == {"Fn::GetAtt": [f"ClusterCheck{k}", "ProvisionedWeight"]}
        assert prov["Name"] == sv["Name"] and prov["Type"] == sv["Type"] == "CNAME"
        assert prov["Name"]["Fn::Sub"][0] == f"reads.{k}.${{Name}}"
        shift = settings_document(template, {}, k)["shift"]
        assert shift["PROVISIONED_SET_IDENTIFIER"] == prov["SetIdentifier"]
        assert shift["SERVERLESS_SET_IDENTIFIER"] == sv["SetIdentifier"]
    # Never 0, whatever a cluster's entry says: the check refuses what the parameter refuses.
    assert template["Parameters"]["ProvisionedWeight"]["MinValue"] >= 1, "never 0"


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
                # Every watched cluster's read record, as the Region's check lists them.
                assert cond["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == {
                    "Fn::Split": [",", {"Fn::GetAtt": ["RegionCheck", "RecordNames"]}]}
                assert cond["route53:ChangeResourceRecordSetsActions"] == ["DELETE", "CREATE"]
    assert actions, "policies found"
    assert all("*" not in a for a in actions), [a for a in actions if "*" in a]


def test_names_derive_from_the_stack_name(template):
    for key in ("Name", "AlarmName", "DashboardName", "DBClusterEndpointIdentifier"):
        for name, r in template["Resources"].items():
            value = r.get("Properties", {}).get(key)
            if value is not None and r["Type"] != "AWS::Route53::RecordSet" \
                    and r["Type"] != "AWS::Route53::HostedZone":
                assert "${AWS::StackName}" in str(value), f"{name}.{key} = {value}"


def test_alarms_are_m_out_of_n_with_missing_data_treated_as_missing(template):
    # The values chosen (README, "The alarms"), not just valid ones: EMF written from Lambda
    # arrives late, so N-of-N with notBreaching fires late or flaps.
    params = template["Parameters"]
    expected = {
        "HighCpuAlarm": ("HighAlarmDatapoints", 2, "HighAlarmEvaluationPeriods", 3),
        "LowCpuAlarm": ("LowAlarmDatapoints", 15, "LowAlarmEvaluationPeriods", 18),
    }
    for k in KEYS:
        for name, (m, m_default, n, n_default) in expected.items():
            p = template["Resources"][name + k]["Properties"]
            assert p["DatapointsToAlarm"] == {"Ref": m}, name
            assert p["EvaluationPeriods"] == {"Ref": n}, name
            assert (params[m]["Default"], params[n]["Default"]) == (m_default, n_default), name
            assert params[m]["Default"] < params[n]["Default"], f"{name}: M out of N, M < N"
            assert p["TreatMissingData"] == "missing", f"{name}: a late bucket is neither good nor bad"
            assert p["Period"] == {"Ref": "AlarmPeriodSeconds"}
    assert params["AlarmPeriodSeconds"]["Default"] == 10


# Limits of the names that derive from the stack name (CloudFormation resource schemas).
NAME_LIMITS = {
    ("AWS::Serverless::StateMachine", "Name"): (80, r"^[A-Za-z0-9_-]+$"),
    ("AWS::CloudWatch::CompositeAlarm", "AlarmName"): (255, r"^[^\x00-\x1f]+$"),
    ("AWS::RDS::DBClusterEndpoint", "DBClusterEndpointIdentifier"): (63, r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"),
    ("AWS::CloudWatch::Alarm", "AlarmName"): (255, r"^[^\x00-\x1f]+$"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"): (255, r"^[A-Za-z0-9_-]+$"),
}
STACK_NAME_LIMIT = 43  # README, "Deploying to AWS": with a 16-character cluster key


def derived_names(template, stack_name):
    for rid, r in template["Resources"].items():
        for (kind, key), limit in NAME_LIMITS.items():
            value = r.get("Properties", {}).get(key)
            if r["Type"] == kind and value is not None:
                text = value["Fn::Sub"] if isinstance(value, dict) else value
                text = text[0] if isinstance(text, list) else text
                yield rid, key, text.replace("${AWS::StackName}", stack_name), limit


def over_limit(template, stack_name):
    return [(rid, key, name) for rid, key, name, (length, pattern) in
            derived_names(template, stack_name)
            if len(name) > length or not re.match(pattern, name)]


def test_every_derived_name_fits_its_limit_for_the_longest_allowed_stack_name(raw_template):
    # The longest key the Region's check allows (spillway::region::settings::MAX_KEY).
    template = expand(json.loads(json.dumps(raw_template)), keys=["k" * 16])
    assert list(derived_names(template, "s")), "names found"
    longest = "a" + "-b" * ((STACK_NAME_LIMIT - 1) // 2) + "c" * ((STACK_NAME_LIMIT - 1) % 2)
    assert len(longest) == STACK_NAME_LIMIT
    assert over_limit(template, longest) == [], "within the limits"
    # The documented limit is exact: one more character breaks a name.
    assert over_limit(template, longest + "d"), "a 44-character stack name breaks a limit"
    functions = resources(template, "AWS::Serverless::Function")
    assert all("FunctionName" not in f["Properties"] for f in functions.values()), \
        "function names are generated (always within 64 characters)"
    with open(os.path.join(ROOT, "functions", "spillway", "src", "region", "settings.rs")) as f:
        assert "pub const MAX_KEY: usize = 16;" in f.read()


def test_the_hosted_zone_id_is_the_bare_id(template):
    pattern = template["Parameters"]["HostedZoneId"]["AllowedPattern"]
    for ok in ("", "Z0123456789ABCDEFGHIJ", "Z1D633PJN98FT9"):
        assert re.fullmatch(pattern, ok), ok
    for bad in ("/hostedzone/Z1D633PJN98FT9", "z1d633", "Z1D633PJN98FT9 "):
        assert not re.fullmatch(pattern, bad), f"{bad!r} would make an IAM ARN that matches nothing"


def test_one_zone_holds_every_clusters_record(template):
    name = template["Resources"]["PrivateZone"]["Properties"]["Name"]
    assert name == {"Fn::If": ["DefaultZoneName", "spillway.internal", {"Ref": "ZoneName"}]}, name
    for k in KEYS:
        settings = template["Resources"][f"Settings{k}"]["Properties"]["Value"]["Fn::Sub"]
        assert '"ZONE_NAME": "${Name}"' in settings[0]
        assert '"RECORD_NAME": "reads.' + k + '.${Name}"' in settings[0]
        assert settings[1]["Name"] == name, "the function checks RECORD_NAME against the same zone"
        record = template["Resources"][f"ProvisionedRecord{k}"]["Properties"]["Name"]["Fn::Sub"]
        assert record == [f"reads.{k}.${{Name}}", {"Name": name}]
    assert template["Parameters"]["ZoneName"]["Default"] == ""


def test_replica_counts_mean_provisioned_readers(template):
    # rds:cluster:ReadReplicaCount counts the Serverless v2 reader too: one is added (the
    # cluster's check adds it to its own counts, the mapping to the stack-wide event minimum).
    table = template["Mappings"]["ReaderCount"]
    params = template["Parameters"]
    for p in ("MinReplicas", "MaxReplicas", "EventMinReplicas"):
        for n in range(params[p]["MinValue"], params[p]["MaxValue"] + 1):
            assert table[str(n)]["WithServerless"] == n + 1, (p, n)
    assert params["MaxReplicas"]["MaxValue"] + 1 == 15, "Aurora's 15 readers, the serverless one included"
    for k in KEYS:
        target = template["Resources"][f"ReplicaScalableTarget{k}"]["Properties"]
        assert target["MinCapacity"] == {"Fn::GetAtt": [f"ClusterCheck{k}", "MinCapacity"]}
        assert target["MaxCapacity"] == {"Fn::GetAtt": [f"ClusterCheck{k}", "MaxCapacity"]}
        start, end = (a["Fn::If"][1]["ScalableTargetAction"] for a in target["ScheduledActions"])
        assert start["MinCapacity"] == {
            "Fn::FindInMap": ["ReaderCount", {"Ref": "EventMinReplicas"}, "WithServerless"]}
        assert end["MinCapacity"] == target["MinCapacity"]
    with open(os.path.join(ROOT, "functions", "cluster-check", "src", "handler.rs")) as f:
        assert re.search(r'\("MinCapacity", "MinReplicas"\),\s*\("MaxCapacity", "MaxReplicas"\)', f.read())


def test_both_machines_elect_an_owner_and_are_swept(template):
    r = template["Resources"]
    for rid in ("ScaleUpStateMachine", "ScaleDownStateMachine"):
        sm = r[rid]["Properties"]
        assert "Events" not in sm, "each cluster's rules start it"
        statements = [n for n in walk(sm["Policies"]) if "Action" in n]
        actions = {a for n in statements for a in n["Action"]}
        assert "states:ListExecutions" not in actions, "no election on an eventually consistent listing"
        assert {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem",
                "states:DescribeExecution"} <= actions, actions
        own = next(n for n in statements if n["Action"] == ["states:DescribeExecution"])
        assert own["Resource"]["Fn::Sub"].endswith(":execution:" + sm["Name"]["Fn::Sub"] + ":*")
    for k in KEYS:
        cluster = {"C": {"Fn::GetAtt": [f"ClusterCheck{k}", "ClusterIdentifier"]}}
        # Every start names the cluster whose settings the execution loads.
        sweep = r[f"SweepRule{k}"]["Properties"]
        assert sweep["ScheduleExpression"] == {"Fn::Sub": "rate(${SweepMinutes} minutes)"}
        assert [(t["Arn"], t["Input"]["Fn::Sub"]) for t in sweep["Targets"]] == [
            ({"Ref": "ScaleUpStateMachine"}, ['{"cluster": "${C}", "sweep": true}', cluster]),
            ({"Ref": "ScaleDownStateMachine"}, ['{"cluster": "${C}", "sweep": true}', cluster])]
        for rule, machine in ((f"HighAlarmRule{k}", "ScaleUpStateMachine"),
                              (f"LowAlarmRule{k}", "ScaleDownStateMachine")):
            (target,) = r[rule]["Properties"]["Targets"]
            assert target["Arn"] == {"Ref": machine}
            assert target["Input"]["Fn::Sub"] == ['{"cluster": "${C}"}', cluster]
            assert target["RoleArn"] == {"Fn::GetAtt": ["LoopStarterRole", "Arn"]}
    starter = r["LoopStarterRole"]["Properties"]
    assert starter["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"}
    assert starter["Policies"][0]["PolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Action": ["states:StartExecution"],
        "Resource": [{"Ref": "ScaleUpStateMachine"}, {"Ref": "ScaleDownStateMachine"}]}]
    assert template["Parameters"]["SweepMinutes"]["MinValue"] >= 2, "rate(1 minutes) is invalid"


def test_new_instances_of_the_cluster_get_1_second_monitoring(template):
    sm = template["Resources"]["MonitorNewReadersStateMachine"]
    assert sm["Condition"] == "MonitorNewReaders"
    pattern = sm["Properties"]["Events"]["InstanceCreated"]["Properties"]["Pattern"]
    with open(os.path.join(ROOT, "events", "rds-instance-created.json")) as f:
        event = json.load(f)
    assert pattern["source"] == [event["source"]]
    assert pattern["detail-type"] == [event["detail-type"]]
    assert pattern["detail"]["EventID"] == [event["detail"]["EventID"]] == ["RDS-EVENT-0005"]
    pass_role = next(n for n in walk(sm["Properties"]["Policies"])
                     if n.get("Action") == ["iam:PassRole"])
    assert pass_role["Resource"] == {"Ref": "MonitoringRoleArn"}, "only the monitoring role"


def referenced(node):
    """The resources and parameters a property tree names (Ref, GetAtt, Sub's ${...})."""
    names = set()
    for d in walk(node):
        if "Ref" in d and isinstance(d["Ref"], str):
            names.add(d["Ref"])
        if "Fn::GetAtt" in d:
            g = d["Fn::GetAtt"]
            names.add(g[0] if isinstance(g, list) else g.split(".")[0])
        if "Fn::Sub" in d:
            text = d["Fn::Sub"] if isinstance(d["Fn::Sub"], str) else d["Fn::Sub"][0]
            names |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
    return names


def dependencies(template, rid):
    """What CloudFormation deletes only after `rid`: DependsOn and references, transitively."""
    resources_ = template["Resources"]
    seen, followed, todo = set(), set(), [rid]
    while todo:
        r = resources_[todo.pop()]
        depends_on = r.get("DependsOn", [])
        depends_on = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        # SAM's generated resources (a function's event source, a machine's rule) are named in
        # DependsOn but not declared here: kept, not followed.
        seen |= depends_on
        direct = depends_on | referenced(r.get("Properties", {}))
        for d in direct & set(resources_):
            if d not in followed:
                followed.add(d)
                seen.add(d)
                todo.append(d)
    return seen


def test_the_records_are_deleted_before_anything_that_brings_the_weight_back(template):
    # A delete while the serverless weight is above 0 stops at the cluster's record guard,
    # deleted before the records (the test below); everything that can bring the weight to 0
    # must still exist then, so nothing it depends on may be deleted before the records.
    shared = {"LockTable", "LoopStarterRole", "ScaleUpStateMachine", "ScaleDownStateMachine"}
    # The functions of the weight path (the planned-event function moves no weight, the
    # checks run only at deploy time).
    for rid, fn in resources(template, "AWS::Serverless::Function").items():
        if rid in ("PlannedEventFunction", "ClusterCheckFunction"):
            continue
        shared |= {rid} | {rid + event for event in fn["Properties"].get("Events", {})}
    for k in KEYS:
        # The cluster's own: its alarms, its composites, its rules and sweep.
        own = {rid for rid, r in template["Resources"].items() if rid.endswith(k) and r["Type"] in (
            "AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm", "AWS::Events::Rule")}
        assert len(own) == 9, own
        for rid in (f"ProvisionedRecord{k}", f"ServerlessRecord{k}"):
            depends = dependencies(template, rid)
            assert shared | own <= depends, f"{rid} is deleted after {(shared | own) - depends}"
        # Never in parallel: were the provisioned record deleted and the serverless one refused,
        # the name would send every read to the serverless reader.
        assert f"ProvisionedRecord{k}" in referenced(
            template["Resources"][f"ServerlessRecord{k}"]["Properties"]), "the serverless record is deleted first"
    # Seeded: without the comment that names them, the cluster's rules could go first.
    seeded = json.loads(json.dumps(template))
    del seeded["Resources"]["ProvisionedRecordorders"]["Properties"]["Comment"]
    assert "SweepRuleorders" not in dependencies(seeded, "ProvisionedRecordorders")


def test_each_clusters_record_guard_is_deleted_before_its_records(template):
    # CloudFormation deletes a resource before what it references. The guard's delete refuses
    # while the serverless weight is above 0 (spillway::region::removal), which protects the
    # records only if it runs first; no local tool knows that order matters.
    def guarded(t, k):
        return {f"ProvisionedRecord{k}", f"ServerlessRecord{k}"} <= dependencies(
            t, f"RecordGuard{k}")

    for k in KEYS:
        guard = template["Resources"][f"RecordGuard{k}"]
        assert guard["Type"] == "Custom::SpillwayRecordGuard"
        assert guard["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["ClusterCheckFunction", "Arn"]}
        # It reads the pair by the serverless record's own reference (its name), in its zone.
        assert guard["Properties"]["GuardedRecord"] == {"Ref": f"ServerlessRecord{k}"}
        assert guard["Properties"]["HostedZoneId"] == \
            template["Resources"][f"ServerlessRecord{k}"]["Properties"]["HostedZoneId"]
        assert guarded(template, k), f"RecordGuard{k} is deleted after its records"
        # Nothing of the pair depends on the guard (that would delete the guard last).
        assert f"RecordGuard{k}" not in dependencies(template, f"ProvisionedRecord{k}")
    # Seeded: the record's name as text instead of its reference leaves the delete unordered.
    seeded = json.loads(json.dumps(template))
    seeded["Resources"]["RecordGuardorders"]["Properties"]["GuardedRecord"] = \
        "reads.orders.spillway.internal"
    assert not guarded(seeded, "orders")


def test_the_records_comments_fit_a_change_batch_comment(template):
    # Route 53 takes a change batch comment of at most 256 characters (ChangeBatch, API
    # reference); no local tool checks a RecordSet's Comment. Worst case: a 16-character key,
    # every referenced name at its longest (64: a rule name CloudFormation generates).
    def longest(comment, key):
        if "Fn::Select" in comment:
            index, items = comment["Fn::Select"]
            return longest(items[int(index)], key)
        if isinstance(comment, str):
            return len(comment) + comment.count(key) * (16 - len(key))
        text, names = comment["Fn::Sub"] if isinstance(comment["Fn::Sub"], list) else (
            comment["Fn::Sub"], {})
        return longest(text, key) + sum(64 - len(f"${{{n}}}")
                                        for n in names if f"${{{n}}}" in text)

    for k in KEYS:
        for rid in (f"ProvisionedRecord{k}", f"ServerlessRecord{k}"):
            comment = template["Resources"][rid]["Properties"]["Comment"]
            assert longest(comment, k) <= 256, (rid, longest(comment, k))
    # Seeded: the rules' and signals' names in the text (as it once was) pass 256.
    seeded = {"Fn::Sub": ["Spillway: cluster key orders; brought back by ${R1}, ${R2}, ${R3} on "
                          "${A1}, ${A2}", {n: {"Ref": n} for n in ("R1", "R2", "R3", "A1", "A2")}]}
    assert longest(seeded, "orders") > 256


def planned_statements(template):
    """The planned-event function's statements, each with the Condition (if any) it is under:
    (statement, template condition name or None)."""
    found = []
    for item in template["Resources"]["PlannedEventFunction"]["Properties"]["Policies"][0][
            "Statement"]:
        if isinstance(item, dict) and "Fn::If" in item:
            condition, then, _ = item["Fn::If"]
            found.append((then, condition))
        else:
            found.append((item, None))
    return found


def test_the_planned_event_function_deletes_and_creates_only_tagged_instances(template):
    statements = planned_statements(template)

    def granting(action):
        return [(s, c) for s, c in statements
                if action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]

    # Without auto scaling, IAM itself keeps deletions to Spillway's instances ...
    deletes = [s for s, c in granting("rds:DeleteDBInstance") if c is None]
    assert deletes and all(
        s["Condition"]["StringLike"]["aws:ResourceTag/spillway:event"] == "*" for s in deletes)
    creates_db = [s for s, c in granting("rds:CreateDBInstance")
                  if c is None and "db:*" in json.dumps(s["Resource"])]
    assert creates_db and all(
        s["Condition"]["StringLike"]["aws:RequestTag/spillway:event"] == "*" for s in creates_db)
    # ... and tags only the keys it owns.
    for s, c in granting("rds:AddTagsToResource"):
        if c is None:
            assert set(s["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]) <= {
                "spillway:event", "spillway:restore", "spillway:role"}, s
    # The untagged grant exists only for Application Auto Scaling's permission probes.
    broad = [(s, c) for s, c in granting("rds:DeleteDBInstance") if c is not None]
    assert [c for _, c in broad] == ["AutoScaling"]
    # Failover and cluster changes: the stack's watched clusters only (a failover also names
    # its target instance, which RDS authorises as a db resource).
    cluster = {"Fn::Split": [",", {"Fn::GetAtt": ["RegionCheck", "ClusterArns"]}]}
    instance = {"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*"}
    assert all(s["Resource"] == cluster for s, _ in granting("rds:ModifyDBCluster"))
    assert sorted(json.dumps(s["Resource"]) for s, _ in granting("rds:FailoverDBCluster")) == \
        sorted([json.dumps(cluster), json.dumps(instance)])
    for s, _ in granting("rds:FailoverDBCluster"):
        assert s["Action"] == ["rds:FailoverDBCluster"] or s["Resource"] == cluster, s


def test_prepare_and_recover_read_only_the_weight_loops_they_wait_for_and_the_settings(template):
    for rid in ("PrepareStateMachine", "RecoverStateMachine"):
        machine = template["Resources"][rid]["Properties"]
        subs = machine["DefinitionSubstitutions"]
        assert subs["ScaleUpStateMachineArn"] == {"Ref": "ScaleUpStateMachine"}
        assert subs["ScaleDownStateMachineArn"] == {"Ref": "ScaleDownStateMachine"}
        assert subs["Phase"] == ("prepare" if rid.startswith("Prepare") else "recover")
        statements = machine["Policies"][1]["Statement"]
        actions = sorted(a for s in statements for a in s["Action"])
        assert actions == ["dynamodb:GetItem", "ssm:GetParameter", "states:DescribeExecution"]
        settings = next(s for s in statements if s["Action"] == ["ssm:GetParameter"])
        assert settings["Resource"]["Fn::Sub"].endswith(
            ":parameter/spillway/${AWS::StackName}/clusters/*"), "the stack's settings only"
        assert subs["SettingsPrefix"] == {"Fn::Sub": "/spillway/${AWS::StackName}/clusters/"}
        describe = next(s for s in statements if s["Action"] == ["states:DescribeExecution"])
        assert all(":execution:${AWS::StackName}-scale-" in r["Fn::Sub"]
                   for r in describe["Resource"])
    role = template["Resources"]["PlannedEventSchedulerRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    allowed = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert allowed == [{"Effect": "Allow", "Action": ["states:StartExecution"],
                        "Resource": [{"Ref": "PrepareStateMachine"},
                                     {"Ref": "RecoverStateMachine"}]}]


def test_nothing_of_the_cluster_is_created_before_its_configuration_is_checked(template):
    # The Region's check fails a bad configuration with every problem of every entry named,
    # then each cluster's check its own; a cluster's alarms, settings, records, endpoints,
    # rules and auto scaling wait for its check (a reference, transitively), so CloudFormation
    # creates none of them first. Stack-wide resources may come first.
    stack_wide = {"MetricsFunction", "WeightStepFunction", "PlannedEventFunction",
                  "ClusterCheckFunction", "RegionCheck", "LockTable", "PrivateZone",
                  "LoopStarterRole", "ScaleUpStateMachine", "ScaleDownStateMachine",
                  "MonitorNewReadersStateMachine", "PlannedEventSchedulerRole",
                  "PrepareStateMachine", "RecoverStateMachine"}
    for rid in template["Resources"]:
        if rid in stack_wide:
            continue
        key = next(k for k in KEYS if rid.endswith(k))
        if rid == f"ClusterCheck{key}":
            assert "RegionCheck" in dependencies(template, rid), rid
            continue
        assert f"ClusterCheck{key}" in dependencies(template, rid), f"{rid} before its check"
    # The functions that name every cluster read the Region's check.
    for rid in ("MetricsFunction", "WeightStepFunction", "PlannedEventFunction"):
        assert "RegionCheck" in dependencies(template, rid), rid
    # Seeded: a cluster resource that names its cluster by a parameter would not wait.
    seeded = json.loads(json.dumps(template))
    seeded["Resources"]["HighCpuAlarmorders"]["Properties"] = {"Threshold": {"Ref": "HighCpuThreshold"}}
    assert "ClusterCheckorders" not in dependencies(seeded, "HighCpuAlarmorders")


def settings_document(template, values, key="orders"):
    """A cluster's settings parameter's value as CloudFormation renders it (`values`: what each
    ${...} stands for; parameters by their defaults), parsed."""
    text, names = template["Resources"][f"Settings{key}"]["Properties"]["Value"]["Fn::Sub"]
    params = template["Parameters"]

    def value(name):
        if name in values:
            return values[name]
        if name in params:
            return str(params[name].get("Default", f"<{name}>"))
        # The check answers a setting as the stack's default unless the entry overrides it.
        got = names.get(name, {}).get("Fn::GetAtt") if isinstance(names.get(name), dict) else None
        if got and got[1] in params:
            return str(params[got[1]].get("Default", f"<{name}>"))
        return f"<{name}>"  # a resource's name, or a value of the Sub's own map
    return json.loads(re.sub(r"\$\{([\w:]+)\}", lambda m: value(m.group(1)), text))


def settings_problems(document, definitions, config_rs, handler_rs):
    """What the loops read from a cluster's settings and the document does not give: every
    `$.settings.document.X` a machine's "Settle the settings" reads (Prepare / Recover:
    `$.cluster.document.X`), every variable the weight-step function's configuration reads
    that its "shift" block lacks, and every setting the planned-event function reads from a
    request that its "planned" block lacks."""
    problems = []
    for kind, definition in definitions.items():
        text = json.dumps(definition)
        for path in re.findall(r"\$\.(?:settings|cluster)\.document\.(\w+)", text):
            if path not in document:
                problems.append(f"{kind} reads {path}, which the document lacks")
    shift = document.get("shift", {})
    code = config_rs.split("#[cfg(test)]")[0]
    for name in sorted(set(re.findall(r'"([A-Z][A-Z_]+)"', code))):
        if name in ("METRICS_NAMESPACE", "LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"):
            continue  # the function's own, from its environment
        if name not in shift:
            problems.append(f"shift lacks {name}")
    planned = document.get("planned", {})
    for name in sorted(set(re.findall(r'text\("([A-Z][A-Z_]+)"\)', handler_rs))):
        if name not in planned:
            problems.append(f"planned lacks {name}")
    return problems


def test_the_settings_document_has_what_the_loops_read(template):
    definitions = {}
    for kind in ("scale-up", "scale-down", "planned-event"):
        with open(os.path.join(ROOT, "state-machines", f"{kind}.asl.json")) as f:
            definitions[kind] = json.load(f)
    with open(os.path.join(ROOT, "functions", "weight-step", "src", "config.rs")) as f:
        config_rs = f.read()
    with open(os.path.join(ROOT, "functions", "planned-event", "src", "handler.rs")) as f:
        handler_rs = f.read().split("#[cfg(test)]\nmod tests")[0]
    document = settings_document(template, {
        "High": "s-orders-high", "Low": "s-orders-low", "C": "orders-prod",
        "S": "orders-serverless", "Zone": "Z1", "Name": "spillway.internal",
        "Endpoint": "s-orders-ro"})
    assert settings_problems(document, definitions, config_rs, handler_rs) == []
    assert (document["highAlarm"], document["lowAlarm"]) == ("s-orders-high", "s-orders-low")
    assert document["shift"]["RECORD_NAME"] == "reads.orders.spillway.internal"
    assert document["cluster"] == document["shift"]["CLUSTER_IDENTIFIER"] == "orders-prod"
    assert document["shift"]["DRY_RUN"] == "false"
    assert isinstance(document["shift"]["WEIGHT_STEP"], int)
    # The SSM parameter is where the machines look, and they may read only there.
    r = template["Resources"]
    for k in KEYS:
        assert r[f"Settings{k}"]["Properties"]["Name"] == {"Fn::Sub": [
            "/spillway/${AWS::StackName}/clusters/${C}",
            {"C": {"Fn::GetAtt": [f"ClusterCheck{k}", "ClusterIdentifier"]}}]}
    for rid in ("ScaleUpStateMachine", "ScaleDownStateMachine"):
        p = r[rid]["Properties"]
        assert p["DefinitionSubstitutions"]["SettingsPrefix"] == {
            "Fn::Sub": "/spillway/${AWS::StackName}/clusters/"}
        reads = [n for n in walk(p["Policies"]) if n.get("Action") == ["ssm:GetParameter"]]
        assert [n["Resource"]["Fn::Sub"] for n in reads] == [
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
            "/spillway/${AWS::StackName}/clusters/*"], rid
    # Seeded: a document without the low alarm, or a shift block without the record, is caught.
    seeded = json.loads(json.dumps(document))
    del seeded["lowAlarm"]
    del seeded["shift"]["RECORD_NAME"]
    del seeded["planned"]["AUTO_SCALING"]
    assert settings_problems(seeded, definitions, config_rs, handler_rs) == [
        "scale-down reads lowAlarm, which the document lacks", "shift lacks RECORD_NAME",
        "planned lacks AUTO_SCALING"]
    del seeded["planned"]
    assert "planned-event reads planned, which the document lacks" in settings_problems(
        seeded, definitions, config_rs, handler_rs)


def overridable(settings_rs):
    """spillway::region::settings::OVERRIDABLE as written: name -> (min, max), or None for a
    flag."""
    table = settings_rs[settings_rs.index("pub const OVERRIDABLE"):]
    table = table[:table.index("];")]
    found = {n: (float(lo.replace("_", "")), float(hi.replace("_", "")))
             for n, lo, hi in re.findall(r'number\("(\w+)", ([\d_.]+), ([\d_.]+)\)', table)}
    found.update({n: None for n in re.findall(r'name: "(\w+)",\s*kind: Kind::Flag', table)})
    return found


def override_problems(template, table):
    """Where a cluster's override may take a value its stack parameter may not, or the reverse."""
    problems = []
    for name, bounds in table.items():
        p = template["Parameters"].get(name)
        if p is None:
            problems.append(f"{name}: no such stack parameter")
        elif bounds is None:
            if sorted(p.get("AllowedValues", [])) != ["false", "true"]:
                problems.append(f"{name}: the parameter is not true/false")
        elif (p.get("MinValue"), p.get("MaxValue")) != bounds:
            problems.append(f"{name}: {bounds} in the code, "
                            f"{(p.get('MinValue'), p.get('MaxValue'))} in the template")
    return problems


def test_a_clusters_overrides_take_the_values_their_stack_parameters_take(template):
    with open(os.path.join(ROOT, "functions", "spillway", "src", "region", "settings.rs")) as f:
        table = overridable(f.read())
    assert len(table) == 15 and table["DryRun"] is None, table
    assert override_problems(template, table) == []
    # Seeded: a range that drifted from the template's, and a setting the template lacks.
    drifted = dict(table, HighCpuThreshold=(50.0, 99.0), Colour=(0.0, 1.0))
    assert override_problems(template, drifted) == [
        "HighCpuThreshold: (50.0, 99.0) in the code, (50, 95) in the template",
        "Colour: no such stack parameter"]
