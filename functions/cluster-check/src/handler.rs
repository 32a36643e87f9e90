//! One custom resource request: Create / Update check the cluster and answer its connections
//! thresholds (the Region's check: every cluster's settings, and no removed cluster still
//! spilled); Delete has nothing to undo. Always an answer: CloudFormation otherwise waits an
//! hour for one.

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest as Request,
    CloudFormationCustomResourceResponse as Response,
    CloudFormationCustomResourceResponseStatus as Status,
};
use serde_json::Value;
use spillway::metrics::topology::TopologySource;
use std::collections::{BTreeMap, HashMap};

use spillway::region::check::{
    ClusterConfig, ObservedCluster, check, only_serverless_reader, recheck,
};
use spillway::region::removal::{self, PairWeights};
use spillway::region::settings::{self, Resolved};

/// CloudFormation refuses a response document above 4,096 bytes; the reason is cut well below.
const MAX_REASON: usize = 3000;
/// "The total size of the response body can't exceed 4096 bytes" (custom resource responses).
const MAX_RESPONSE: usize = 4096;

struct Common<'a> {
    request_id: &'a str,
    stack_id: &'a str,
    logical_resource_id: &'a str,
    resource_type: &'a str,
    physical_resource_id: Option<&'a str>,
    properties: &'a Value,
    /// An update's previous properties (`None`: a create or a delete).
    old_properties: Option<&'a Value>,
}

/// The response URL and the response document for `request` (`Err`: a request type this
/// crate version does not know, which has no answer here). `pair_at(zone id, record name)`
/// reads a weighted pair's weights (a removed cluster's, on an update of the Region's check;
/// the guarded one, on a record guard's delete).
pub async fn handle<S: PairWeights>(
    request: &Request,
    rds: &impl TopologySource,
    pair_at: &impl Fn(&str, &str) -> S,
) -> Result<(String, Response), String> {
    let (url, common, delete) = match request {
        Request::Create(r) => (
            &r.response_url,
            Common {
                request_id: &r.request_id,
                stack_id: &r.stack_id,
                logical_resource_id: &r.logical_resource_id,
                resource_type: &r.resource_type,
                physical_resource_id: None,
                properties: &r.resource_properties,
                old_properties: None,
            },
            false,
        ),
        Request::Update(r) => (
            &r.response_url,
            Common {
                request_id: &r.request_id,
                stack_id: &r.stack_id,
                logical_resource_id: &r.logical_resource_id,
                resource_type: &r.resource_type,
                physical_resource_id: Some(&r.physical_resource_id),
                properties: &r.resource_properties,
                old_properties: Some(&r.old_resource_properties),
            },
            false,
        ),
        Request::Delete(r) => (
            &r.response_url,
            Common {
                request_id: &r.request_id,
                stack_id: &r.stack_id,
                logical_resource_id: &r.logical_resource_id,
                resource_type: &r.resource_type,
                physical_resource_id: Some(&r.physical_resource_id),
                properties: &r.resource_properties,
                old_properties: None,
            },
            true,
        ),
        _ => return Err("a custom resource request of an unknown type".into()),
    };
    if common.resource_type == GUARD_TYPE {
        return Ok((url.clone(), guard(&common, delete, pair_at).await));
    }
    let named = identity(common.properties).map(|(c, _)| c);
    let cluster = named.as_deref().unwrap_or("unknown");
    // Stable per cluster: an update that names another cluster replaces the check (the old
    // one's Delete is a no-op).
    let physical = if delete {
        common.physical_resource_id.unwrap_or(cluster).to_string()
    } else if summary_mode(common.properties) {
        "spillway-region".to_string()
    } else {
        format!("spillway-check-{cluster}")
    };
    let outcome = if delete {
        Ok(Default::default())
    } else {
        if summary_mode(common.properties) {
            let refused = removals_refused(common.properties, common.old_properties, pair_at).await;
            match summary(common.properties, common.stack_id) {
                Ok(_) if !refused.is_empty() => Err(refused),
                Ok(data) => Ok(data),
                Err(mut problems) => {
                    problems.extend(refused);
                    Err(problems)
                }
            }
        } else {
            decide(common.properties, common.old_properties, rds).await
        }
    };
    let response = response_for(&common, physical, outcome, cluster, delete);
    Ok((url.clone(), response))
}

/// The response document: `outcome`'s data, or its problems as the reason (cut to fit), under
/// `physical` (a failure keeps the resource's physical id). `cluster` names the resource in the
/// log (a record guard's is its record).
fn response_for(
    common: &Common<'_>,
    physical: String,
    outcome: Result<HashMap<String, String>, Vec<String>>,
    cluster: &str,
    delete: bool,
) -> Response {
    let mut response = Response::default();
    response.status = Status::Success;
    response.physical_resource_id = physical;
    response.stack_id = common.stack_id.to_string();
    response.request_id = common.request_id.to_string();
    response.logical_resource_id = common.logical_resource_id.to_string();
    // CloudFormation refuses a response body above 4,096 bytes: say so rather than send it.
    let outcome = outcome.and_then(|data| {
        let mut probe = response.clone();
        probe.data = data.clone();
        let size = serde_json::to_vec(&probe).map_or(0, |b| b.len());
        if size > MAX_RESPONSE {
            Err(vec![format!(
                "the answer would be {size} bytes, and CloudFormation takes at most \
                 {MAX_RESPONSE}: watch fewer clusters per stack"
            )])
        } else {
            Ok(data)
        }
    });
    match outcome {
        Ok(data) => {
            if !delete {
                tracing::info!(cluster, ?data, "cluster checked");
            }
            response.data = data;
        }
        Err(problems) => {
            let mut reason = format!("Spillway: {}", problems.join("; "));
            if reason.len() > MAX_REASON {
                let mut cut = MAX_REASON;
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                reason.truncate(cut);
                reason.push('…');
            }
            tracing::error!(cluster, %reason, "cluster check failed");
            response.status = Status::Failed;
            response.reason = Some(reason);
            // The physical id of a resource is the same in every answer about it: a failed
            // update keeps the one it had.
            if let Some(id) = common.physical_resource_id {
                response.physical_resource_id = id.to_string();
            }
        }
    }
    response
}

/// A record guard's custom resource type.
const GUARD_TYPE: &str = "Custom::SpillwayRecordGuard";

/// A record guard (`RecordGuard<key>`: `HostedZoneId` and `GuardedRecord`, the serverless
/// record's reference). Its delete, which CloudFormation runs before the records' own, fails
/// while their serverless weight is above 0 (`spillway::region::removal`); its create and
/// update check only that it names a record. Its physical id is its logical id's, so a record
/// renamed updates the guard rather than replacing it.
async fn guard<S: PairWeights>(
    common: &Common<'_>,
    delete: bool,
    pair_at: &impl Fn(&str, &str) -> S,
) -> Response {
    let physical = format!("spillway-guard-{}", common.logical_resource_id);
    let guarded = guarded_record(common.properties);
    let name = guarded
        .as_ref()
        .map_or("a record guard", |(_, r)| r.as_str());
    let outcome = match (&guarded, delete) {
        (Some((zone, record)), true) => {
            let read = pair_at(zone, record).weights().await;
            match removal::delete_refusal(record, &read) {
                Some(refused) => Err(vec![refused]),
                None => Ok(Default::default()),
            }
        }
        // Never created (its create failed, below): it guarded nothing.
        (None, true) => Ok(Default::default()),
        (Some(_), false) => Ok(Default::default()),
        (None, false) => Err(vec![format!(
            "{} names no record: it needs HostedZoneId and GuardedRecord",
            common.logical_resource_id
        )]),
    };
    response_for(common, physical, outcome, name, delete)
}

/// A record guard's zone and record name.
fn guarded_record(properties: &Value) -> Option<(String, String)> {
    let text = |k: &str| properties.get(k).and_then(Value::as_str);
    // The record's reference is its name; with or without the trailing dot, named without.
    let record = text("GuardedRecord")?.trim_end_matches('.');
    Some((text("HostedZoneId")?.to_string(), record.to_string()))
}

/// A Region stack's check names its cluster by key (`Key`, with `Clusters` and the
/// `ClusterSettings` document: `spillway::region::settings`); a one-cluster check by its
/// `ClusterIdentifier` and `ServerlessInstanceIdentifier` properties.
fn region_mode(properties: &Value) -> bool {
    properties.get("Key").is_some()
}

/// The Region's summary (`RegionCheck`): every cluster of `Clusters` resolved at once, for the
/// stack-wide resources that name them all.
fn summary_mode(properties: &Value) -> bool {
    !region_mode(properties) && properties.get("Clusters").is_some()
}

/// `RegionCheck`: every key of `Clusters` resolved (every problem of every entry named, once),
/// and what the stack-wide resources need of them all, each a comma-separated list in the
/// order of `Clusters` (IAM takes it through `Fn::Split`): `ClusterIdentifiers`, `ClusterArns`,
/// `RecordNames` (`reads.<key>.<ZoneName>`), `DirectTriggerTargets` (the metrics function's
/// JSON, empty with `DirectTrigger` off). Pure: each cluster's own check reads RDS.
fn summary(properties: &Value, stack_id: &str) -> Result<HashMap<String, String>, Vec<String>> {
    let keys = keys(properties)?;
    let mut problems: Vec<String> = vec![];
    let mut all = vec![];
    for key in &keys {
        let mut p = properties.clone();
        p["Key"] = Value::String(key.clone());
        match resolved(&p) {
            Ok(r) => all.push(r),
            Err(found) => {
                for f in found {
                    if !problems.contains(&f) {
                        problems.push(f);
                    }
                }
            }
        }
    }
    if keys.is_empty() {
        problems.push("Clusters lists no cluster".into());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // arn:<partition>:cloudformation:<region>:<account>:stack/…
    let arn: Vec<&str> = stack_id.split(':').collect();
    let (partition, region, account) = match arn.as_slice() {
        [_, p, _, r, a, ..] => (*p, *r, *a),
        _ => return Err(vec![format!("the stack id {stack_id:?} is not an ARN")]),
    };
    let text = |k: &str| properties.get(k).and_then(Value::as_str).unwrap_or("");
    let zone = text("ZoneName").trim_end_matches('.');
    let join = |f: &dyn Fn(&Resolved) -> String| all.iter().map(f).collect::<Vec<_>>().join(",");
    let targets = if text("DirectTrigger") == "true" {
        let machine = text("ScaleUpStateMachineArn");
        let list: Vec<Value> = all
            .iter()
            .map(|r| {
                serde_json::json!({
                    "cluster": r.cluster,
                    "stateMachineArn": machine,
                    "highCpuThreshold": r.values["HighCpuThreshold"].parse::<f64>().unwrap_or(70.0),
                })
            })
            .collect();
        Value::Array(list).to_string()
    } else {
        String::new()
    };
    Ok([
        ("ClusterIdentifiers", join(&|r| r.cluster.clone())),
        (
            "ClusterArns",
            join(&|r| {
                format!(
                    "arn:{partition}:rds:{region}:{account}:cluster:{}",
                    r.cluster
                )
            }),
        ),
        ("RecordNames", join(&|r| format!("reads.{}.{zone}", r.key))),
        ("DirectTriggerTargets", targets),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect())
}

/// On an update of the Region's check: why the keys it removes from `Clusters` cannot go yet
/// (`spillway::region::removal`: each one's serverless weight must be 0), read in the zone of
/// the previous properties (`HostedZoneId`, `ZoneName`). A rollback re-sends the previous list,
/// so it "removes" the keys the failed update added: their records are new, at weight 0 unless
/// one already spilled (then the rollback stops: README, drain and continue the rollback).
async fn removals_refused<S: PairWeights>(
    properties: &Value,
    old: Option<&Value>,
    pair_at: &impl Fn(&str, &str) -> S,
) -> Vec<String> {
    let Some(old) = old else { return vec![] };
    let (Ok(before), Ok(now)) = (keys(old), keys(properties)) else {
        return vec![];
    };
    let removed = removal::removed_keys(&before, &now);
    if removed.is_empty() {
        return vec![];
    }
    let text = |p: &Value, k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let Some(zone_id) = text(old, "HostedZoneId").or_else(|| text(properties, "HostedZoneId"))
    else {
        // A stack deployed before this check passed no zone: nothing to read the weights in.
        tracing::warn!(
            ?removed,
            "the Region's check names no HostedZoneId: the removed clusters' weights are not checked"
        );
        return vec![];
    };
    let zone = text(old, "ZoneName").unwrap_or_default();
    let mut refused = vec![];
    for key in removed {
        let record = removal::record_name(&key, &zone);
        let read = pair_at(&zone_id, &record).weights().await;
        refused.extend(removal::removal_refusal(&key, &record, &read));
    }
    refused
}

fn keys(properties: &Value) -> Result<Vec<String>, Vec<String>> {
    // CloudFormation passes a CommaDelimitedList's Ref as a list of strings.
    match properties.get("Clusters") {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()),
        Some(Value::String(s)) => Ok(s.split(',').map(|k| k.trim().to_string()).collect()),
        _ => Err(vec!["property Clusters is missing".into()]),
    }
}

/// The stack parameters a Region check receives as they are (its defaults).
fn defaults(properties: &Value) -> BTreeMap<String, String> {
    properties
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), settings::text(v)?)))
        .collect()
}

/// The Region check's cluster, resolved from its key.
fn resolved(properties: &Value) -> Result<Resolved, Vec<String>> {
    let key = properties.get("Key").and_then(Value::as_str).unwrap_or("");
    let keys = keys(properties)?;
    let document = properties
        .get("ClusterSettings")
        .and_then(Value::as_str)
        .unwrap_or("");
    settings::resolve(key, &keys, document, &defaults(properties))
}

/// Whether `max_connections` is configured (a re-check can then answer without RDS).
fn configured_max(properties: &Value, region: Option<&Resolved>) -> bool {
    let value = match region {
        Some(r) => r.values.get("MaxConnections").cloned(),
        None => properties
            .get("MaxConnections")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    value.is_some_and(|v| v.parse::<f64>().is_ok_and(|n| n > 0.0))
}

/// Which cluster and serverless instance the properties name (`None` in the second place: the
/// cluster's only serverless reader).
fn identity(properties: &Value) -> Option<(String, Option<String>)> {
    if summary_mode(properties) {
        return None;
    }
    if region_mode(properties) {
        let r = resolved(properties).ok()?;
        return Some((r.cluster, r.serverless_instance));
    }
    let get = |k: &str| {
        properties
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Some((
        get("ClusterIdentifier")?,
        Some(get("ServerlessInstanceIdentifier")?),
    ))
}

/// An update that keeps the cluster and its serverless instance, which is what a rollback
/// re-sends as well: re-checked, not checked as new (`spillway::region::check::recheck`).
fn same_cluster(properties: &Value, old: Option<&Value>) -> bool {
    match (identity(properties), old.and_then(identity)) {
        (Some(new), Some(old)) => new == old,
        _ => false,
    }
}

async fn decide(
    properties: &Value,
    old_properties: Option<&Value>,
    rds: &impl TopologySource,
) -> Result<HashMap<String, String>, Vec<String>> {
    let region = if region_mode(properties) {
        Some(resolved(properties)?)
    } else {
        None
    };
    let again = same_cluster(properties, old_properties);
    let c = match &region {
        Some(r) => r.cluster.clone(),
        None => properties
            .get("ClusterIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    let described = rds.describe(std::slice::from_ref(&c)).await;
    let read = described.is_ok();
    let observed = match described {
        Ok(snapshot) => ObservedCluster::from_snapshot(&snapshot, &c),
        Err(e) if again && configured_max(properties, region.as_ref()) => {
            tracing::warn!(cluster = %c, error = %e.message, "cluster not readable on a re-check");
            None
        }
        Err(e) => return Err(vec![format!("cluster {c}: {}", e.message)]),
    };
    // The one-cluster properties, as the Region entry resolves them.
    let flat = match &region {
        None => properties.clone(),
        Some(r) => {
            let serverless = match (&r.serverless_instance, &observed) {
                (Some(s), _) => s.clone(),
                (None, Some(o)) => only_serverless_reader(&c, o).map_err(|p| vec![p])?,
                // Not named, and no cluster to find it in.
                (None, None) if read => {
                    return Err(vec![format!(
                        "cluster {c}: no such Aurora cluster in this account and Region \
                         (DBClusterIdentifier, lowercase)"
                    )]);
                }
                (None, None) => {
                    return Err(vec![format!(
                        "cluster {c}: its serverless reader cannot be found without reading the \
                         cluster (name it with ServerlessInstanceIdentifier in its entry)"
                    )]);
                }
            };
            let mut flat = properties.clone();
            flat["ClusterIdentifier"] = Value::String(r.cluster.clone());
            flat["ServerlessInstanceIdentifier"] = Value::String(serverless);
            for (name, value) in &r.values {
                flat[*name] = Value::String(value.clone());
            }
            flat
        }
    };
    let config = ClusterConfig::from_properties(&flat)?;
    let checked = if again {
        let (checked, warnings) = recheck(&config, observed.as_ref())?;
        for w in warnings {
            tracing::warn!(warning = %w, "re-check of a watched cluster");
        }
        checked
    } else {
        check(&config, observed.as_ref())?
    };
    let (max, source, high, low, target) = match checked {
        Some(c) => (
            c.max_connections,
            c.source,
            c.high_connections,
            c.low_connections,
            c.target_connections,
        ),
        None => (0, "not used".to_string(), 0, 0, 0),
    };
    let mut data: HashMap<String, String> = [
        ("MaxConnections", max.to_string()),
        ("MaxConnectionsSource", source),
        ("HighConnections", high.to_string()),
        ("LowConnections", low.to_string()),
        ("TargetConnections", target.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // A Region check answers the cluster's whole resolved configuration: its resources read
    // it from here (GetAtt), not from the stack's parameters.
    if let Some(r) = &region {
        data.insert("ClusterIdentifier".into(), config.cluster.clone());
        data.insert(
            "ServerlessInstanceIdentifier".into(),
            config.serverless_instance.clone(),
        );
        // A stack that creates no endpoints points each cluster's records at the ones its
        // entry names.
        let creates = properties.get("CreateEndpoints").and_then(Value::as_str) != Some("false");
        match (&r.endpoints, creates) {
            (Some((p, s)), _) => {
                data.insert("ProvisionedEndpointHost".into(), p.clone());
                data.insert("ServerlessEndpointHost".into(), s.clone());
            }
            (None, true) => {
                data.insert("ProvisionedEndpointHost".into(), String::new());
                data.insert("ServerlessEndpointHost".into(), String::new());
            }
            (None, false) => {
                return Err(vec![format!(
                    "{}: CreateEndpoints is false, so its entry names ProvisionedEndpointHost \
                     and ServerlessEndpointHost (existing custom endpoints)",
                    r.key
                )]);
            }
        }
        for (name, value) in &r.values {
            if *name != "MaxConnections" {
                data.insert((*name).to_string(), value.clone());
            }
        }
        // What Application Auto Scaling counts: every reader, the serverless one included
        // (CloudFormation has no arithmetic; the one-cluster template's ReaderCount mapping).
        for (counted, name) in [
            ("MinCapacity", "MinReplicas"),
            ("MaxCapacity", "MaxReplicas"),
        ] {
            let n: f64 = r.values[name].parse().unwrap_or(0.0);
            data.insert(counted.into(), (n as u32 + 1).to_string());
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use spillway::metrics::topology::{
        ClusterDescription, ClusterMember, InstanceDescription, RdsSnapshot, SourceError,
    };
    use spillway::region::removal::PresentWeights;
    use spillway::shifting::shift::StoreError;
    use std::sync::Mutex;

    struct Fake(Option<RdsSnapshot>);

    /// A pair's serverless weight as its records read (`None`: no records).
    #[derive(Clone)]
    struct Pair(Option<u16>);

    impl PairWeights for Pair {
        async fn weights(&self) -> Result<PresentWeights, StoreError> {
            Ok(PresentWeights {
                provisioned: self.0.map(|_| 100),
                serverless: self.0,
            })
        }
    }

    /// The pair reads a handler makes ("zone record"), each answered with one weight.
    #[derive(Default)]
    struct Reads(Mutex<Vec<String>>);

    impl Reads {
        fn at(&self, weight: Option<u16>) -> impl Fn(&str, &str) -> Pair + '_ {
            move |zone, record| {
                self.0.lock().unwrap().push(format!("{zone} {record}"));
                Pair(weight)
            }
        }

        /// The reads made since the last call.
        fn taken(&self) -> Vec<String> {
            self.0.lock().unwrap().drain(..).collect()
        }
    }

    /// `handle` where every removed cluster's pair is at rest.
    async fn answer(
        request: &Request,
        rds: &impl TopologySource,
    ) -> Result<(String, Response), String> {
        handle(request, rds, &|_: &str, _: &str| Pair(Some(0))).await
    }

    impl TopologySource for Fake {
        async fn describe(&self, _: &[String]) -> Result<RdsSnapshot, SourceError> {
            self.0.clone().ok_or(SourceError {
                message: "DescribeDBClusters: AccessDenied: not allowed".into(),
                throttled: false,
            })
        }
    }

    fn cluster() -> RdsSnapshot {
        let instance = |id: &str, class: &str| InstanceDescription {
            id: id.into(),
            cluster: "orders".into(),
            status: "available".into(),
            class: class.into(),
            resource_id: None,
        };
        RdsSnapshot {
            clusters: vec![ClusterDescription {
                id: "orders".into(),
                engine: "aurora-postgresql".into(),
                members: ["orders-w", "orders-r1", "orders-serverless"]
                    .iter()
                    .map(|m| ClusterMember {
                        instance: (*m).into(),
                        writer: *m == "orders-w",
                    })
                    .collect(),
            }],
            instances: vec![
                instance("orders-w", "db.r6g.xlarge"),
                instance("orders-r1", "db.r6g.large"),
                instance("orders-serverless", "db.serverless"),
            ],
        }
    }

    fn update(properties: Value, old: Value) -> Request {
        let mut r = serde_json::to_value(request("Update", properties)).unwrap();
        r["OldResourceProperties"] = old;
        serde_json::from_value(r).unwrap()
    }

    fn request(kind: &str, properties: Value) -> Request {
        let mut r = json!({
            "RequestType": kind,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:check",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
            "RequestId": "r-1",
            "ResourceType": "Custom::SpillwayClusterCheck",
            "LogicalResourceId": "ClusterCheck",
            "ResourceProperties": properties,
        });
        if kind != "Create" {
            r["PhysicalResourceId"] = json!("spillway-check-orders");
            r["OldResourceProperties"] = json!({});
        }
        serde_json::from_value(r).unwrap()
    }

    fn properties() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:check",
            "ClusterIdentifier": "orders",
            "ServerlessInstanceIdentifier": "orders-serverless",
            "HighCpuThreshold": "70", "LowCpuThreshold": "30",
            "ConnectionSignals": "true",
            "HighConnectionsPercent": "90", "LowConnectionsPercent": "40",
            "MaxConnections": "0",
            "ReplicaScalingMetric": "cpu", "TargetReaderConnectionsPercent": "70",
        })
    }

    #[tokio::test]
    async fn a_good_cluster_answers_its_thresholds() {
        let (url, r) = answer(&request("Create", properties()), &Fake(Some(cluster())))
            .await
            .unwrap();
        assert!(url.starts_with("https://cloudformation-custom-resource-response"));
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        assert_eq!(r.physical_resource_id, "spillway-check-orders");
        assert_eq!(
            (r.request_id.as_str(), r.logical_resource_id.as_str()),
            ("r-1", "ClusterCheck")
        );
        // PostgreSQL on r6g.large: LEAST(DBInstanceClassMemory/9531392, 5000), with the memory
        // estimated as 95.3 % of 16 GiB: 1,718 (AWS's table: 1,722).
        assert_eq!(r.data["MaxConnections"], "1718");
        assert_eq!(
            r.data["MaxConnectionsSource"],
            "aurora-postgresql's default for db.r6g.large (orders-r1)"
        );
        assert_eq!(r.data["HighConnections"], "1547");
        assert_eq!(r.data["LowConnections"], "688");
        assert_eq!(r.data["TargetConnections"], "0");
    }

    #[tokio::test]
    async fn a_bad_configuration_fails_with_every_problem_and_delete_always_succeeds() {
        let mut p = properties();
        p["ServerlessInstanceIdentifier"] = json!("orders-sv");
        p["LowConnectionsPercent"] = json!("95");
        let (_, r) = answer(&request("Update", p.clone()), &Fake(Some(cluster())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        let reason = r.reason.unwrap();
        assert!(
            reason.starts_with("Spillway: cluster orders: connections low (95) must be below"),
            "{reason}"
        );
        assert!(
            reason.contains("; cluster orders: orders-sv is not one of its instances"),
            "{reason}"
        );
        p["ClusterIdentifier"] = json!("nope");
        let (_, r) = answer(&request("Create", p.clone()), &Fake(Some(cluster())))
            .await
            .unwrap();
        assert!(
            r.reason
                .unwrap()
                .contains("cluster nope: no such Aurora cluster")
        );
        let (_, r) = answer(&request("Create", properties()), &Fake(None))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        assert!(r.reason.unwrap().contains("AccessDenied"));
        let (_, r) = answer(&request("Delete", p), &Fake(None)).await.unwrap();
        assert_eq!(r.status, Status::Success);
        assert_eq!(r.physical_resource_id, "spillway-check-orders");
    }

    #[tokio::test]
    async fn an_update_of_the_same_cluster_only_warns_about_its_state() {
        // The serverless instance gone from the cluster: a new check refuses it, but an update
        // (or a rollback) of the same cluster goes through with its thresholds.
        let mut gone = cluster();
        gone.clusters[0].members.pop();
        let (_, r) = answer(&request("Create", properties()), &Fake(Some(gone.clone())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        let mut p = properties();
        p["HighConnectionsPercent"] = json!("80");
        let (_, r) = answer(&update(p.clone(), properties()), &Fake(Some(gone.clone())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        assert_eq!(r.data["HighConnections"], "1375");
        // Another serverless instance is a new check; a bad percentage always fails.
        let mut other = properties();
        other["ServerlessInstanceIdentifier"] = json!("orders-sv2");
        let (_, r) = answer(&update(p.clone(), other), &Fake(Some(gone.clone())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        p["LowConnectionsPercent"] = json!("85");
        let (_, r) = answer(&update(p.clone(), properties()), &Fake(Some(gone)))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        // RDS unreadable: a configured max_connections still answers on a re-check.
        p["LowConnectionsPercent"] = json!("40");
        p["MaxConnections"] = json!("1000");
        let (_, r) = answer(&update(p, properties()), &Fake(None)).await.unwrap();
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        assert_eq!(r.data["HighConnections"], "800");
    }

    fn region(key: &str, document: &str) -> Value {
        let mut p = properties();
        let o = p.as_object_mut().unwrap();
        o.remove("ClusterIdentifier");
        o.remove("ServerlessInstanceIdentifier");
        for (k, v) in [
            ("WeightStep", "25"),
            ("MaxServerlessWeight", "100"),
            ("ProvisionedWeight", "100"),
            ("MinReplicas", "1"),
            ("MaxReplicas", "14"),
            ("TargetReaderCpu", "60"),
            ("MaxReplicaLagMilliseconds", "1000"),
            ("ScaleDownDelayAfterScaleUpSeconds", "600"),
            ("DryRun", "false"),
        ] {
            o.insert(k.into(), json!(v));
        }
        o.insert("Key".into(), json!(key));
        o.insert("Clusters".into(), json!(["orders", "tickets"]));
        o.insert("ClusterSettings".into(), json!(document));
        p
    }

    #[tokio::test]
    async fn a_region_check_resolves_its_cluster_by_key_and_answers_its_settings() {
        let doc = r#"{"orders": {"HighCpuThreshold": 60, "WeightStep": 10}}"#;
        let (_, r) = answer(
            &request("Create", region("orders", doc)),
            &Fake(Some(cluster())),
        )
        .await
        .unwrap();
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        assert_eq!(r.physical_resource_id, "spillway-check-orders");
        assert_eq!(r.data["ClusterIdentifier"], "orders");
        // Not named: the cluster's only db.serverless reader.
        assert_eq!(r.data["ServerlessInstanceIdentifier"], "orders-serverless");
        assert_eq!(
            (
                r.data["HighCpuThreshold"].as_str(),
                r.data["WeightStep"].as_str()
            ),
            ("60", "10")
        );
        assert_eq!(r.data["LowCpuThreshold"], "30", "the stack's default");
        assert_eq!(
            (
                r.data["MinCapacity"].as_str(),
                r.data["MaxCapacity"].as_str()
            ),
            ("2", "15"),
            "the serverless reader counted"
        );
        assert_eq!(r.data["HighConnections"], "1547");
        // The same cluster under a second key, an override out of range: refused, named.
        let bad =
            r#"{"orders": {"HighCpuThreshold": 20}, "tickets": {"ClusterIdentifier": "orders"}}"#;
        let (_, r) = answer(
            &request("Create", region("orders", bad)),
            &Fake(Some(cluster())),
        )
        .await
        .unwrap();
        assert_eq!(r.status, Status::Failed);
        let reason = r.reason.unwrap();
        assert!(
            reason.contains("orders: HighCpuThreshold = \"20\": a number from 50 to 95"),
            "{reason}"
        );
        assert!(
            reason.contains("orders and tickets both watch cluster orders"),
            "{reason}"
        );
        // A key whose cluster does not exist.
        let (_, r) = answer(
            &request("Create", region("tickets", "")),
            &Fake(Some(cluster())),
        )
        .await
        .unwrap();
        assert!(
            r.reason
                .unwrap()
                .contains("cluster tickets: no such Aurora cluster")
        );
    }

    #[tokio::test]
    async fn a_region_update_of_the_same_cluster_is_a_recheck() {
        let mut gone = cluster();
        gone.clusters[0].members.pop();
        // No serverless reader left: a new check cannot find one, a re-check with the entry
        // naming it only warns.
        let doc = r#"{"orders": {"ServerlessInstanceIdentifier": "orders-serverless"}}"#;
        let (_, r) = answer(
            &request("Create", region("orders", doc)),
            &Fake(Some(gone.clone())),
        )
        .await
        .unwrap();
        assert_eq!(r.status, Status::Failed);
        let newer = r#"{"orders": {"ServerlessInstanceIdentifier": "orders-serverless", "HighCpuThreshold": 80}}"#;
        let (_, r) = answer(
            &update(region("orders", newer), region("orders", doc)),
            &Fake(Some(gone)),
        )
        .await
        .unwrap();
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        assert_eq!(r.data["HighCpuThreshold"], "80");
    }

    #[tokio::test]
    async fn the_region_summary_names_every_cluster_for_the_stack_wide_resources() {
        let mut p = region(
            "orders",
            r#"{"tickets": {"ClusterIdentifier": "tickets-eu-1", "HighCpuThreshold": 60}}"#,
        );
        let o = p.as_object_mut().unwrap();
        o.remove("Key");
        o.insert("ZoneName".into(), json!("spillway.internal."));
        o.insert("DirectTrigger".into(), json!("true"));
        o.insert(
            "ScaleUpStateMachineArn".into(),
            json!("arn:aws:states:us-east-1:123456789012:stateMachine:s-scale-up"),
        );
        let (_, r) = answer(&request("Create", p.clone()), &Fake(Some(cluster())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        assert_eq!(r.physical_resource_id, "spillway-region");
        assert_eq!(r.data["ClusterIdentifiers"], "orders,tickets-eu-1");
        assert_eq!(
            r.data["ClusterArns"],
            "arn:aws:rds:us-east-1:123456789012:cluster:orders,arn:aws:rds:us-east-1:123456789012:cluster:tickets-eu-1"
        );
        assert_eq!(
            r.data["RecordNames"],
            "reads.orders.spillway.internal,reads.tickets.spillway.internal"
        );
        let targets: Value = serde_json::from_str(&r.data["DirectTriggerTargets"]).unwrap();
        assert_eq!(targets[1]["cluster"], "tickets-eu-1");
        assert_eq!(targets[1]["highCpuThreshold"], 60.0);
        // Every problem of every entry, each once.
        p["ClusterSettings"] =
            json!(r#"{"tickets": {"ClusterIdentifier": "orders"}, "search": {}}"#);
        let (_, r) = answer(&request("Create", p), &Fake(Some(cluster())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        let reason = r.reason.unwrap();
        assert_eq!(reason.matches("an entry for search").count(), 1, "{reason}");
        assert!(
            reason.contains("orders and tickets both watch cluster orders"),
            "{reason}"
        );
        assert!(
            reason.contains("tickets and orders both watch cluster orders"),
            "{reason}"
        );
    }

    /// The Region's check of `clusters` in zone Z1 (spillway.internal), as RegionCheck sends it.
    fn summary_of(clusters: &[&str]) -> Value {
        let mut p = region("orders", "{}");
        let o = p.as_object_mut().unwrap();
        o.remove("Key");
        o.insert("Clusters".into(), json!(clusters));
        o.insert("ZoneName".into(), json!("spillway.internal"));
        o.insert("HostedZoneId".into(), json!("Z1"));
        o.insert("DirectTrigger".into(), json!("false"));
        p
    }

    #[tokio::test]
    async fn removing_a_cluster_is_refused_while_its_serverless_weight_is_above_0() {
        // GIVEN a Region of orders, payments and tickets; payments' pair spilled at 25
        let reads = Reads::default();
        // The Region check's answer to `request`, a removed pair's serverless weight at `weight`.
        let answer_to = |request: Request, weight: Option<u16>| {
            let reads = &reads;
            async move {
                handle(&request, &Fake(None), &reads.at(weight))
                    .await
                    .unwrap()
                    .1
            }
        };
        let before = summary_of(&["orders", "payments", "tickets"]);
        let after = summary_of(&["orders", "tickets"]);
        // WHEN an update removes payments
        let r = answer_to(update(after.clone(), before.clone()), Some(25)).await;
        // THEN it fails, naming the key, the record and its weight; only that record was read
        assert_eq!(r.status, Status::Failed);
        let reason = r.reason.unwrap();
        assert!(
            reason.starts_with(
                "Spillway: cluster key payments is still spilled: \
                 reads.payments.spillway.internal sends weight 25"
            ),
            "{reason}"
        );
        assert_eq!(reads.taken(), ["Z1 reads.payments.spillway.internal"]);
        // AND at weight 0, or with its records already gone, the same removal goes through
        for weight in [Some(0), None] {
            let r = answer_to(update(after.clone(), before.clone()), weight).await;
            assert_eq!(r.status, Status::Success, "{weight:?}: {:?}", r.reason);
            assert_eq!(r.data["ClusterIdentifiers"], "orders,tickets");
        }
        // AND an update that removes nothing (or a create) reads no record
        reads.taken();
        let r = answer_to(update(before.clone(), after.clone()), Some(25)).await;
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        let r = answer_to(request("Create", after), Some(25)).await;
        assert_eq!(r.status, Status::Success, "{:?}", r.reason);
        let taken = reads.taken();
        assert!(taken.is_empty(), "{taken:?}");
    }

    #[tokio::test]
    async fn a_record_guard_refuses_its_delete_while_the_serverless_weight_is_above_0() {
        let guard = json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:check",
            "HostedZoneId": "Z1",
            "GuardedRecord": "reads.payments.spillway.internal.",
        });
        let reads = Reads::default();
        // The guard's answer to a `kind` request, its pair's serverless weight at `weight`.
        let answer_to = |kind: &'static str, properties: &Value, weight: Option<u16>| {
            let (properties, reads) = (properties.clone(), &reads);
            async move {
                let mut r = serde_json::to_value(request(kind, properties)).unwrap();
                r["ResourceType"] = json!("Custom::SpillwayRecordGuard");
                r["LogicalResourceId"] = json!("RecordGuardpayments");
                let request: Request = serde_json::from_value(r).unwrap();
                handle(&request, &Fake(None), &reads.at(weight))
                    .await
                    .unwrap()
                    .1
            }
        };
        // GIVEN a guard created (and updated) while its pair is spilled: nothing is checked
        for kind in ["Create", "Update"] {
            let r = answer_to(kind, &guard, Some(25)).await;
            assert_eq!(r.status, Status::Success, "{kind}: {:?}", r.reason);
        }
        let r = answer_to("Create", &guard, Some(25)).await;
        assert_eq!(r.physical_resource_id, "spillway-guard-RecordGuardpayments");
        assert!(reads.taken().is_empty(), "a create reads nothing");
        // WHEN it is deleted at 25 THEN the delete fails, naming the record and its weight,
        // and keeps the guard's physical id
        let r = answer_to("Delete", &guard, Some(25)).await;
        assert_eq!(r.status, Status::Failed);
        let reason = r.reason.unwrap();
        assert!(
            reason.starts_with(
                "Spillway: reads.payments.spillway.internal sends weight 25 to its serverless reader"
            ),
            "{reason}"
        );
        assert_eq!(r.physical_resource_id, "spillway-check-orders");
        assert_eq!(reads.taken(), ["Z1 reads.payments.spillway.internal"]);
        // AND at 0, or with the records gone, the delete succeeds
        for weight in [Some(0), None] {
            let r = answer_to("Delete", &guard, weight).await;
            assert_eq!(r.status, Status::Success, "{weight:?}: {:?}", r.reason);
        }
        // AND a guard that names no record is refused at its create (its delete, then, has
        // nothing to guard)
        let nothing = json!({"ServiceToken": guard["ServiceToken"], "HostedZoneId": "Z1"});
        let r = answer_to("Create", &nothing, Some(25)).await;
        assert_eq!(r.status, Status::Failed);
        assert_eq!(
            r.reason.as_deref(),
            Some(
                "Spillway: RecordGuardpayments names no record: it needs HostedZoneId and GuardedRecord"
            )
        );
        assert_eq!(
            answer_to("Delete", &nothing, Some(25)).await.status,
            Status::Success
        );
    }

    #[tokio::test]
    async fn an_answer_too_large_for_cloudformation_fails_and_a_failed_update_keeps_its_id() {
        // Forty clusters' direct-trigger targets and ARNs: past the 4,096 bytes of a response.
        let keys: Vec<String> = (0..40).map(|i| format!("cluster{i:02}")).collect();
        let doc: serde_json::Map<String, Value> = keys
            .iter()
            .skip(1)
            .map(|k| (k.clone(), json!({"ServerlessInstanceIdentifier": "sv"})))
            .collect();
        let mut p = region("orders", &Value::Object(doc).to_string());
        let o = p.as_object_mut().unwrap();
        o.remove("Key");
        o.insert(
            "Clusters".into(),
            json!(
                ["orders"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(keys.into_iter().skip(1))
                    .collect::<Vec<_>>()
            ),
        );
        o.insert("ZoneName".into(), json!("spillway.internal"));
        o.insert("DirectTrigger".into(), json!("true"));
        o.insert(
            "ScaleUpStateMachineArn".into(),
            json!("arn:aws:states:us-east-1:123456789012:stateMachine:s-scale-up"),
        );
        let (_, r) = answer(&request("Create", p), &Fake(Some(cluster())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        let reason = r.reason.unwrap();
        assert!(
            reason.contains("and CloudFormation takes at most 4096"),
            "{reason}"
        );
        // A failed update answers with the physical id it had, whatever it names now.
        let mut bad = properties();
        bad["ClusterIdentifier"] = json!("nope");
        let (_, r) = answer(&update(bad, properties()), &Fake(Some(cluster())))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.physical_resource_id, "spillway-check-orders");
    }
}
