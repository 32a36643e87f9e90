//! The metrics pipeline: a decoded subscription batch in, EMF lines out.
//!
//! Shared by the Lambda and the replay command so they cannot drift. Every log event of every
//! `DATA_MESSAGE` is read; each bad document is reported on its own (one log line naming the
//! problem) and the rest of the batch goes on. Nothing is emitted for an instance that is not an
//! available member of a watched cluster, nor when the topology cannot be trusted.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use crate::metrics::em::{self, Sample};
use crate::metrics::emf::{self, Document, Metric, Unit, Window};
use crate::metrics::subscription::{LogBatch, MessageType};
use crate::metrics::topology::{
    Placement, Role, Topology, TopologyCache, TopologySource, TopologyUnavailable,
};

/// The metric name of the EMF contract.
pub const CPU_METRIC: &str = "CPUUtilization";
/// The dimension keys of the EMF contract, in order.
pub const CLUSTER_DIMENSION: &str = "DBClusterIdentifier";
pub const ROLE_DIMENSION: &str = "Role";
/// The plain (non-dimension) property naming the instance.
pub const INSTANCE_PROPERTY: &str = "DBInstanceIdentifier";

/// What happened to a batch (or, added up, to a replay).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Batches read (control messages included).
    pub batches: u64,
    /// Log events read from data messages.
    pub events: u64,
    /// Samples emitted, by role.
    pub emitted: BTreeMap<Role, u64>,
    /// Documents or batches rejected as bad input, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Samples deliberately not emitted (not ours, not available), by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

impl Report {
    pub fn reject(&mut self, reason: &'static str) {
        *self.rejected.entry(reason).or_default() += 1;
    }

    fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    pub fn emitted_total(&self) -> u64 {
        self.emitted.values().sum()
    }

    /// Adds another report to this one.
    pub fn merge(&mut self, other: &Report) {
        self.batches += other.batches;
        self.events += other.events;
        for (k, v) in &other.emitted {
            *self.emitted.entry(*k).or_default() += v;
        }
        for (k, v) in &other.rejected {
            *self.rejected.entry(k).or_default() += v;
        }
        for (k, v) in &other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
    }
}

/// One sample as it goes out, for callers that also publish it elsewhere (replay `--publish`).
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub cluster: String,
    pub role: Role,
    pub instance_id: String,
    pub timestamp_ms: i64,
    pub cpu_total: f64,
}

/// Reads every document of a data batch; bad ones are logged and counted in `report`.
pub fn parse_batch(batch: &LogBatch, report: &mut Report) -> Vec<Sample> {
    report.batches += 1;
    if batch.kind() != Some(MessageType::Data) {
        return Vec::new();
    }
    let mut samples = Vec::with_capacity(batch.log_events.len());
    for event in &batch.log_events {
        report.events += 1;
        for result in em::parse_message(&event.message) {
            match result {
                Ok(sample) => samples.push(sample),
                Err(e) => {
                    tracing::warn!(
                        reason = e.reason(),
                        log_stream = %batch.log_stream,
                        event_id = %event.id,
                        error = %e,
                        "rejected an Enhanced Monitoring document"
                    );
                    report.reject(e.reason());
                }
            }
        }
    }
    samples
}

/// Writes the EMF line of every sample that belongs to an available member of a watched
/// cluster and falls inside EMF's timestamp window.
pub fn emit(
    samples: &[Sample],
    topology: &Topology,
    namespace: &str,
    now_ms: i64,
    out: &mut impl Write,
    report: &mut Report,
    mut on_emit: impl FnMut(Emitted),
) -> std::io::Result<()> {
    let mut scratch = Vec::with_capacity(512);
    // One line per instance and batch for samples that are skipped, not one per sample.
    let mut told: Vec<(String, &'static str)> = Vec::new();
    let mut tell_once = |instance: &str, reason: &'static str, detail: &str| {
        if !told.iter().any(|(i, r)| i == instance && *r == reason) {
            tracing::info!(
                reason,
                instance,
                detail,
                "samples of this instance not emitted"
            );
            told.push((instance.to_owned(), reason));
        }
    };
    for s in samples {
        let (cluster, role) = match topology.lookup(&s.instance_id, s.resource_id.as_deref()) {
            Some(Placement::Member { cluster, role }) => (cluster, *role),
            Some(Placement::NotAvailable { status, .. }) => {
                report.skip("not_available");
                tell_once(&s.instance_id, "not_available", status);
                continue;
            }
            None => {
                report.skip("not_in_watched_clusters");
                tell_once(&s.instance_id, "not_in_watched_clusters", "");
                continue;
            }
        };
        match emf::window(s.timestamp_ms, now_ms) {
            Window::Inside => {}
            outside => {
                let reason = if outside == Window::TooOld {
                    "too_old"
                } else {
                    "too_far_ahead"
                };
                tracing::warn!(
                    reason,
                    instance = %s.instance_id,
                    timestamp_ms = s.timestamp_ms,
                    now_ms,
                    "sample outside CloudWatch's timestamp window (14 days back, 2 h ahead); dropped"
                );
                report.reject(reason);
                continue;
            }
        }
        let values = [s.cpu_total];
        let metrics = [Metric {
            name: CPU_METRIC,
            unit: Unit::Percent,
            high_resolution: true,
            values: &values,
        }];
        let doc = Document {
            namespace,
            timestamp_ms: s.timestamp_ms,
            dimensions: &[
                (CLUSTER_DIMENSION, cluster),
                (ROLE_DIMENSION, role.as_str()),
            ],
            metrics: &metrics,
            properties: &[(INSTANCE_PROPERTY, &s.instance_id)],
        };
        match emf::write_line(out, &doc, &mut scratch) {
            Ok(()) => {
                *report.emitted.entry(role).or_default() += 1;
                on_emit(Emitted {
                    cluster: cluster.to_string(),
                    role,
                    instance_id: s.instance_id.clone(),
                    timestamp_ms: s.timestamp_ms,
                    cpu_total: s.cpu_total,
                });
            }
            Err(emf::EmfError::Io(e)) => return Err(e),
            Err(e) => {
                // Unreachable with one finite, range-checked value; kept as a named rejection.
                tracing::error!(error = %e, instance = %s.instance_id, "EMF document refused");
                report.reject("emf_limits");
            }
        }
    }
    Ok(())
}

/// The whole pipeline with its topology cache: what the Lambda keeps across invocations and the
/// replay keeps across files.
pub struct Pipeline<S> {
    pub source: S,
    pub cache: TopologyCache,
    pub namespace: String,
    /// Added to every sample's timestamp before it is emitted: 0 in the Lambda; the replay's
    /// `--shift-to-now` moves an old recording into CloudWatch's 14-day window with it.
    pub shift_ms: i64,
}

impl<S: TopologySource> Pipeline<S> {
    /// Processes one decoded batch. `now` drives the cache, `now_ms` (wall clock) the EMF
    /// timestamp window. Fails only when the topology cannot be trusted: then nothing is
    /// emitted and a retry may succeed.
    pub async fn process(
        &mut self,
        batch: &LogBatch,
        now: Instant,
        now_ms: i64,
        out: &mut impl Write,
        report: &mut Report,
        on_emit: impl FnMut(Emitted),
    ) -> Result<(), PipelineError> {
        let mut samples = parse_batch(batch, report);
        for s in &mut samples {
            s.timestamp_ms += self.shift_ms;
        }
        if samples.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<&str> = samples.iter().map(|s| s.instance_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let topology = self.cache.get(&self.source, now, &ids).await?;
        emit(
            &samples,
            &topology,
            &self.namespace,
            now_ms,
            out,
            report,
            on_emit,
        )?;
        Ok(())
    }
}

/// Why a batch could not be processed (retryable: nothing of it was emitted).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Topology(#[from] TopologyUnavailable),
    #[error("writing EMF failed: {0}")]
    Output(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::subscription::LogRecord;
    use crate::metrics::topology::tests::{FakeRds, snapshot};
    use crate::metrics::topology::{CacheSettings, TopologyCache};
    use serde_json::{Value, json};

    const NOW_MS: i64 = 1_795_341_700_000; // 2026-11-22T10:01:40Z

    fn doc(instance: &str, ts: &str, cpu: f64) -> String {
        json!({
            "engine": "Aurora", "instanceID": instance,
            "instanceResourceID": format!("db-{}", instance.to_uppercase()),
            "timestamp": ts, "version": 1, "uptime": "1 day, 0:00:00", "numVCPUs": 2,
            "cpuUtilization": {"total": cpu, "idle": 100.0 - cpu},
            "processList": [{"name": "mysqld", "vmlimit": "unlimited"}, {"name": "x", "vmlimit": 12}]
        })
        .to_string()
    }

    fn batch(stream: &str, messages: &[String]) -> LogBatch {
        LogBatch {
            owner: "123456789012".into(),
            log_group: "RDSOSMetrics".into(),
            log_stream: stream.into(),
            message_type: "DATA_MESSAGE".into(),
            log_events: messages
                .iter()
                .enumerate()
                .map(|(i, m)| LogRecord {
                    id: i.to_string(),
                    timestamp: NOW_MS,
                    message: m.clone(),
                })
                .collect(),
        }
    }

    fn pipeline() -> Pipeline<FakeRds> {
        Pipeline {
            source: FakeRds::always(snapshot()),
            cache: TopologyCache::new(
                CacheSettings::default(),
                vec!["orders".into()],
                vec!["available".into()],
            ),
            namespace: "Spillway".into(),
            shift_ms: 0,
        }
    }

    fn run(p: &mut Pipeline<FakeRds>, b: &LogBatch) -> (Vec<Value>, Report) {
        let mut out = Vec::new();
        let mut report = Report::default();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(p.process(b, Instant::now(), NOW_MS, &mut out, &mut report, |_| {}))
            .expect("batch processed");
        let lines = String::from_utf8(out).expect("UTF-8");
        (
            lines
                .lines()
                .map(|l| serde_json::from_str(l).expect("each line is JSON"))
                .collect(),
            report,
        )
    }

    fn emf_line(cluster: &str, role: &str, instance: &str, ts_ms: i64, cpu: f64) -> Value {
        json!({
            "_aws": {"Timestamp": ts_ms, "CloudWatchMetrics": [{
                "Namespace": "Spillway",
                "Dimensions": [["DBClusterIdentifier", "Role"]],
                "Metrics": [{"Name": "CPUUtilization", "Unit": "Percent", "StorageResolution": 1}]}]},
            "DBClusterIdentifier": cluster, "Role": role, "CPUUtilization": cpu,
            "DBInstanceIdentifier": instance
        })
    }

    #[test]
    fn when_batch_has_several_events_should_emit_every_one_with_its_own_timestamp() {
        let b = batch(
            "db-ORDERS-R1",
            &[
                doc("orders-r1", "2026-11-22T10:00:01Z", 40.0),
                doc("orders-r1", "2026-11-22T10:00:02Z", 55.5),
                doc("orders-r1", "2026-11-22T10:00:03Z", 61.0),
            ],
        );
        let (lines, report) = run(&mut pipeline(), &b);
        assert_eq!(
            lines,
            vec![
                emf_line(
                    "orders",
                    "provisioned-reader",
                    "orders-r1",
                    1_795_341_601_000,
                    40.0
                ),
                emf_line(
                    "orders",
                    "provisioned-reader",
                    "orders-r1",
                    1_795_341_602_000,
                    55.5
                ),
                emf_line(
                    "orders",
                    "provisioned-reader",
                    "orders-r1",
                    1_795_341_603_000,
                    61.0
                ),
            ],
            "every logEvent gives one document stamped with the sample's own time"
        );
        assert_eq!(report.emitted.get(&Role::ProvisionedReader), Some(&3));
        assert!(report.rejected.is_empty());
    }

    #[test]
    fn when_batch_comes_from_writer_or_serverless_should_emit_their_roles() {
        let mut p = pipeline();
        let (w, _) = run(
            &mut p,
            &batch(
                "db-ORDERS-W",
                &[doc("orders-w", "2026-11-22T10:00:01Z", 20.0)],
            ),
        );
        let (sv, _) = run(
            &mut p,
            &batch(
                "db-ORDERS-SV",
                &[doc("orders-sv", "2026-11-22T10:00:01Z", 5.0)],
            ),
        );
        assert_eq!(
            w,
            vec![emf_line(
                "orders",
                "writer",
                "orders-w",
                1_795_341_601_000,
                20.0
            )]
        );
        assert_eq!(
            sv,
            vec![emf_line(
                "orders",
                "serverless-reader",
                "orders-sv",
                1_795_341_601_000,
                5.0
            )]
        );
    }

    #[test]
    fn when_corrupt_events_sit_between_good_ones_should_emit_the_good_ones_only() {
        let b = batch(
            "db-ORDERS-R1",
            &[
                doc("orders-r1", "2026-11-22T10:00:01Z", 40.0),
                "{\"engine\":\"Aurora\",\"instanceID\":".into(),
                doc("orders-r1", "2026-11-22T10:00:02Z", 41.0).replace("41.0", "\"41\""),
                doc("orders-r1", "2026-11-22T10:00:03Z", 42.0),
            ],
        );
        let (lines, report) = run(&mut pipeline(), &b);
        let cpus: Vec<_> = lines.iter().map(|l| l["CPUUtilization"].clone()).collect();
        assert_eq!(
            cpus,
            vec![json!(40.0), json!(42.0)],
            "the valid rest goes out"
        );
        assert_eq!(
            report.rejected,
            BTreeMap::from([("document_json", 1), ("document_shape", 1)]),
            "each bad event is named"
        );
    }

    #[test]
    fn when_instance_is_not_ours_or_not_available_should_emit_nothing() {
        let mut p = pipeline();
        for (stream, id) in [
            ("db-OTHER-W", "other-w"),
            ("db-ORDERS-NEW", "orders-new"),
            ("db-X", "ghost"),
        ] {
            let (lines, report) = run(
                &mut p,
                &batch(stream, &[doc(id, "2026-11-22T10:00:01Z", 99.0)]),
            );
            assert!(lines.is_empty(), "{id} must emit nothing, got {lines:?}");
            assert_eq!(
                report.skipped.values().sum::<u64>(),
                1,
                "{id} is counted as skipped"
            );
        }
    }

    #[test]
    fn when_timestamp_is_outside_the_emf_window_should_drop_and_count() {
        let b = batch(
            "db-ORDERS-R1",
            &[
                doc("orders-r1", "2026-11-01T00:00:00Z", 10.0),
                doc("orders-r1", "2026-11-22T13:00:00Z", 10.0),
                doc("orders-r1", "2026-11-22T10:00:01Z", 10.0),
            ],
        );
        let (lines, report) = run(&mut pipeline(), &b);
        assert_eq!(lines.len(), 1, "only the in-window sample is emitted");
        assert_eq!(
            report.rejected,
            BTreeMap::from([("too_far_ahead", 1), ("too_old", 1)])
        );
    }

    #[test]
    fn when_batch_is_control_message_should_emit_nothing() {
        let mut b = batch("", &[]);
        b.message_type = "CONTROL_MESSAGE".into();
        b.log_events.push(LogRecord {
            id: String::new(),
            timestamp: NOW_MS,
            message: "CWL CONTROL MESSAGE: Checking health of destination Lambda.".into(),
        });
        let mut p = pipeline();
        let (lines, report) = run(&mut p, &b);
        assert!(lines.is_empty());
        assert_eq!(report.events, 0, "control messages carry no samples");
        assert_eq!(*p.source.calls.lock().unwrap(), 0, "and cost no RDS call");
    }

    #[test]
    fn when_topology_is_unavailable_should_fail_and_emit_nothing() {
        let mut p = pipeline();
        p.source = FakeRds::default();
        let mut out = Vec::new();
        let mut report = Report::default();
        let b = batch(
            "db-ORDERS-R1",
            &[doc("orders-r1", "2026-11-22T10:00:01Z", 40.0)],
        );
        let got = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(p.process(&b, Instant::now(), NOW_MS, &mut out, &mut report, |_| {}));
        assert!(matches!(got, Err(PipelineError::Topology(_))), "{got:?}");
        assert!(out.is_empty(), "no metric over an unknown population");
    }
}
