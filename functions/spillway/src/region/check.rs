//! The deploy-time check of one watched cluster's configuration, and what its connections
//! signals are in connections: run by the stack's `ClusterCheck` custom resource before any of
//! the cluster's alarms, records or endpoints exist, so a bad configuration fails the deploy
//! with every problem named and nothing of the cluster created.
//!
//! Pure: the adapter observes the cluster (DescribeDBClusters, DescribeDBInstances) and this
//! decides.

use serde_json::Value;

use super::max_connections::{Engine, default_max_connections, threshold};
use super::signals::{ConnectionThresholds, Thresholds};
use crate::metrics::topology::RdsSnapshot;

/// One cluster as the stack configures it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    pub cluster: String,
    pub serverless_instance: String,
    pub thresholds: Thresholds,
    /// `max_connections` as configured (a custom parameter group); `None`: AWS's default for
    /// the readers' class and engine.
    pub max_connections: Option<u32>,
    /// Application Auto Scaling's connections target, percent of `max_connections`
    /// (`None`: replicas scale on CPU).
    pub target_connections_percent: Option<f64>,
}

/// What RDS says about the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedCluster {
    /// RDS's engine name (`aurora-mysql`, `aurora-postgresql`).
    pub engine: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub instance: String,
    /// `db.r6g.large`, `db.serverless`, …
    pub class: String,
    pub writer: bool,
}

impl ClusterConfig {
    /// The custom resource's properties (CloudFormation passes every value as a string):
    /// `ClusterIdentifier`, `ServerlessInstanceIdentifier`, `HighCpuThreshold`,
    /// `LowCpuThreshold`, `ConnectionSignals` (`true`/`false`), `HighConnectionsPercent`,
    /// `LowConnectionsPercent`, `MaxConnections` (`0`: derive), `ReplicaScalingMetric`
    /// (`cpu`/`connections`), `TargetReaderConnectionsPercent`. Every bad one is named.
    pub fn from_properties(p: &Value) -> Result<Self, Vec<String>> {
        let mut problems = vec![];
        let mut text = |name: &str| -> String {
            match p.get(name) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => {
                    problems.push(format!("property {name} is missing"));
                    String::new()
                }
            }
        };
        let cluster = text("ClusterIdentifier");
        let serverless_instance = text("ServerlessInstanceIdentifier");
        let raw: Vec<(&str, String)> = [
            "HighCpuThreshold",
            "LowCpuThreshold",
            "ConnectionSignals",
            "HighConnectionsPercent",
            "LowConnectionsPercent",
            "MaxConnections",
            "ReplicaScalingMetric",
            "TargetReaderConnectionsPercent",
        ]
        .into_iter()
        .map(|k| (k, text(k)))
        .collect();
        let get = |k: &str| {
            raw.iter()
                .find(|(n, _)| *n == k)
                .map_or("", |(_, v)| v.as_str())
        };
        let number = |k: &str, problems: &mut Vec<String>| -> f64 {
            let v = get(k);
            match v.parse::<f64>() {
                Ok(n) if n.is_finite() => n,
                _ if v.is_empty() => f64::NAN,
                _ => {
                    problems.push(format!("property {k} = {v:?}: not a number"));
                    f64::NAN
                }
            }
        };
        let flag = |k: &str, yes: &str, no: &str, problems: &mut Vec<String>| -> bool {
            match get(k) {
                v if v == yes => true,
                v if v == no => false,
                "" => false,
                v => {
                    problems.push(format!("property {k} = {v:?}: {yes} or {no}"));
                    false
                }
            }
        };
        let cpu_high = number("HighCpuThreshold", &mut problems);
        let cpu_low = number("LowCpuThreshold", &mut problems);
        let connections = flag("ConnectionSignals", "true", "false", &mut problems).then(|| {
            ConnectionThresholds {
                high: number("HighConnectionsPercent", &mut problems),
                low: number("LowConnectionsPercent", &mut problems),
            }
        });
        let max = number("MaxConnections", &mut problems);
        let max_connections = if max.is_nan() || max == 0.0 {
            None
        } else if max >= 1.0 && max.fract() == 0.0 && max <= f64::from(u32::MAX) {
            Some(max as u32)
        } else {
            problems.push(format!(
                "property MaxConnections = {max}: a whole number of connections (0: derive it)"
            ));
            None
        };
        let target_connections_percent =
            flag("ReplicaScalingMetric", "connections", "cpu", &mut problems)
                .then(|| number("TargetReaderConnectionsPercent", &mut problems));
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            cluster,
            serverless_instance,
            thresholds: Thresholds {
                cpu_high,
                cpu_low,
                connections,
            },
            max_connections,
            target_connections_percent,
        })
    }
}

impl ObservedCluster {
    /// `cluster` as the metrics pipeline's topology read sees it (`None`: not there).
    pub fn from_snapshot(snapshot: &RdsSnapshot, cluster: &str) -> Option<Self> {
        let c = snapshot.clusters.iter().find(|c| c.id == cluster)?;
        let members = c
            .members
            .iter()
            .map(|m| Member {
                class: snapshot
                    .instances
                    .iter()
                    .find(|i| i.id == m.instance)
                    .map_or_else(String::new, |i| i.class.clone()),
                instance: m.instance.clone(),
                writer: m.writer,
            })
            .collect();
        Some(Self {
            engine: c.engine.clone(),
            members,
        })
    }
}

/// The cluster's only Aurora Serverless v2 reader: the serverless instance of an entry that
/// names none (`spillway::region::settings`).
pub fn only_serverless_reader(cluster: &str, observed: &ObservedCluster) -> Result<String, String> {
    let found: Vec<&Member> = observed
        .members
        .iter()
        .filter(|m| m.class == "db.serverless" && !m.writer)
        .collect();
    match found.as_slice() {
        [one] => Ok(one.instance.clone()),
        [] => Err(format!(
            "cluster {cluster}: no Aurora Serverless v2 reader (db.serverless) among its instances \
             ({}): add one (promotion tier 15)",
            names(&observed.members)
        )),
        several => Err(format!(
            "cluster {cluster}: several Aurora Serverless v2 readers ({}): name the one to spill \
             to with ServerlessInstanceIdentifier",
            several
                .iter()
                .map(|m| m.instance.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The connections signals in connections (what the alarms compare with); 0 for a signal
/// that is off.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub max_connections: u32,
    /// How `max_connections` was found, for the deploy's outputs and the logs.
    pub source: String,
    pub high_connections: u32,
    pub low_connections: u32,
    pub target_connections: u32,
}

/// Every problem of `config` against `observed` (`None`: no such cluster), or the
/// connections thresholds in connections (`None` in `Ok`: neither the signals nor replica
/// scaling use connections). The check of a new cluster: every problem fails it.
pub fn check(
    config: &ClusterConfig,
    observed: Option<&ObservedCluster>,
) -> Result<Option<Checked>, Vec<String>> {
    let a = assess(config, observed);
    let mut problems = a.configuration;
    problems.extend(a.cluster);
    let checked = match a.checked {
        None => None,
        Some(Ok(c)) => Some(c),
        // Without the cluster, that it is missing says it all.
        Some(Err(_)) if observed.is_none() => None,
        Some(Err(p)) => {
            problems.push(p);
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(checked)
}

/// The re-check of a cluster the stack already watches (an update that keeps its cluster
/// and serverless instance, which is also what a rollback re-sends): a problem of the
/// configuration still fails it, but the cluster's own state (which the stack does not own:
/// a reader resized, the serverless instance removed) only warns, unless the thresholds
/// cannot be found without it. A rollback that the check refused would leave the stack in
/// `UPDATE_ROLLBACK_FAILED`. `Ok`: the thresholds and the warnings.
pub fn recheck(
    config: &ClusterConfig,
    observed: Option<&ObservedCluster>,
) -> Result<(Option<Checked>, Vec<String>), Vec<String>> {
    let a = assess(config, observed);
    let mut problems = a.configuration;
    let checked = match a.checked {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(p)) => {
            problems.push(p);
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((checked, a.cluster))
}

struct Assessment {
    /// Problems of the stack's own configuration.
    configuration: Vec<String>,
    /// Problems of the cluster as RDS shows it (apart from the thresholds').
    cluster: Vec<String>,
    /// The connections thresholds, or why they cannot be found (`None`: not needed).
    checked: Option<Result<Checked, String>>,
}

fn assess(config: &ClusterConfig, observed: Option<&ObservedCluster>) -> Assessment {
    let c = &config.cluster;
    let mut configuration: Vec<String> = config
        .thresholds
        .problems()
        .into_iter()
        .map(|p| format!("cluster {c}: {p}"))
        .collect();
    if let Some(t) = config.target_connections_percent
        && (!(0.0..=100.0).contains(&t) || t.is_nan())
    {
        configuration.push(format!(
            "cluster {c}: connections target = {t}: a percentage from 0 to 100"
        ));
    }
    let mut cluster = vec![];
    let needs =
        config.thresholds.connections.is_some() || config.target_connections_percent.is_some();
    let Some(observed) = observed else {
        cluster.push(format!(
            "cluster {c}: no such Aurora cluster in this account and Region (DBClusterIdentifier, lowercase)"
        ));
        // A configured max_connections needs no cluster; a derived one does.
        let checked = needs.then(|| match config.max_connections {
            Some(n) => Ok(thresholds(config, n, "configured".into())),
            None => Err(format!(
                "cluster {c}: max_connections cannot be derived without the cluster: configure it"
            )),
        });
        return Assessment {
            configuration,
            cluster,
            checked,
        };
    };
    let s = &config.serverless_instance;
    match observed.members.iter().find(|m| &m.instance == s) {
        None => cluster.push(format!(
            "cluster {c}: {s} is not one of its instances ({})",
            names(&observed.members)
        )),
        Some(m) if m.class != "db.serverless" => cluster.push(format!(
            "cluster {c}: {s} is a {}, not an Aurora Serverless v2 reader (db.serverless)",
            m.class
        )),
        Some(m) if m.writer => cluster.push(format!(
            "cluster {c}: {s} is the writer; the serverless instance must be a reader"
        )),
        Some(_) => {}
    }
    let checked = needs.then(|| {
        max_connections(config, observed).map(|(max, source)| thresholds(config, max, source))
    });
    Assessment {
        configuration,
        cluster,
        checked,
    }
}

fn thresholds(config: &ClusterConfig, max: u32, source: String) -> Checked {
    let conn = config.thresholds.connections;
    Checked {
        max_connections: max,
        source,
        high_connections: conn.map_or(0, |c| threshold(c.high, max)),
        low_connections: conn.map_or(0, |c| threshold(c.low, max)),
        target_connections: config
            .target_connections_percent
            .map_or(0, |t| threshold(t, max)),
    }
}

/// The configured `max_connections`, or AWS's default for the smallest provisioned reader
/// (the lowest figure alarms first); with no provisioned reader, the writer's class (replicas
/// that auto scaling adds take it).
fn max_connections(
    config: &ClusterConfig,
    observed: &ObservedCluster,
) -> Result<(u32, String), String> {
    let c = &config.cluster;
    if let Some(n) = config.max_connections {
        return Ok((n, "configured".into()));
    }
    let Some(engine) = Engine::from_rds(&observed.engine) else {
        return Err(format!(
            "cluster {c}: engine {} has no default max_connections known here: configure it",
            observed.engine
        ));
    };
    let provisioned = |m: &&Member| m.class != "db.serverless";
    let readers: Vec<&Member> = observed
        .members
        .iter()
        .filter(provisioned)
        .filter(|m| !m.writer)
        .collect();
    let basis: Vec<&Member> = if readers.is_empty() {
        observed
            .members
            .iter()
            .filter(provisioned)
            .filter(|m| m.writer)
            .collect()
    } else {
        readers
    };
    let mut best: Option<(u32, &Member)> = None;
    for m in basis {
        let Some(n) = default_max_connections(engine, &m.class) else {
            return Err(format!(
                "cluster {c}: no default max_connections known for {} ({}): configure it",
                m.class, m.instance
            ));
        };
        if best.is_none_or(|(b, _)| n < b) {
            best = Some((n, m));
        }
    }
    match best {
        Some((n, m)) => Ok((
            n,
            format!(
                "{}'s default for {} ({})",
                observed.engine, m.class, m.instance
            ),
        )),
        None => Err(format!(
            "cluster {c}: no provisioned instance to derive max_connections from: configure it"
        )),
    }
}

fn names(members: &[Member]) -> String {
    if members.is_empty() {
        return "none".into();
    }
    members
        .iter()
        .map(|m| m.instance.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn properties() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:check",
            "ClusterIdentifier": "orders",
            "ServerlessInstanceIdentifier": "orders-serverless",
            "HighCpuThreshold": "70",
            "LowCpuThreshold": "30",
            "ConnectionSignals": "true",
            "HighConnectionsPercent": "90",
            "LowConnectionsPercent": "40",
            "MaxConnections": "0",
            "ReplicaScalingMetric": "cpu",
            "TargetReaderConnectionsPercent": "70",
        })
    }

    #[test]
    fn the_properties_read_as_cloudformation_sends_them() {
        let c = ClusterConfig::from_properties(&properties()).unwrap();
        assert_eq!(c.cluster, "orders");
        assert_eq!(c.thresholds, Thresholds::default());
        assert_eq!(
            (c.max_connections, c.target_connections_percent),
            (None, None)
        );
        let mut p = properties();
        p["ConnectionSignals"] = json!("false");
        p["MaxConnections"] = json!("1200");
        p["ReplicaScalingMetric"] = json!("connections");
        let c = ClusterConfig::from_properties(&p).unwrap();
        assert_eq!(c.thresholds.connections, None);
        assert_eq!(
            (c.max_connections, c.target_connections_percent),
            (Some(1200), Some(70.0))
        );
    }

    #[test]
    fn bad_properties_are_all_named() {
        let mut p = properties();
        p.as_object_mut().unwrap().remove("ClusterIdentifier");
        p["HighCpuThreshold"] = json!("seventy");
        p["ConnectionSignals"] = json!("yes");
        p["MaxConnections"] = json!("12.5");
        let e = ClusterConfig::from_properties(&p).unwrap_err();
        assert_eq!(
            e,
            [
                "property ClusterIdentifier is missing",
                "property HighCpuThreshold = \"seventy\": not a number",
                "property ConnectionSignals = \"yes\": true or false",
                "property MaxConnections = 12.5: a whole number of connections (0: derive it)",
            ]
        );
    }

    #[test]
    fn the_topology_read_gives_the_members_classes() {
        let snapshot = crate::metrics::topology::tests::snapshot();
        let o = ObservedCluster::from_snapshot(&snapshot, "orders").unwrap();
        assert_eq!(o.engine, "aurora-mysql");
        assert_eq!(o.members.len(), 5);
        assert!(
            o.members
                .iter()
                .any(|m| m.writer && m.instance == "orders-w")
        );
        assert!(ObservedCluster::from_snapshot(&snapshot, "nope").is_none());
    }

    #[test]
    fn replica_scaling_on_connections_alone_derives_the_target() {
        let (mut config, observed) = orders();
        config.thresholds.connections = None;
        let got = check(&config, Some(&observed)).unwrap().unwrap();
        assert_eq!(
            (
                got.high_connections,
                got.low_connections,
                got.target_connections
            ),
            (0, 0, 700)
        );
    }

    fn member(instance: &str, class: &str, writer: bool) -> Member {
        Member {
            instance: instance.into(),
            class: class.into(),
            writer,
        }
    }

    fn orders() -> (ClusterConfig, ObservedCluster) {
        (
            ClusterConfig {
                cluster: "orders".into(),
                serverless_instance: "orders-serverless".into(),
                thresholds: Thresholds::default(),
                max_connections: None,
                target_connections_percent: Some(70.0),
            },
            ObservedCluster {
                engine: "aurora-mysql".into(),
                members: vec![
                    member("orders-writer", "db.r6g.2xlarge", true),
                    member("orders-r1", "db.r6g.xlarge", false),
                    member("orders-r2", "db.r6g.large", false),
                    member("orders-serverless", "db.serverless", false),
                ],
            },
        )
    }

    #[test]
    fn the_smallest_readers_default_gives_the_thresholds() {
        let (config, observed) = orders();
        let got = check(&config, Some(&observed)).unwrap().unwrap();
        assert_eq!(
            got.max_connections, 1000,
            "r6g.large, not the writer's 3000"
        );
        assert_eq!(
            got.source,
            "aurora-mysql's default for db.r6g.large (orders-r2)"
        );
        assert_eq!((got.high_connections, got.low_connections), (900, 400));
        assert_eq!(got.target_connections, 700);
    }

    #[test]
    fn without_readers_the_writers_class_and_a_configured_number_wins() {
        let (mut config, mut observed) = orders();
        observed
            .members
            .retain(|m| m.writer || m.class == "db.serverless");
        let got = check(&config, Some(&observed)).unwrap().unwrap();
        assert_eq!(got.max_connections, 3000);
        config.max_connections = Some(1200);
        let got = check(&config, Some(&observed)).unwrap().unwrap();
        assert_eq!(
            (got.max_connections, got.source.as_str()),
            (1200, "configured")
        );
        assert_eq!(got.high_connections, 1080);
        // Connections off: nothing to derive, not even for an engine unknown here.
        config.thresholds.connections = None;
        config.target_connections_percent = None;
        observed.engine = "mysql".into();
        assert_eq!(check(&config, Some(&observed)), Ok(None));
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let (mut config, mut observed) = orders();
        config.serverless_instance = "orders-sv".into();
        config.thresholds.connections = Some(ConnectionThresholds {
            high: 40.0,
            low: 90.0,
        });
        config.target_connections_percent = Some(150.0);
        observed
            .members
            .push(member("orders-big", "db.r9z.huge", false));
        let problems = check(&config, Some(&observed)).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("connections low (90) must be below connections high (40)"));
        assert!(problems[1].contains("connections target = 150"));
        assert!(problems[2].contains("orders-sv is not one of its instances (orders-writer,"));
        assert!(problems[3].contains("no default max_connections known for db.r9z.huge"));
        assert!(problems.iter().all(|p| p.starts_with("cluster orders: ")));
    }

    #[test]
    fn a_recheck_only_warns_about_the_clusters_state_unless_the_thresholds_need_it() {
        let (mut config, mut observed) = orders();
        observed.members.pop();
        assert!(check(&config, Some(&observed)).is_err());
        let (got, warnings) = recheck(&config, Some(&observed)).unwrap();
        assert_eq!(got.unwrap().high_connections, 900);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("orders-serverless is not one of its instances"));
        // The cluster gone: a derived max_connections cannot be found, a configured one can.
        let p = recheck(&config, None).unwrap_err();
        assert!(
            p[0].contains("cannot be derived without the cluster"),
            "{p:?}"
        );
        config.max_connections = Some(1200);
        let (got, warnings) = recheck(&config, None).unwrap();
        assert_eq!(got.unwrap().high_connections, 1080);
        assert!(warnings[0].contains("no such Aurora cluster"));
        // A problem of the configuration still fails it.
        config.thresholds.cpu_low = 90.0;
        assert!(recheck(&config, Some(&observed)).is_err());
    }

    #[test]
    fn the_only_serverless_reader_is_found_and_none_or_several_are_named() {
        let (_, mut observed) = orders();
        assert_eq!(
            only_serverless_reader("orders", &observed).unwrap(),
            "orders-serverless"
        );
        observed
            .members
            .push(member("orders-sv2", "db.serverless", false));
        let e = only_serverless_reader("orders", &observed).unwrap_err();
        assert!(
            e.contains("several Aurora Serverless v2 readers (orders-serverless, orders-sv2)"),
            "{e}"
        );
        observed.members.retain(|m| m.class != "db.serverless");
        let e = only_serverless_reader("orders", &observed).unwrap_err();
        assert!(e.contains("no Aurora Serverless v2 reader"), "{e}");
    }

    #[test]
    fn an_unknown_cluster_and_a_provisioned_serverless_instance_are_refused() {
        let (config, mut observed) = orders();
        let p = check(&config, None).unwrap_err();
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("no such Aurora cluster"), "{p:?}");
        observed.members[3].class = "db.r6g.large".into();
        let p = check(&config, Some(&observed)).unwrap_err();
        assert!(
            p[0].contains("is a db.r6g.large, not an Aurora Serverless v2 reader"),
            "{p:?}"
        );
        observed.members[3].class = "db.serverless".into();
        observed.members[3].writer = true;
        let p = check(&config, Some(&observed)).unwrap_err();
        assert!(p[0].contains("is the writer"), "{p:?}");
    }
}
