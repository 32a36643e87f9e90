"""A bad configuration gets a clear error before anything of the cluster is created (issue 10):
the deployed stack's own template, packaged as `sam deploy` sent it, deployed again as a second
stack with one setting wrong at a time.

- A percentage outside its range: CloudFormation refuses the parameters (MinValue / MaxValue),
  before the stack exists. The ranges of the high and low thresholds do not overlap, so they
  cannot be out of order either; a cluster's own override out of its range (which
  CloudFormation cannot see inside ClusterSettings) is refused by the Region's check.
- The same key twice in Clusters: the loop would make the cluster's resources twice, which
  the transform refuses before the stack exists.
- The same cluster under two keys: the Region's check (RegionCheck) fails naming both, before
  any cluster's resources.
- An unknown cluster: its ClusterCheck fails with every problem named; everything of the
  cluster depends on it, so none of it is created and the stack rolls back.
"""
import os
import sys

import boto3
import botocore.exceptions
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_stack  # noqa: E402

STACK = os.environ.get("SPILLWAY_STACK")


@pytest.fixture(scope="module")
def deployed():
    """The deployed stack's packaged template (in the artifacts bucket) and parameters."""
    assert STACK, "SPILLWAY_STACK must name the deployed local stack (scripts/test deploys it)"
    cf, s3 = boto3.client("cloudformation"), boto3.client("s3")
    body = cf.get_template(StackName=STACK, TemplateStage="Original")["TemplateBody"]
    if not isinstance(body, str):
        import json
        body = json.dumps(body)
    # Above TemplateBody's 51,200 bytes: by URL, as sam deploy sends it.
    s3.put_object(Bucket="spillway-artifacts", Key="bad-config/template.yaml", Body=body.encode())
    url = f"{os.environ['AWS_ENDPOINT_URL']}/spillway-artifacts/bad-config/template.yaml"
    params = {p["ParameterKey"]: p["ParameterValue"]
              for p in cf.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]}
    return url, params


def create(url, params, name, **wrong):
    values = dict(params, **wrong)
    return boto3.client("cloudformation").create_stack(
        StackName=name, TemplateURL=url, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()])


def test_a_percentage_outside_its_range_is_refused_before_the_stack_exists(deployed):
    url, params = deployed
    cf = boto3.client("cloudformation")
    for key, value in (("HighConnectionsPercent", "120"), ("LowConnectionsPercent", "-1"),
                       ("HighCpuThreshold", "101")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            create(url, params, f"{STACK}-bad-range", **{key: value})
        assert e.value.response["Error"]["Code"] == "ValidationError", key
        assert key in str(e.value), f"{key}: {e.value}"
        with pytest.raises(botocore.exceptions.ClientError):
            cf.describe_stacks(StackName=f"{STACK}-bad-range")


def failed_first(name, logical_id, says, never):
    """The stack rolled back, `logical_id` failed saying `says`, and nothing of `never`
    (logical ids) was created."""
    cf = boto3.client("cloudformation")
    status = local_stack.settled(name, timeout=180)
    assert status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"), status
    events = cf.describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"
              and e["LogicalResourceId"] == logical_id]
    assert failed, [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    reason = failed[0]["ResourceStatusReason"]
    assert says in reason, reason
    created = {e["LogicalResourceId"] for e in events
               if e["ResourceStatus"] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE")}
    for rid in never:
        assert rid not in created, f"{rid} was created before the check failed"
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{name}-")
    assert alarms["MetricAlarms"] == [], "no alarm of the failed stack is left"


def test_an_unknown_cluster_fails_its_check_and_none_of_its_resources_is_created(deployed):
    url, params = deployed
    name = f"{STACK}-bad-cluster"
    create(url, params, name, Clusters="nope", ClusterSettings="")
    try:
        failed_first(name, "ClusterChecknope", "Spillway: cluster nope: no such Aurora cluster", [
            f"{r}nope" for r in ("HighCpuAlarm", "LowCpuAlarm", "HighConnectionsAlarm",
                                 "LowConnectionsAlarm", "HighAlarm", "LowAlarm", "Settings",
                                 "ProvisionedRecord", "ServerlessRecord", "HighAlarmRule")])
    finally:
        boto3.client("cloudformation").delete_stack(StackName=name)


def test_the_same_cluster_twice_or_an_override_out_of_range_fails_the_region_check(deployed):
    url, params = deployed
    for suffix, settings, says in (
        ("twice", '{"ordersb": {"ClusterIdentifier": "orders"}}',
         "orders and ordersb both watch cluster orders: one key per cluster"),
        ("range", '{"ordersb": {"ClusterIdentifier": "orders-b", "HighCpuThreshold": 40}}',
         "ordersb: HighCpuThreshold = \"40\": a number from 50 to 95"),
    ):
        name = f"{STACK}-bad-{suffix}"
        create(url, params, name, Clusters="orders,ordersb", ClusterSettings=settings)
        try:
            failed_first(name, "RegionCheck", says, ["ClusterCheckorders", "ClusterCheckordersb",
                                                     "HighCpuAlarmorders", "ProvisionedRecordorders"])
        finally:
            boto3.client("cloudformation").delete_stack(StackName=name)


def test_a_key_listed_twice_is_refused_before_the_stack_exists(deployed):
    url, params = deployed
    name = f"{STACK}-bad-key"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(url, params, name, Clusters="orders,orders")
    # The transform's refusal: the loop would declare the cluster's resources twice.
    assert "ClusterCheckorders" in str(e.value), e.value
    with pytest.raises(botocore.exceptions.ClientError):
        boto3.client("cloudformation").describe_stacks(StackName=name)
