//! The direct trigger: the metrics function starts a cluster's scale-up loop itself, seconds
//! after its provisioned readers turn hot, instead of waiting for the high alarm (README,
//! "The direct trigger"). The alarm path stays as the backstop; both starters go through the
//! scale-up machine's owner election, so whichever wins, one execution moves the weights.
//!
//! How a cluster is judged from one invocation (which carries one instance's log stream): a
//! **per-instance rule**. A provisioned reader of a watched cluster whose 1-second samples are
//! above the high threshold for `debounce` consecutive seconds makes the cluster hot. The
//! reader endpoint spreads new connections round-robin, so a spike heats every reader at once
//! and the first one to show it is as good a witness as their average; a lone hot reader (a
//! runaway query) is the false positive this rule admits, and the scale-up machine bounds it:
//! a direct raise the alarm does not confirm within its grace rounds is undone.
//!
//! The decision is [`Trigger::observe`], fed with the samples the pipeline emitted (so bad
//! documents, foreign clusters, unknown or unavailable instances and samples outside EMF's
//! window never count). It is shared by the metrics function and the simulator.
//!
//! Idempotent by construction: the execution name is derived from the cluster and a fixed
//! window of the samples' own clock (not the function's), and the input from the same two, so
//! a batch delivered twice, Lambda's asynchronous retries and several instances' invocations
//! at once all ask Step Functions for the same execution. `StartExecution` with the name and
//! input of a running execution starts nothing; after it closed it answers
//! `ExecutionAlreadyExists` (names stay reserved 90 days): at most one direct start per
//! cluster and window, which is also what keeps a flapping load from starting one per flap.
//!
//! State lives in the container's memory (per-instance streaks, the last window started per
//! cluster); no write or call happens while load is normal. A streak split across containers
//! restarts in the other one, which can only delay a start, never cause one.

use std::collections::HashMap;
use std::future::Future;

use serde::Serialize;

use crate::metrics::topology::Role;

/// The longest execution name Step Functions accepts.
pub const MAX_EXECUTION_NAME: usize = 80;

/// How the trigger decides (the metrics function's `DIRECT_TRIGGER_*` variables).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSettings {
    /// Consecutive 1-second samples above the threshold that make an instance hot (≥ 2: one
    /// hot second never starts anything).
    pub debounce: u32,
    /// The newest sample of a streak must be at most this old (or this far ahead), in seconds
    /// of the function's clock, for the streak to start anything (a batch Lambda retried
    /// minutes later does not).
    pub max_age: u32,
    /// At most one direct start per cluster in each window of this many seconds (the samples'
    /// clock, aligned to the epoch).
    pub window: u32,
}

impl Default for TriggerSettings {
    fn default() -> Self {
        Self {
            debounce: 3,
            max_age: 30,
            window: 300,
        }
    }
}

/// What the trigger watches of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerTarget {
    pub cluster: String,
    /// The cluster's scale-up state machine.
    pub state_machine_arn: String,
    /// The high alarm's threshold: a sample counts as hot above it (the alarm's
    /// `GreaterThanThreshold`).
    pub high_cpu_threshold: f64,
}

/// One execution to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub cluster: String,
    pub state_machine_arn: String,
    /// Deterministic per cluster and window.
    pub name: String,
    /// Deterministic per cluster and window: `{"cluster":…,"direct":{"cluster":…,"window":…}}`.
    pub input: String,
    /// The instance whose streak decided, and the streak's newest sample (for the log line).
    pub instance: String,
    pub hot_until_ms: i64,
    pub window_start_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct Streak {
    last_ms: i64,
    /// The first sample of the current run above the threshold; `None`: the last was not.
    hot_since_ms: Option<i64>,
    /// This run has started its cluster's execution, or was covered by another instance's
    /// start in the same window: it starts nothing more until it breaks (sustained heat, or a
    /// lone hot reader, does not start again every window).
    spent: bool,
}

/// The direct trigger's memory: per-instance streaks and the last window started per cluster.
#[derive(Debug, Clone)]
pub struct Trigger {
    settings: TriggerSettings,
    targets: Vec<TriggerTarget>,
    streaks: HashMap<String, Streak>,
    started: HashMap<String, i64>,
}

/// Samples are 1 second apart when Enhanced Monitoring runs at 1 s; a longer gap (a lost
/// sample, another interval) breaks the streak.
const SAMPLE_INTERVAL_MS: i64 = 1000;

impl Trigger {
    pub fn new(settings: TriggerSettings, targets: Vec<TriggerTarget>) -> Self {
        Self {
            settings,
            targets,
            streaks: HashMap::new(),
            started: HashMap::new(),
        }
    }

    pub fn settings(&self) -> TriggerSettings {
        self.settings
    }

    /// One emitted sample. Returns the execution to start when this sample completes a hot
    /// streak of a provisioned reader, the streak is fresh, and nothing was started for its
    /// cluster in its window yet (by this container).
    pub fn observe(
        &mut self,
        cluster: &str,
        role: Role,
        instance: &str,
        timestamp_ms: i64,
        cpu: f64,
        now_ms: i64,
    ) -> Option<Start> {
        if role != Role::ProvisionedReader {
            return None;
        }
        let target = self.targets.iter().find(|t| t.cluster == cluster)?;
        let hot = cpu > target.high_cpu_threshold;
        let streak = match self.streaks.get_mut(instance) {
            // A duplicate (the same batch again) or an older sample: already counted.
            Some(s) if timestamp_ms <= s.last_ms => return None,
            Some(s) => {
                let consecutive = timestamp_ms - s.last_ms <= SAMPLE_INTERVAL_MS;
                s.hot_since_ms = match (hot, s.hot_since_ms) {
                    (false, _) => None,
                    (true, Some(since)) if consecutive => Some(since),
                    (true, _) => Some(timestamp_ms),
                };
                if s.hot_since_ms.is_none_or(|since| since == timestamp_ms) {
                    s.spent = false;
                }
                s.last_ms = timestamp_ms;
                *s
            }
            None => {
                let s = Streak {
                    last_ms: timestamp_ms,
                    hot_since_ms: hot.then_some(timestamp_ms),
                    spent: false,
                };
                self.streaks.insert(instance.to_owned(), s);
                s
            }
        };
        let since = streak.hot_since_ms?;
        let seconds = (timestamp_ms - since) / SAMPLE_INTERVAL_MS + 1;
        if seconds < i64::from(self.settings.debounce.max(1)) {
            return None;
        }
        // Fresh by the function's clock, either way: a batch retried minutes later, or one
        // stamped far ahead (a skewed clock would name a window that has not come yet).
        if (now_ms - timestamp_ms).abs() > i64::from(self.settings.max_age) * 1000 {
            return None;
        }
        if streak.spent {
            return None;
        }
        if let Some(s) = self.streaks.get_mut(instance) {
            s.spent = true;
        }
        let window_ms = i64::from(self.settings.window.max(1)) * 1000;
        let window = timestamp_ms.div_euclid(window_ms) * window_ms;
        if self.started.get(cluster) == Some(&window) {
            return None;
        }
        self.started.insert(cluster.to_owned(), window);
        Some(Start {
            cluster: cluster.to_owned(),
            state_machine_arn: target.state_machine_arn.clone(),
            name: execution_name(cluster, window),
            input: execution_input(cluster, window),
            instance: instance.to_owned(),
            hot_until_ms: timestamp_ms,
            window_start_ms: window,
        })
    }

    /// A start that failed (`StartExecution` refused or timed out): its window and its streak
    /// are not used up, so the next sample of the streak tries again.
    pub fn forget(&mut self, start: &Start) {
        if self.started.get(&start.cluster) == Some(&start.window_start_ms) {
            self.started.remove(&start.cluster);
        }
        if let Some(s) = self.streaks.get_mut(&start.instance) {
            s.spent = false;
        }
    }
}

/// `direct-<window start, epoch seconds>-<cluster>`, at most 80 characters (a cluster
/// identifier has at most 63: its tail is cut past 62, the machine is the cluster's own).
pub fn execution_name(cluster: &str, window_start_ms: i64) -> String {
    let mut name = format!("direct-{}-", window_start_ms.div_euclid(1000));
    let room = MAX_EXECUTION_NAME - name.len();
    name.extend(cluster.chars().take(room));
    name
}

/// The execution's input: the cluster (whose settings the machine loads, as for every start),
/// and what the scale-up machine reads as "started by the direct trigger".
pub fn execution_input(cluster: &str, window_start_ms: i64) -> String {
    let window = chrono::DateTime::from_timestamp_millis(window_start_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    serde_json::json!({"cluster": cluster, "direct": {"cluster": cluster, "window": window}})
        .to_string()
}

/// What became of a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Step Functions accepted it: a new execution, or the running one of the same name and
    /// input.
    Running { execution_arn: String },
    /// The name was used by an execution that has closed (`ExecutionAlreadyExists`): this
    /// window's direct start already happened.
    AlreadyUsed,
}

/// Why a start failed (logged; the alarm path remains).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// Starts executions (Step Functions `StartExecution` in `spillway-aws`, a fake in tests).
pub trait ExecutionStarter {
    fn start(&self, start: &Start) -> impl Future<Output = Result<Started, StartError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_795_341_600_000; // 2026-11-22T10:00:00Z, a window boundary

    fn trigger() -> Trigger {
        Trigger::new(
            TriggerSettings::default(),
            vec![TriggerTarget {
                cluster: "orders".into(),
                state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:s-up".into(),
                high_cpu_threshold: 70.0,
            }],
        )
    }

    /// Feeds `cpu[i]` at T0 + offset + i s, seen `lag` s later; returns the starts.
    fn feed(t: &mut Trigger, instance: &str, offset: i64, cpu: &[f64], lag: i64) -> Vec<Start> {
        cpu.iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let ts = T0 + (offset + i as i64) * 1000;
                t.observe(
                    "orders",
                    Role::ProvisionedReader,
                    instance,
                    ts,
                    *c,
                    ts + lag * 1000,
                )
            })
            .collect()
    }

    #[test]
    fn when_a_reader_is_hot_for_the_debounce_should_start_once_with_a_deterministic_name() {
        let mut t = trigger();
        let starts = feed(&mut t, "r1", 10, &[50.0, 80.0, 85.0, 90.0, 95.0, 99.0], 3);
        assert_eq!(starts.len(), 1, "one start for the streak");
        let s = &starts[0];
        assert_eq!(s.hot_until_ms, T0 + 13_000, "the third hot second decides");
        assert_eq!(s.name, "direct-1795341600-orders");
        assert_eq!(
            s.input,
            r#"{"cluster":"orders","direct":{"cluster":"orders","window":"2026-11-22T10:00:00Z"}}"#
        );
        assert_eq!(s.instance, "r1");
    }

    #[test]
    fn when_one_second_is_hot_or_the_streak_breaks_should_start_nothing() {
        let mut t = trigger();
        assert!(feed(&mut t, "r1", 0, &[90.0, 50.0, 90.0, 90.0, 50.0, 99.0], 2).is_empty());
        // exactly at the threshold is not above it (the alarm's GreaterThanThreshold)
        assert!(feed(&mut t, "r1", 10, &[70.0, 70.0, 70.0, 70.0], 2).is_empty());
        // a lost sample (a 2-s gap) breaks the streak
        let mut t = trigger();
        for ts in [0, 1, 3] {
            let at = T0 + ts * 1000;
            assert!(
                t.observe("orders", Role::ProvisionedReader, "r1", at, 90.0, at + 2000)
                    .is_none()
            );
        }
    }

    #[test]
    fn when_samples_are_old_or_not_of_a_provisioned_reader_of_a_target_should_start_nothing() {
        // a hot streak whose newest sample is 31 s old (max age 30)
        let mut t = trigger();
        assert!(feed(&mut t, "r1", 0, &[90.0; 5], 31).is_empty());
        // at 30 s it still counts
        let mut t = trigger();
        assert_eq!(feed(&mut t, "r1", 0, &[90.0; 3], 30).len(), 1);
        // nor does a streak stamped 31 s ahead of the function's clock
        let mut t = trigger();
        assert!(feed(&mut t, "r1", 0, &[90.0; 5], -31).is_empty());
        // the writer, the serverless reader, a cluster that is not a target
        let mut t = trigger();
        for (cluster, role) in [
            ("orders", Role::Writer),
            ("orders", Role::ServerlessReader),
            ("tickets", Role::ProvisionedReader),
        ] {
            for i in 0..5 {
                let at = T0 + i * 1000;
                assert!(t.observe(cluster, role, "x", at, 99.0, at).is_none());
            }
        }
    }

    #[test]
    fn when_a_batch_is_delivered_twice_or_two_readers_are_hot_should_start_once_per_window() {
        let mut t = trigger();
        let hot = [90.0; 10];
        assert_eq!(feed(&mut t, "r1", 0, &hot, 2).len(), 1);
        assert!(
            feed(&mut t, "r1", 0, &hot, 2).is_empty(),
            "the same batch again"
        );
        assert!(feed(&mut t, "r2", 0, &hot, 2).is_empty(), "another reader");
        // a new streak later in the same window: nothing; in the next window: a new start
        assert!(feed(&mut t, "r1", 100, &[50.0, 90.0, 90.0, 90.0], 2).is_empty());
        let next = feed(&mut t, "r1", 300, &[90.0, 90.0, 90.0], 2);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].name, "direct-1795341900-orders");
    }

    #[test]
    fn when_the_heat_is_sustained_across_windows_should_start_once_until_it_breaks() {
        // GIVEN r1 and r2 hot without a break for 12 minutes (two window boundaries)
        let mut t = trigger();
        let hot = [90.0; 720];
        let mut starts = feed(&mut t, "r1", 0, &hot, 2);
        starts.extend(feed(&mut t, "r2", 0, &hot, 2));
        // THEN one start: a run that started (or was covered by another's start) is spent
        assert_eq!(starts.len(), 1, "{starts:?}");
        // AND once r1 cools for a second, its next hot run starts again (a new window)
        let again = feed(&mut t, "r1", 720, &[50.0, 90.0, 90.0, 90.0], 2);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].name, "direct-1795342200-orders");
    }

    #[test]
    fn when_a_start_failed_should_try_again_on_the_next_hot_sample() {
        let mut t = trigger();
        let first = feed(&mut t, "r1", 0, &[90.0; 3], 2);
        assert_eq!(first.len(), 1);
        // GIVEN StartExecution refused it (the handler forgets it)
        t.forget(&first[0]);
        // THEN the streak's next sample asks for the same execution again
        let retry = feed(&mut t, "r1", 3, &[90.0], 2);
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].name, first[0].name);
        // AND a start that went through is not asked again
        assert!(feed(&mut t, "r1", 4, &[90.0; 5], 2).is_empty());
    }

    #[test]
    fn when_two_containers_see_the_same_window_should_ask_for_the_same_execution() {
        // Two containers (two Trigger values) with the batches of two readers: Step Functions
        // gets the same name and input twice, which starts one execution.
        let (mut a, mut b) = (trigger(), trigger());
        let sa = feed(&mut a, "r1", 20, &[90.0; 4], 3);
        let sb = feed(&mut b, "r2", 21, &[90.0; 4], 3);
        assert_eq!((sa.len(), sb.len()), (1, 1));
        assert_eq!((&sa[0].name, &sa[0].input), (&sb[0].name, &sb[0].input));
    }

    #[test]
    fn when_the_cluster_name_is_long_should_keep_the_name_within_80_characters() {
        let long = "a".repeat(63);
        let name = execution_name(&long, T0);
        assert_eq!(name.len(), MAX_EXECUTION_NAME);
        assert!(name.starts_with("direct-1795341600-aaa"));
    }

    proptest! {
        /// Whatever the samples, no start without `debounce` consecutive hot seconds just
        /// before it, never two for one window, never two in one unbroken run.
        #[test]
        fn starts_only_after_a_fresh_full_streak(
            samples in proptest::collection::vec((0i64..3, 0.0f64..100.0), 1..200),
            lag in -40i64..40,
        ) {
            let mut t = trigger();
            let mut ts = T0;
            let mut history: Vec<(i64, f64)> = Vec::new();
            let mut windows = Vec::new();
            let mut previous_start: Option<usize> = None;
            for (gap, cpu) in samples {
                ts += gap * 1000;
                let start = t.observe("orders", Role::ProvisionedReader, "r1", ts, cpu, ts + lag * 1000);
                if history.last().is_none_or(|(last, _)| ts > *last) {
                    history.push((ts, cpu));
                }
                if let Some(s) = start {
                    prop_assert!(lag.abs() <= 30);
                    let n = history.len();
                    prop_assert!(n >= 3);
                    let tail = &history[n - 3..];
                    prop_assert!(tail.iter().all(|(_, c)| *c > 70.0));
                    prop_assert!(tail.windows(2).all(|w| w[1].0 - w[0].0 == 1000));
                    prop_assert!(!windows.contains(&s.name));
                    windows.push(s.name);
                    // and the run broke (a cool sample or a gap) since the previous start
                    if let Some(p) = previous_start {
                        let broke = history[p..].windows(2).any(|w| w[1].1 <= 70.0 || w[1].0 - w[0].0 > 1000);
                        prop_assert!(broke);
                    }
                    previous_start = Some(n - 1);
                }
            }
        }
    }
}
