//! A cluster in memory that carries out the reconciler's actions with AWS's expected durations:
//! the dry run's engine (the changes each step would make, in order, with when they would
//! happen) and the tests' cluster. The decisions are [`super::reconcile::decide`]'s, the same
//! ones the Lambda function acts on.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::plan::{AcuRange, EventPlan};
use super::reconcile::{
    Action, Decision, Instance, Limits, Next, Observed, Phase, Stop, Waiting, decide,
};

/// How long AWS takes, as far as its documentation and field reports say (README, "Preparing
/// for an announced sale"): only a real account shows the real figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Durations {
    /// CreateDBInstance until `available` (about 7 minutes).
    pub create_seconds: i64,
    /// FailoverDBCluster until the target is the writer and the cluster available.
    pub failover_seconds: i64,
    /// DeleteDBInstance until the instance is gone.
    pub delete_seconds: i64,
    /// ModifyDBCluster (the ACU range) until the cluster is available.
    pub modify_seconds: i64,
    /// A reader's connections reach 0 this long after it left what clients resolve (an
    /// assumption: pools that recycle connections within 90 s).
    pub drain_seconds: i64,
    /// ModifyDBClusterEndpoint until the endpoint is available again.
    pub endpoint_seconds: i64,
    /// One call of the function.
    pub call_seconds: i64,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            create_seconds: 7 * 60,
            failover_seconds: 60,
            delete_seconds: 5 * 60,
            modify_seconds: 30,
            drain_seconds: 90,
            endpoint_seconds: 20,
            call_seconds: 1,
        }
    }
}

/// A change in progress, landing at a time.
#[derive(Debug, Clone, PartialEq)]
enum Landing {
    Available(String),
    Writer(String),
    Gone(String),
    ClusterAvailable,
    Drained(String),
    AutoScaled(u32),
    EndpointAvailable,
}

/// The in-memory cluster.
#[derive(Debug, Clone)]
pub struct Model {
    pub seen: Observed,
    pub durations: Durations,
    pending: Vec<(DateTime<Utc>, Landing)>,
    /// Actions ever carried out, for the tests' invariants.
    pub log: Vec<(DateTime<Utc>, Action)>,
    next_auto: u32,
}

/// One line of a dry run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Seconds after the phase started.
    pub at_seconds: i64,
    pub step: String,
    /// The change made (empty for a wait).
    pub action: Option<Action>,
    /// What a wait waits for.
    pub waiting_for: Option<String>,
}

/// A phase played on the model: its lines, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Played {
    pub lines: Vec<Line>,
    pub seconds: i64,
    pub outcome: Result<(), String>,
}

impl Model {
    pub fn new(seen: Observed) -> Self {
        Self {
            seen,
            durations: Durations::default(),
            pending: vec![],
            log: vec![],
            next_auto: 1,
        }
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.seen.members.iter_mut().find(|m| m.id == id)
    }

    fn after(&mut self, seconds: i64, landing: Landing) {
        self.pending
            .push((self.seen.now + Duration::seconds(seconds), landing));
    }

    /// Carries out one action (the function's adapters, in memory).
    pub fn apply(&mut self, action: &Action) -> Result<(), String> {
        self.log.push((self.seen.now, action.clone()));
        let d = self.durations.clone();
        match action {
            Action::TagCluster { tags } => {
                self.seen.tags.extend(tags.clone());
            }
            Action::UntagCluster { keys } => {
                for k in keys {
                    self.seen.tags.remove(k);
                }
            }
            Action::CreateInstance {
                id,
                class,
                tier,
                tags,
            } => {
                if self.seen.members.iter().any(|m| m.id == *id) {
                    return Err(format!("DBInstanceAlreadyExists: {id}"));
                }
                self.seen.members.push(Instance {
                    id: id.clone(),
                    class: class.clone(),
                    status: "creating".into(),
                    writer: false,
                    tier: *tier,
                    tags: tags.clone(),
                    pending_changes: false,
                });
                self.after(d.create_seconds, Landing::Available(id.clone()));
            }
            Action::Failover { target } => {
                if self.seen.status != "available" {
                    return Err(format!("InvalidDBClusterStateFault: {}", self.seen.status));
                }
                let ok = self
                    .seen
                    .members
                    .iter()
                    .any(|m| m.id == *target && m.available() && !m.writer);
                if !ok {
                    return Err(format!("InvalidDBInstanceState: {target}"));
                }
                self.seen.status = "failing-over".into();
                self.after(d.failover_seconds, Landing::Writer(target.clone()));
            }
            Action::SetTier { id, tier } => {
                let m = self
                    .member_mut(id)
                    .ok_or_else(|| format!("DBInstanceNotFound: {id}"))?;
                m.tier = *tier;
            }
            Action::SetAcu { min, max } => {
                self.seen.acu = Some(AcuRange {
                    min: *min,
                    max: *max,
                });
                self.seen.status = "modifying".into();
                self.after(d.modify_seconds, Landing::ClusterAvailable);
            }
            Action::SetAutoScalingMin { min } => {
                self.seen.autoscaling_min = Some(*min);
                self.after(d.create_seconds, Landing::AutoScaled(*min));
            }
            Action::SetExcluded { endpoint, excluded } => {
                let e = self
                    .seen
                    .endpoint
                    .as_mut()
                    .filter(|e| e.id == *endpoint)
                    .ok_or_else(|| format!("DBClusterEndpointNotFoundFault: {endpoint}"))?;
                let newly: Vec<String> = excluded
                    .iter()
                    .filter(|x| !e.excluded.contains(x))
                    .cloned()
                    .collect();
                e.excluded = excluded.clone();
                e.status = "modifying".into();
                self.after(d.endpoint_seconds, Landing::EndpointAvailable);
                for id in newly {
                    self.after(d.drain_seconds, Landing::Drained(id));
                }
            }
            Action::DeleteInstance { id } => {
                let m = self
                    .member_mut(id)
                    .ok_or_else(|| format!("DBInstanceNotFound: {id}"))?;
                if m.writer {
                    return Err(format!("InvalidDBInstanceState: {id} is the writer"));
                }
                m.status = "deleting".into();
                self.after(d.delete_seconds, Landing::Gone(id.clone()));
            }
        }
        Ok(())
    }

    /// Moves the clock, landing what is due.
    pub fn advance(&mut self, seconds: i64) {
        self.seen.now += Duration::seconds(seconds);
        let now = self.seen.now;
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(t, _)| *t <= now);
        self.pending = later;
        for (_, landing) in due {
            match landing {
                Landing::Available(id) => {
                    // No connection count is made up for it: until it is drained, the model
                    // knows none (the function reads the real one).
                    if let Some(m) = self.member_mut(&id) {
                        m.status = "available".into();
                    }
                }
                Landing::Writer(id) => {
                    for m in &mut self.seen.members {
                        m.writer = m.id == id;
                    }
                    self.seen.status = "available".into();
                }
                Landing::Gone(id) => self.seen.members.retain(|m| m.id != id),
                Landing::ClusterAvailable => self.seen.status = "available".into(),
                Landing::EndpointAvailable => {
                    if let Some(e) = self.seen.endpoint.as_mut() {
                        e.status = "available".into();
                    }
                }
                Landing::Drained(id) => {
                    let at = self.seen.now;
                    self.seen
                        .connections
                        .insert(id, super::reconcile::Reading { value: 0.0, at });
                }
                Landing::AutoScaled(min) => {
                    // Auto scaling adds readers (its own names) up to its minimum.
                    let readers = self.seen.members.iter().filter(|m| !m.writer).count() as u32;
                    for _ in readers..min {
                        let id = format!("application-autoscaling-{}", self.next_auto);
                        self.next_auto += 1;
                        let class = self
                            .seen
                            .members
                            .iter()
                            .find(|m| m.writer)
                            .map_or("db.r6g.large".into(), |m| m.class.clone());
                        self.seen.members.push(Instance {
                            id,
                            class,
                            status: "available".into(),
                            writer: false,
                            tier: 1,
                            tags: BTreeMap::new(),
                            pending_changes: false,
                        });
                    }
                }
            }
        }
    }

    /// Plays `phase` of `plan` to its end: the dry run, and the tests' run.
    pub fn play(&mut self, phase: Phase, plan: &EventPlan, limits: &Limits) -> Played {
        let start = self.seen.now;
        let mut lines = vec![];
        let mut waiting: Option<Waiting> = None;
        let mut last_wait: Option<String> = None;
        // A bound of its own, far above any phase's (every wait is bounded by `limits`).
        for _ in 0..100_000 {
            let at = (self.seen.now - start).num_seconds();
            let decision: Decision = match decide(phase, plan, &self.seen, waiting.as_ref(), limits)
            {
                Ok(d) => d,
                Err(stop) => return self.ended(lines, start, Err(stop_text(&stop))),
            };
            for a in &decision.actions {
                lines.push(Line {
                    at_seconds: at,
                    step: decision.step.clone(),
                    action: Some(a.clone()),
                    waiting_for: None,
                });
                if let Err(e) = self.apply(a) {
                    return self.ended(lines, start, Err(format!("{}: {e}", decision.step)));
                }
            }
            waiting = Waiting::after(waiting.as_ref(), &decision, self.seen.now);
            match &decision.next {
                Next::Done => return self.ended(lines, start, Ok(())),
                Next::Continue => {
                    last_wait = None;
                    self.advance(self.durations.call_seconds);
                }
                Next::Wait { seconds, reason } => {
                    let key = format!("{}:{reason}", decision.step);
                    if last_wait.as_deref() != Some(key.as_str()) {
                        lines.push(Line {
                            at_seconds: at,
                            step: decision.step.clone(),
                            action: None,
                            waiting_for: Some(reason.clone()),
                        });
                        last_wait = Some(key);
                    }
                    self.advance(i64::from(*seconds).max(1) + self.durations.call_seconds);
                }
            }
        }
        self.ended(lines, start, Err("the model did not converge".into()))
    }

    fn ended(&self, lines: Vec<Line>, start: DateTime<Utc>, outcome: Result<(), String>) -> Played {
        Played {
            lines,
            seconds: (self.seen.now - start).num_seconds(),
            outcome,
        }
    }
}

fn stop_text(stop: &Stop) -> String {
    format!("{}: {stop}", stop.name())
}
