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
    assert set(alarms) == {"HighCpuAlarm", "LowCpuAlarm", "HighConnectionsAlarm", "LowConnectionsAlarm"}
    for name in ("HighCpuAlarm", "LowCpuAlarm"):
        alarm = alarms[name]
        p = alarm["Properties"]
        assert p["MetricName"] == "CPUUtilization"
        assert p["Namespace"] == {"Ref": "MetricsNamespace"}
        assert p["Dimensions"] == [
            {"Name": "DBClusterIdentifier", "Value": {"Ref": "ClusterIdentifier"}},
            {"Name": "Role", "Value": "provisioned-reader"},
        ], name
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
    assert template["Resources"]["ReplicaScalableTarget"]["Condition"] == "AutoScaling"
    assert template["Resources"]["ReplicaScalingPolicy"]["Condition"] == "ScaleReplicasOnCpu"
    # Or the predefined connections metric, with the target the check derived.
    other = template["Resources"]["ReplicaConnectionsScalingPolicy"]
    assert other["Condition"] == "ScaleReplicasOnConnections"
    spec = other["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert spec["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
        "RDSReaderAverageDatabaseConnections"
    assert spec["TargetValue"] == {"Fn::GetAtt": ["ClusterCheck", "TargetConnections"]}
    conditions = template["Conditions"]
    assert conditions["ScaleReplicasOnCpu"]["Fn::And"][0] == {"Condition": "AutoScaling"}
    assert conditions["ScaleReplicasOnConnections"]["Fn::And"][0] == {"Condition": "AutoScaling"}


def test_the_signals_are_composite_alarms_by_auroras_rules(template):
    r = template["Resources"]
    # Connections: the busiest reader (AWS/RDS, Maximum over the cluster's readers) against
    # the thresholds the deploy-time check derived.
    for name, attribute, operator, missing in (
        ("HighConnectionsAlarm", "HighConnections", "GreaterThanOrEqualToThreshold", "missing"),
        ("LowConnectionsAlarm", "LowConnections", "LessThanThreshold", "breaching"),
    ):
        p = r[name]["Properties"]
        assert r[name]["Condition"] == "ConnectionsOn", name
        assert (p["Namespace"], p["MetricName"], p["Statistic"], p["Period"]) == \
            ("AWS/RDS", "DatabaseConnections", "Maximum", 60), name
        assert p["Dimensions"] == [
            {"Name": "DBClusterIdentifier", "Value": {"Ref": "ClusterIdentifier"}},
            {"Name": "Role", "Value": "READER"}], name
        assert p["Threshold"] == {"Fn::GetAtt": ["ClusterCheck", attribute]}, name
        assert (p["ComparisonOperator"], p["TreatMissingData"]) == (operator, missing), name
    # The composites: CPU OR connections up, CPU AND connections down; CPU alone when off.
    # The same text spillway::region::signals::alarm_rules writes.
    rules = {
        "HighAlarm": ('ALARM("${HighCpuAlarm}") OR ALARM("${HighConnectionsAlarm}")',
                      'ALARM("${HighCpuAlarm}")'),
        "LowAlarm": ('ALARM("${LowCpuAlarm}") AND ALARM("${LowConnectionsAlarm}")',
                     'ALARM("${LowCpuAlarm}")'),
    }
    for name, (on, off) in rules.items():
        assert r[name]["Type"] == "AWS::CloudWatch::CompositeAlarm"
        assert r[name]["Properties"]["AlarmRule"] == \
            {"Fn::If": ["ConnectionsOn", {"Fn::Sub": on}, {"Fn::Sub": off}]}, name
    # The machines and EventBridge read the composites only.
    for machine, alarm, event in (("ScaleUpStateMachine", "HighAlarm", "HighAlarmFires"),
                                  ("ScaleDownStateMachine", "LowAlarm", "LowAlarmFires")):
        p = r[machine]["Properties"]
        document = r["ClusterSettings"]["Properties"]["Value"]["Fn::Sub"][0]
        assert '"highAlarm": "${HighAlarm}"' in document and '"lowAlarm": "${LowAlarm}"' in document
        pattern = p["Events"][event]["Properties"]["Pattern"]
        assert pattern["resources"] == [{"Fn::GetAtt": [alarm, "Arn"]}], machine
    # The check runs before any alarm that uses its numbers, and the low threshold range is
    # always below the high one.
    params = template["Parameters"]
    assert params["HighConnectionsPercent"]["MinValue"] > params["LowConnectionsPercent"]["MaxValue"]
    assert params["HighConnectionsPercent"]["MaxValue"] == 100
    assert params["LowConnectionsPercent"]["MinValue"] >= 0
    assert r["ClusterCheck"]["Properties"]["ServiceToken"] == \
        {"Fn::GetAtt": ["ClusterCheckFunction", "Arn"]}


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
    shift = settings_document(template, {})["shift"]
    assert shift["PROVISIONED_SET_IDENTIFIER"] == prov["SetIdentifier"]
    assert shift["SERVERLESS_SET_IDENTIFIER"] == sv["SetIdentifier"]


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
    for name, (m, m_default, n, n_default) in expected.items():
        p = template["Resources"][name]["Properties"]
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
    ("AWS::RDS::DBClusterEndpoint", "DBClusterEndpointIdentifier"): (63, r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"),
    ("AWS::CloudWatch::Alarm", "AlarmName"): (255, r"^[^\x00-\x1f]+$"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"): (255, r"^[A-Za-z0-9_-]+$"),
}
STACK_NAME_LIMIT = 60  # README, "Deploying to AWS"


def derived_names(template, stack_name):
    for rid, r in template["Resources"].items():
        for (kind, key), limit in NAME_LIMITS.items():
            value = r.get("Properties", {}).get(key)
            if r["Type"] == kind and value is not None:
                text = value["Fn::Sub"] if isinstance(value, dict) else value
                yield rid, key, text.replace("${AWS::StackName}", stack_name), limit


def over_limit(template, stack_name):
    return [(rid, key, name) for rid, key, name, (length, pattern) in
            derived_names(template, stack_name)
            if len(name) > length or not re.match(pattern, name)]


def test_every_derived_name_fits_its_limit_for_the_longest_allowed_stack_name(template):
    assert list(derived_names(template, "s")), "names found"
    longest = "a" + "-b" * ((STACK_NAME_LIMIT - 1) // 2) + "c" * ((STACK_NAME_LIMIT - 1) % 2)
    assert len(longest) == STACK_NAME_LIMIT
    assert over_limit(template, longest) == [], "within the limits"
    # The documented limit is exact: one more character breaks a name.
    assert over_limit(template, longest + "d"), "a 61-character stack name breaks a limit"
    functions = resources(template, "AWS::Serverless::Function")
    assert all("FunctionName" not in f["Properties"] for f in functions.values()), \
        "function names are generated (always within 64 characters)"


def test_the_hosted_zone_id_is_the_bare_id(template):
    pattern = template["Parameters"]["HostedZoneId"]["AllowedPattern"]
    for ok in ("", "Z0123456789ABCDEFGHIJ", "Z1D633PJN98FT9"):
        assert re.fullmatch(pattern, ok), ok
    for bad in ("/hostedzone/Z1D633PJN98FT9", "z1d633", "Z1D633PJN98FT9 "):
        assert not re.fullmatch(pattern, bad), f"{bad!r} would make an IAM ARN that matches nothing"


def test_the_default_zone_is_per_cluster_so_a_second_stack_in_the_vpc_does_not_conflict(template):
    name = template["Resources"]["PrivateZone"]["Properties"]["Name"]
    assert name == {"Fn::If": ["DefaultZoneName",
                               {"Fn::Sub": "${ClusterIdentifier}.spillway.internal"},
                               {"Ref": "ZoneName"}]}, name
    settings = template["Resources"]["ClusterSettings"]["Properties"]["Value"]["Fn::Sub"]
    assert '"ZONE_NAME": "${Name}"' in settings[0]
    assert settings[1]["Name"] == name, "the function checks RECORD_NAME against the same zone"
    assert template["Parameters"]["ZoneName"]["Default"] == ""


def test_replica_counts_mean_provisioned_readers(template):
    # rds:cluster:ReadReplicaCount counts the Serverless v2 reader too: one is added.
    table = template["Mappings"]["ReaderCount"]
    params = template["Parameters"]
    for p in ("MinReplicas", "MaxReplicas", "EventMinReplicas"):
        for n in range(params[p]["MinValue"], params[p]["MaxValue"] + 1):
            assert table[str(n)]["WithServerless"] == n + 1, (p, n)
    assert params["MaxReplicas"]["MaxValue"] + 1 == 15, "Aurora's 15 readers, the serverless one included"
    target = template["Resources"]["ReplicaScalableTarget"]["Properties"]
    assert target["MinCapacity"] == {"Fn::FindInMap": ["ReaderCount", {"Ref": "MinReplicas"}, "WithServerless"]}
    assert target["MaxCapacity"] == {"Fn::FindInMap": ["ReaderCount", {"Ref": "MaxReplicas"}, "WithServerless"]}
    for action in target["ScheduledActions"]:
        spec = action["Fn::If"][1]["ScalableTargetAction"]
        assert all("Fn::FindInMap" in v for v in spec.values()), spec


def test_both_machines_elect_an_owner_and_are_swept(template):
    for rid in ("ScaleUpStateMachine", "ScaleDownStateMachine"):
        sm = template["Resources"][rid]["Properties"]
        sweep = sm["Events"]["Sweep"]
        assert sweep["Type"] == "Schedule"
        # Every start names the cluster whose settings the execution loads.
        assert json.loads(sweep["Properties"]["Input"]["Fn::Sub"]) == {
            "cluster": "${ClusterIdentifier}", "sweep": True}
        alarm = next(e for e in sm["Events"].values() if e["Type"] == "EventBridgeRule")
        assert json.loads(alarm["Properties"]["Input"]["Fn::Sub"]) == {
            "cluster": "${ClusterIdentifier}"}
        assert sweep["Properties"]["Schedule"] == {"Fn::Sub": "rate(${SweepMinutes} minutes)"}
        statements = [n for n in walk(sm["Policies"]) if "Action" in n]
        actions = {a for n in statements for a in n["Action"]}
        assert "states:ListExecutions" not in actions, "no election on an eventually consistent listing"
        assert {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem",
                "states:DescribeExecution"} <= actions, actions
        own = next(n for n in statements if n["Action"] == ["states:DescribeExecution"])
        assert own["Resource"]["Fn::Sub"].endswith(":execution:" + sm["Name"]["Fn::Sub"] + ":*")
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
    # A delete while the serverless weight is above 0 fails on the records (Route 53 refuses a
    # DELETE whose weight does not match); everything that can bring the weight to 0 must
    # still exist then, so nothing it depends on may be deleted before the records.
    needed = set()
    # The functions of the weight path (the planned-event function moves no weight, the
    # cluster check runs only at deploy time).
    for rid, fn in resources(template, "AWS::Serverless::Function").items():
        if rid in ("PlannedEventFunction", "ClusterCheckFunction"):
            continue
        needed |= {rid} | {rid + event for event in fn["Properties"].get("Events", {})}
    needed |= set(resources(template, "AWS::CloudWatch::Alarm"))
    needed |= set(resources(template, "AWS::CloudWatch::CompositeAlarm"))
    needed |= {"LockTable"}
    for rid in ("ScaleUpStateMachine", "ScaleDownStateMachine"):
        needed.add(rid)
        needed |= {rid + event for event in template["Resources"][rid]["Properties"]["Events"]}
    for rid in ("ProvisionedRecord", "ServerlessRecord"):
        depends = dependencies(template, rid)
        assert needed <= depends, f"{rid} is deleted after {needed - depends}"
    # Never in parallel: were the provisioned record deleted and the serverless one refused,
    # the name would send every read to the serverless reader.
    assert "ProvisionedRecord" in template["Resources"]["ServerlessRecord"]["DependsOn"], \
        "the serverless record is deleted first"


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
    # Failover and cluster changes: this stack's cluster only (a failover also names its
    # target instance, which RDS authorises as a db resource).
    cluster = {"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:"
                          "cluster:${ClusterIdentifier}"}
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
    # The ClusterCheck custom resource fails a bad configuration with every problem named; the
    # cluster's alarms, records, endpoints, zone and auto scaling wait for it (DependsOn or a
    # reference, transitively), so CloudFormation creates none of them first. Stack-wide
    # resources (the functions, the lock table, the planned-event machines and role) may come
    # first.
    stack_wide = {"MetricsFunction", "WeightStepFunction", "PlannedEventFunction",
                  "ClusterCheckFunction", "ClusterCheck", "LockTable",
                  "PlannedEventSchedulerRole", "PrepareStateMachine", "RecoverStateMachine"}
    unchecked = [rid for rid in template["Resources"]
                 if rid not in stack_wide and "ClusterCheck" not in dependencies(template, rid)]
    assert unchecked == [], f"created before the check: {unchecked}"
    # Seeded: without its DependsOn the high CPU alarm would be created beside the check.
    seeded = json.loads(json.dumps(template))
    del seeded["Resources"]["HighCpuAlarm"]["DependsOn"]
    assert "ClusterCheck" not in dependencies(seeded, "HighCpuAlarm")


def settings_document(template, values):
    """The ClusterSettings parameter's value as CloudFormation renders it (`values`: what each
    ${...} stands for; parameters by their defaults), parsed."""
    text, names = template["Resources"]["ClusterSettings"]["Properties"]["Value"]["Fn::Sub"]
    params = template["Parameters"]

    def value(name):
        if name in values:
            return values[name]
        if name in params:
            return str(params[name].get("Default", f"<{name}>"))
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
        "HighAlarm": "s-high", "LowAlarm": "s-low", "ClusterIdentifier": "orders",
        "ServerlessInstanceIdentifier": "orders-serverless", "RecordName": "reads.orders.spillway.internal",
        "Zone": "Z1", "Name": "orders.spillway.internal", "Endpoint": "s-ro"})
    assert settings_problems(document, definitions, config_rs, handler_rs) == []
    assert (document["highAlarm"], document["lowAlarm"]) == ("s-high", "s-low")
    assert document["shift"]["DRY_RUN"] == "false"
    assert isinstance(document["shift"]["WEIGHT_STEP"], int)
    # The SSM parameter is where the machines look, and they may read only there.
    r = template["Resources"]
    assert r["ClusterSettings"]["Properties"]["Name"] == {
        "Fn::Sub": "/spillway/${AWS::StackName}/clusters/${ClusterIdentifier}"}
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
