//! Prepare and Recover as a reconciler: each call looks at the cluster as it is now, finds the
//! first goal of the phase that is not met, and answers with the one thing to do next (an
//! action, a wait, or done).
//!
//! Why a reconciler rather than a fixed list of steps: a run that failed at any point, or two
//! runs of the same plan, simply call it again. What is already done is seen as done (the
//! temporary writer exists, the failover happened), so nothing is created twice, and what was
//! recorded before the first change (the restore tag) is never recorded again. The state
//! machines only loop (act, wait, act) and bound the loop; every rule lives here, in plain data,
//! where the dry run and the tests use the very same code.
//!
//! Ownership: every instance Spillway creates carries [`EVENT_TAG`] (the plan's id) and
//! [`ROLE_TAG`]. Only such an instance, of this plan, is ever deleted; the serverless reader,
//! the writer and the last provisioned reader never are.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::plan::{AcuRange, EventPlan, OldWriter};

/// On the cluster: the id of the plan it is prepared for. On an instance: the plan that created
/// it.
pub const EVENT_TAG: &str = "spillway:event";
/// On the cluster: what Recover restores, recorded before Prepare's first change.
pub const RESTORE_TAG: &str = "spillway:restore";
/// On an instance Spillway created: `event-writer` or `event-reader`.
pub const ROLE_TAG: &str = "spillway:role";
pub const ROLE_WRITER: &str = "event-writer";
pub const ROLE_READER: &str = "event-reader";
/// Aurora's promotion tiers: 0 is failed over to first, 15 last.
pub const TIER_FIRST: u8 = 0;
pub const TIER_LAST: u8 = 15;
/// An Aurora cluster holds one writer and at most 15 readers.
pub const MAX_INSTANCES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Prepare,
    Recover,
}

/// One DB instance of the cluster, as DescribeDBInstances shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub class: String,
    /// `available`, `creating`, `deleting`, `modifying`, …
    pub status: String,
    pub writer: bool,
    pub tier: u8,
    pub tags: BTreeMap<String, String>,
    /// Modifications waiting for the maintenance window (`PendingModifiedValues`).
    pub pending_changes: bool,
}

impl Instance {
    pub fn available(&self) -> bool {
        self.status == "available"
    }
    fn going(&self) -> bool {
        self.status == "deleting"
    }
    fn created_by(&self, event: &str) -> bool {
        self.tags.get(EVENT_TAG).map(String::as_str) == Some(event)
    }
    fn role(&self) -> Option<&str> {
        self.tags.get(ROLE_TAG).map(String::as_str)
    }
}

/// The cluster, its members and what else the phase reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub cluster: String,
    /// `available`, `failing-over`, `modifying`, …
    pub status: String,
    pub tags: BTreeMap<String, String>,
    pub acu: Option<AcuRange>,
    pub members: Vec<Instance>,
    /// The serverless reader Spillway spills to (configuration, not observation).
    pub serverless_instance: String,
    /// Whether the plan's writer class is offered for the cluster's engine and version
    /// (`None`: not asked, when the plan changes no writer or the phase is Recover).
    pub writer_class_orderable: Option<bool>,
    /// Application Auto Scaling's minimum for the cluster's replicas (counting every reader,
    /// the serverless one too, as `rds:cluster:ReadReplicaCount` does); `None`: auto scaling off.
    pub autoscaling_min: Option<u32>,
    /// Its maximum (same count).
    pub autoscaling_max: Option<u32>,
    /// The provisioned readers' custom endpoint (an exclusion list) when Spillway manages it;
    /// `None`: clients resolve readers through an endpoint Spillway cannot change.
    pub endpoint: Option<Endpoint>,
    /// The newest `DatabaseConnections` of instances being drained.
    pub connections: BTreeMap<String, Reading>,
    pub now: DateTime<Utc>,
}

impl Observed {
    fn writer(&self) -> Option<&Instance> {
        self.members.iter().find(|m| m.writer)
    }
    fn member(&self, id: &str) -> Option<&Instance> {
        self.members.iter().find(|m| m.id == id)
    }
    fn is_serverless(&self, m: &Instance) -> bool {
        m.id == self.serverless_instance || m.class == "db.serverless"
    }
    /// Readers that serve the provisioned record: not the writer, not serverless, not leaving.
    fn provisioned_readers(&self) -> impl Iterator<Item = &Instance> {
        self.members
            .iter()
            .filter(|m| !m.writer && !self.is_serverless(m) && !m.going())
    }
}

/// A datapoint: its value, and the start of the minute it measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub value: f64,
    pub at: DateTime<Utc>,
}

/// A custom endpoint of type READER defined by its exclusion list: every reader that is not
/// excluded is a member, so readers added later join it by themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    /// `available`, `modifying`, …
    pub status: String,
    pub excluded: Vec<String>,
}

/// The bounds of every wait and the drain rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Between two looks at a change in progress.
    pub poll_seconds: u32,
    /// A new instance (AWS: about 7 minutes).
    pub instance_available_seconds: u32,
    /// A failover, until the target is the writer and the cluster available.
    pub failover_seconds: u32,
    /// A cluster modification (the ACU range) until the cluster is available again.
    pub cluster_available_seconds: u32,
    /// Readers that auto scaling adds after its minimum is raised.
    pub autoscaling_seconds: u32,
    /// A deleted instance, until it is gone.
    pub deleted_seconds: u32,
    /// The read record's TTL: clients may resolve an excluded reader this long.
    pub record_ttl_seconds: u32,
    /// After the TTL, connections are waited for to drain at most this long.
    pub drain_seconds: u32,
    /// "Drained": at most this many connections (Aurora's own sessions count too).
    pub drained_connections: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            poll_seconds: 30,
            instance_available_seconds: 25 * 60,
            failover_seconds: 10 * 60,
            cluster_available_seconds: 15 * 60,
            autoscaling_seconds: 30 * 60,
            deleted_seconds: 20 * 60,
            record_ttl_seconds: 5,
            drain_seconds: 5 * 60,
            drained_connections: 2.0,
        }
    }
}

/// What Recover brings back, recorded on the cluster (as the [`RESTORE_TAG`]) before Prepare's
/// first change.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    pub writer: String,
    pub writer_tier: u8,
    pub acu: Option<AcuRange>,
    pub autoscaling_min: Option<u32>,
}

impl Restore {
    /// A tag value: RDS allows letters, digits, spaces and `_ . : / = + - @`, 256 at most.
    pub fn to_tag(&self) -> String {
        let acu = self
            .acu
            .map_or("-".to_string(), |a| format!("{}/{}", a.min, a.max));
        let aas = self
            .autoscaling_min
            .map_or("-".to_string(), |n| n.to_string());
        format!(
            "writer={} tier={} acu={acu} aasmin={aas}",
            self.writer, self.writer_tier
        )
    }

    pub fn from_tag(text: &str) -> Result<Self, String> {
        let mut fields = BTreeMap::new();
        for part in text.split_whitespace() {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not key=value"))?;
            fields.insert(k, v);
        }
        let get = |k: &str| {
            fields
                .get(k)
                .copied()
                .ok_or_else(|| format!("no `{k}=` in `{text}`"))
        };
        let writer = get("writer")?.to_string();
        let writer_tier = get("tier")?
            .parse::<u8>()
            .ok()
            .filter(|t| *t <= TIER_LAST)
            .ok_or_else(|| format!("tier is not 0–15 in `{text}`"))?;
        let acu = match get("acu")? {
            "-" => None,
            v => {
                let (min, max) = v
                    .split_once('/')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .ok_or_else(|| format!("acu is not min/max in `{text}`"))?;
                Some(AcuRange { min, max })
            }
        };
        let autoscaling_min = match get("aasmin")? {
            "-" => None,
            v => Some(
                v.parse()
                    .map_err(|_| format!("aasmin is not a number in `{text}`"))?,
            ),
        };
        Ok(Self {
            writer,
            writer_tier,
            acu,
            autoscaling_min,
        })
    }
}

/// One change to make. `exclusive` ones (a failover, a deletion) must not run while a weight
/// loop steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    TagCluster {
        tags: BTreeMap<String, String>,
    },
    UntagCluster {
        keys: Vec<String>,
    },
    CreateInstance {
        id: String,
        class: String,
        tier: u8,
        tags: BTreeMap<String, String>,
    },
    Failover {
        target: String,
    },
    SetTier {
        id: String,
        tier: u8,
    },
    SetAcu {
        min: f64,
        max: f64,
    },
    SetAutoScalingMin {
        min: u32,
    },
    /// Sets the endpoint's whole exclusion list.
    SetExcluded {
        endpoint: String,
        excluded: Vec<String>,
    },
    DeleteInstance {
        id: String,
    },
}

impl Action {
    /// Changes that move what clients reach (a failover, a deletion).
    pub fn exclusive(&self) -> bool {
        matches!(self, Self::Failover { .. } | Self::DeleteInstance { .. })
    }

    /// One line for people (the dry run, the function's log).
    pub fn describe(&self) -> String {
        let list = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::TagCluster { tags } => format!("tag the cluster: {}", list(tags)),
            Self::UntagCluster { keys } => format!("untag the cluster: {}", keys.join(", ")),
            Self::CreateInstance {
                id, class, tier, ..
            } => format!("create {id} ({class}, promotion tier {tier}, tagged)"),
            Self::Failover { target } => format!("fail over to {target}"),
            Self::SetTier { id, tier } => format!("set {id}'s promotion tier to {tier}"),
            Self::SetAcu { min, max } => {
                format!("set the serverless range to {min}–{max} ACU")
            }
            Self::SetAutoScalingMin { min } => {
                format!("set auto scaling's minimum to {min} readers (the serverless one counted)")
            }
            Self::SetExcluded { endpoint, excluded } => {
                format!("exclude from {endpoint}: {}", excluded.join(", "))
            }
            Self::DeleteInstance { id } => format!("delete {id}"),
        }
    }
}

/// After the actions: call again at once, wait, or stop.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "next", rename_all = "kebab-case")]
pub enum Next {
    Continue,
    Wait { seconds: u32, reason: String },
    Done,
}

/// The answer of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The goal being worked on (also the name a timeout or refusal gives).
    pub step: String,
    pub actions: Vec<Action>,
    #[serde(flatten)]
    pub next: Next,
}

/// A wait in progress, carried by the state machine from call to call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Waiting {
    pub step: String,
    pub since: DateTime<Utc>,
}

impl Waiting {
    /// The wait after `decision`: the same step keeps its start, a new one starts now.
    pub fn after(
        previous: Option<&Waiting>,
        decision: &Decision,
        now: DateTime<Utc>,
    ) -> Option<Waiting> {
        match decision.next {
            Next::Wait { .. } => Some(match previous {
                Some(w) if w.step == decision.step => w.clone(),
                _ => Waiting {
                    step: decision.step.clone(),
                    since: now,
                },
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// Nothing was changed by this call (and, at the check, nothing at all).
    #[error("step {step}: refused: {message}")]
    Refused { step: String, message: String },
    #[error("step {step}: gave up after {seconds} s: {message}")]
    TimedOut {
        step: String,
        seconds: u32,
        message: String,
    },
}

impl Stop {
    /// The error name the state machine fails with.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Refused { .. } => "PlanRefused",
            Self::TimedOut { .. } => "PlanStepTimedOut",
        }
    }
}

fn refuse(step: &str, message: impl Into<String>) -> Stop {
    Stop::Refused {
        step: step.into(),
        message: message.into(),
    }
}

/// The id of a plan: its start in UTC, to the minute (one event per cluster and minute).
pub fn event_id(plan: &EventPlan) -> String {
    plan.start
        .with_timezone(&Utc)
        .format("%Y%m%dt%H%Mz")
        .to_string()
}

/// The identifier of an instance Spillway creates for a plan: `<cluster>-ev<yyyymmddhhmm>-<role>`
/// (lower case, as RDS stores identifiers; the cluster part shortened to keep 63 characters).
pub fn instance_id(plan: &EventPlan, role: &str) -> String {
    let stamp = plan.start.with_timezone(&Utc).format("%Y%m%d%H%M");
    let suffix = format!("-ev{stamp}-{role}");
    let mut head: String = plan
        .cluster
        .to_ascii_lowercase()
        .chars()
        .take(63 - suffix.len())
        .collect();
    while head.ends_with('-') {
        head.pop();
    }
    format!("{head}{suffix}")
}

/// The next thing to do for `phase` of `plan`.
pub fn decide(
    phase: Phase,
    plan: &EventPlan,
    seen: &Observed,
    waiting: Option<&Waiting>,
    limits: &Limits,
) -> Result<Decision, Stop> {
    let mut r = Run {
        plan,
        seen,
        waiting,
        limits,
        event: event_id(plan),
    };
    match phase {
        Phase::Prepare => r.prepare(),
        Phase::Recover => r.recover(),
    }
}

struct Run<'a> {
    plan: &'a EventPlan,
    seen: &'a Observed,
    waiting: Option<&'a Waiting>,
    limits: &'a Limits,
    event: String,
}

fn act(step: &str, actions: Vec<Action>) -> Result<Decision, Stop> {
    Ok(Decision {
        step: step.into(),
        actions,
        next: Next::Continue,
    })
}

impl Run<'_> {
    /// How long `step` has been waited for (0 when it is not the wait in progress).
    fn waited(&self, step: &str) -> i64 {
        match self.waiting {
            Some(w) if w.step == step => (self.seen.now - w.since).num_seconds().max(0),
            _ => 0,
        }
    }

    /// A wait for the cluster's status to change, under `step`.
    fn cluster_wait(&self, step: &str, bound: u32, actions: Vec<Action>) -> Result<Decision, Stop> {
        let s = self.seen;
        let reason = format!("cluster {} is {}", s.cluster, s.status);
        self.wait(step, bound, reason, actions)
    }

    /// Whether the wait in progress is one of `steps`.
    fn in_wait(&self, steps: &[&str]) -> bool {
        self.waiting
            .is_some_and(|w| steps.contains(&w.step.as_str()))
    }

    /// Wait for `step`, or give up when its bound is spent.
    fn wait(
        &self,
        step: &str,
        bound: u32,
        reason: String,
        actions: Vec<Action>,
    ) -> Result<Decision, Stop> {
        if self.waited(step) > i64::from(bound) {
            return Err(Stop::TimedOut {
                step: step.into(),
                seconds: bound,
                message: reason,
            });
        }
        Ok(Decision {
            step: step.into(),
            actions,
            next: Next::Wait {
                seconds: self.limits.poll_seconds,
                reason,
            },
        })
    }

    fn done(&self) -> Result<Decision, Stop> {
        Ok(Decision {
            step: "done".into(),
            actions: vec![],
            next: Next::Done,
        })
    }

    fn tags(&self, role: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (EVENT_TAG.to_string(), self.event.clone()),
            (ROLE_TAG.to_string(), role.to_string()),
        ])
    }

    fn restore(&self) -> Result<Option<Restore>, Stop> {
        self.seen
            .tags
            .get(RESTORE_TAG)
            .map(|t| Restore::from_tag(t).map_err(|e| refuse("check", e)))
            .transpose()
    }

    /// An instance of ours: created by this plan, in this role.
    fn ours(&self, role: &str) -> impl Iterator<Item = &Instance> {
        let event = self.event.clone();
        let role = role.to_string();
        self.seen
            .members
            .iter()
            .filter(move |m| m.created_by(&event) && m.role() == Some(role.as_str()))
    }

    /// The name we would create, unless someone else's instance already has it.
    fn free_name(&self, role: &str) -> Result<String, Stop> {
        let id = instance_id(self.plan, role);
        match self.seen.member(&id) {
            Some(m) if !m.created_by(&self.event) => Err(refuse(
                "check",
                format!("instance {id} exists and Spillway did not create it for this plan"),
            )),
            _ => Ok(id),
        }
    }

    // --- Prepare -------------------------------------------------------------------------------

    fn prepare(&mut self) -> Result<Decision, Stop> {
        let s = self.seen;
        let plan = self.plan;
        // The checks: refused here, nothing has changed.
        if s.cluster != plan.cluster {
            return Err(refuse(
                "check",
                format!(
                    "observed cluster {} is not the plan's {}",
                    s.cluster, plan.cluster
                ),
            ));
        }
        match s.tags.get(EVENT_TAG) {
            Some(other) if *other != self.event => {
                return Err(refuse(
                    "check",
                    format!(
                        "cluster {} is prepared for the event {other}; recover it before preparing {}",
                        s.cluster, self.event
                    ),
                ));
            }
            _ => {}
        }
        // Someone else's instance under a name Spillway would create for this plan.
        let ours_prefix = instance_id(plan, "x").trim_end_matches('x').to_string();
        if let Some(m) = s
            .members
            .iter()
            .find(|m| m.id.starts_with(&ours_prefix) && !m.created_by(&self.event))
        {
            return Err(refuse(
                "check",
                format!(
                    "instance {} exists and Spillway did not create it for this plan",
                    m.id
                ),
            ));
        }
        let first_change = !s.tags.contains_key(EVENT_TAG);
        if !s
            .members
            .iter()
            .any(|m| m.id == s.serverless_instance && !m.writer)
        {
            return Err(refuse(
                "check",
                format!(
                    "the serverless reader {} is not a reader of cluster {}",
                    s.serverless_instance, s.cluster
                ),
            ));
        }
        if plan.starting_serverless_weight.is_some() {
            return Err(refuse(
                "check",
                "startingServerlessWeight is not supported yet: a weight set outside the weight loops would be undone by scale-down (README, \"Preparing for an announced sale\")",
            ));
        }
        let Some(writer) = s.writer() else {
            return Err(refuse(
                "check",
                format!("cluster {} has no writer", s.cluster),
            ));
        };
        let temp = self.ours(ROLE_WRITER).next();
        let writer_change = match &plan.writer_class {
            Some(class) if temp.is_some() || writer.class != *class => Some(class.clone()),
            _ => None,
        };
        if first_change {
            if s.status != "available" {
                return Err(refuse(
                    "check",
                    format!("cluster {} is {}, not available", s.cluster, s.status),
                ));
            }
            if writer_change.is_some() {
                if s.writer_class_orderable == Some(false) {
                    return Err(refuse(
                        "check",
                        format!(
                            "writer class {} is not offered for this cluster's engine and version",
                            plan.writer_class.as_deref().unwrap_or_default()
                        ),
                    ));
                }
                if writer.pending_changes {
                    return Err(refuse(
                        "check",
                        format!(
                            "the writer {} has modifications pending for its maintenance window; the tier change Prepare makes would apply them now (ApplyImmediately): apply or cancel them before the sale",
                            writer.id
                        ),
                    ));
                }
                if plan.old_writer == OldWriter::Remove {
                    return Err(refuse(
                        "check",
                        format!(
                            "oldWriter remove would delete {}, which Spillway did not create; use keep-as-reader (it is also Recover's failback target)",
                            writer.id
                        ),
                    ));
                }
            }
            if let Some(max) = s.autoscaling_max
                && plan.provisioned_readers + 1 > max
            {
                return Err(refuse(
                    "check",
                    format!(
                        "the plan needs auto scaling's minimum at {} readers (the serverless one counted), above its maximum {max}: raise MaxReplicas first",
                        plan.provisioned_readers + 1
                    ),
                ));
            }
            let readers_now = s.provisioned_readers().count();
            let to_add = (plan.provisioned_readers as usize).saturating_sub(readers_now);
            let after = s.members.len() + to_add + usize::from(writer_change.is_some());
            if after > MAX_INSTANCES {
                return Err(refuse(
                    "check",
                    format!(
                        "the plan needs {after} instances in cluster {}; Aurora allows {MAX_INSTANCES} (one writer, 15 readers)",
                        s.cluster
                    ),
                ));
            }
            let restore = Restore {
                writer: writer.id.clone(),
                writer_tier: writer.tier,
                acu: s.acu,
                autoscaling_min: s.autoscaling_min,
            };
            return act(
                "record-restore",
                vec![Action::TagCluster {
                    tags: BTreeMap::from([
                        (EVENT_TAG.to_string(), self.event.clone()),
                        (RESTORE_TAG.to_string(), restore.to_tag()),
                    ]),
                }],
            );
        }
        let restore = self.restore()?.ok_or_else(|| {
            refuse(
                "check",
                format!("cluster {} has {EVENT_TAG} but no {RESTORE_TAG}", s.cluster),
            )
        })?;

        // The serverless range first: the cheapest change, refused early if RDS refuses it (a
        // maximum the engine version does not offer), and the longer it has, the warmer.
        let acu = self.plan.serverless_acu;
        if s.acu != Some(acu) {
            return act(
                "acu",
                vec![Action::SetAcu {
                    min: acu.min,
                    max: acu.max,
                }],
            );
        }

        // The writer.
        if let Some(class) = writer_change {
            match temp {
                None => {
                    let id = self.free_name("w")?;
                    return act(
                        "writer-create",
                        vec![Action::CreateInstance {
                            id,
                            class,
                            tier: TIER_FIRST,
                            tags: self.tags(ROLE_WRITER),
                        }],
                    );
                }
                Some(t) if !t.writer => {
                    if !t.available() {
                        let reason = format!("{} is {}", t.id, t.status);
                        return self.wait(
                            "writer-available",
                            self.limits.instance_available_seconds,
                            reason,
                            vec![],
                        );
                    }
                    // Issued by this run (the wait after it is "failover"): wait for it to land.
                    if self.in_wait(&["failover", "writer-moved"]) {
                        let reason = format!("{} is not the writer yet", t.id);
                        return self.wait(
                            "writer-moved",
                            self.limits.failover_seconds,
                            reason,
                            vec![],
                        );
                    }
                    if s.status != "available" {
                        return self.cluster_wait(
                            "failover-ready",
                            self.limits.cluster_available_seconds,
                            vec![],
                        );
                    }
                    let target = t.id.clone();
                    return Ok(Decision {
                        step: "failover".into(),
                        actions: vec![Action::Failover {
                            target: target.clone(),
                        }],
                        next: Next::Wait {
                            seconds: self.limits.poll_seconds,
                            reason: format!("failing over to {target}"),
                        },
                    });
                }
                Some(t) => {
                    if s.status == "failing-over" {
                        return self.cluster_wait(
                            "writer-moved",
                            self.limits.failover_seconds,
                            vec![],
                        );
                    }
                    // The old writer: last in line for an unplanned failover during the event.
                    if let Some(old) = s.member(&restore.writer)
                        && old.id != t.id
                        && old.tier != TIER_LAST
                    {
                        // Issued, not awaited, beside the next step's actions: an explicit
                        // failover target does not depend on tiers; they only order Aurora's
                        // own choice in an unplanned failover during the event.
                        let mut d = self.prepare_readers()?;
                        d.actions.insert(
                            0,
                            Action::SetTier {
                                id: old.id.clone(),
                                tier: TIER_LAST,
                            },
                        );
                        return Ok(d);
                    }
                }
            }
        }
        self.prepare_readers()
    }

    fn prepare_readers(&self) -> Result<Decision, Stop> {
        let s = self.seen;
        let want = self.plan.provisioned_readers as usize;
        let have: Vec<&Instance> = s.provisioned_readers().collect();
        match s.autoscaling_min {
            Some(min) => {
                // Auto scaling counts every reader, the serverless one too.
                let target = self.plan.provisioned_readers + 1;
                if min < target {
                    return act(
                        "readers-autoscaling-min",
                        vec![Action::SetAutoScalingMin { min: target }],
                    );
                }
            }
            None => {
                if have.len() < want {
                    let mut actions = vec![];
                    let mut n = 1;
                    let mut missing = want - have.len();
                    while missing > 0 {
                        let id = self.free_name(&format!("r{n}"))?;
                        if s.member(&id).is_none() {
                            actions.push(Action::CreateInstance {
                                id,
                                class: self.reader_class(),
                                tier: TIER_LAST,
                                tags: self.tags(ROLE_READER),
                            });
                            missing -= 1;
                        }
                        n += 1;
                    }
                    return act("readers-create", actions);
                }
            }
        }
        let ready = have.iter().filter(|m| m.available()).count();
        if ready < want {
            let pending: Vec<String> = have
                .iter()
                .filter(|m| !m.available())
                .map(|m| format!("{} {}", m.id, m.status))
                .collect();
            let reason = format!(
                "{ready} of {want} provisioned readers available ({})",
                if pending.is_empty() {
                    "auto scaling has not added them yet".to_string()
                } else {
                    pending.join(", ")
                }
            );
            let bound = if s.autoscaling_min.is_some() {
                self.limits.autoscaling_seconds
            } else {
                self.limits.instance_available_seconds
            };
            return self.wait("readers-available", bound, reason, vec![]);
        }
        if let Some(e) = &s.endpoint {
            // Ours excluded (a resumed Recover's leftovers): back in. Others' exclusions stay.
            let ours_out: Vec<&String> = e
                .excluded
                .iter()
                .filter(|x| {
                    have.iter()
                        .any(|m| m.id == **x && m.created_by(&self.event))
                })
                .collect();
            if !ours_out.is_empty() {
                let excluded = e
                    .excluded
                    .iter()
                    .filter(|x| !ours_out.contains(x))
                    .cloned()
                    .collect();
                return act(
                    "readers-endpoint",
                    vec![Action::SetExcluded {
                        endpoint: e.id.clone(),
                        excluded,
                    }],
                );
            }
            if e.status != "available" {
                let reason = format!("endpoint {} is {}", e.id, e.status);
                return self.wait(
                    "readers-endpoint",
                    self.limits.cluster_available_seconds,
                    reason,
                    vec![],
                );
            }
        }
        if s.status != "available" {
            return self.cluster_wait(
                "cluster-available",
                self.limits.cluster_available_seconds,
                vec![],
            );
        }
        self.done()
    }

    /// New readers take the class of the provisioned readers already there (the first one's),
    /// else the writer's as it was before the event.
    fn reader_class(&self) -> String {
        let s = self.seen;
        let created: Vec<&Instance> = self.ours(ROLE_WRITER).collect();
        s.provisioned_readers()
            .find(|m| !m.created_by(&self.event))
            .or_else(|| {
                s.members
                    .iter()
                    .find(|m| !self.seen.is_serverless(m) && !created.contains(m))
            })
            .map_or_else(|| "db.r6g.large".to_string(), |m| m.class.clone())
    }

    // --- Recover -------------------------------------------------------------------------------

    fn recover(&mut self) -> Result<Decision, Stop> {
        let s = self.seen;
        match s.tags.get(EVENT_TAG) {
            None => {
                return Err(refuse(
                    "check",
                    format!(
                        "cluster {} has no prepare on record ({EVENT_TAG} tag absent): nothing to recover",
                        s.cluster
                    ),
                ));
            }
            Some(other) if *other != self.event => {
                return Err(refuse(
                    "check",
                    format!(
                        "cluster {} is prepared for the event {other}, not {}",
                        s.cluster, self.event
                    ),
                ));
            }
            Some(_) => {}
        }
        let restore = self.restore()?.ok_or_else(|| {
            refuse(
                "check",
                format!("cluster {} has {EVENT_TAG} but no {RESTORE_TAG}", s.cluster),
            )
        })?;
        let Some(writer) = s.writer() else {
            return Err(refuse(
                "check",
                format!("cluster {} has no writer", s.cluster),
            ));
        };

        // Readers first, while the serverless reader still has its event range.
        if let Some(min) = restore.autoscaling_min
            && s.autoscaling_min.is_some_and(|now| now != min)
        {
            return act(
                "readers-autoscaling-min",
                vec![Action::SetAutoScalingMin { min }],
            );
        }
        let readers: Vec<&Instance> = self.ours(ROLE_READER).filter(|m| !m.writer).collect();
        if let Some(m) = readers.first() {
            return self.scale_in(m);
        }

        // The writer back to the instance it was.
        if writer.created_by(&self.event) {
            let step = "failback";
            let Some(target) = s.member(&restore.writer) else {
                return Err(refuse(
                    step,
                    format!(
                        "the failback target {} is not in cluster {} any more",
                        restore.writer, s.cluster
                    ),
                ));
            };
            if self.in_wait(&[step, "writer-moved"]) {
                let reason = format!("{} is not the writer yet", target.id);
                return self.wait("writer-moved", self.limits.failover_seconds, reason, vec![]);
            }
            if !target.available() || s.status != "available" {
                return Err(refuse(
                    step,
                    format!(
                        "the failover target {} is {} (cluster {}): not available",
                        target.id, target.status, s.status
                    ),
                ));
            }
            let target = target.id.clone();
            return Ok(Decision {
                step: step.into(),
                actions: vec![Action::Failover {
                    target: target.clone(),
                }],
                next: Next::Wait {
                    seconds: self.limits.poll_seconds,
                    reason: format!("failing back to {target}"),
                },
            });
        }
        if s.status == "failing-over" {
            return self.cluster_wait("writer-moved", self.limits.failover_seconds, vec![]);
        }
        let mut issued = vec![];
        if writer.id == restore.writer && writer.tier != restore.writer_tier {
            // Issued, not awaited (as in Prepare).
            issued.push(Action::SetTier {
                id: writer.id.clone(),
                tier: restore.writer_tier,
            });
        }
        // The temporary writer, a reader since the failback: the same safe scale-in.
        let temps: Vec<&Instance> = self.ours(ROLE_WRITER).filter(|m| !m.writer).collect();
        if let Some(m) = temps.first() {
            let mut d = self.scale_in(m)?;
            issued.append(&mut d.actions);
            d.actions = issued;
            return Ok(d);
        }
        if let Some(acu) = restore.acu
            && s.acu != Some(acu)
        {
            issued.push(Action::SetAcu {
                min: acu.min,
                max: acu.max,
            });
            return act("acu", issued);
        }
        if s.status != "available" {
            return self.cluster_wait(
                "cluster-available",
                self.limits.cluster_available_seconds,
                issued,
            );
        }
        // The last change: once the record is gone, a Recover run again is refused (no prepare
        // on record), which is what it is.
        issued.push(Action::UntagCluster {
            keys: vec![EVENT_TAG.to_string(), RESTORE_TAG.to_string()],
        });
        Ok(Decision {
            step: "clear".into(),
            actions: issued,
            next: Next::Done,
        })
    }

    /// Removes one reader of ours without sending a client to it: out of what clients resolve
    /// (the read record's TTL), drained (its connections near 0, bounded), then deleted.
    fn scale_in(&self, m: &Instance) -> Result<Decision, Stop> {
        let s = self.seen;
        if s.is_serverless(m) || m.writer || !m.created_by(&self.event) {
            return Err(refuse(
                "scale-in",
                format!("{} is not an instance Spillway created for this plan", m.id),
            ));
        }
        if m.going() {
            let reason = format!("{} is deleting", m.id);
            return self.wait(
                &format!("deleted:{}", m.id),
                self.limits.deleted_seconds,
                reason,
                vec![],
            );
        }
        let others = s.provisioned_readers().filter(|o| o.id != m.id).count();
        if others == 0 {
            return Err(refuse(
                "scale-in",
                format!("deleting {} would leave no provisioned reader", m.id),
            ));
        }
        // Out of what clients resolve: the provisioned endpoint's exclusion list, when Spillway
        // manages the endpoint.
        if let Some(e) = &s.endpoint {
            let step = format!("exclude:{}", m.id);
            if !e.excluded.contains(&m.id) {
                let mut excluded = e.excluded.clone();
                excluded.push(m.id.clone());
                return act(
                    &step,
                    vec![Action::SetExcluded {
                        endpoint: e.id.clone(),
                        excluded,
                    }],
                );
            }
            // The endpoint's DNS still names the reader until its change is done.
            if e.status != "available" {
                let reason = format!("endpoint {} is {}", e.id, e.status);
                return self.wait(&step, self.limits.cluster_available_seconds, reason, vec![]);
            }
        }
        let step = format!("drain:{}", m.id);
        let waited = self.waited(&step);
        let ttl = i64::from(self.limits.record_ttl_seconds);
        let connections = s.connections.get(&m.id).copied();
        // Only a minute measured since the drain began counts: an older one saw clients that
        // still resolved the reader.
        let since = s.now - chrono::Duration::seconds(waited);
        let drained = connections
            .is_some_and(|c| c.value <= self.limits.drained_connections && c.at >= since);
        let bound = ttl + i64::from(self.limits.drain_seconds);
        if waited <= ttl || (!drained && waited < bound) {
            let reason = match connections {
                Some(c) => format!("{} has {} connections", m.id, c.value),
                None => format!("{} has no connection count yet", m.id),
            };
            // The bound ends the wait with a deletion, not a failure: a pool that never lets
            // go is cut (its clients reconnect to the readers that stay).
            return Ok(Decision {
                step,
                actions: vec![],
                next: Next::Wait {
                    seconds: self.limits.poll_seconds,
                    reason,
                },
            });
        }
        act(
            &format!("delete:{}", m.id),
            vec![Action::DeleteInstance { id: m.id.clone() }],
        )
    }
}

#[cfg(test)]
mod tests;
