//! The handler: one subscription payload in, EMF lines on stdout.
//!
//! Which failures go back to Lambda: only those a retry can fix. When no trustworthy topology
//! can be had (RDS unreachable or throttled past `TOPOLOGY_MAX_STALENESS_SECONDS`) the handler
//! emits nothing and returns `TopologyUnavailable`, so Lambda's asynchronous retries redeliver
//! the batch later. Poison input — an event that is not a subscription envelope, bad base64,
//! gzip or JSON, bad documents — is logged (one line naming the problem) and the invocation
//! succeeds: retrying it cannot help, and the valid rest of the batch has been emitted.

use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use spillway::metrics::pipeline::{Pipeline, PipelineError, Report};
use spillway::metrics::subscription;
use spillway::metrics::topology::TopologySource;
use spillway::shifting::trigger::{ExecutionStarter, Start, Started, Trigger};
use tokio::sync::Mutex;

/// What the handler needs, built once per container.
pub struct HandlerDeps<S, X> {
    pipeline: Mutex<Pipeline<S>>,
    /// The direct trigger and what starts its executions; `None`: off.
    direct: Option<(Mutex<Trigger>, X)>,
}

impl<S, X> HandlerDeps<S, X> {
    pub fn new(pipeline: Pipeline<S>, direct: Option<(Trigger, X)>) -> Self {
        Self {
            pipeline: Mutex::new(pipeline),
            direct: direct.map(|(t, x)| (Mutex::new(t), x)),
        }
    }
}

/// The errors returned to Lambda. `error_type` is fixed vocabulary, see [`HandlerError::error_type`].
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("no trustworthy topology, nothing emitted: {0}")]
    TopologyUnavailable(String),
    #[error("writing EMF to stdout failed: {0}")]
    Output(String),
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::TopologyUnavailable(_) => "TopologyUnavailable",
            Self::Output(_) => "OutputFailed",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The invocation's result (Lambda discards it for asynchronous invocations; useful locally).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub emitted: u64,
    pub rejected: u64,
    pub skipped: u64,
    /// Scale-up executions the direct trigger asked for (started, or already running).
    pub direct_starts: u64,
}

pub async fn function_handler<S: TopologySource, X: ExecutionStarter>(
    deps: &HandlerDeps<S, X>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Summary, HandlerError> {
    let mut out = std::io::stdout().lock();
    handle(deps, event.payload, Instant::now(), now_ms(), &mut out).await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The handler with its clock and output injected.
pub async fn handle<S: TopologySource, X: ExecutionStarter>(
    deps: &HandlerDeps<S, X>,
    payload: serde_json::Value,
    now: Instant,
    now_ms: i64,
    out: &mut impl Write,
) -> Result<Summary, HandlerError> {
    let mut report = Report::default();
    let batch = match subscription::decode_value(payload) {
        Ok(batch) => batch,
        Err(e) => {
            tracing::error!(reason = e.reason(), error = %e, "rejected a subscription payload");
            return Ok(Summary {
                events: 0,
                emitted: 0,
                rejected: 1,
                skipped: 0,
                direct_starts: 0,
            });
        }
    };
    let mut buffered = std::io::BufWriter::new(out);
    let mut pipeline = deps.pipeline.lock().await;
    let mut trigger = match &deps.direct {
        Some((t, _)) => Some(t.lock().await),
        None => None,
    };
    let mut starts: Vec<Start> = Vec::new();
    let result = pipeline
        .process(&batch, now, now_ms, &mut buffered, &mut report, |e| {
            // Only emitted samples reach the trigger: bad documents, other clusters, unknown
            // or unavailable instances and samples outside EMF's window never count.
            if let Some(t) = trigger.as_mut()
                && let Some(start) = t.observe(
                    &e.cluster,
                    e.role,
                    &e.instance_id,
                    e.timestamp_ms,
                    e.cpu_total,
                    now_ms,
                )
            {
                starts.push(start);
            }
        })
        .await;
    drop(trigger);
    drop(pipeline);
    buffered
        .flush()
        .map_err(|e| HandlerError::Output(e.to_string()))?;
    let direct_starts = match &deps.direct {
        Some((trigger, starter)) => start_all(trigger, starter, &starts).await,
        None => 0,
    };
    match result {
        Ok(()) => {}
        Err(PipelineError::Topology(e)) => {
            tracing::error!(error = %e, log_stream = %batch.log_stream, "no trustworthy topology; nothing emitted, Lambda will retry");
            return Err(HandlerError::TopologyUnavailable(e.to_string()));
        }
        Err(PipelineError::Output(e)) => return Err(HandlerError::Output(e.to_string())),
    }
    Ok(Summary {
        events: report.events,
        emitted: report.emitted_total(),
        rejected: report.rejected.values().sum(),
        skipped: report.skipped.values().sum(),
        direct_starts,
    })
}

/// Starts what the trigger decided, one log line each. A failure is logged and does not fail
/// the invocation: the EMF is out already (a retry would emit it twice) and the alarm path
/// remains; the trigger forgets the failed start, so the streak's next sample (this
/// container's next invocation) asks again.
async fn start_all(
    trigger: &Mutex<Trigger>,
    starter: &impl ExecutionStarter,
    starts: &[Start],
) -> u64 {
    let mut started = 0;
    for s in starts {
        match starter.start(s).await {
            Ok(Started::Running { execution_arn }) => {
                started += 1;
                tracing::info!(
                    cluster = %s.cluster,
                    instance = %s.instance,
                    hot_until_ms = s.hot_until_ms,
                    execution = %execution_arn,
                    "direct trigger: the provisioned readers are hot, scale-up started"
                );
            }
            Ok(Started::AlreadyUsed) => tracing::info!(
                cluster = %s.cluster,
                name = %s.name,
                "direct trigger: this window's execution already ran; the alarm path carries on"
            ),
            Err(e) => {
                trigger.lock().await.forget(s);
                tracing::error!(
                    cluster = %s.cluster,
                    name = %s.name,
                    error = %e,
                    "direct trigger: scale-up not started; the alarm path remains, the next hot sample tries again"
                );
            }
        }
    }
    started
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use spillway::metrics::topology::{CacheSettings, RdsSnapshot, SourceError, TopologyCache};
    use spillway::shifting::trigger::{StartError, TriggerSettings, TriggerTarget};
    use std::path::{Path, PathBuf};

    /// 2026-11-22T10:05:00Z: a few minutes after the sample events.
    const NOW_MS: i64 = 1_795_341_900_000;

    fn events_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
    }

    fn read_json(path: &Path) -> Value {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
    }

    /// Records the starts it is asked for; answers as Step Functions does for a name it
    /// has seen (same input: the running execution).
    /// The first `.1` calls fail (StartExecution refused) and are not recorded.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<Start>>, std::sync::atomic::AtomicU32);

    impl ExecutionStarter for Recorder {
        async fn start(&self, start: &Start) -> Result<Started, StartError> {
            use std::sync::atomic::Ordering;
            if self
                .1
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StartError("AccessDeniedException: not authorized".into()));
            }
            self.0.lock().unwrap().push(start.clone());
            Ok(Started::Running {
                execution_arn: format!("arn:aws:states:::execution:s-up:{}", start.name),
            })
        }
    }

    fn pipeline<S>(source: S) -> Pipeline<S> {
        Pipeline {
            source,
            cache: TopologyCache::new(
                CacheSettings::default(),
                vec!["orders".into(), "tickets".into()],
                vec!["available".into()],
            ),
            namespace: "Spillway".into(),
            shift_ms: 0,
        }
    }

    fn deps<S>(source: S) -> HandlerDeps<S, Recorder> {
        HandlerDeps::new(pipeline(source), None)
    }

    fn direct_deps<S>(source: S) -> HandlerDeps<S, Recorder> {
        let trigger = Trigger::new(
            TriggerSettings::default(),
            vec![TriggerTarget {
                cluster: "orders".into(),
                state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:s-up".into(),
                high_cpu_threshold: 70.0,
            }],
        );
        HandlerDeps::new(pipeline(source), Some((trigger, Recorder::default())))
    }

    fn starts<S>(d: &HandlerDeps<S, Recorder>) -> Vec<Start> {
        d.direct.as_ref().unwrap().1.0.lock().unwrap().clone()
    }

    /// The spike's batches in delivery order (file names start with the batch's second).
    fn spike_batches() -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir().join("spike/batches"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    /// The newest sample time of a batch (what "now" is a few seconds after).
    fn newest_sample_ms(event: &Value) -> i64 {
        let Ok(batch) = subscription::decode_value(event.clone()) else {
            return NOW_MS;
        };
        let mut report = Report::default();
        spillway::metrics::pipeline::parse_batch(&batch, &mut report)
            .iter()
            .map(|s| s.timestamp_ms)
            .max()
            .unwrap_or_default()
    }

    fn invoke_at<S: TopologySource>(
        deps: &HandlerDeps<S, Recorder>,
        event: Value,
        now_ms: i64,
    ) -> Summary {
        let mut out = Vec::new();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(handle(deps, event, Instant::now(), now_ms, &mut out))
            .expect("valid batch")
    }

    fn topology() -> RdsSnapshot {
        serde_json::from_value(read_json(&events_dir().join("spike/topology.json")))
            .expect("the topology file is an RdsSnapshot")
    }

    fn invoke<S: TopologySource>(
        deps: &HandlerDeps<S, Recorder>,
        event: Value,
    ) -> (Result<Summary, HandlerError>, Vec<Value>) {
        let mut out = Vec::new();
        let result = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(handle(deps, event, Instant::now(), NOW_MS, &mut out));
        let lines = String::from_utf8(out)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
            .collect();
        (result, lines)
    }

    fn summary(events: u64, emitted: u64, rejected: u64, skipped: u64) -> Summary {
        Summary {
            events,
            emitted,
            rejected,
            skipped,
            direct_starts: 0,
        }
    }

    #[test]
    fn when_the_recorded_spike_is_delivered_should_start_scale_up_once_while_the_readers_are_hot() {
        // GIVEN the trigger on, every batch delivered 3 s after its newest sample, and each
        // delivered twice (an asynchronous retry)
        let d = direct_deps(topology());
        let mut first_hot = None;
        for file in spike_batches() {
            let event = read_json(&file);
            let now = newest_sample_ms(&event) + 3000;
            for _ in 0..2 {
                let s = invoke_at(&d, event.clone(), now);
                if s.direct_starts > 0 && first_hot.is_none() {
                    first_hot = Some(file.clone());
                }
            }
        }
        // THEN one start for the spike (it falls in one 5-minute window), named by it
        let got = starts(&d);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].name.starts_with("direct-"), "{}", got[0].name);
        assert!(got[0].input.contains(r#""cluster":"orders""#));
        assert!(
            got[0].instance.starts_with("orders-reader-"),
            "a provisioned reader"
        );
        let file = first_hot.expect("a batch started it");
        assert!(
            !file.to_string_lossy().contains("serverless")
                && !file.to_string_lossy().contains("writer"),
            "{file:?}"
        );
    }

    /// A batch of orders-reader-1's documents (from events/), one per (second, cpu) after
    /// 10:00:00; `None` is a corrupt document in that place; `instance` renames them.
    fn hot_batch(instance: &str, seconds: &[(i64, Option<f64>)]) -> (Value, i64) {
        let base = read_json(&events_dir().join("metrics-provisioned-reader.json"));
        let batch = subscription::decode_value(base).expect("valid");
        let template: Value = serde_json::from_str(&batch.log_events[0].message).unwrap();
        let t0 = 1_795_341_600_000_i64; // 2026-11-22T10:00:00Z
        let messages: Vec<Value> = seconds
            .iter()
            .map(|(s, cpu)| {
                let message = match cpu {
                    Some(cpu) => {
                        let mut d = template.clone();
                        d["instanceID"] = json!(instance);
                        if instance != "orders-reader-1" {
                            d["instanceResourceID"] = json!("db-FOREIGN");
                        }
                        d["timestamp"] = json!(format!("2026-11-22T10:00:{s:02}Z"));
                        d["cpuUtilization"]["total"] = json!(cpu);
                        d.to_string()
                    }
                    None => {
                        r#"{"engine":"Aurora","instanceID":"orders-reader-1","timestamp":"#.into()
                    }
                };
                json!({"id": s.to_string(), "timestamp": t0 + s * 1000, "message": message})
            })
            .collect();
        let event = subscription::encode_event(&json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "RDSOSMetrics",
            "logStream": batch.log_stream, "subscriptionFilters": ["spillway"],
            "logEvents": messages
        }));
        let last = seconds.iter().map(|(s, _)| *s).max().unwrap_or(0);
        (
            serde_json::from_str(&event).unwrap(),
            t0 + last * 1000 + 2000,
        )
    }

    #[test]
    fn when_a_hot_streak_has_a_corrupt_second_or_is_another_clusters_should_start_nothing() {
        let d = direct_deps(topology());
        // GIVEN three hot seconds of which the middle document is corrupt
        let (event, now) = hot_batch(
            "orders-reader-1",
            &[(0, Some(99.0)), (1, None), (2, Some(99.0))],
        );
        let s = invoke_at(&d, event, now);
        assert_eq!((s.emitted, s.rejected, s.direct_starts), (2, 1, 0));
        // AND five hot seconds of an instance no watched cluster has
        let foreign: Vec<(i64, Option<f64>)> = (10..15).map(|s| (s, Some(99.0))).collect();
        let (event, now) = hot_batch("payments-reader-1", &foreign);
        let s = invoke_at(&d, event, now);
        assert_eq!((s.emitted, s.skipped, s.direct_starts), (0, 5, 0));
        assert!(starts(&d).is_empty());
        // THEN the streak resumes from the valid seconds only: two more hot ones (3, 4) after
        // the 2 make three consecutive, and that starts one
        let (event, now) = hot_batch("orders-reader-1", &[(3, Some(99.0)), (4, Some(99.0))]);
        assert_eq!(invoke_at(&d, event, now).direct_starts, 1);
        assert_eq!(starts(&d)[0].hot_until_ms, 1_795_341_604_000);
    }

    #[test]
    fn when_a_start_fails_the_next_invocation_of_the_streak_should_ask_again() {
        let d = direct_deps(topology());
        // GIVEN StartExecution refuses the first call
        d.direct
            .as_ref()
            .unwrap()
            .1
            .1
            .store(1, std::sync::atomic::Ordering::SeqCst);
        let hot: Vec<(i64, Option<f64>)> = (0..3).map(|s| (s, Some(99.0))).collect();
        let (event, now) = hot_batch("orders-reader-1", &hot);
        assert_eq!(invoke_at(&d, event, now).direct_starts, 0);
        // THEN the streak's next second asks again, and that start goes through
        let (event, now) = hot_batch("orders-reader-1", &[(3, Some(99.0))]);
        assert_eq!(invoke_at(&d, event, now).direct_starts, 1);
        // AND once started, the rest of the run asks nothing more
        let more: Vec<(i64, Option<f64>)> = (4..9).map(|s| (s, Some(99.0))).collect();
        let (event, now) = hot_batch("orders-reader-1", &more);
        assert_eq!(invoke_at(&d, event, now).direct_starts, 0);
        assert_eq!(starts(&d).len(), 1);
    }

    #[test]
    fn when_the_batches_arrive_late_or_the_trigger_is_off_should_start_nothing() {
        // GIVEN the same spike delivered 31 s after each batch's newest sample (max age 30)
        let late = direct_deps(topology());
        for file in spike_batches() {
            let event = read_json(&file);
            let now = newest_sample_ms(&event) + 31_000;
            assert_eq!(invoke_at(&late, event, now).direct_starts, 0, "{file:?}");
        }
        assert!(starts(&late).is_empty());
        // AND corrupt documents, another cluster's instance: nothing
        let d = direct_deps(topology());
        for file in [
            "metrics-corrupt-documents.json",
            "metrics-corrupt-payload.json",
            "metrics-writer.json",
        ] {
            let event = read_json(&events_dir().join(file));
            let now = newest_sample_ms(&event) + 1000;
            invoke_at(&d, event, now);
        }
        assert!(starts(&d).is_empty());
    }

    #[test]
    fn when_each_sample_event_is_invoked_should_give_its_expected_outcome() {
        let cases = [
            (
                "metrics-provisioned-reader.json",
                summary(5, 5, 0, 0),
                Some("provisioned-reader"),
            ),
            ("metrics-writer.json", summary(3, 3, 0, 0), Some("writer")),
            (
                "metrics-serverless-reader.json",
                summary(3, 3, 0, 0),
                Some("serverless-reader"),
            ),
            (
                "metrics-aurora-postgresql.json",
                summary(3, 3, 0, 0),
                Some("provisioned-reader"),
            ),
            ("metrics-control-message.json", summary(0, 0, 0, 0), None),
            (
                "metrics-corrupt-documents.json",
                summary(5, 2, 3, 0),
                Some("provisioned-reader"),
            ),
            ("metrics-corrupt-payload.json", summary(0, 0, 1, 0), None),
        ];
        let listed: Vec<String> = std::fs::read_dir(events_dir())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("metrics-") && n.ends_with(".json"))
            .collect();
        assert_eq!(
            listed.len(),
            cases.len(),
            "every metrics-*.json in events/ has a case here: {listed:?}"
        );
        for (file, expected, role) in cases {
            let d = deps(topology());
            let (result, lines) = invoke(&d, read_json(&events_dir().join(file)));
            let got = result.unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(got, expected, "{file}");
            assert_eq!(
                lines.len() as u64,
                expected.emitted,
                "{file}: one EMF line per sample"
            );
            for line in &lines {
                assert_eq!(line["Role"], json!(role.unwrap()), "{file}: role");
                assert_eq!(
                    line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"],
                    json!(1),
                    "{file}: high resolution"
                );
            }
        }
    }

    #[test]
    fn when_corrupt_documents_batch_is_invoked_should_emit_the_valid_ones_with_their_times() {
        let d = deps(topology());
        let (_, lines) = invoke(
            &d,
            read_json(&events_dir().join("metrics-corrupt-documents.json")),
        );
        let got: Vec<(Value, Value)> = lines
            .iter()
            .map(|l| (l["_aws"]["Timestamp"].clone(), l["CPUUtilization"].clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (json!(1_795_341_600_000_i64), json!(35.0)),
                (json!(1_795_341_604_000_i64), json!(39.0))
            ],
            "the 1st and 5th events, stamped with their own seconds"
        );
    }

    #[test]
    fn when_every_spike_batch_is_invoked_should_emit_every_sample() {
        let d = deps(topology());
        let mut emitted = 0;
        let mut files = 0;
        for entry in std::fs::read_dir(events_dir().join("spike/batches")).unwrap() {
            let (result, lines) = invoke(&d, read_json(&entry.unwrap().path()));
            let s = result.expect("spike batches are valid");
            assert_eq!(s.rejected + s.skipped, 0, "nothing rejected or skipped");
            emitted += lines.len();
            files += 1;
        }
        assert_eq!(files, 144, "4 instances x 36 batches");
        assert_eq!(emitted, 1440, "10 samples per batch");
    }

    #[test]
    fn when_topology_is_unavailable_should_return_a_retryable_error_and_emit_nothing() {
        struct Down;
        impl TopologySource for Down {
            async fn describe(&self, _: &[String]) -> Result<RdsSnapshot, SourceError> {
                Err(SourceError {
                    message: "RequestLimitExceeded: Rate exceeded".into(),
                    throttled: true,
                })
            }
        }
        let d = deps(Down);
        let (result, lines) = invoke(&d, read_json(&events_dir().join("metrics-writer.json")));
        let err = result.expect_err("no topology");
        assert_eq!(Diagnostic::from(err).error_type, "TopologyUnavailable");
        assert!(lines.is_empty(), "no metric over an unknown population");
    }

    #[test]
    fn when_event_is_not_a_subscription_envelope_should_succeed_and_emit_nothing() {
        let d = deps(topology());
        let (result, lines) = invoke(&d, json!({"Records": [{"eventSource": "aws:s3"}]}));
        assert_eq!(result.expect("poison input succeeds"), summary(0, 0, 1, 0));
        assert!(lines.is_empty());
    }
}
