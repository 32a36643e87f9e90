//! Which instance plays which role in the watched clusters, and a cache of it.
//!
//! The RDS API is described here only as plain data ([`RdsSnapshot`]) behind a trait
//! ([`TopologySource`]); the SDK adapter lives in `spillway-aws`, a fake in the tests. The
//! snapshot is also the documented file format of an offline replay (`--topology FILE`).
//!
//! The cache keeps RDS calls to one refresh per TTL in steady state (DescribeDB* calls share an
//! account-wide budget with the console and every tool), refreshes early — at most once per
//! `min_refresh_interval` — when a sample names an instance it has never seen, and serves the
//! last good topology through RDS failures for at most `max_staleness`; after that it serves
//! nothing, so no metric is ever emitted over a population that may be wrong.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a sample's instance is, for the metric's `Role` dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// An available provisioned reader: the population the alarms and auto scaling watch.
    ProvisionedReader,
    /// An available Aurora Serverless v2 reader (`db.serverless`).
    ServerlessReader,
    /// The cluster's writer.
    Writer,
}

impl Role {
    pub const ALL: [Role; 3] = [
        Self::ProvisionedReader,
        Self::ServerlessReader,
        Self::Writer,
    ];

    /// The `Role` dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProvisionedReader => "provisioned-reader",
            Self::ServerlessReader => "serverless-reader",
            Self::Writer => "writer",
        }
    }
}

/// The instance class of Aurora Serverless v2.
pub const SERVERLESS_CLASS: &str = "db.serverless";

/// A cluster as DescribeDBClusters reports it (only what Spillway reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDescription {
    /// `DBClusterIdentifier`.
    pub id: String,
    /// `DBClusterMembers`.
    pub members: Vec<ClusterMember>,
    /// `Engine` (`aurora-mysql`, `aurora-postgresql`): the deploy-time check derives
    /// `max_connections` from it. Absent from recorded snapshots that predate it.
    #[serde(default)]
    pub engine: String,
}

/// A `DBClusterMembers` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterMember {
    /// `DBInstanceIdentifier`.
    pub instance: String,
    /// `IsClusterWriter`.
    pub writer: bool,
}

/// An instance as DescribeDBInstances reports it (only what Spillway reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDescription {
    /// `DBInstanceIdentifier`.
    pub id: String,
    /// `DBClusterIdentifier`.
    pub cluster: String,
    /// `DBInstanceStatus`.
    pub status: String,
    /// `DBInstanceClass`.
    pub class: String,
    /// `DbiResourceId`, the Enhanced Monitoring log stream name.
    #[serde(default)]
    pub resource_id: Option<String>,
}

/// What RDS said about the watched clusters at one moment; also the topology file format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RdsSnapshot {
    pub clusters: Vec<ClusterDescription>,
    pub instances: Vec<InstanceDescription>,
}

/// Where an instance stands in a watched cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Emit its samples under this cluster and role.
    Member { cluster: Arc<str>, role: Role },
    /// In a watched cluster but not available (creating, rebooting, …): emit nothing.
    NotAvailable { cluster: Arc<str>, status: String },
}

/// The classified topology of every watched cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    by_instance: HashMap<String, Placement>,
    by_resource: HashMap<String, String>,
}

impl Topology {
    /// Classifies a snapshot: instances of clusters not in `watched` are left out.
    pub fn classify(snapshot: &RdsSnapshot, watched: &[String], available: &[String]) -> Self {
        let writers: HashSet<(&str, &str)> = snapshot
            .clusters
            .iter()
            .filter(|c| watched.contains(&c.id))
            .flat_map(|c| {
                c.members
                    .iter()
                    .filter(|m| m.writer)
                    .map(move |m| (c.id.as_str(), m.instance.as_str()))
            })
            .collect();
        let mut topology = Topology::default();
        for i in snapshot
            .instances
            .iter()
            .filter(|i| watched.contains(&i.cluster))
        {
            let cluster: Arc<str> = Arc::from(i.cluster.as_str());
            let placement = if !available.contains(&i.status) {
                Placement::NotAvailable {
                    cluster,
                    status: i.status.clone(),
                }
            } else if writers.contains(&(i.cluster.as_str(), i.id.as_str())) {
                Placement::Member {
                    cluster,
                    role: Role::Writer,
                }
            } else if i.class == SERVERLESS_CLASS {
                Placement::Member {
                    cluster,
                    role: Role::ServerlessReader,
                }
            } else {
                Placement::Member {
                    cluster,
                    role: Role::ProvisionedReader,
                }
            };
            if let Some(resource) = &i.resource_id {
                topology.by_resource.insert(resource.clone(), i.id.clone());
            }
            topology.by_instance.insert(i.id.clone(), placement);
        }
        topology
    }

    /// The placement of an instance, by identifier, else by resource id (which changes on a
    /// blue/green switchover, so it is only the fallback).
    pub fn lookup(&self, instance_id: &str, resource_id: Option<&str>) -> Option<&Placement> {
        self.by_instance.get(instance_id).or_else(|| {
            resource_id
                .and_then(|r| self.by_resource.get(r))
                .and_then(|id| self.by_instance.get(id))
        })
    }

    fn knows(&self, instance_id: &str) -> bool {
        self.by_instance.contains_key(instance_id)
    }

    /// Instances known, for logs and summaries.
    pub fn len(&self) -> usize {
        self.by_instance.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_instance.is_empty()
    }
}

/// A failed describe call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
    /// RDS said to slow down (Throttling, RequestLimitExceeded).
    pub throttled: bool,
}

/// "Describe the cluster topology": DescribeDBClusters and DescribeDBInstances for the watched
/// clusters.
pub trait TopologySource {
    fn describe(
        &self,
        clusters: &[String],
    ) -> impl Future<Output = Result<RdsSnapshot, SourceError>> + Send;
}

/// A fixed snapshot (the offline replay's topology file).
impl TopologySource for RdsSnapshot {
    fn describe(
        &self,
        _clusters: &[String],
    ) -> impl Future<Output = Result<RdsSnapshot, SourceError>> + Send {
        std::future::ready(Ok(self.clone()))
    }
}

/// Cache settings; defaults are those of the configuration table in the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Refresh at most once per this, in steady state (`TOPOLOGY_TTL_SECONDS`, 60).
    pub ttl: Duration,
    /// Serve the last good topology through RDS failures this long (`TOPOLOGY_MAX_STALENESS_SECONDS`, 300).
    pub max_staleness: Duration,
    /// Never call RDS twice within this, whatever the reason (`TOPOLOGY_MIN_REFRESH_SECONDS`, 10).
    pub min_refresh_interval: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            max_staleness: Duration::from_secs(300),
            min_refresh_interval: Duration::from_secs(10),
        }
    }
}

/// Why no topology can be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyUnavailable {
    #[error("no topology was ever loaded from RDS: {0}")]
    NeverLoaded(String),
    #[error(
        "the last good topology is {age_seconds} s old (limit {limit_seconds} s) and RDS fails: {error}"
    )]
    Stale {
        age_seconds: u64,
        limit_seconds: u64,
        error: String,
    },
}

/// Counters for summaries and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Describe attempts (each is one DescribeDBClusters + one DescribeDBInstances, plus pages).
    pub refreshes: u64,
    /// Of which: early, for an unseen instance.
    pub early_refreshes: u64,
    pub failures: u64,
}

/// Upper bound of remembered unknown instances; past it the memory is cleared.
const MAX_REMEMBERED_UNKNOWN: usize = 10_000;

/// The topology cache. Time is passed in (`now`), so tests drive it with a fake clock.
#[derive(Debug)]
pub struct TopologyCache {
    settings: CacheSettings,
    watched: Vec<String>,
    available_statuses: Vec<String>,
    current: Option<(Arc<Topology>, Instant)>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    /// Instances a refresh did not find: they do not trigger early refreshes again (RDSOSMetrics
    /// carries every instance of the Region, most of them in clusters nobody watches here).
    unknown: HashSet<String>,
    stats: CacheStats,
}

impl TopologyCache {
    pub fn new(settings: CacheSettings, watched: Vec<String>, available: Vec<String>) -> Self {
        Self {
            settings,
            watched,
            available_statuses: available,
            current: None,
            last_attempt: None,
            last_error: None,
            unknown: HashSet::new(),
            stats: CacheStats::default(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// The topology to classify samples naming `instances` with, refreshing from `source` when
    /// it is due.
    pub async fn get(
        &mut self,
        source: &impl TopologySource,
        now: Instant,
        instances: &[&str],
    ) -> Result<Arc<Topology>, TopologyUnavailable> {
        let due = match &self.current {
            None => true,
            Some((_, fetched)) if now.saturating_duration_since(*fetched) >= self.settings.ttl => {
                true
            }
            Some((topology, _)) => instances
                .iter()
                .any(|id| !topology.knows(id) && !self.unknown.contains(*id)),
        };
        let allowed = self.last_attempt.is_none_or(|last| {
            now.saturating_duration_since(last) >= self.settings.min_refresh_interval
        });
        let mut refreshed = false;
        if due && allowed {
            let early = self.current.as_ref().is_some_and(|(_, fetched)| {
                now.saturating_duration_since(*fetched) < self.settings.ttl
            });
            refreshed = self.refresh(source, now, early).await;
        }
        // Only a refresh that just looked for an instance and did not find it makes it "not
        // ours": one the rate limit kept from being looked up may be a new replica, and must
        // trigger the next allowed refresh.
        if refreshed && let Some((topology, _)) = &self.current {
            if self.unknown.len() > MAX_REMEMBERED_UNKNOWN {
                self.unknown.clear();
            }
            for id in instances {
                if !topology.knows(id) {
                    self.unknown.insert((*id).to_owned());
                }
            }
        }
        match &self.current {
            Some((topology, fetched)) => {
                let age = now.saturating_duration_since(*fetched);
                if age <= self.settings.max_staleness {
                    Ok(Arc::clone(topology))
                } else {
                    Err(TopologyUnavailable::Stale {
                        age_seconds: age.as_secs(),
                        limit_seconds: self.settings.max_staleness.as_secs(),
                        error: self.last_error.clone().unwrap_or_default(),
                    })
                }
            }
            None => Err(TopologyUnavailable::NeverLoaded(
                self.last_error
                    .clone()
                    .unwrap_or_else(|| "not attempted yet".into()),
            )),
        }
    }

    /// Whether the refresh succeeded.
    async fn refresh(&mut self, source: &impl TopologySource, now: Instant, early: bool) -> bool {
        self.last_attempt = Some(now);
        self.stats.refreshes += 1;
        if early {
            self.stats.early_refreshes += 1;
        }
        match source.describe(&self.watched).await {
            Ok(snapshot) => {
                let topology =
                    Topology::classify(&snapshot, &self.watched, &self.available_statuses);
                tracing::debug!(
                    instances = topology.len(),
                    early,
                    "topology refreshed from RDS"
                );
                self.current = Some((Arc::new(topology), now));
                self.last_error = None;
                // `unknown` is kept: an instance a refresh did not find stays "not ours" for
                // early refreshes; the TTL refresh still finds it if it joins a watched cluster.
                true
            }
            Err(e) => {
                self.stats.failures += 1;
                tracing::warn!(
                    error = %e.message,
                    throttled = e.throttled,
                    "topology refresh failed; keeping the last good topology while it is fresh enough"
                );
                self.last_error = Some(e.message);
                false
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    pub(crate) fn instance(
        id: &str,
        cluster: &str,
        class: &str,
        status: &str,
    ) -> InstanceDescription {
        InstanceDescription {
            id: id.into(),
            cluster: cluster.into(),
            status: status.into(),
            class: class.into(),
            resource_id: Some(format!("db-{}", id.to_uppercase())),
        }
    }

    /// `orders`: writer `orders-w`, provisioned readers `orders-r1`/`orders-r2`, serverless
    /// reader `orders-sv`, a reader still `creating`; and a foreign cluster `other`.
    pub(crate) fn snapshot() -> RdsSnapshot {
        RdsSnapshot {
            clusters: vec![
                ClusterDescription {
                    id: "orders".into(),
                    engine: "aurora-mysql".into(),
                    members: [
                        "orders-w",
                        "orders-r1",
                        "orders-r2",
                        "orders-sv",
                        "orders-new",
                    ]
                    .iter()
                    .map(|m| ClusterMember {
                        instance: (*m).into(),
                        writer: *m == "orders-w",
                    })
                    .collect(),
                },
                ClusterDescription {
                    id: "other".into(),
                    engine: "aurora-mysql".into(),
                    members: vec![ClusterMember {
                        instance: "other-w".into(),
                        writer: true,
                    }],
                },
            ],
            instances: vec![
                instance("orders-w", "orders", "db.r6g.large", "available"),
                instance("orders-r1", "orders", "db.r6g.large", "available"),
                instance("orders-r2", "orders", "db.r6g.large", "available"),
                instance("orders-sv", "orders", SERVERLESS_CLASS, "available"),
                instance("orders-new", "orders", "db.r6g.large", "creating"),
                instance("other-w", "other", "db.r6g.large", "available"),
            ],
        }
    }

    /// A fake RDS: answers from a queue of results, counting calls.
    #[derive(Default)]
    pub(crate) struct FakeRds {
        pub answers: Mutex<Vec<Result<RdsSnapshot, SourceError>>>,
        pub calls: Mutex<u32>,
        pub fallback: Option<RdsSnapshot>,
    }

    impl FakeRds {
        pub(crate) fn always(snapshot: RdsSnapshot) -> Self {
            Self {
                fallback: Some(snapshot),
                ..Self::default()
            }
        }
        fn then(self, answer: Result<RdsSnapshot, SourceError>) -> Self {
            self.answers.lock().unwrap().insert(0, answer);
            self
        }
        fn calls(&self) -> u32 {
            *self.calls.lock().unwrap()
        }
    }

    impl TopologySource for FakeRds {
        fn describe(
            &self,
            _clusters: &[String],
        ) -> impl Future<Output = Result<RdsSnapshot, SourceError>> + Send {
            *self.calls.lock().unwrap() += 1;
            let answer = self.answers.lock().unwrap().pop().unwrap_or_else(|| {
                self.fallback.clone().ok_or(SourceError {
                    message: "Throttling: Rate exceeded".into(),
                    throttled: true,
                })
            });
            std::future::ready(answer)
        }
    }

    fn throttled() -> Result<RdsSnapshot, SourceError> {
        Err(SourceError {
            message: "Throttling: Rate exceeded".into(),
            throttled: true,
        })
    }

    fn cache() -> TopologyCache {
        TopologyCache::new(
            CacheSettings::default(),
            vec!["orders".into()],
            vec!["available".into()],
        )
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn when_snapshot_is_classified_should_give_each_instance_its_role() {
        let t = Topology::classify(&snapshot(), &["orders".into()], &["available".into()]);
        let role = |id: &str| match t.lookup(id, None) {
            Some(Placement::Member { role, .. }) => Some(*role),
            _ => None,
        };
        assert_eq!(role("orders-w"), Some(Role::Writer));
        assert_eq!(role("orders-r1"), Some(Role::ProvisionedReader));
        assert_eq!(role("orders-r2"), Some(Role::ProvisionedReader));
        assert_eq!(role("orders-sv"), Some(Role::ServerlessReader));
        assert_eq!(
            t.lookup("orders-new", None),
            Some(&Placement::NotAvailable {
                cluster: "orders".into(),
                status: "creating".into()
            }),
            "a creating replica is placed but not emitted"
        );
        assert_eq!(
            t.lookup("other-w", None),
            None,
            "unwatched clusters are left out"
        );
        assert_eq!(
            role("renamed"),
            None,
            "an unknown identifier is not found by name"
        );
        assert_eq!(
            t.lookup("renamed", Some("db-ORDERS-R1")),
            t.lookup("orders-r1", None),
            "the resource id is the fallback key"
        );
    }

    #[test]
    fn when_a_serverless_writer_exists_should_call_it_writer() {
        let mut s = snapshot();
        s.instances[0].class = SERVERLESS_CLASS.into();
        let t = Topology::classify(&s, &["orders".into()], &["available".into()]);
        assert!(matches!(
            t.lookup("orders-w", None),
            Some(Placement::Member {
                role: Role::Writer,
                ..
            })
        ));
    }

    #[test]
    fn when_within_ttl_should_not_call_rds_again() {
        let rds = FakeRds::always(snapshot());
        let mut c = cache();
        let t0 = Instant::now();
        for s in [0, 1, 30, 59] {
            block_on(c.get(&rds, t0 + secs(s), &["orders-r1"])).expect("topology");
        }
        assert_eq!(rds.calls(), 1, "one refresh within the TTL");
        block_on(c.get(&rds, t0 + secs(60), &["orders-r1"])).expect("topology");
        assert_eq!(rds.calls(), 2, "refreshed once the TTL elapsed");
    }

    #[test]
    fn when_unknown_instance_appears_should_refresh_early_once() {
        let rds = FakeRds::always(snapshot());
        let mut c = cache();
        let t0 = Instant::now();
        block_on(c.get(&rds, t0, &["orders-r1"])).unwrap();
        // GIVEN a refresh at t0, WHEN a never-seen instance arrives at t0+15 s
        let t = block_on(c.get(&rds, t0 + secs(15), &["orders-r9"])).unwrap();
        assert_eq!(
            rds.calls(),
            2,
            "an unseen instance triggers one early refresh"
        );
        assert_eq!(c.stats().early_refreshes, 1);
        assert_eq!(t.lookup("orders-r9", None), None);
        // THEN the same unknown instance does not trigger another one
        block_on(c.get(&rds, t0 + secs(30), &["orders-r9"])).unwrap();
        block_on(c.get(&rds, t0 + secs(45), &["other-w"])).unwrap();
        assert_eq!(
            rds.calls(),
            3,
            "a second unknown instance may refresh once; a remembered one never"
        );
        block_on(c.get(&rds, t0 + secs(50), &["other-w", "orders-r9"])).unwrap();
        assert_eq!(
            rds.calls(),
            3,
            "remembered unknown instances do not refresh"
        );
    }

    #[test]
    fn when_unknown_instances_flood_should_rate_limit_early_refreshes() {
        let rds = FakeRds::always(snapshot());
        let mut c = cache();
        let t0 = Instant::now();
        block_on(c.get(&rds, t0, &["orders-r1"])).unwrap();
        for i in 0..50u64 {
            let id = format!("new-{i}");
            block_on(c.get(&rds, t0 + Duration::from_millis(100 * i), &[&id])).unwrap();
        }
        // 5 s of new names: the 10-s minimum interval allows no early refresh at all.
        assert_eq!(rds.calls(), 1, "early refreshes are rate-limited");
    }

    /// A cache refreshed at t0 from RDS that knows the replica orders-r3 only from then on.
    fn refreshed_before_a_new_replica() -> (FakeRds, TopologyCache, Instant) {
        let mut grown = snapshot();
        grown
            .instances
            .push(instance("orders-r3", "orders", "db.r6g.large", "available"));
        let rds = FakeRds::always(grown).then(Ok(snapshot()));
        let mut c = cache();
        let t0 = Instant::now();
        block_on(c.get(&rds, t0, &["orders-r1"])).unwrap();
        (rds, c, t0)
    }

    fn is_provisioned_reader(t: &Topology, id: &str) -> bool {
        matches!(
            t.lookup(id, None),
            Some(Placement::Member {
                role: Role::ProvisionedReader,
                ..
            })
        )
    }

    #[test]
    fn when_new_replica_joins_should_be_found_by_the_early_refresh() {
        let (rds, mut c, t0) = refreshed_before_a_new_replica();
        let t = block_on(c.get(&rds, t0 + secs(11), &["orders-r3"])).unwrap();
        assert!(
            is_provisioned_reader(&t, "orders-r3"),
            "the new replica is a provisioned reader after the early refresh"
        );
    }

    #[test]
    fn when_a_new_replica_first_appears_inside_the_minimum_interval_should_refresh_once_allowed() {
        // GIVEN a refresh at t0, and RDS that knows orders-r3 from then on
        let (rds, mut c, t0) = refreshed_before_a_new_replica();
        // WHEN orders-r3's first batch comes 5 s later (inside the 10-s minimum), then at 30 s
        let early = block_on(c.get(&rds, t0 + secs(5), &["orders-r3"])).unwrap();
        assert_eq!(early.lookup("orders-r3", None), None, "not looked up yet");
        let t = block_on(c.get(&rds, t0 + secs(30), &["orders-r3"])).unwrap();
        // THEN the rate-limited sighting did not mark it "not ours": the 30-s batch refreshed
        assert_eq!(
            rds.calls(),
            2,
            "one early refresh once the minimum interval allowed it"
        );
        assert!(
            is_provisioned_reader(&t, "orders-r3"),
            "the new replica is measured 30 s after the refresh, not after the 60-s TTL"
        );
    }

    #[test]
    fn when_rds_fails_should_serve_last_good_until_max_staleness() {
        let rds = FakeRds::default().then(Ok(snapshot()));
        let mut c = cache();
        let t0 = Instant::now();
        block_on(c.get(&rds, t0, &["orders-r1"])).expect("first load");
        for s in [60, 120, 240, 300] {
            assert!(
                block_on(c.get(&rds, t0 + secs(s), &["orders-r1"])).is_ok(),
                "at {s} s the last good topology is still served"
            );
        }
        let err = block_on(c.get(&rds, t0 + secs(301), &["orders-r1"])).expect_err("too stale");
        assert!(
            matches!(err, TopologyUnavailable::Stale { age_seconds: 301, limit_seconds: 300, ref error } if error.contains("Throttling")),
            "stale past the limit, naming the RDS error: {err:?}"
        );
        assert_eq!(
            c.stats().failures,
            4,
            "failed refreshes at 60, 120, 240, 300 s"
        );
    }

    #[test]
    fn when_rds_fails_repeatedly_should_not_retry_faster_than_min_interval() {
        let rds = FakeRds::default().then(Ok(snapshot()));
        let mut c = cache();
        let t0 = Instant::now();
        block_on(c.get(&rds, t0, &["orders-r1"])).unwrap();
        for ms in (60_000..70_000).step_by(500) {
            let _ = block_on(c.get(&rds, t0 + Duration::from_millis(ms), &["orders-r1"]));
        }
        assert_eq!(
            rds.calls(),
            2,
            "one failed retry within the 10-s minimum interval"
        );
    }

    #[test]
    fn when_rds_never_answered_should_be_unavailable() {
        let rds = FakeRds::default().then(throttled());
        let mut c = cache();
        let err = block_on(c.get(&rds, Instant::now(), &["orders-r1"])).expect_err("nothing");
        assert!(matches!(err, TopologyUnavailable::NeverLoaded(ref m) if m.contains("Throttling")));
    }

    #[test]
    fn when_rds_recovers_should_serve_fresh_topology_again() {
        let rds = FakeRds::always(snapshot())
            .then(Ok(snapshot()))
            .then(throttled());
        let mut c = cache();
        let t0 = Instant::now();
        block_on(c.get(&rds, t0, &[])).unwrap();
        block_on(c.get(&rds, t0 + secs(60), &[])).unwrap();
        assert!(
            block_on(c.get(&rds, t0 + secs(400), &[])).is_ok(),
            "after recovery, served again"
        );
        assert_eq!(c.stats().failures, 1);
    }

    #[test]
    fn when_an_hour_of_batches_is_replayed_should_refresh_once_per_ttl() {
        // GIVEN a warm container receiving, for one hour, a batch every 10 s from each of the
        // four instances of `orders` and, now and then, one from another cluster's instance
        let rds = FakeRds::always(snapshot());
        let mut c = cache();
        let t0 = Instant::now();
        let mut invocations = 0;
        for second in (0..3_600u64).step_by(10) {
            for id in ["orders-w", "orders-r1", "orders-r2", "orders-sv"] {
                block_on(c.get(&rds, t0 + secs(second), &[id])).expect("topology");
                invocations += 1;
            }
            if second % 600 == 20 {
                block_on(c.get(&rds, t0 + secs(second + 5), &["other-w"])).expect("topology");
                invocations += 1;
            }
        }
        // THEN RDS is asked once per TTL (each ask = DescribeDBClusters + DescribeDBInstances),
        // plus one early refresh for the foreign instance the first time it is seen
        assert_eq!(invocations, 1_446);
        assert_eq!(
            rds.calls(),
            61,
            "the first load, 59 TTL refreshes and 1 early one"
        );
        assert_eq!(c.stats().early_refreshes, 1);
    }

    #[test]
    fn when_topology_file_round_trips_should_be_equal() {
        let json = serde_json::to_string_pretty(&snapshot()).unwrap();
        let back: RdsSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot());
        assert!(json.contains("\"resourceId\""), "camelCase file format");
    }
}
