//! One weight step, safely: read the weighted pair, check the guards, compute the next
//! weights ([`crate::shifting::weights`]), write both records in one change batch.
//!
//! AWS is behind two small traits — "read/write the weighted pair" and "the serverless reader's
//! status" — implemented over Route 53 and RDS in `spillway-aws` and by fakes in tests.
//!
//! Concurrency: two executions must never double-step, and scale-up and scale-down must never
//! fight. Two mechanisms, both here:
//! - the write is a compare-and-swap: the store deletes the exact records it read (Route 53
//!   rejects the whole change batch if either changed since) and creates the new ones;
//! - the caller may pass the serverless weight its previous step left
//!   (`expected_serverless_weight`); if the record holds anything else, another execution moved
//!   it, and this one stops with `ConcurrentChange` instead of stepping on top of it.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::shifting::weights::{self, Direction, WeightPolicy};

/// One weighted CNAME record, complete (an UPSERT or CREATE must repeat every field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedRecord {
    /// Fully qualified, with the trailing dot as Route 53 returns it.
    pub name: String,
    pub record_type: String,
    pub set_identifier: String,
    pub weight: u16,
    pub ttl: i64,
    pub values: Vec<String>,
}

/// The two records that split reads between the provisioned readers and the serverless reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedPair {
    pub provisioned: WeightedRecord,
    pub serverless: WeightedRecord,
}

/// What can go wrong at the edges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("weighted records not found: {0}")]
    NotFound(String),
    #[error("weighted records do not match the configuration: {0}")]
    Mismatch(String),
    #[error("the records changed since they were read: {0}")]
    Conflict(String),
    #[error("throttled: {0}")]
    Throttled(String),
    #[error("{0}")]
    Other(String),
}

/// "Read/write the weighted pair" (Route 53).
pub trait WeightedPairStore {
    fn read(&self) -> impl Future<Output = Result<WeightedPair, StoreError>> + Send;
    /// Replaces `current` by the same records with the new weights, both in one change batch,
    /// failing with [`StoreError::Conflict`] if either record is no longer exactly `current`.
    /// Returns the change id.
    fn write(
        &self,
        current: &WeightedPair,
        serverless_weight: u16,
        provisioned_weight: u16,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// "The serverless reader's status" (RDS DescribeDBInstances) "and its replica lag"
/// (CloudWatch `AuroraReplicaLag`).
pub trait InstanceStatus {
    /// `Ok(None)` when the instance does not exist.
    fn status(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The cluster's status (`available`, `failing-over`, …); `Ok(None)` when it does not exist.
    fn cluster_status(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The newest `AuroraReplicaLag` of the instance, milliseconds; `Ok(None)`: no datapoint.
    fn replica_lag_ms(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<Option<f64>, StoreError>> + Send;
}

/// The input the state machines send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRequest {
    pub direction: Direction,
    /// The serverless weight the previous step of the same execution left, if any (in a dry
    /// run: the weight it would have left).
    #[serde(default)]
    pub expected_serverless_weight: Option<u16>,
    /// When scale-up last raised the serverless weight (scale-down passes it; `None`: no raise
    /// on record). With `now`, the scale-down delay's clock.
    #[serde(default)]
    pub last_raise_at: Option<DateTime<Utc>>,
    /// The machine's clock when it asked for the step (Step Functions' `$$.State.EnteredTime`).
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
}

/// The result of a step, for the state machine and the "why traffic moved" log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutcome {
    pub direction: Direction,
    pub previous_serverless_weight: u16,
    pub previous_provisioned_weight: u16,
    pub serverless_weight: u16,
    pub provisioned_weight: u16,
    /// serverless / (serverless + provisioned), 0–1.
    pub serverless_share: f64,
    /// `up` at the maximum, or `down` at 0.
    pub at_limit: bool,
    /// Whether Route 53 was written (false for a no-op or a dry run).
    pub changed: bool,
    /// Whether the serverless weight moved in the step's direction (in a dry run: would have):
    /// up and higher, or down and lower. A repair that clamps a weight above the maximum is
    /// not a raise. The scale-up machine undoes a direct start's raise only if it raised.
    pub serverless_moved: bool,
    pub dry_run: bool,
    pub change_id: Option<String>,
}

/// Why a step did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShiftError {
    #[error("the serverless reader {instance} is {status}, not available: traffic not moved")]
    ServerlessReaderUnavailable { instance: String, status: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the serverless weight is {found}, not the {expected} this execution left: another execution moved it"
    )]
    UnexpectedWeight { expected: u16, found: u16 },
    #[error(
        "the serverless reader {instance} lags the writer by {lag_ms} ms, above the {bound_ms} ms bound: weight not raised this round"
    )]
    ReplicaLagging {
        instance: String,
        /// Whole milliseconds, rounded up.
        lag_ms: u64,
        bound_ms: u64,
    },
    #[error(
        "cluster {cluster} is failing over (a planned event's failover, or Aurora's own): no weight step until it is done"
    )]
    ClusterFailingOver { cluster: String },
    #[error(
        "the serverless weight was raised at {raised_at}: no scale-down step before {until} (ScaleDownDelayAfterScaleUpSeconds {delay_s})"
    )]
    ScaleDownDelayed {
        raised_at: DateTime<Utc>,
        until: DateTime<Utc>,
        delay_s: u64,
    },
}

/// What a step needs besides its stores.
#[derive(Debug, Clone)]
pub struct ShiftSettings {
    pub policy: WeightPolicy,
    /// The cluster whose failover stops the steps (no weight moves while it fails over).
    pub cluster: String,
    pub serverless_instance: String,
    pub dry_run: bool,
    /// No raise while the serverless reader's `AuroraReplicaLag` is above this many
    /// milliseconds; `None`: no lag guard.
    pub max_replica_lag_ms: Option<f64>,
    /// No lowering step until this many seconds after the last raise (Aurora's "15 minutes
    /// after a scale-up"); 0: none.
    pub scale_down_delay_s: u64,
}

/// Aurora's cooldown after a scale-up: a lowering step at `now_ms` is held until `delay_s`
/// after the last raise (`last_raise_ms`); `Some(until)`: held until then (milliseconds since
/// the epoch). The weight-step function and the simulator's loops both decide with it.
pub fn lowering_held_until(last_raise_ms: i64, now_ms: i64, delay_s: u64) -> Option<i64> {
    let until = last_raise_ms.saturating_add((delay_s as i64).saturating_mul(1000));
    (delay_s > 0 && now_ms < until).then_some(until)
}

/// Makes one step.
pub async fn step(
    store: &impl WeightedPairStore,
    instances: &impl InstanceStatus,
    settings: &ShiftSettings,
    request: StepRequest,
) -> Result<StepOutcome, ShiftError> {
    let pair = store.read().await?;
    let recorded = pair.serverless.weight;
    // A dry run writes nothing, so Route 53 never holds the weight its previous step returned:
    // it steps from that simulated weight instead (the trajectory a real run would take), and
    // there is nothing to compare-and-swap against.
    let current = match request.expected_serverless_weight {
        Some(simulated) if settings.dry_run => simulated,
        Some(expected) if expected != recorded => {
            return Err(ShiftError::UnexpectedWeight {
                expected,
                found: recorded,
            });
        }
        _ => recorded,
    };
    let next = weights::next(
        current,
        pair.provisioned.weight,
        request.direction,
        &settings.policy,
    );
    if next.serverless > current {
        let status = instances
            .status(&settings.serverless_instance)
            .await?
            .unwrap_or_else(|| "missing".into());
        if status != "available" {
            return Err(ShiftError::ServerlessReaderUnavailable {
                instance: settings.serverless_instance.clone(),
                status,
            });
        }
        if let Some(bound_ms) = settings.max_replica_lag_ms {
            // A quality guard, not a safety one: when the lag cannot be read the raise goes on
            // (refusing would let a CloudWatch hiccup stop the spill), and says so.
            match instances
                .replica_lag_ms(&settings.serverless_instance)
                .await
            {
                Ok(Some(lag_ms)) if lag_ms > bound_ms => {
                    return Err(ShiftError::ReplicaLagging {
                        instance: settings.serverless_instance.clone(),
                        lag_ms: lag_ms.ceil() as u64,
                        bound_ms: bound_ms as u64,
                    });
                }
                Ok(Some(_)) => {}
                Ok(None) => tracing::warn!(
                    instance = %settings.serverless_instance,
                    "no recent AuroraReplicaLag datapoint: raising without the lag guard"
                ),
                Err(e) => tracing::warn!(
                    instance = %settings.serverless_instance,
                    error = %e,
                    "AuroraReplicaLag could not be read: raising without the lag guard"
                ),
            }
        }
    }
    // Aurora's cooldown after a scale-up: a lowering step waits until the delay since the last
    // raise has passed (a dry run reports the same refusal). Scale-up's own undo of an
    // unconfirmed raise passes no raise time and is never held.
    if next.serverless < current
        && let (Some(raised_at), Some(now)) = (request.last_raise_at, request.now)
        && let Some(until) = lowering_held_until(
            raised_at.timestamp_millis(),
            now.timestamp_millis(),
            settings.scale_down_delay_s,
        )
    {
        return Err(ShiftError::ScaleDownDelayed {
            raised_at,
            until: DateTime::from_timestamp_millis(until).unwrap_or(now),
            delay_s: settings.scale_down_delay_s,
        });
    }
    // No two movers: while the cluster fails over (a planned event's Prepare or Recover, or
    // Aurora's own), no weight moves, either way (a dry run reports the same refusal).
    if next.changes()
        && instances
            .cluster_status(&settings.cluster)
            .await?
            .as_deref()
            == Some("failing-over")
    {
        return Err(ShiftError::ClusterFailingOver {
            cluster: settings.cluster.clone(),
        });
    }
    let write = next.changes() && !settings.dry_run;
    let change_id = if write {
        Some(
            store
                .write(&pair, next.serverless, next.provisioned)
                .await?,
        )
    } else {
        None
    };
    Ok(StepOutcome {
        direction: request.direction,
        previous_serverless_weight: current,
        previous_provisioned_weight: pair.provisioned.weight,
        serverless_weight: next.serverless,
        provisioned_weight: next.provisioned,
        serverless_share: next.share(),
        at_limit: next.at_limit,
        changed: write,
        serverless_moved: match request.direction {
            Direction::Up => next.serverless > current,
            Direction::Down => next.serverless < current,
        },
        dry_run: settings.dry_run,
        change_id,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    pub(crate) fn record(set: &str, weight: u16) -> WeightedRecord {
        WeightedRecord {
            name: "reads.orders.internal.".into(),
            record_type: "CNAME".into(),
            set_identifier: set.into(),
            weight,
            ttl: 5,
            values: vec![format!(
                "{set}.cluster-custom-x.us-east-1.rds.amazonaws.com"
            )],
        }
    }

    /// An in-memory Route 53 pair with Route 53's compare-and-swap semantics.
    pub(crate) struct FakeZone {
        pub pair: Mutex<WeightedPair>,
        pub writes: Mutex<Vec<(u16, u16)>>,
    }

    impl FakeZone {
        pub(crate) fn new(serverless: u16, provisioned: u16) -> Self {
            Self {
                pair: Mutex::new(WeightedPair {
                    provisioned: record("provisioned", provisioned),
                    serverless: record("serverless", serverless),
                }),
                writes: Mutex::new(Vec::new()),
            }
        }
        fn weights(&self) -> (u16, u16) {
            let p = self.pair.lock().unwrap();
            (p.serverless.weight, p.provisioned.weight)
        }
    }

    impl<S: WeightedPairStore + Sync> WeightedPairStore for &S {
        async fn read(&self) -> Result<WeightedPair, StoreError> {
            (**self).read().await
        }
        async fn write(&self, c: &WeightedPair, s: u16, p: u16) -> Result<String, StoreError> {
            (**self).write(c, s, p).await
        }
    }

    impl WeightedPairStore for FakeZone {
        async fn read(&self) -> Result<WeightedPair, StoreError> {
            Ok(self.pair.lock().unwrap().clone())
        }
        async fn write(
            &self,
            current: &WeightedPair,
            serverless: u16,
            provisioned: u16,
        ) -> Result<String, StoreError> {
            let mut pair = self.pair.lock().unwrap();
            if *pair != *current {
                return Err(StoreError::Conflict(
                    "Tried to delete resource record set but it was not found".into(),
                ));
            }
            pair.serverless.weight = serverless;
            pair.provisioned.weight = provisioned;
            self.writes.lock().unwrap().push((serverless, provisioned));
            Ok(format!("/change/C{}", self.writes.lock().unwrap().len()))
        }
    }

    pub(crate) struct Status(pub Option<&'static str>);

    impl InstanceStatus for Status {
        async fn status(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(self.0.map(str::to_owned))
        }
        async fn cluster_status(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(Some("available".into()))
        }
        async fn replica_lag_ms(&self, _: &str) -> Result<Option<f64>, StoreError> {
            Ok(Some(20.0))
        }
    }

    /// An available serverless reader with this replica lag (or none, or an unreadable one).
    pub(crate) struct Lagging(pub Result<Option<f64>, StoreError>);

    impl InstanceStatus for Lagging {
        async fn status(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(Some("available".into()))
        }
        async fn cluster_status(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(Some("available".into()))
        }
        async fn replica_lag_ms(&self, _: &str) -> Result<Option<f64>, StoreError> {
            self.0.clone()
        }
    }

    fn settings(dry_run: bool) -> ShiftSettings {
        ShiftSettings {
            policy: WeightPolicy::new(20, 60, 100).unwrap(),
            cluster: "orders".into(),
            serverless_instance: "orders-serverless".into(),
            dry_run,
            max_replica_lag_ms: Some(1000.0),
            scale_down_delay_s: 600,
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn up(expected: Option<u16>) -> StepRequest {
        StepRequest {
            direction: Direction::Up,
            expected_serverless_weight: expected,
            last_raise_at: None,
            now: None,
        }
    }

    fn down(expected: Option<u16>) -> StepRequest {
        StepRequest {
            direction: Direction::Down,
            expected_serverless_weight: expected,
            last_raise_at: None,
            now: None,
        }
    }

    /// A lowering step `seconds_after` the last raise.
    fn down_after(expected: Option<u16>, seconds_after: i64) -> StepRequest {
        let raised: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        StepRequest {
            last_raise_at: Some(raised),
            now: Some(raised + chrono::Duration::seconds(seconds_after)),
            ..down(expected)
        }
    }

    #[test]
    fn no_lowering_step_until_the_delay_after_the_last_raise() {
        let s = settings(false);
        let zone = FakeZone::new(40, 100);
        let err = run(step(
            &zone,
            &Status(Some("available")),
            &s,
            down_after(Some(40), 599),
        ))
        .unwrap_err();
        assert!(
            matches!(err, ShiftError::ScaleDownDelayed { delay_s: 600, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("no scale-down step before 2026-12-03 10:10:00 UTC"),
            "{err}"
        );
        assert!(zone.writes.lock().unwrap().is_empty());
        // At the delay it lowers; without a raise on record (or without a clock: scale-up's own
        // undo) it is never held; with the delay 0 neither.
        let o = run(step(
            &zone,
            &Status(Some("available")),
            &s,
            down_after(Some(40), 600),
        ))
        .unwrap();
        assert_eq!(o.serverless_weight, 20);
        let o = run(step(&zone, &Status(Some("available")), &s, down(Some(20)))).unwrap();
        assert_eq!(o.serverless_weight, 0);
        let zone = FakeZone::new(40, 100);
        let none = ShiftSettings {
            scale_down_delay_s: 0,
            ..settings(false)
        };
        assert!(
            run(step(
                &zone,
                &Status(Some("available")),
                &none,
                down_after(Some(40), 1)
            ))
            .is_ok()
        );
        // A raise is never held by it.
        let zone = FakeZone::new(0, 100);
        let up_late = StepRequest {
            direction: Direction::Up,
            ..down_after(None, 1)
        };
        assert!(run(step(&zone, &Status(Some("available")), &s, up_late)).is_ok());
        // A dry run reports the same refusal.
        let dry = settings(true);
        assert!(matches!(
            run(step(
                &FakeZone::new(40, 100),
                &Status(Some("available")),
                &dry,
                down_after(Some(40), 10)
            )),
            Err(ShiftError::ScaleDownDelayed { .. })
        ));
    }

    /// Available, and the cluster in this state.
    struct Cluster(&'static str);

    impl InstanceStatus for Cluster {
        async fn status(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(Some("available".into()))
        }
        async fn cluster_status(&self, id: &str) -> Result<Option<String>, StoreError> {
            assert_eq!(id, "orders");
            Ok(Some(self.0.into()))
        }
        async fn replica_lag_ms(&self, _: &str) -> Result<Option<f64>, StoreError> {
            Ok(Some(0.0))
        }
    }

    #[test]
    fn while_the_cluster_fails_over_no_weight_moves_either_way() {
        let zone = FakeZone::new(20, 100);
        for dry_run in [false, true] {
            let s = settings(dry_run);
            for request in [up(Some(20)), down(Some(20))] {
                let err = run(step(&zone, &Cluster("failing-over"), &s, request))
                    .expect_err("failing over");
                assert_eq!(
                    err,
                    ShiftError::ClusterFailingOver {
                        cluster: "orders".into()
                    }
                );
            }
        }
        assert!(zone.writes.lock().unwrap().is_empty());
        // Any other status moves (a modifying cluster still serves reads).
        let o = run(step(
            &zone,
            &Cluster("modifying"),
            &settings(false),
            up(Some(20)),
        ))
        .unwrap();
        assert_eq!(o.serverless_weight, 40);
    }

    #[test]
    fn when_the_serverless_reader_lags_should_refuse_a_raise_but_not_a_lowering() {
        // GIVEN the reader 1,500 ms behind, the bound 1,000 ms
        let zone = FakeZone::new(20, 100);
        let lagging = Lagging(Ok(Some(1500.0)));
        let s = settings(false);
        // THEN no raise, nothing written, and the error names the lag and the bound
        let err = run(step(&zone, &lagging, &s, up(Some(20)))).expect_err("lagging");
        assert_eq!(
            err,
            ShiftError::ReplicaLagging {
                instance: "orders-serverless".into(),
                lag_ms: 1500,
                bound_ms: 1000
            }
        );
        assert!(err.to_string().contains("1500 ms"), "{err}");
        assert!(zone.writes.lock().unwrap().is_empty());
        // AND lowering is not held back (moving reads off a lagging reader is the cure)
        let o = run(step(&zone, &lagging, &s, down(Some(20)))).expect("down");
        assert_eq!(o.serverless_weight, 0);
        // AND at the bound, without a datapoint, or with CloudWatch failing, the raise goes on
        for lag in [
            Ok(Some(1000.0)),
            Ok(None),
            Err(StoreError::Other("GetMetricData: boom".into())),
        ] {
            let zone = FakeZone::new(0, 100);
            let o = run(step(&zone, &Lagging(lag.clone()), &s, up(None)))
                .unwrap_or_else(|e| panic!("{lag:?}: {e}"));
            assert_eq!(o.serverless_weight, 20, "{lag:?}");
        }
        // AND without a bound the lag is not even read
        let off = ShiftSettings {
            max_replica_lag_ms: None,
            ..settings(false)
        };
        let zone = FakeZone::new(0, 100);
        assert!(run(step(&zone, &lagging, &off, up(None))).is_ok());
    }

    #[test]
    fn when_scaling_up_and_back_should_follow_the_steps_and_write_both_weights() {
        let zone = FakeZone::new(0, 100);
        let ok = Status(Some("available"));
        let s = settings(false);
        let mut last = None;
        for _ in 0..4 {
            let o = run(step(&zone, &ok, &s, up(last))).expect("step up");
            last = Some(o.serverless_weight);
        }
        for _ in 0..4 {
            let o = run(step(&zone, &ok, &s, down(last))).expect("step down");
            last = Some(o.serverless_weight);
        }
        assert_eq!(
            *zone.writes.lock().unwrap(),
            vec![
                (20, 100),
                (40, 100),
                (60, 100),
                (40, 100),
                (20, 100),
                (0, 100)
            ],
            "no write at the limits; the provisioned weight is written with every change"
        );
    }

    #[test]
    fn when_serverless_reader_is_not_available_should_not_raise() {
        let zone = FakeZone::new(20, 100);
        for (status, named) in [
            (Some("creating"), "creating"),
            (Some("rebooting"), "rebooting"),
            (None, "missing"),
        ] {
            let err = run(step(&zone, &Status(status), &settings(false), up(None)))
                .expect_err("not available");
            assert_eq!(
                err,
                ShiftError::ServerlessReaderUnavailable {
                    instance: "orders-serverless".into(),
                    status: named.into()
                }
            );
        }
        assert_eq!(zone.weights(), (20, 100), "nothing moved");
        let o = run(step(
            &zone,
            &Status(Some("creating")),
            &settings(false),
            down(None),
        ))
        .expect("lowering needs no healthy serverless reader");
        assert_eq!(o.serverless_weight, 0);
    }

    #[test]
    fn when_dry_run_should_compute_but_not_write() {
        let zone = FakeZone::new(0, 100);
        let o = run(step(
            &zone,
            &Status(Some("available")),
            &settings(true),
            up(None),
        ))
        .unwrap();
        assert_eq!(
            (o.serverless_weight, o.changed, o.dry_run, o.change_id),
            (20, false, true, None)
        );
        assert_eq!(zone.weights(), (0, 100));
    }

    #[test]
    fn when_dry_run_rounds_follow_each_other_should_step_from_the_simulated_weight() {
        // GIVEN a dry run, fed back its own result as a state machine does round after round
        let zone = FakeZone::new(0, 100);
        let ok = Status(Some("available"));
        let s = settings(true);
        let mut last = None;
        let mut seen = vec![];
        for _ in 0..4 {
            // THEN no round fails with "another execution moved it"
            let o = run(step(&zone, &ok, &s, up(last))).expect("a dry round never conflicts");
            seen.push(o.serverless_weight);
            last = Some(o.serverless_weight);
        }
        assert_eq!(
            seen,
            vec![20, 40, 60, 60],
            "the trajectory a real run would take"
        );
        assert_eq!(zone.weights(), (0, 100), "and nothing was written");
        assert!(zone.writes.lock().unwrap().is_empty());
    }

    #[test]
    fn when_the_provisioned_weight_drifted_while_holding_at_the_maximum_should_repair_it() {
        // GIVEN scale-up holding at the maximum, and someone sets the provisioned weight to 0
        let zone = FakeZone::new(60, 0);
        // WHEN the next round steps up again
        let o = run(step(
            &zone,
            &Status(Some("available")),
            &settings(false),
            up(Some(60)),
        ))
        .expect("step");
        // THEN one compare-and-swap write restores the pair
        assert!(o.changed && o.at_limit, "{o:?}");
        assert_eq!(zone.weights(), (60, 100), "the provisioned weight is back");
        assert_eq!(*zone.writes.lock().unwrap(), vec![(60, 100)]);
    }

    #[test]
    fn serverless_moved_should_say_whether_the_step_went_its_way() {
        let status = Status(Some("available"));
        // a raise from 20 (max 60): moved, in a dry run too
        for dry_run in [false, true] {
            let o = run(step(
                &FakeZone::new(20, 100),
                &status,
                &settings(dry_run),
                up(None),
            ));
            assert!(o.expect("step").serverless_moved, "dry run {dry_run}");
        }
        // a raise at the maximum (a repair of the provisioned weight included): not moved
        let o = run(step(
            &FakeZone::new(60, 0),
            &status,
            &settings(false),
            up(None),
        ));
        let o = o.expect("step");
        assert!(o.changed && !o.serverless_moved, "{o:?}");
        // an "up" that clamps a weight above the maximum down to it: not a raise
        let o = run(step(
            &FakeZone::new(90, 100),
            &status,
            &settings(false),
            up(None),
        ));
        let o = o.expect("step");
        assert_eq!(o.serverless_weight, 60, "{o:?}");
        assert!(!o.serverless_moved, "{o:?}");
        // a lowering from 40: moved; at 0: not
        let o = run(step(
            &FakeZone::new(40, 100),
            &status,
            &settings(false),
            down(None),
        ));
        assert!(o.expect("step").serverless_moved);
        let o = run(step(
            &FakeZone::new(0, 100),
            &status,
            &settings(false),
            down(None),
        ));
        assert!(!o.expect("step").serverless_moved);
    }

    #[test]
    fn when_another_execution_moved_the_weight_should_refuse_to_step() {
        let zone = FakeZone::new(40, 100);
        let err = run(step(
            &zone,
            &Status(Some("available")),
            &settings(false),
            down(Some(20)),
        ))
        .expect_err("expected 20, found 40");
        assert_eq!(
            err,
            ShiftError::UnexpectedWeight {
                expected: 20,
                found: 40
            }
        );
        assert!(zone.writes.lock().unwrap().is_empty());
    }

    #[test]
    fn when_records_change_between_read_and_write_should_fail_with_conflict() {
        // A store whose records change right after they are read (another writer in between).
        struct Racing(FakeZone);
        impl WeightedPairStore for Racing {
            async fn read(&self) -> Result<WeightedPair, StoreError> {
                let pair = self.0.read().await;
                self.0.pair.lock().unwrap().serverless.weight = 40;
                pair
            }
            async fn write(&self, c: &WeightedPair, s: u16, p: u16) -> Result<String, StoreError> {
                self.0.write(c, s, p).await
            }
        }
        let zone = Racing(FakeZone::new(20, 100));
        let err = run(step(
            &zone,
            &Status(Some("available")),
            &settings(false),
            up(None),
        ))
        .expect_err("compare-and-swap fails");
        assert!(
            matches!(err, ShiftError::Store(StoreError::Conflict(_))),
            "{err}"
        );
        assert_eq!(
            zone.0.weights(),
            (40, 100),
            "the other writer's weight stands"
        );
    }

    /// A store that makes two steps interleave: every read waits until both have read, so both
    /// compute their step from the same weights before either writes.
    struct Interleaved<S> {
        inner: S,
        both_read: tokio::sync::Barrier,
    }

    impl<S: WeightedPairStore + Sync> WeightedPairStore for Interleaved<S> {
        async fn read(&self) -> Result<WeightedPair, StoreError> {
            let pair = self.inner.read().await;
            self.both_read.wait().await;
            pair
        }
        async fn write(&self, c: &WeightedPair, s: u16, p: u16) -> Result<String, StoreError> {
            self.inner.write(c, s, p).await
        }
    }

    /// Two steps of two executions at once, through `step` itself.
    fn race<S: WeightedPairStore + Sync>(
        store: S,
    ) -> (
        Result<StepOutcome, ShiftError>,
        Result<StepOutcome, ShiftError>,
    ) {
        let gate = Interleaved {
            inner: store,
            both_read: tokio::sync::Barrier::new(2),
        };
        let ok = Status(Some("available"));
        let s = settings(false);
        run(async {
            tokio::join!(
                step(&gate, &ok, &s, up(None)),
                step(&gate, &ok, &s, up(None))
            )
        })
    }

    #[test]
    fn when_two_executions_step_at_once_should_move_one_step_only() {
        // GIVEN two executions whose steps read the same weights before either writes
        let zone = FakeZone::new(20, 100);
        let (a, b) = race(&zone);
        // THEN one step lands and the other is refused as a concurrent change
        let refused = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Err(ShiftError::Store(StoreError::Conflict(_)))))
            .count();
        assert_eq!(refused, 1, "exactly one step is refused: {a:?} {b:?}");
        assert_eq!(zone.weights(), (40, 100), "one step, not two");
    }

    #[test]
    fn when_the_store_has_no_compare_and_swap_the_race_double_writes() {
        // The race above is real: without the compare-and-swap both steps write (this store
        // overwrites like an UPSERT would), which is what the previous test rules out.
        struct Upsert(FakeZone);
        impl WeightedPairStore for Upsert {
            async fn read(&self) -> Result<WeightedPair, StoreError> {
                self.0.read().await
            }
            async fn write(&self, _: &WeightedPair, s: u16, p: u16) -> Result<String, StoreError> {
                let current = self.0.read().await?;
                self.0.write(&current, s, p).await
            }
        }
        let zone = Upsert(FakeZone::new(20, 100));
        let (a, b) = race(&zone);
        assert!(a.is_ok() && b.is_ok(), "both steps land: {a:?} {b:?}");
        assert_eq!(zone.0.writes.lock().unwrap().len(), 2, "two writes");
    }

    #[test]
    fn when_request_json_comes_from_the_state_machine_should_deserialize() {
        let r: StepRequest =
            serde_json::from_str(r#"{"direction":"up","expectedServerlessWeight":20}"#).unwrap();
        assert_eq!(r, up(Some(20)));
        let r: StepRequest = serde_json::from_str(r#"{"direction":"down"}"#).unwrap();
        assert_eq!(r, down(None));
    }
}
