//! One call of Prepare or Recover: read the plan, observe the cluster, ask the reconciler
//! (`spillway::planned::reconcile::decide`) and carry out its actions. The state machine loops
//! on the answer (`done`, or wait `waitSeconds` and call again with `waiting`).
//!
//! Errors carry a fixed `error_type` vocabulary ([`ERROR_TYPES`]); the machines retry the
//! transient ones (`PlanObserveFailed`, `PlanActionFailed`: the next call observes again, so a
//! retry never repeats a change that landed) and fail on the others with the cause naming the
//! step.

use std::future::Future;

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use spillway::planned::plan;
use spillway::planned::reconcile::{self, Action, Next, Observed, Phase, Stop, Waiting};
use spillway_aws::planned::{PlannedEvents, Scope};

use crate::config::EventConfig;

/// Every `error_type` the function can return (the machine's `Retry` names the transient ones;
/// tests/asl reads this list as the function's vocabulary).
#[cfg(test)]
pub const ERROR_TYPES: [&str; 6] = [
    "InvalidInput",
    "InvalidPlan",
    "PlanObserveFailed",
    "PlanRefused",
    "PlanStepTimedOut",
    "PlanActionFailed",
];

/// What the function reads and changes (the adapter on AWS, a model in the tests).
pub trait ClusterPort {
    fn observe(
        &self,
        scope: &Scope,
        cluster: &str,
        writer_class: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Observed, String>>;
    fn apply(&self, cluster: &str, action: &Action) -> impl Future<Output = Result<(), String>>;
}

impl ClusterPort for PlannedEvents {
    async fn observe(
        &self,
        scope: &Scope,
        cluster: &str,
        writer_class: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Observed, String> {
        PlannedEvents::observe_in(self, scope, cluster, writer_class, now).await
    }
    async fn apply(&self, cluster: &str, action: &Action) -> Result<(), String> {
        PlannedEvents::apply(self, cluster, action).await
    }
}

pub struct Deps<P> {
    pub port: P,
    pub config: EventConfig,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    pub phase: Phase,
    /// The plan document, as the operator wrote it (validated again here).
    pub plan: serde_json::Value,
    #[serde(default)]
    pub waiting: Option<Waiting>,
    /// The machine has seen that no weight loop runs: a failover or a deletion may go ahead.
    #[serde(default)]
    pub moves_allowed: bool,
    /// The plan's cluster settings (the `planned` block of its settings document, as the
    /// machine loaded it): `CLUSTER_IDENTIFIER`, `SERVERLESS_INSTANCE_IDENTIFIER`,
    /// `PROVISIONED_ENDPOINT_ID` (empty: none), `AUTO_SCALING`. Absent: the environment's.
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
}

/// The scope of a request's own cluster settings, which must be the plan's cluster's.
fn request_scope(settings: &serde_json::Value, cluster: &str) -> Result<Scope, HandlerError> {
    let text = |k: &str| spillway::region::settings::text(settings.get(k)?);
    let bad = |what: String| HandlerError::InvalidInput(format!("settings: {what}"));
    match text("CLUSTER_IDENTIFIER") {
        Some(c) if c == cluster => {}
        other => {
            return Err(bad(format!(
                "CLUSTER_IDENTIFIER is {other:?}, not the plan's cluster {cluster}"
            )));
        }
    }
    let serverless_instance = text("SERVERLESS_INSTANCE_IDENTIFIER")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("SERVERLESS_INSTANCE_IDENTIFIER is missing".into()))?;
    let autoscaling = match text("AUTO_SCALING").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(bad(format!("AUTO_SCALING = {v:?}: true or false"))),
    };
    Ok(Scope {
        serverless_instance,
        endpoint: text("PROVISIONED_ENDPOINT_ID").filter(|s| !s.is_empty()),
        autoscaling,
    })
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub step: String,
    pub actions: Vec<Action>,
    pub done: bool,
    /// 0: call again at once.
    pub wait_seconds: u32,
    pub reason: Option<String>,
    /// Carried to the next call.
    pub waiting: Option<Waiting>,
    /// The step fails over or deletes: nothing was done, the machine checks that no weight
    /// loop runs and calls again with `movesAllowed`.
    pub needs_quiet_loops: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    #[error("could not observe cluster {cluster}: {error}")]
    Observe { cluster: String, error: String },
    #[error(transparent)]
    Stop(#[from] Stop),
    #[error("step {step}: {action} failed: {error}")]
    Action {
        step: String,
        action: String,
        error: String,
    },
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "InvalidInput",
            Self::InvalidPlan(_) => "InvalidPlan",
            Self::Observe { .. } => "PlanObserveFailed",
            Self::Stop(s) => s.name(),
            Self::Action { .. } => "PlanActionFailed",
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

pub async fn function_handler<P: ClusterPort>(
    deps: &Deps<P>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Response, HandlerError> {
    handle(
        deps,
        event.payload,
        DateTime::<Utc>::from(std::time::SystemTime::now()),
    )
    .await
}

fn action_name(a: &Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.get("action")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "action".into())
}

/// The handler with its clock injected.
pub async fn handle<P: ClusterPort>(
    deps: &Deps<P>,
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Response, HandlerError> {
    let result = run(deps, payload, now).await;
    if let Err(e) = &result {
        tracing::error!(error_type = e.error_type(), error = %e, "planned event stopped");
    }
    result
}

async fn run<P: ClusterPort>(
    deps: &Deps<P>,
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Response, HandlerError> {
    let request: Request =
        serde_json::from_value(payload).map_err(|e| HandlerError::InvalidInput(e.to_string()))?;
    let plan = plan::parse(&request.plan.to_string()).map_err(|errors| {
        HandlerError::InvalidPlan(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let scope = match (&request.settings, &deps.config.scope) {
        (Some(s), _) => request_scope(s, &plan.cluster)?,
        (None, Some(scope)) if deps.config.clusters.contains(&plan.cluster) => scope.clone(),
        (None, _) => {
            return Err(HandlerError::InvalidPlan(format!(
                "cluster: {} is not a cluster of this deployment ({})",
                plan.cluster,
                if deps.config.clusters.is_empty() {
                    "the request carries no settings, and the environment names none".into()
                } else {
                    deps.config.clusters.join(", ")
                }
            )));
        }
    };
    let writer_class = match request.phase {
        Phase::Prepare => plan.writer_class.as_deref(),
        Phase::Recover => None,
    };
    let seen = deps
        .port
        .observe(&scope, &plan.cluster, writer_class, now)
        .await
        .map_err(|error| HandlerError::Observe {
            cluster: plan.cluster.clone(),
            error,
        })?;
    let decision = reconcile::decide(
        request.phase,
        &plan,
        &seen,
        request.waiting.as_ref(),
        &deps.config.limits,
    )?;
    if !request.moves_allowed && decision.actions.iter().any(Action::exclusive) {
        tracing::info!(
            cluster = %plan.cluster,
            step = %decision.step,
            "{} {}: waiting for no weight loop to run before moving",
            plan.cluster,
            decision.step
        );
        return Ok(Response {
            step: decision.step,
            actions: vec![],
            done: false,
            wait_seconds: 0,
            reason: Some("a failover or deletion: first, no weight loop may be running".into()),
            waiting: request.waiting,
            needs_quiet_loops: true,
        });
    }
    for a in &decision.actions {
        let name = action_name(a);
        deps.port
            .apply(&plan.cluster, a)
            .await
            .map_err(|error| HandlerError::Action {
                step: decision.step.clone(),
                action: name.clone(),
                error,
            })?;
        tracing::info!(
            cluster = %plan.cluster,
            phase = ?request.phase,
            step = %decision.step,
            action = %serde_json::to_string(a).unwrap_or_default(),
            "{} {}: {name}",
            plan.cluster,
            decision.step
        );
    }
    let waiting = Waiting::after(request.waiting.as_ref(), &decision, now);
    let (done, wait_seconds, reason) = match &decision.next {
        Next::Done => (true, 0, None),
        Next::Continue => (false, 0, None),
        Next::Wait { seconds, reason } => {
            tracing::info!(
                cluster = %plan.cluster,
                step = %decision.step,
                "{} {}: waiting: {reason}",
                plan.cluster,
                decision.step
            );
            (false, *seconds, Some(reason.clone()))
        }
    };
    if done {
        tracing::info!(cluster = %plan.cluster, phase = ?request.phase, "{} {:?} done", plan.cluster, request.phase);
    }
    Ok(Response {
        step: decision.step,
        actions: decision.actions,
        done,
        wait_seconds,
        reason,
        waiting,
        needs_quiet_loops: false,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use serde_json::json;
    use spillway::planned::model::Model;
    use spillway::planned::reconcile::{Instance, Limits};

    struct InMemory(Mutex<Model>);

    impl ClusterPort for InMemory {
        async fn observe(
            &self,
            scope: &Scope,
            cluster: &str,
            _writer_class: Option<&str>,
            _now: DateTime<Utc>,
        ) -> Result<Observed, String> {
            let m = self.0.lock().unwrap();
            if m.seen.cluster != cluster {
                return Err(format!("DBClusterNotFoundFault: {cluster}"));
            }
            // As the adapter: the serverless instance is the scope's.
            let mut seen = m.seen.clone();
            seen.serverless_instance = scope.serverless_instance.clone();
            Ok(seen)
        }
        async fn apply(&self, _cluster: &str, action: &Action) -> Result<(), String> {
            self.0.lock().unwrap().apply(action)
        }
    }

    fn member(id: &str, class: &str, writer: bool) -> Instance {
        Instance {
            id: id.into(),
            class: class.into(),
            status: "available".into(),
            writer,
            tier: 1,
            tags: Default::default(),
            pending_changes: false,
        }
    }

    fn deps() -> Deps<InMemory> {
        let seen = Observed {
            cluster: "orders".into(),
            status: "available".into(),
            tags: Default::default(),
            acu: Some(spillway::planned::plan::AcuRange {
                min: 0.5,
                max: 16.0,
            }),
            members: vec![
                member("orders-writer", "db.r6g.large", true),
                member("orders-reader-1", "db.r6g.large", false),
                member("orders-serverless", "db.serverless", false),
            ],
            serverless_instance: "orders-serverless".into(),
            writer_class_orderable: Some(true),
            autoscaling_min: None,
            autoscaling_max: None,
            endpoint: None,
            connections: Default::default(),
            now: "2026-12-12T18:50:00Z".parse().unwrap(),
        };
        Deps {
            port: InMemory(Mutex::new(Model::new(seen))),
            config: crate::config::EventConfig {
                clusters: vec!["orders".into()],
                scope: Some(spillway_aws::planned::Scope {
                    serverless_instance: "orders-serverless".into(),
                    endpoint: None,
                    autoscaling: false,
                }),
                limits: Limits::default(),
                log_level: "info".into(),
            },
        }
    }

    fn plan() -> serde_json::Value {
        json!({
            "cluster": "orders",
            "start": "2026-12-12T20:00:00+01:00",
            "end": "2026-12-12T23:00:00+01:00",
            "writerClass": "db.r6g.4xlarge",
            "provisionedReaders": 2,
            "serverlessAcu": {"min": 4, "max": 32},
        })
    }

    #[tokio::test]
    async fn the_calls_of_a_machine_prepare_the_cluster() {
        let deps = deps();
        let mut waiting: Option<Waiting> = None;
        let mut steps = vec![];
        for _ in 0..200 {
            let now = deps.port.0.lock().unwrap().seen.now;
            let mut r = handle(
                &deps,
                json!({"phase": "prepare", "plan": plan(), "waiting": waiting}),
                now,
            )
            .await
            .unwrap();
            if r.needs_quiet_loops {
                assert!(r.actions.is_empty(), "{r:?}");
                let failed_over = |d: &Deps<InMemory>| {
                    d.port
                        .0
                        .lock()
                        .unwrap()
                        .log
                        .iter()
                        .any(|(_, a)| a.exclusive())
                };
                assert!(
                    !failed_over(&deps),
                    "nothing moved before the loops were checked"
                );
                r = handle(
                    &deps,
                    json!({"phase": "prepare", "plan": plan(), "waiting": waiting, "movesAllowed": true}),
                    now,
                )
                .await
                .unwrap();
                assert!(matches!(r.actions[..], [Action::Failover { .. }]), "{r:?}");
            }
            if steps.last() != Some(&r.step) {
                steps.push(r.step.clone());
            }
            if r.done {
                break;
            }
            waiting = r.waiting;
            deps.port
                .0
                .lock()
                .unwrap()
                .advance(i64::from(r.wait_seconds) + 1);
        }
        assert_eq!(
            steps,
            [
                "record-restore",
                "acu",
                "writer-create",
                "writer-available",
                "failover",
                "writer-moved",
                "done"
            ]
        );
        let m = deps.port.0.lock().unwrap();
        let w = m.seen.members.iter().find(|m| m.writer).unwrap();
        assert_eq!(w.class, "db.r6g.4xlarge");
    }

    #[tokio::test]
    async fn bad_input_and_bad_plans_are_named() {
        let deps = deps();
        let now = DateTime::<Utc>::from(std::time::SystemTime::now());
        let e = handle(&deps, json!({"phase": "prepare"}), now)
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "InvalidInput");
        let mut bad = plan();
        bad["provisionedReaders"] = json!(0);
        bad["serverlessAcu"] = json!({"min": 8, "max": 4});
        let e = handle(&deps, json!({"phase": "prepare", "plan": bad}), now)
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "InvalidPlan");
        let text = e.to_string();
        assert!(
            text.contains("provisionedReaders") && text.contains("serverlessAcu"),
            "{text}"
        );
        let mut other = plan();
        other["cluster"] = json!("payments");
        let e = handle(&deps, json!({"phase": "prepare", "plan": other}), now)
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "InvalidPlan");
        assert!(
            e.to_string()
                .contains("payments is not a cluster of this deployment"),
            "{e}"
        );
        let e = handle(&deps, json!({"phase": "recover", "plan": plan()}), now)
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "PlanRefused");
        assert!(e.to_string().contains("no prepare on record"), "{e}");
        // Nothing was changed by any of them.
        assert!(deps.port.0.lock().unwrap().log.is_empty());
    }

    #[tokio::test]
    async fn a_requests_settings_are_its_clusters_and_must_be_the_plans() {
        let mut deps = deps();
        // No cluster in the environment: only a request's settings name one.
        deps.config.clusters.clear();
        deps.config.scope = None;
        let now = DateTime::<Utc>::from(std::time::SystemTime::now());
        let e = handle(&deps, json!({"phase": "prepare", "plan": plan()}), now)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("carries no settings"), "{e}");
        let settings = json!({"CLUSTER_IDENTIFIER": "orders",
                              "SERVERLESS_INSTANCE_IDENTIFIER": "orders-serverless",
                              "PROVISIONED_ENDPOINT_ID": "", "AUTO_SCALING": "false"});
        let r = handle(
            &deps,
            json!({"phase": "prepare", "plan": plan(), "settings": settings}),
            now,
        )
        .await
        .expect("the first step of prepare");
        assert!(!r.done && !r.step.is_empty(), "{r:?}");
        for (field, value, says) in [
            (
                "CLUSTER_IDENTIFIER",
                json!("payments"),
                "not the plan's cluster orders",
            ),
            (
                "SERVERLESS_INSTANCE_IDENTIFIER",
                json!(""),
                "SERVERLESS_INSTANCE_IDENTIFIER is missing",
            ),
            ("AUTO_SCALING", json!("maybe"), "AUTO_SCALING"),
        ] {
            let mut bad = settings.clone();
            bad[field] = value;
            let e = handle(
                &deps,
                json!({"phase": "prepare", "plan": plan(), "settings": bad}),
                now,
            )
            .await
            .unwrap_err();
            assert_eq!(e.error_type(), "InvalidInput");
            assert!(e.to_string().contains(says), "{field}: {e}");
        }
    }

    #[test]
    fn every_error_type_is_listed() {
        let cases = [
            HandlerError::InvalidInput(String::new()),
            HandlerError::InvalidPlan(String::new()),
            HandlerError::Observe {
                cluster: String::new(),
                error: String::new(),
            },
            HandlerError::Stop(Stop::Refused {
                step: String::new(),
                message: String::new(),
            }),
            HandlerError::Stop(Stop::TimedOut {
                step: String::new(),
                seconds: 0,
                message: String::new(),
            }),
            HandlerError::Action {
                step: String::new(),
                action: String::new(),
                error: String::new(),
            },
        ];
        let types: Vec<&str> = cases.iter().map(HandlerError::error_type).collect();
        assert_eq!(types, ERROR_TYPES);
    }
}
