//! The handler: a step request from a state machine in, the step's outcome out.
//!
//! Errors carry a fixed `error_type` vocabulary ([`ERROR_TYPES`]); the state machines' `Retry`
//! and `Catch` match exactly these names (a test checks it).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{FunctionConfig, ShiftConfig};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use spillway::metrics::emf::{self, Document, Metric, Unit};
use spillway::shifting::shift::{
    self, InstanceStatus, ShiftError, StepOutcome, StepRequest, StoreError, WeightedPairStore,
};
use spillway_aws::route53::{PairLocation, Route53Pair};

/// Every `error_type` the function can return (checked against the code and the ASL by tests).
#[cfg(test)]
pub const ERROR_TYPES: [&str; 10] = [
    "InvalidInput",
    "ServerlessReaderUnavailable",
    "ReplicaLagging",
    "ClusterFailingOver",
    "ScaleDownDelayed",
    "RecordsNotFound",
    "RecordsMismatch",
    "ConcurrentChange",
    "Throttled",
    "AwsError",
];

pub struct HandlerDeps<S, I> {
    pub store: S,
    pub instances: I,
    /// The environment's configuration: the process-wide values (namespace, log level) of
    /// every request, and the cluster of a request without `settings`, if it names one.
    pub config: FunctionConfig,
}

/// The same store for the pair at another location: a request's own cluster.
pub trait AtLocation: Sized {
    fn at(&self, location: &PairLocation) -> Self;
}

impl AtLocation for Route53Pair {
    fn at(&self, location: &PairLocation) -> Self {
        self.with_location(location.clone())
    }
}

/// A request's cluster settings (`settings`: the environment variables' names and meanings,
/// README "Configuration (weight-step function)"; values as strings, numbers or booleans),
/// over the environment's process-wide values. One function serves every cluster of a
/// Region: each state machine execution passes its cluster's settings.
fn request_config(base: &FunctionConfig, settings: &Value) -> Result<ShiftConfig, HandlerError> {
    let Some(map) = settings.as_object() else {
        return Err(HandlerError::InvalidInput(format!(
            "settings must be an object of the cluster's configuration, not {settings}"
        )));
    };
    ShiftConfig::from_lookup(|k| match k {
        "METRICS_NAMESPACE" => Some(base.namespace.clone()),
        _ => match map.get(k)? {
            Value::String(v) => Some(v.clone()),
            Value::Null => None,
            v => Some(v.to_string()),
        },
    })
    .map_err(|e| HandlerError::InvalidInput(format!("settings: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("the input is not a step request: {0}")]
    InvalidInput(String),
    #[error(transparent)]
    Shift(#[from] ShiftError),
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "InvalidInput",
            Self::Shift(ShiftError::ServerlessReaderUnavailable { .. }) => {
                "ServerlessReaderUnavailable"
            }
            Self::Shift(ShiftError::ReplicaLagging { .. }) => "ReplicaLagging",
            Self::Shift(ShiftError::ClusterFailingOver { .. }) => "ClusterFailingOver",
            Self::Shift(ShiftError::ScaleDownDelayed { .. }) => "ScaleDownDelayed",
            Self::Shift(ShiftError::UnexpectedWeight { .. })
            | Self::Shift(ShiftError::Store(StoreError::Conflict(_))) => "ConcurrentChange",
            Self::Shift(ShiftError::Store(StoreError::NotFound(_))) => "RecordsNotFound",
            Self::Shift(ShiftError::Store(StoreError::Mismatch(_))) => "RecordsMismatch",
            Self::Shift(ShiftError::Store(StoreError::Throttled(_))) => "Throttled",
            Self::Shift(ShiftError::Store(StoreError::Other(_))) => "AwsError",
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

pub async fn function_handler<S: WeightedPairStore + AtLocation, I: InstanceStatus>(
    deps: &HandlerDeps<S, I>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<StepOutcome, HandlerError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    handle(deps, event.payload, now_ms, &mut std::io::stdout().lock()).await
}

/// Scale-down passes the lock table's `last-raise` item as DynamoDB's GetItem returned it
/// (`lastRaise`: `{"Item": {"at": {"S": "<time>"}, …}, …}`, or, when there is none, a result
/// without `Item`: Step Functions' SDK integration then answers its metadata alone,
/// `SdkHttpMetadata` and `SdkResponseMetadata`); the step request carries its time
/// (`lastRaiseAt`).
fn last_raise(mut payload: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = payload.as_object_mut()
        && let Some(item) = obj.remove("lastRaise")
    {
        let at = item
            .pointer("/Item/at/S")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        obj.insert("lastRaiseAt".into(), at);
    }
    payload
}

/// The handler with its clock and output injected.
pub async fn handle<S: WeightedPairStore + AtLocation, I: InstanceStatus>(
    deps: &HandlerDeps<S, I>,
    mut payload: serde_json::Value,
    now_ms: i64,
    out: &mut impl Write,
) -> Result<StepOutcome, HandlerError> {
    let settings = payload.as_object_mut().and_then(|p| p.remove("settings"));
    let own = settings
        .as_ref()
        .map(|s| request_config(&deps.config, s))
        .transpose()
        .inspect_err(|e| tracing::error!(error = %e, "rejected a step request"))?;
    let (config, relocated) = match (&own, &deps.config.cluster) {
        (Some(c), _) => (c, Some(deps.store.at(&c.location))),
        (None, Some(c)) => (c, None),
        (None, None) => {
            let e = HandlerError::InvalidInput(
                "no settings in the request, and the environment names no cluster".into(),
            );
            tracing::error!(error = %e, "rejected a step request");
            return Err(e);
        }
    };
    let store = relocated.as_ref().unwrap_or(&deps.store);
    let request: StepRequest = serde_json::from_value(last_raise(payload)).map_err(|e| {
        tracing::error!(error = %e, "rejected a step request");
        HandlerError::InvalidInput(e.to_string())
    })?;
    let outcome = match shift::step(store, &deps.instances, &config.settings, request).await {
        Ok(o) => o,
        Err(e) => {
            let e = HandlerError::from(e);
            tracing::warn!(
                cluster = %config.cluster,
                error_type = e.error_type(),
                direction = ?request.direction,
                error = %e,
                "traffic not moved"
            );
            return Err(e);
        }
    };
    let (alarm, way) = match outcome.direction {
        spillway::shifting::weights::Direction::Up => ("high-CPU", "up"),
        spillway::shifting::weights::Direction::Down => ("low-CPU", "down"),
    };
    let what = if outcome.changed {
        "why traffic moved"
    } else if outcome.dry_run {
        "dry run, traffic not moved"
    } else {
        "no change"
    };
    tracing::info!(
        direction = ?outcome.direction,
        previous_serverless_weight = outcome.previous_serverless_weight,
        serverless_weight = outcome.serverless_weight,
        provisioned_weight = outcome.provisioned_weight,
        serverless_share = outcome.serverless_share,
        at_limit = outcome.at_limit,
        changed = outcome.changed,
        dry_run = outcome.dry_run,
        change_id = outcome.change_id.as_deref().unwrap_or(""),
        cluster = %config.cluster,
        record = %config.location.record_name,
        "{what}: the {alarm} alarm asked for a step {way}"
    );
    write_metrics(config, &outcome, now_ms, out);
    Ok(outcome)
}

/// The serverless weight and share for the dashboard, under the metrics pipeline's namespace
/// and `DBClusterIdentifier` dimension. A failure to print is logged, never fails the step.
fn write_metrics(config: &ShiftConfig, o: &StepOutcome, now_ms: i64, out: &mut impl Write) {
    let weight = [f64::from(o.serverless_weight)];
    let share = [o.serverless_share * 100.0];
    let metrics = [
        Metric {
            name: "ServerlessWeight",
            unit: Unit::None,
            high_resolution: true,
            values: &weight,
        },
        Metric {
            name: "ServerlessShare",
            unit: Unit::Percent,
            high_resolution: true,
            values: &share,
        },
    ];
    let doc = Document {
        namespace: &config.namespace,
        timestamp_ms: now_ms,
        dimensions: &[("DBClusterIdentifier", &config.cluster)],
        metrics: &metrics,
        properties: &[("RecordName", &config.location.record_name)],
    };
    if let Err(e) = emf::write_line(out, &doc, &mut Vec::new()) {
        tracing::error!(error = %e, "the weight metrics were not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use spillway::shifting::shift::{WeightedPair, WeightedRecord};
    use std::sync::{Arc, Mutex};

    /// The pair's weights, shared by the stores of every location, and the record each
    /// store was made for (the last one asked for).
    #[derive(Clone)]
    struct Zone(Arc<Mutex<(u16, u16)>>, Arc<Mutex<String>>);

    impl AtLocation for Zone {
        fn at(&self, location: &PairLocation) -> Self {
            *self.1.lock().unwrap() = location.record_name.clone();
            self.clone()
        }
    }

    fn rec(set: &str, w: u16) -> WeightedRecord {
        WeightedRecord {
            name: "reads.orders.internal.".into(),
            record_type: "CNAME".into(),
            set_identifier: set.into(),
            weight: w,
            ttl: 5,
            values: vec!["x.example.".into()],
        }
    }

    impl WeightedPairStore for Zone {
        async fn read(&self) -> Result<WeightedPair, StoreError> {
            let (s, p) = *self.0.lock().unwrap();
            Ok(WeightedPair {
                provisioned: rec("provisioned", p),
                serverless: rec("serverless", s),
            })
        }
        async fn write(&self, _: &WeightedPair, s: u16, p: u16) -> Result<String, StoreError> {
            *self.0.lock().unwrap() = (s, p);
            Ok("/change/C1".into())
        }
    }

    struct Available(bool);
    impl InstanceStatus for Available {
        async fn status(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(Some(if self.0 { "available" } else { "modifying" }.into()))
        }
        async fn cluster_status(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(Some("available".into()))
        }
        async fn replica_lag_ms(&self, _: &str) -> Result<Option<f64>, StoreError> {
            Ok(Some(if self.0 { 10.0 } else { 5000.0 }))
        }
    }

    fn deps(serverless: u16, available: bool) -> HandlerDeps<Zone, Available> {
        let env = [
            ("HOSTED_ZONE_ID", "Z1"),
            ("RECORD_NAME", "reads.orders.internal"),
            ("SERVERLESS_INSTANCE_IDENTIFIER", "orders-serverless"),
            ("CLUSTER_IDENTIFIER", "orders"),
        ];
        HandlerDeps {
            store: Zone(
                Arc::new(Mutex::new((serverless, 100))),
                Arc::new(Mutex::new("reads.orders.internal".into())),
            ),
            instances: Available(available),
            config: FunctionConfig::from_lookup(|k| {
                env.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap(),
        }
    }

    fn invoke(
        d: &HandlerDeps<Zone, Available>,
        payload: Value,
    ) -> (Result<StepOutcome, HandlerError>, Vec<Value>) {
        let mut out = Vec::new();
        let r = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(handle(d, payload, 1_795_341_600_000, &mut out));
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (r, lines)
    }

    #[test]
    fn when_stepping_up_should_return_the_outcome_and_print_the_weight_metrics() {
        let d = deps(0, true);
        let (r, lines) = invoke(&d, json!({"direction": "up"}));
        let o = r.expect("step");
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            json!({"direction": "up", "previousServerlessWeight": 0, "previousProvisionedWeight": 100,
                   "serverlessWeight": 25, "provisionedWeight": 100, "serverlessShare": 0.2,
                   "atLimit": false, "changed": true, "serverlessMoved": true, "dryRun": false,
                   "changeId": "/change/C1"})
        );
        assert_eq!(
            lines,
            vec![json!({
                "_aws": {"Timestamp": 1_795_341_600_000_i64, "CloudWatchMetrics": [{
                    "Namespace": "Spillway", "Dimensions": [["DBClusterIdentifier"]],
                    "Metrics": [
                        {"Name": "ServerlessWeight", "Unit": "None", "StorageResolution": 1},
                        {"Name": "ServerlessShare", "Unit": "Percent", "StorageResolution": 1}]}]},
                "DBClusterIdentifier": "orders", "ServerlessWeight": 25.0, "ServerlessShare": 20.0,
                "RecordName": "reads.orders.internal"
            })]
        );
    }

    #[test]
    fn a_requests_settings_name_its_cluster_and_a_bad_one_is_refused() {
        let d = deps(0, true);
        let tickets = json!({
            "HOSTED_ZONE_ID": "Z2", "ZONE_NAME": "spillway.internal",
            "RECORD_NAME": "tickets.spillway.internal",
            "SERVERLESS_INSTANCE_IDENTIFIER": "tickets-serverless",
            "CLUSTER_IDENTIFIER": "tickets-prod", "WEIGHT_STEP": 10, "DRY_RUN": false,
        });
        let (r, lines) = invoke(&d, json!({"direction": "up", "settings": tickets}));
        let o = r.expect("step");
        assert_eq!((o.serverless_weight, o.changed), (10, true), "its own step");
        assert_eq!(*d.store.1.lock().unwrap(), "tickets.spillway.internal");
        assert_eq!(lines[0]["DBClusterIdentifier"], "tickets-prod");
        assert_eq!(lines[0]["RecordName"], "tickets.spillway.internal");
        assert_eq!(
            lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Spillway"
        );
        // Every check of the environment's configuration holds for a request's settings.
        let mut bad = tickets.clone();
        bad["PROVISIONED_WEIGHT"] = json!(0);
        let (r, _) = invoke(&d, json!({"direction": "up", "settings": bad}));
        let e = r.unwrap_err();
        assert_eq!(e.error_type(), "InvalidInput");
        assert!(e.to_string().contains("PROVISIONED_WEIGHT"), "{e}");
        let mut outside = tickets.clone();
        outside["RECORD_NAME"] = json!("tickets.elsewhere.internal");
        let (r, _) = invoke(&d, json!({"direction": "up", "settings": outside}));
        assert!(r.unwrap_err().to_string().contains("RECORD_NAME"));
        let (r, _) = invoke(&d, json!({"direction": "up", "settings": "tickets"}));
        assert_eq!(r.unwrap_err().error_type(), "InvalidInput");
        assert_eq!(
            *d.store.0.lock().unwrap(),
            (10, 100),
            "only the good request moved"
        );
    }

    #[test]
    fn scale_downs_lock_table_item_holds_a_step_within_the_delay() {
        let d = deps(50, true);
        let item = |at: &str| json!({"Item": {"lock": {"S": "last-raise"}, "at": {"S": at}}});
        let (r, _) = invoke(
            &d,
            json!({"direction": "down", "lastRaise": item("2026-12-03T10:00:00.123Z"),
                   "now": "2026-12-03T10:05:00Z"}),
        );
        let e = r.unwrap_err();
        assert_eq!(e.error_type(), "ScaleDownDelayed");
        assert!(
            e.to_string().contains("before 2026-12-03 10:10:00.123 UTC"),
            "{e}"
        );
        // Past the delay, or no raise on record (GetItem's answer without `Item`, as Step
        // Functions returns it, or as ministack does): the step is made.
        let none = json!({
            "SdkHttpMetadata": {"HttpStatusCode": 200, "HttpHeaders": {"Content-Type": "application/x-amz-json-1.0"}},
            "SdkResponseMetadata": {"RequestId": "R1"},
        });
        for payload in [
            json!({"direction": "down", "lastRaise": item("2026-12-03T10:00:00Z"), "now": "2026-12-03T10:10:00Z"}),
            json!({"direction": "down", "lastRaise": none, "now": "2026-12-03T10:00:01Z"}),
            json!({"direction": "down", "lastRaise": {}, "now": "2026-12-03T10:00:01Z"}),
        ] {
            let (r, _) = invoke(&d, payload.clone());
            assert!(r.is_ok(), "{payload}: {r:?}");
        }
        // A time that is not one is bad input, not a step.
        let (r, _) = invoke(
            &d,
            json!({"direction": "down", "lastRaise": item("yesterday")}),
        );
        assert_eq!(r.unwrap_err().error_type(), "InvalidInput");
    }

    #[test]
    fn when_each_error_occurs_should_map_to_its_error_type() {
        let cases: Vec<(HandlerError, &str)> = vec![
            (HandlerError::InvalidInput("x".into()), "InvalidInput"),
            (
                ShiftError::ServerlessReaderUnavailable {
                    instance: "i".into(),
                    status: "s".into(),
                }
                .into(),
                "ServerlessReaderUnavailable",
            ),
            (
                ShiftError::ReplicaLagging {
                    instance: "i".into(),
                    lag_ms: 2,
                    bound_ms: 1,
                }
                .into(),
                "ReplicaLagging",
            ),
            (
                ShiftError::ClusterFailingOver {
                    cluster: "c".into(),
                }
                .into(),
                "ClusterFailingOver",
            ),
            (
                ShiftError::ScaleDownDelayed {
                    raised_at: chrono::DateTime::UNIX_EPOCH,
                    until: chrono::DateTime::UNIX_EPOCH,
                    delay_s: 1,
                }
                .into(),
                "ScaleDownDelayed",
            ),
            (
                ShiftError::UnexpectedWeight {
                    expected: 1,
                    found: 2,
                }
                .into(),
                "ConcurrentChange",
            ),
            (
                ShiftError::Store(StoreError::Conflict("c".into())).into(),
                "ConcurrentChange",
            ),
            (
                ShiftError::Store(StoreError::NotFound("n".into())).into(),
                "RecordsNotFound",
            ),
            (
                ShiftError::Store(StoreError::Mismatch("m".into())).into(),
                "RecordsMismatch",
            ),
            (
                ShiftError::Store(StoreError::Throttled("t".into())).into(),
                "Throttled",
            ),
            (
                ShiftError::Store(StoreError::Other("o".into())).into(),
                "AwsError",
            ),
        ];
        let mut seen: Vec<&str> = cases.iter().map(|(e, _)| e.error_type()).collect();
        for (e, t) in cases {
            assert_eq!(Diagnostic::from(e).error_type, t);
        }
        seen.sort_unstable();
        seen.dedup();
        let mut all = ERROR_TYPES.to_vec();
        all.sort_unstable();
        assert_eq!(
            seen, all,
            "ERROR_TYPES lists exactly the types the code emits"
        );
    }

    #[test]
    fn when_serverless_reader_is_unavailable_should_fail_typed_and_print_nothing() {
        let d = deps(0, false);
        let (r, lines) = invoke(&d, json!({"direction": "up"}));
        assert_eq!(r.unwrap_err().error_type(), "ServerlessReaderUnavailable");
        assert!(lines.is_empty());
        assert_eq!(*d.store.0.lock().unwrap(), (0, 100), "weights untouched");
    }

    #[test]
    fn when_sample_step_events_are_invoked_should_step_as_they_say() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        for (file, start, expected) in [
            ("weight-step-up.json", 0, 25),
            ("weight-step-down.json", 25, 0),
        ] {
            let payload: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
            let d = deps(start, true);
            let (r, _) = invoke(&d, payload);
            assert_eq!(r.expect(file).serverless_weight, expected, "{file}");
        }
    }

    #[test]
    fn when_input_is_not_a_step_request_should_fail_as_invalid_input() {
        let d = deps(0, true);
        let (r, _) = invoke(&d, json!({"direction": "sideways"}));
        assert_eq!(r.unwrap_err().error_type(), "InvalidInput");
    }
}

/// Cross-checks of the state machines against this function (`state-machines/*.asl.json`).
#[cfg(test)]
mod state_machine_tests {
    use super::ERROR_TYPES;
    use serde_json::Value;
    use std::path::{Path, PathBuf};

    fn definitions() -> Vec<(PathBuf, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../state-machines");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
            // Prepare / Recover invoke the planned-event function (its own vocabulary).
            .filter(|p| !p.ends_with("planned-event.asl.json"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 3, "scale-up, scale-down, monitor-new-readers");
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p, text)
            })
            .collect()
    }

    fn states(def: &Value) -> Vec<(String, Value)> {
        def["States"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn every_error_the_state_machines_match_is_one_the_function_emits() {
        for (path, text) in definitions() {
            let def: Value = serde_json::from_str(&text).expect("definitions are JSON as written");
            for (name, state) in states(&def) {
                let lists = ["Retry", "Catch"]
                    .iter()
                    .flat_map(|k| state[*k].as_array().cloned().unwrap_or_default())
                    .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default());
                for error in lists {
                    let e = error.as_str().unwrap();
                    // Only the Lambda task's errors come from this function; the other tasks'
                    // names are checked by tests/asl.
                    if state["Resource"] != "arn:aws:states:::lambda:invoke" {
                        continue;
                    }
                    assert!(
                        ERROR_TYPES.contains(&e)
                            || e.starts_with("States.")
                            || e.starts_with("Lambda."),
                        "{path:?} state {name:?} matches {e:?}, which the function never returns"
                    );
                }
            }
        }
    }

    #[test]
    fn every_lambda_task_catches_each_error_by_name_then_everything_else_alone_and_last() {
        for (path, text) in definitions() {
            let def: Value = serde_json::from_str(&text).unwrap();
            for (name, state) in states(&def) {
                if state["Resource"] != "arn:aws:states:::lambda:invoke" {
                    continue;
                }
                let catches = state["Catch"]
                    .as_array()
                    .expect("a Lambda task has a Catch");
                let names = |c: &Value| -> Vec<String> {
                    c["ErrorEquals"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e.as_str().unwrap().to_owned())
                        .collect()
                };
                for t in ERROR_TYPES.iter().filter(|t| **t != "Throttled") {
                    assert!(
                        catches.iter().any(|c| names(c).iter().any(|n| n == t)),
                        "{path:?} {name:?} does not catch {t} by name"
                    );
                }
                // AWS rejects the definition otherwise (SCHEMA_VALIDATION_FAILED: States.ALL
                // must appear alone and at end of list).
                assert_eq!(
                    names(catches.last().unwrap()),
                    vec!["States.ALL".to_owned()],
                    "{path:?} {name:?}: the last catcher is States.ALL alone"
                );
                assert!(
                    catches[..catches.len() - 1]
                        .iter()
                        .all(|c| !names(c).iter().any(|n| n == "States.ALL")),
                    "{path:?} {name:?}: States.ALL only in the last catcher"
                );
            }
        }
    }

    /// Substitutes test values, as CloudFormation does with `DefinitionSubstitutions`.
    pub fn render(text: &str, values: &[(&str, &str)]) -> String {
        let mut out = text.to_owned();
        for (k, v) in values {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        assert!(!out.contains("${"), "every placeholder has a value");
        out
    }

    #[test]
    #[ignore = "needs asl-validator (scripts/test installs it and sets ASL_VALIDATOR)"]
    fn rendered_definitions_pass_asl_validator() {
        let validator = std::env::var("ASL_VALIDATOR")
            .expect("ASL_VALIDATOR must name the asl-validator executable (scripts/test sets it)");
        let values = [
            (
                "WeightStepFunctionArn",
                "arn:aws:lambda:us-east-1:123456789012:function:step",
            ),
            ("AlarmCycleSeconds", "10"),
            ("CooldownSeconds", "30"),
            ("MaxRounds", "120"),
            ("LockTableName", "spillway-locks"),
            ("DirectTriggerGraceRounds", "3"),
            ("SettingsPrefix", "/spillway/spillway/clusters/"),
            ("ClusterIdentifiers", "orders,tickets"),
            (
                "MonitoringRoleArn",
                "arn:aws:iam::123456789012:role/rds-monitoring-role",
            ),
        ];
        let dir = std::env::temp_dir().join(format!("spillway-asl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (path, text) in definitions() {
            let rendered = dir.join(path.file_name().unwrap());
            std::fs::write(&rendered, render(&text, &values)).unwrap();
            let out = std::process::Command::new(&validator)
                .arg("--json-path")
                .arg(&rendered)
                .output()
                .expect("asl-validator runs");
            assert!(
                out.status.success(),
                "{path:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
