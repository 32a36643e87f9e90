//! A Region's clusters in one stack: which clusters it watches and each one's settings, as the
//! deployer writes them. Two stack parameters say it all:
//!
//! - `Clusters`: one short key per cluster (`orders,tickets,search`), lowercase letters and
//!   digits: CloudFormation's `Fn::ForEach` makes each cluster's resources from its key, and a
//!   logical ID takes nothing else (the `&{}` form that strips other characters cannot be
//!   referred to: aws-cloudformation/cloudformation-coverage-roadmap#2150);
//! - `ClusterSettings`: a JSON object from key to that cluster's overrides, e.g.
//!   `{"tickets": {"ClusterIdentifier": "tickets-eu-1", "HighCpuThreshold": 60}}`. A cluster
//!   whose identifier is its key and whose settings are the stack's defaults needs no entry.
//!
//! Each cluster's `ClusterCheck` resolves its own settings here (the stack's parameters are the
//! defaults) and answers them as attributes, which the cluster's alarms, records and scaling
//! read; so a bad entry fails the deploy before any of its resources exist. Pure: no AWS.

use std::collections::BTreeMap;

use serde_json::Value;

/// A setting a cluster may override: its stack parameter's name and the values it takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub name: &'static str,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A number from `min` to `max` (the stack parameter's `MinValue` / `MaxValue`: a template
    /// test holds the two to each other).
    Number { min: f64, max: f64 },
    /// `true` or `false`.
    Flag,
}

const fn number(name: &'static str, min: f64, max: f64) -> Setting {
    Setting {
        name,
        kind: Kind::Number { min, max },
    }
}

/// What one cluster may set for itself; the rest (the loop's timing, the alarms' periods, the
/// switches that decide which resources exist) is the stack's, for every cluster alike.
pub const OVERRIDABLE: [Setting; 15] = [
    number("HighCpuThreshold", 50.0, 95.0),
    number("LowCpuThreshold", 5.0, 45.0),
    number("HighConnectionsPercent", 50.0, 100.0),
    number("LowConnectionsPercent", 1.0, 49.0),
    number("MaxConnections", 0.0, 262_143.0),
    number("WeightStep", 1.0, 255.0),
    number("MaxServerlessWeight", 0.0, 255.0),
    number("ProvisionedWeight", 1.0, 255.0),
    number("MinReplicas", 0.0, 14.0),
    number("MaxReplicas", 1.0, 14.0),
    number("TargetReaderCpu", 10.0, 90.0),
    number("TargetReaderConnectionsPercent", 10.0, 90.0),
    number("MaxReplicaLagMilliseconds", 0.0, 60_000.0),
    number("ScaleDownDelayAfterScaleUpSeconds", 0.0, 3600.0),
    Setting {
        name: "DryRun",
        kind: Kind::Flag,
    },
];

/// The longest key: the cluster's custom endpoint identifiers are `<stack>-<key>-ro` / `-sv`,
/// at most 63 characters, so the key and the stack name share 59.
pub const MAX_KEY: usize = 16;

/// One watched cluster, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub key: String,
    /// `DBClusterIdentifier` (the key unless the entry says otherwise).
    pub cluster: String,
    /// The Aurora Serverless v2 reader, if the entry names one (`None`: the cluster's only
    /// `db.serverless` reader, found by the check).
    pub serverless_instance: Option<String>,
    /// Existing custom endpoints the records point at, provisioned readers' and serverless
    /// reader's (`ProvisionedEndpointHost`, `ServerlessEndpointHost`; both or neither), for a
    /// stack that creates none (`CreateEndpoints=false`).
    pub endpoints: Option<(String, String)>,
    /// Every [`OVERRIDABLE`] setting's value: the entry's, else the stack's default.
    pub values: BTreeMap<&'static str, String>,
}

/// The settings of `key`, or every problem of its entry (and of the whole configuration that
/// touches it: a key listed twice, two keys for one cluster), each naming the key.
/// `defaults`: the stack parameters' values, by name.
pub fn resolve(
    key: &str,
    keys: &[String],
    document: &str,
    defaults: &BTreeMap<String, String>,
) -> Result<Resolved, Vec<String>> {
    let mut problems = vec![];
    let doc = match parse(document) {
        Ok(d) => d,
        Err(p) => return Err(vec![p]),
    };
    if keys.iter().filter(|k| *k == key).count() > 1 {
        problems.push(format!("Clusters lists {key} more than once"));
    }
    if !keys.iter().any(|k| k == key) {
        problems.push(format!("Clusters does not list {key}"));
    }
    if let Some(p) = key_problem(key) {
        problems.push(p);
    }
    for named in doc.keys() {
        if !keys.iter().any(|k| k == named) {
            problems.push(format!(
                "ClusterSettings has an entry for {named}, which Clusters does not list ({})",
                keys.join(", ")
            ));
        }
    }
    // The same cluster under two keys would be watched twice: two weighted pairs for one
    // cluster, and two loops that never see each other's lock.
    let cluster = cluster_of(key, &doc);
    for other in keys.iter().filter(|k| *k != key) {
        if cluster_of(other, &doc) == cluster {
            problems.push(format!(
                "{key} and {other} both watch cluster {cluster}: one key per cluster"
            ));
        }
    }
    let mine = match entry(key, &doc, defaults) {
        Ok(r) => r,
        Err(mut p) => {
            problems.append(&mut p);
            return Err(problems);
        }
    };
    if problems.is_empty() {
        Ok(mine)
    } else {
        Err(problems)
    }
}

/// The cluster a key stands for (its entry's `ClusterIdentifier`, else the key).
fn cluster_of(key: &str, doc: &serde_json::Map<String, Value>) -> String {
    doc.get(key)
        .and_then(|e| e.get("ClusterIdentifier"))
        .and_then(text)
        .unwrap_or_else(|| key.to_string())
}

/// A stack's parameters by name, values as CloudFormation resolved them.
pub type Parameters = BTreeMap<String, String>;

/// A deployed stack's parameters as each of its clusters sees them: the stack's, with the
/// cluster's own over them in the one-cluster names the operator tools read
/// (`ClusterIdentifier`, `ServerlessInstanceIdentifier` when the entry names it, `RecordName`,
/// `ProvisionedEndpointHost` / `ServerlessEndpointHost` when it names them, and every
/// overridden setting), by key. A stack without `Clusters` (a one-cluster template) is one
/// cluster, keyed `""`, with its parameters as they are.
pub fn per_cluster(parameters: &Parameters) -> Result<Vec<(String, Parameters)>, Vec<String>> {
    let Some(list) = parameters.get("Clusters") else {
        return Ok(vec![(String::new(), parameters.clone())]);
    };
    let keys: Vec<String> = list
        .split(',')
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let document = parameters.get("ClusterSettings").map_or("", String::as_str);
    let zone = parameters
        .get("ZoneName")
        .filter(|z| !z.is_empty())
        .map_or("spillway.internal", String::as_str)
        .trim_end_matches('.')
        .to_string();
    let mut out = vec![];
    let mut problems = vec![];
    for key in &keys {
        match resolve(key, &keys, document, parameters) {
            Ok(r) => {
                let mut view = parameters.clone();
                view.insert("ClusterIdentifier".into(), r.cluster.clone());
                view.insert("RecordName".into(), format!("reads.{key}.{zone}"));
                view.insert("ZoneName".into(), zone.clone());
                if let Some(s) = &r.serverless_instance {
                    view.insert("ServerlessInstanceIdentifier".into(), s.clone());
                }
                if let Some((p, s)) = &r.endpoints {
                    view.insert("ProvisionedEndpointHost".into(), p.clone());
                    view.insert("ServerlessEndpointHost".into(), s.clone());
                }
                for (name, value) in r.values {
                    view.insert(name.to_string(), value);
                }
                out.push((key.clone(), view));
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn parse(document: &str) -> Result<serde_json::Map<String, Value>, String> {
    if document.trim().is_empty() {
        return Ok(Default::default());
    }
    match serde_json::from_str::<Value>(document) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "ClusterSettings must be a JSON object from cluster key to settings, not {}",
            kind_of(&other)
        )),
        Err(e) => Err(format!("ClusterSettings is not JSON: {e}")),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn key_problem(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (!ok).then(|| {
        format!(
            "cluster key {key:?}: 1 to {MAX_KEY} lowercase letters and digits, a letter first \
             (a CloudFormation logical ID and a DNS label; name the cluster with \
             ClusterIdentifier in its ClusterSettings entry)"
        )
    })
}

/// An Aurora DB cluster identifier: 1 to 63 letters, digits or hyphens, a letter first, no
/// hyphen at the end or twice in a row (RDS, CreateDBCluster); RDS stores it lowercase.
fn identifier_problem(id: &str) -> Option<&'static str> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    (!ok).then_some(
        "1 to 63 lowercase letters, digits or hyphens, a letter first, no hyphen at the end or \
         twice in a row",
    )
}

/// A JSON scalar as CloudFormation passes parameters and properties: its text (`None`: not a
/// string, number or boolean).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn entry(
    key: &str,
    doc: &serde_json::Map<String, Value>,
    defaults: &BTreeMap<String, String>,
) -> Result<Resolved, Vec<String>> {
    let mut problems = vec![];
    let empty = serde_json::Map::new();
    let fields = match doc.get(key) {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(vec![format!(
                "{key}: its ClusterSettings entry must be an object of settings, not {}",
                kind_of(other)
            )]);
        }
    };
    for name in fields.keys() {
        let known = name == "ClusterIdentifier"
            || name == "ServerlessInstanceIdentifier"
            || name == "ProvisionedEndpointHost"
            || name == "ServerlessEndpointHost"
            || OVERRIDABLE.iter().any(|s| s.name == name);
        if !known {
            problems.push(format!(
                "{key}: {name} is not a setting a cluster may override (ClusterIdentifier, \
                 ServerlessInstanceIdentifier, ProvisionedEndpointHost, ServerlessEndpointHost, \
                 {})",
                OVERRIDABLE.map(|s| s.name).join(", ")
            ));
        }
    }
    let field = |name: &str, problems: &mut Vec<String>| -> Option<String> {
        let v = fields.get(name)?;
        let t = text(v);
        if t.is_none() {
            problems.push(format!(
                "{key}: {name} must be a string, a number or a boolean, not {}",
                kind_of(v)
            ));
        }
        t
    };
    let cluster = field("ClusterIdentifier", &mut problems).unwrap_or_else(|| key.to_string());
    if let Some(rule) = identifier_problem(&cluster) {
        problems.push(format!("{key}: ClusterIdentifier {cluster:?}: {rule}"));
    }
    let serverless_instance = field("ServerlessInstanceIdentifier", &mut problems);
    let endpoints = match (
        field("ProvisionedEndpointHost", &mut problems),
        field("ServerlessEndpointHost", &mut problems),
    ) {
        (Some(p), Some(s)) => Some((p, s)),
        (None, None) => None,
        _ => {
            problems.push(format!(
                "{key}: ProvisionedEndpointHost and ServerlessEndpointHost go together"
            ));
            None
        }
    };
    let mut values = BTreeMap::new();
    for s in OVERRIDABLE {
        let own = field(s.name, &mut problems);
        let value = own
            .clone()
            .or_else(|| defaults.get(s.name).cloned())
            .unwrap_or_default();
        if own.is_some()
            && let Some(p) = value_problem(s, &value)
        {
            problems.push(format!("{key}: {} = {value:?}: {p}", s.name));
        }
        values.insert(s.name, value);
    }
    let whole = |name: &str| {
        values
            .get(name)
            .and_then(|v: &String| v.parse::<f64>().ok())
    };
    if let (Some(min), Some(max)) = (whole("MinReplicas"), whole("MaxReplicas"))
        && min > max
    {
        problems.push(format!(
            "{key}: MinReplicas ({min}) is above MaxReplicas ({max})"
        ));
    }
    if problems.is_empty() {
        Ok(Resolved {
            key: key.to_string(),
            cluster,
            serverless_instance,
            endpoints,
            values,
        })
    } else {
        Err(problems)
    }
}

fn value_problem(s: Setting, value: &str) -> Option<String> {
    match s.kind {
        Kind::Number { min, max } => match value.parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => None,
            _ => Some(format!("a number from {min} to {max}")),
        },
        Kind::Flag => (value != "true" && value != "false").then(|| "true or false".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> BTreeMap<String, String> {
        [
            ("HighCpuThreshold", "70"),
            ("LowCpuThreshold", "30"),
            ("WeightStep", "25"),
            ("DryRun", "false"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn keys(list: &str) -> Vec<String> {
        list.split(',').map(str::to_string).collect()
    }

    #[test]
    fn a_cluster_without_an_entry_is_its_key_with_the_stacks_defaults() {
        let r = resolve("orders", &keys("orders,tickets"), "", &defaults()).unwrap();
        assert_eq!(
            (r.cluster.as_str(), r.serverless_instance),
            ("orders", None)
        );
        assert_eq!(r.values["HighCpuThreshold"], "70");
        assert_eq!(r.values.len(), OVERRIDABLE.len());
    }

    #[test]
    fn an_entry_names_its_cluster_and_overrides_some_settings() {
        let doc = r#"{"tickets": {"ClusterIdentifier": "tickets-eu-1", "ServerlessInstanceIdentifier": "tickets-sv",
                      "HighCpuThreshold": 60, "DryRun": true}}"#;
        let r = resolve("tickets", &keys("orders,tickets"), doc, &defaults()).unwrap();
        assert_eq!(r.cluster, "tickets-eu-1");
        assert_eq!(r.serverless_instance.as_deref(), Some("tickets-sv"));
        assert_eq!(
            (
                r.values["HighCpuThreshold"].as_str(),
                r.values["DryRun"].as_str()
            ),
            ("60", "true")
        );
        assert_eq!(r.values["LowCpuThreshold"], "30", "the rest: the defaults");
        // The other cluster is untouched by its neighbour's entry.
        let o = resolve("orders", &keys("orders,tickets"), doc, &defaults()).unwrap();
        assert_eq!(o.values["HighCpuThreshold"], "70");
    }

    #[test]
    fn every_problem_of_an_entry_is_named_with_its_key() {
        let doc = r#"{"tickets": {"ClusterIdentifier": "Tickets--1", "HighCpuThreshold": 120,
                      "DryRun": "maybe", "Colour": "blue", "WeightStep": [1]}}"#;
        let p = resolve("tickets", &keys("orders,tickets"), doc, &defaults()).unwrap_err();
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p[0].starts_with("tickets: Colour is not a setting a cluster may override"));
        assert!(
            p.iter()
                .any(|x| x.contains("ClusterIdentifier \"Tickets--1\""))
        );
        assert!(
            p.iter()
                .any(|x| x.contains("HighCpuThreshold = \"120\": a number from 50 to 95"))
        );
        assert!(
            p.iter()
                .any(|x| x.contains("DryRun = \"maybe\": true or false"))
        );
        assert!(
            p.iter()
                .any(|x| x.contains("WeightStep must be a string, a number or a boolean"))
        );
    }

    #[test]
    fn the_same_cluster_twice_a_key_listed_twice_or_an_entry_for_no_key_is_refused() {
        let twice = r#"{"ordersb": {"ClusterIdentifier": "orders"}}"#;
        let p = resolve("orders", &keys("orders,ordersb"), twice, &defaults()).unwrap_err();
        assert_eq!(
            p,
            ["orders and ordersb both watch cluster orders: one key per cluster"]
        );
        let p = resolve("ordersb", &keys("orders,ordersb"), twice, &defaults()).unwrap_err();
        assert_eq!(
            p,
            ["ordersb and orders both watch cluster orders: one key per cluster"]
        );
        let p = resolve("orders", &keys("orders,orders"), "", &defaults()).unwrap_err();
        assert_eq!(p, ["Clusters lists orders more than once"]);
        let p = resolve("orders", &keys("orders"), r#"{"search": {}}"#, &defaults()).unwrap_err();
        assert_eq!(
            p,
            ["ClusterSettings has an entry for search, which Clusters does not list (orders)"]
        );
    }

    #[test]
    fn fewer_replicas_at_most_than_at_least_is_refused() {
        let mut d = defaults();
        d.insert("MinReplicas".into(), "1".into());
        d.insert("MaxReplicas".into(), "14".into());
        let doc = r#"{"orders": {"MinReplicas": 6, "MaxReplicas": 4}}"#;
        let p = resolve("orders", &keys("orders"), doc, &d).unwrap_err();
        assert_eq!(p, ["orders: MinReplicas (6) is above MaxReplicas (4)"]);
    }

    #[test]
    fn a_deployed_stack_reads_as_one_view_per_cluster() {
        let mut p = defaults();
        p.insert("Clusters".into(), "orders,tickets".into());
        p.insert(
            "ClusterSettings".into(),
            r#"{"tickets": {"ClusterIdentifier": "tickets-eu-1", "HighCpuThreshold": 60}}"#.into(),
        );
        p.insert("ZoneName".into(), String::new());
        let views = per_cluster(&p).unwrap();
        assert_eq!(views.len(), 2);
        let (key, t) = &views[1];
        assert_eq!(key, "tickets");
        assert_eq!(t["ClusterIdentifier"], "tickets-eu-1");
        assert_eq!(t["RecordName"], "reads.tickets.spillway.internal");
        assert_eq!(t["HighCpuThreshold"], "60");
        assert!(
            !t.contains_key("ServerlessInstanceIdentifier"),
            "found by its check"
        );
        assert_eq!(views[0].1["HighCpuThreshold"], "70");
        // A one-cluster stack is its own view.
        let mut old = defaults();
        old.insert("ClusterIdentifier".into(), "orders".into());
        assert_eq!(
            per_cluster(&old).unwrap(),
            vec![(String::new(), old.clone())]
        );
    }

    #[test]
    fn keys_are_short_lowercase_letters_and_digits() {
        for bad in ["orders-eu", "Orders", "1orders", "", "averyveryverylongkey"] {
            let p = resolve(bad, &keys(bad), "", &defaults()).unwrap_err();
            assert!(
                p.iter()
                    .any(|x| x.starts_with(&format!("cluster key {bad:?}"))),
                "{bad}: {p:?}"
            );
        }
        assert!(resolve("orders2", &keys("orders2"), "", &defaults()).is_ok());
    }

    #[test]
    fn a_document_that_is_not_an_object_of_objects_is_refused() {
        for (doc, says) in [
            (
                "[1]",
                "must be a JSON object from cluster key to settings, not a list",
            ),
            ("{", "is not JSON"),
            (
                r#"{"orders": 5}"#,
                "its ClusterSettings entry must be an object of settings",
            ),
        ] {
            let p = resolve("orders", &keys("orders"), doc, &defaults()).unwrap_err();
            assert!(p[0].contains(says), "{doc}: {p:?}");
        }
    }
}
