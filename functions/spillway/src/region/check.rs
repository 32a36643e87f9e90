//! The deploy-time check of one watched cluster's configuration, and what its connections
//! signals are in connections: run by the stack's `ClusterCheck` custom resource before any of
//! the cluster's alarms, records or endpoints exist, so a bad configuration fails the deploy
//! with every problem named and nothing of the cluster created.
//!
//! Pure: the adapter observes the cluster (DescribeDBClusters, DescribeDBInstances) and this
//! decides.

use super::max_connections::{Engine, default_max_connections, threshold};
use super::signals::Thresholds;

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

/// The connections signals in connections (what the alarms compare with).
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
/// connections thresholds in connections (`None` in `Ok`: connections are not a signal).
pub fn check(
    config: &ClusterConfig,
    observed: Option<&ObservedCluster>,
) -> Result<Option<Checked>, Vec<String>> {
    let c = &config.cluster;
    let mut problems: Vec<String> = config
        .thresholds
        .problems()
        .into_iter()
        .map(|p| format!("cluster {c}: {p}"))
        .collect();
    if let Some(t) = config.target_connections_percent
        && (!(0.0..=100.0).contains(&t) || t.is_nan())
    {
        problems.push(format!(
            "cluster {c}: connections target = {t}: a percentage from 0 to 100"
        ));
    }
    let Some(observed) = observed else {
        problems.push(format!(
            "cluster {c}: no such Aurora cluster in this account and Region (DBClusterIdentifier, lowercase)"
        ));
        return Err(problems);
    };
    let s = &config.serverless_instance;
    match observed.members.iter().find(|m| &m.instance == s) {
        None => problems.push(format!(
            "cluster {c}: {s} is not one of its instances ({})",
            names(&observed.members)
        )),
        Some(m) if m.class != "db.serverless" => problems.push(format!(
            "cluster {c}: {s} is a {}, not an Aurora Serverless v2 reader (db.serverless)",
            m.class
        )),
        Some(m) if m.writer => problems.push(format!(
            "cluster {c}: {s} is the writer; the serverless instance must be a reader"
        )),
        Some(_) => {}
    }
    let checked = if config.thresholds.connections.is_some() {
        match max_connections(config, observed) {
            Ok(found) => Some(found),
            Err(p) => {
                problems.push(p);
                None
            }
        }
    } else {
        None
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(checked.map(|(max, source)| {
        let conn = config.thresholds.connections.expect("checked above");
        Checked {
            max_connections: max,
            source,
            high_connections: threshold(conn.high, max),
            low_connections: threshold(conn.low, max),
            target_connections: threshold(config.target_connections_percent.unwrap_or(70.0), max),
        }
    }))
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
            format!("{}'s default for {} ({})", observed.engine, m.class, m.instance),
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
    use crate::region::signals::ConnectionThresholds;

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
                target_connections_percent: None,
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
        assert_eq!(got.max_connections, 1000, "r6g.large, not the writer's 3000");
        assert_eq!(got.source, "aurora-mysql's default for db.r6g.large (orders-r2)");
        assert_eq!((got.high_connections, got.low_connections), (900, 400));
        assert_eq!(got.target_connections, 700);
    }

    #[test]
    fn without_readers_the_writers_class_and_a_configured_number_wins() {
        let (mut config, mut observed) = orders();
        observed.members.retain(|m| m.writer || m.class == "db.serverless");
        let got = check(&config, Some(&observed)).unwrap().unwrap();
        assert_eq!(got.max_connections, 3000);
        config.max_connections = Some(1200);
        let got = check(&config, Some(&observed)).unwrap().unwrap();
        assert_eq!((got.max_connections, got.source.as_str()), (1200, "configured"));
        assert_eq!(got.high_connections, 1080);
        // Connections off: nothing to derive, not even for an engine unknown here.
        config.thresholds.connections = None;
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
        observed.members.push(member("orders-big", "db.r9z.huge", false));
        let problems = check(&config, Some(&observed)).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("connections low (90) must be below connections high (40)"));
        assert!(problems[1].contains("connections target = 150"));
        assert!(problems[2].contains("orders-sv is not one of its instances (orders-writer,"));
        assert!(problems[3].contains("no default max_connections known for db.r9z.huge"));
        assert!(problems.iter().all(|p| p.starts_with("cluster orders: ")));
    }

    #[test]
    fn an_unknown_cluster_and_a_provisioned_serverless_instance_are_refused() {
        let (config, mut observed) = orders();
        let p = check(&config, None).unwrap_err();
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("no such Aurora cluster"), "{p:?}");
        observed.members[3].class = "db.r6g.large".into();
        let p = check(&config, Some(&observed)).unwrap_err();
        assert!(p[0].contains("is a db.r6g.large, not an Aurora Serverless v2 reader"), "{p:?}");
        observed.members[3].class = "db.serverless".into();
        observed.members[3].writer = true;
        let p = check(&config, Some(&observed)).unwrap_err();
        assert!(p[0].contains("is the writer"), "{p:?}");
    }
}
