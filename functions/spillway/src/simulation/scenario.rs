//! One what-if run: a spike against a configuration, second by second, with every piece of the
//! model wired as the deployment wires it — load → readers → 1-second samples delivered late →
//! the two alarms → the loops → the weights → the clients' pools — and Application Auto Scaling
//! adding replicas on the same samples. [`run`] also runs two baselines on the same load, so the
//! summary can say what the spill changed: auto scaling alone (Spillway's scalable target on
//! its 1-second metric, no spill), and native Aurora auto scaling (target tracking on the
//! built-in one-minute `CPUUtilization`, which reaches CloudWatch about a minute late).

use serde::{Deserialize, Serialize};

use super::alarm::{self, AlarmRule, AlarmState, Comparison, Sample, TreatMissingData};
use super::autoscaling::{TargetTracking, TargetTrackingSettings};
use super::clients::{ClientSettings, Pool};
use super::connections::{ConnectionsModel, composite};
use super::load::{Load, ProvisionedReaders, ServerlessReader, ServerlessSettings, Spike};
use super::loops::{LoopSettings, Loops};
use crate::metrics::topology::Role;
use crate::region::signals::{self, Children};
use crate::shifting::trigger::{Trigger, TriggerSettings, TriggerTarget};
use crate::shifting::weights::WeightPolicy;

/// The direct trigger's path (`DirectTrigger`): the metrics function judges each 1-second
/// sample itself ([`Trigger`], the function's own code) and starts scale-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectPath {
    pub trigger: TriggerSettings,
    /// Sample time → the metrics function has it (Enhanced Monitoring → Logs → subscription →
    /// Lambda), seconds; AWS documents no figure (estimate 3 s: README, "The direct trigger").
    pub delivery_delay: u32,
    /// The function's `StartExecution` → the execution's first round, seconds (estimate 1 s).
    pub start_delay: u32,
    /// The "wake-up" option the README weighs against the per-instance rule: the trigger only
    /// wakes the machine, which judges the cluster on the freshest 1-second metric, so the
    /// decision waits until the metric is visible (`metric_delay`) instead of `delivery_delay`.
    /// Not what is deployed (false); the simulator measures it.
    #[serde(default)]
    pub wake_up: bool,
}

impl Default for DirectPath {
    fn default() -> Self {
        Self {
            trigger: TriggerSettings::default(),
            delivery_delay: 3,
            start_delay: 1,
            wake_up: false,
        }
    }
}

/// Native Aurora auto scaling (the console's "Aurora Replica auto scaling" policy): target
/// tracking on `RDSReaderAverageCPUUtilization`, the built-in one-minute CPU of the readers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeAutoScaling {
    pub policy: TargetTrackingSettings,
    /// The end of a minute → its datapoint visible to the policy's alarms, seconds. RDS sends
    /// its standard metrics "to CloudWatch every minute" (Aurora guide, "Monitoring Amazon
    /// Aurora metrics with Amazon CloudWatch"): a minute's datapoint appears whole, at the
    /// next send after the minute ends; AWS gives no figure for that lag (default 60 s, an
    /// estimate: one sending interval).
    pub metric_delay: u32,
}

fn one() -> u32 {
    1
}

/// Everything a run needs; defaults are the template's and the README's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub load: Load,
    pub duration: u32,
    pub readers: u32,
    pub boot_seconds: u32,
    pub serverless: ServerlessSettings,
    pub clients: ClientSettings,
    /// Sample time → visible to the alarm (Enhanced Monitoring, Logs, Lambda, EMF), seconds.
    pub metric_delay: u32,
    /// Enhanced Monitoring's interval, seconds (1, 5, 10, 15, 30 or 60): one sample per
    /// interval reaches the alarms and Spillway's auto scaling metric.
    #[serde(default = "one")]
    pub em_interval: u32,
    pub high: AlarmRule,
    pub low: AlarmRule,
    pub alarm_period: u32,
    pub loops: LoopSettings,
    pub weight_step: u16,
    pub max_serverless_weight: u16,
    pub provisioned_weight: u16,
    /// `None`: no Application Auto Scaling.
    pub autoscaling: Option<TargetTrackingSettings>,
    /// The native-Aurora-auto-scaling baseline; `None`: not run.
    pub native: Option<NativeAutoScaling>,
    /// What the bill depends on beyond the run (`simulation::cost`).
    #[serde(default)]
    pub cost: super::cost::CostSettings,
    /// The direct trigger; `None`: alarms only (`DirectTrigger=false`).
    #[serde(default)]
    pub direct: Option<DirectPath>,
    /// The connections signals (`simulation::connections`); `None`: the signals are CPU's
    /// alone, as with `ConnectionSignals=false`.
    #[serde(default)]
    pub connections: Option<ConnectionsModel>,
}

impl Default for Scenario {
    fn default() -> Self {
        let alarm = |threshold, comparison, n, m| AlarmRule {
            threshold,
            comparison,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            treat_missing_data: TreatMissingData::Missing,
            evaluation_range: None,
        };
        Self {
            load: Load::Spike(Spike {
                baseline: 90.0,
                multiplier: 2.4,
                onset: 60,
                ramp: 10,
                hold: 900,
                decay: 120,
            }),
            duration: 1800,
            readers: 2,
            boot_seconds: 420,
            serverless: ServerlessSettings {
                min_acu: 0.5,
                max_acu: 64.0,
                growth_per_second: 0.05,
                acu_per_reader: 8.0,
                min_growth_acu: 0.5,
            },
            clients: ClientSettings {
                max_lifetime: 120,
                dns_cache: 5,
                ..ClientSettings::default()
            },
            metric_delay: 6,
            em_interval: 1,
            high: alarm(70.0, Comparison::GreaterThanThreshold, 3, 2),
            low: alarm(30.0, Comparison::LessThanThreshold, 18, 15),
            alarm_period: 10,
            loops: LoopSettings::default(),
            weight_step: 25,
            max_serverless_weight: 100,
            provisioned_weight: 100,
            // Counted as the scalable target counts: the serverless reader too (the template's
            // MinReplicas 1 and MaxReplicas 14, plus one); auto scaling never removes the two
            // readers it did not add.
            autoscaling: Some(TargetTrackingSettings::new(60.0, 2, 15)),
            // The same target and bounds, without the serverless reader (no Spillway), and the
            // API's default cooldowns ("If you don't set … the default for each is 300 s").
            native: Some(NativeAutoScaling {
                policy: TargetTrackingSettings {
                    scale_out_cooldown: 300,
                    scale_in_cooldown: 300,
                    ..TargetTrackingSettings::new(60.0, 2, 14)
                },
                metric_delay: 60,
            }),
            cost: super::cost::CostSettings::default(),
            direct: Some(DirectPath::default()),
            // The template's ConnectionSignals is true; the default scenario leaves them out
            // so its runs read as the CPU signals' (`-p ConnectionSignals=true` or a
            // `connections` block puts them in).
            connections: None,
        }
    }
}

impl Scenario {
    /// The spike's synthetic profile, if the load is one (for the command line's knobs).
    pub fn spike_mut(&mut self) -> Option<&mut Spike> {
        match &mut self.load {
            Load::Spike(s) => Some(s),
            Load::Recorded(_) => None,
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Second {
    pub t: u32,
    pub provisioned_cpu: f64,
    pub serverless_cpu: f64,
    pub serverless_acu: f64,
    pub serverless_weight: u16,
    /// The weights' share of new resolutions (0–1).
    pub weight_share: f64,
    /// The effective share of the traffic on the serverless reader (0–1).
    pub pool_share: f64,
    pub readers_in_service: u32,
    /// Readers in service or being created: what is billed.
    pub readers_billed: u32,
    /// Rounds the scale-up and scale-down executions have run so far.
    pub rounds: (u32, u32),
    /// Direct starts so far, and direct raises undone (the alarm never confirmed them).
    pub direct: (u32, u32),
    /// The signals the loops read: the composite alarms (CPU's alone without connections).
    pub high: AlarmState,
    pub low: AlarmState,
    /// The busiest reader's connections (0 without the connections signals).
    pub busiest_connections: f64,
}

/// What an engineer asks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Seconds from the spike's onset to the first weight change (`None`: never).
    pub onset_to_first_shift: Option<u32>,
    pub peak_provisioned_cpu: f64,
    /// Seconds the provisioned readers spent above the high threshold.
    pub seconds_above_high: u32,
    /// Seconds from the onset until the first added replica is in service (`None`: never).
    pub onset_to_replicas: Option<u32>,
    /// The largest effective share of the traffic on the serverless reader.
    pub max_pool_share: f64,
    /// The largest share the weights gave it.
    pub max_weight_share: f64,
    /// Seconds from the first weight change until the effective share is within 10 % of the
    /// weights' largest share (`None`: never, e.g. clients that ignore DNS, or the weights came
    /// down first).
    pub seconds_to_follow: Option<u32>,
    /// Scale-up executions the direct trigger started, and raises of theirs the alarm never
    /// confirmed (undone).
    pub direct_starts: u32,
    pub undone_raises: u32,
}

/// A run with Spillway, and the same load with auto scaling alone and with native Aurora auto
/// scaling.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub spillway: Summary,
    pub baseline: Summary,
    pub native: Option<Summary>,
    pub timeline: Vec<Second>,
    pub baseline_timeline: Vec<Second>,
    pub native_timeline: Vec<Second>,
}

/// Which deployment a run models.
#[derive(Debug, Clone, Copy)]
enum Variant {
    /// Spillway with its scalable target.
    Spillway(WeightPolicy),
    /// Spillway's scalable target, no spill.
    AutoScalingOnly,
    /// No Spillway: native Aurora auto scaling on the one-minute CPU.
    Native(NativeAutoScaling),
}

fn policy(sc: &Scenario) -> Result<WeightPolicy, crate::shifting::weights::PolicyError> {
    WeightPolicy::new(
        u32::from(sc.weight_step),
        u32::from(sc.max_serverless_weight),
        u32::from(sc.provisioned_weight),
    )
}

/// Runs the scenario, with Spillway and the two baselines.
pub fn run(scenario: &Scenario) -> Result<Outcome, crate::shifting::weights::PolicyError> {
    let timeline = simulate(scenario, Variant::Spillway(policy(scenario)?));
    let baseline_timeline = simulate(scenario, Variant::AutoScalingOnly);
    let native_timeline = scenario
        .native
        .map(|n| simulate(scenario, Variant::Native(n)))
        .unwrap_or_default();
    Ok(Outcome {
        spillway: summarise(scenario, &timeline),
        baseline: summarise(scenario, &baseline_timeline),
        native: scenario
            .native
            .map(|_| summarise(scenario, &native_timeline)),
        timeline,
        baseline_timeline,
        native_timeline,
    })
}

/// The run with Spillway alone (what a sweep ranks): its summary and its seconds.
pub fn run_spillway(
    scenario: &Scenario,
) -> Result<(Summary, Vec<Second>), crate::shifting::weights::PolicyError> {
    let timeline = simulate(scenario, Variant::Spillway(policy(scenario)?));
    Ok((summarise(scenario, &timeline), timeline))
}

fn simulate(sc: &Scenario, variant: Variant) -> Vec<Second> {
    let mut readers = ProvisionedReaders::new(sc.readers, sc.boot_seconds);
    let mut serverless = ServerlessReader::new(sc.serverless);
    let mut pool = Pool::new(sc.clients);
    // When the auto scaling policy sees the sample of second t: Spillway's metric second by
    // second, the built-in one a whole minute at a time.
    let (mut loops, mut tracking, tracking_visible, counts_serverless): (
        _,
        _,
        Box<dyn Fn(u32) -> u32>,
        _,
    ) = match variant {
        Variant::Spillway(p) => (
            Some(Loops::new(sc.loops, p)),
            sc.autoscaling.map(TargetTracking::new),
            Box::new(|t| t + sc.metric_delay),
            true,
        ),
        Variant::AutoScalingOnly => (
            None,
            sc.autoscaling.map(TargetTracking::new),
            Box::new(|t| t + sc.metric_delay),
            true,
        ),
        Variant::Native(n) => (
            None,
            Some(TargetTracking::new(n.policy)),
            Box::new(move |t| (t / 60 + 1) * 60 + n.metric_delay),
            false,
        ),
    };
    // The direct trigger sees each sample `delivery_delay` seconds after it was taken. The
    // model's readers all carry the same CPU, so one instance stands for them.
    let mut direct = match (variant, sc.direct) {
        (Variant::Spillway(_), Some(d)) => Some((
            d,
            Trigger::new(
                d.trigger,
                vec![TriggerTarget {
                    cluster: "simulated".into(),
                    state_machine_arn: String::new(),
                    high_cpu_threshold: sc.high.threshold,
                }],
            ),
        )),
        _ => None,
    };
    let mut samples: Vec<Sample> = Vec::with_capacity(sc.duration as usize);
    // The auto scaling policy's view of the same samples, when its metric arrives later.
    let mut tracked: Vec<Sample> = Vec::with_capacity(sc.duration as usize);
    let (mut high, mut low) = (AlarmState::InsufficientData, AlarmState::InsufficientData);
    // The CPU alarms, and the connections alarms on their one-minute datapoints.
    let (mut cpu_high, mut cpu_low) = (high, low);
    let (mut conn_high, mut conn_low) = (high, low);
    let mut conn_samples: Vec<Sample> = vec![];
    let mut minute_max = 0.0_f64;
    let first_demand = sc.load.demand(0).max(f64::MIN_POSITIVE);
    let period = i64::from(sc.alarm_period);
    let every = alarm::evaluation_interval(period) as u32;
    let mut out = Vec::with_capacity(sc.duration as usize);
    for t in 0..sc.duration {
        let demand = sc.load.demand(t);
        let weights_share = loops.as_ref().map_or(0.0, Loops::share);
        let share = pool.step(weights_share);
        let provisioned_cpu = readers.step(demand * (1.0 - share), t);
        let serverless_cpu = serverless.step(demand * share);
        // Spillway's metric has a sample each Enhanced Monitoring interval; the built-in
        // one-minute CPU of the native baseline does not depend on it.
        let sampled = t % sc.em_interval.max(1) == 0;
        if sampled && let Some((d, trigger)) = direct.as_mut() {
            let seen = t + if d.wake_up {
                sc.metric_delay.max(d.delivery_delay)
            } else {
                d.delivery_delay
            };
            let start = trigger.observe(
                "simulated",
                Role::ProvisionedReader,
                "reader",
                i64::from(t) * 1000,
                provisioned_cpu,
                i64::from(seen) * 1000,
            );
            if let (Some(_), Some(l)) = (start, loops.as_mut()) {
                l.start_direct(seen + d.start_delay);
            }
        }
        if sampled {
            samples.push(Sample {
                at: i64::from(t),
                visible: i64::from(t + sc.metric_delay),
                value: provisioned_cpu,
            });
        }
        if sampled || matches!(variant, Variant::Native(_)) {
            tracked.push(Sample {
                at: i64::from(t),
                visible: i64::from(tracking_visible(t)),
                value: provisioned_cpu,
            });
        }
        let now = i64::from(t);
        let busiest = sc.connections.map_or(0.0, |c| {
            c.busiest(
                demand / first_demand,
                share,
                readers.in_service(),
                sc.readers,
            )
        });
        if let Some(c) = sc.connections {
            minute_max = minute_max.max(busiest);
            // One datapoint a minute, the minute's Maximum, visible `delay` after it ends.
            if t % 60 == 59 {
                conn_samples.push(Sample {
                    at: i64::from(t - 59),
                    visible: i64::from(t + 1 + c.delay),
                    value: minute_max,
                });
                minute_max = 0.0;
            }
            if t % 60 == 0 {
                let range = |rule: &AlarmRule| {
                    alarm::datapoints(&conn_samples, 60, rule.evaluation_range(), now)
                };
                conn_high = c.high_rule().evaluate(&range(&c.high_rule()), conn_high);
                conn_low = c.low_rule().evaluate(&range(&c.low_rule()), conn_low);
            }
        }
        if t % every == 0 {
            let range = |rule: &AlarmRule| {
                alarm::datapoints(&samples, period, rule.evaluation_range(), now)
            };
            cpu_high = sc.high.evaluate(&range(&sc.high), cpu_high);
            cpu_low = sc.low.evaluate(&range(&sc.low), cpu_low);
        }
        (high, low) = match sc.connections {
            None => (cpu_high, cpu_low),
            // The deployed composites' rules, by the same decision code.
            Some(_) => {
                let children = Children {
                    cpu_high: cpu_high == AlarmState::Alarm,
                    cpu_low: cpu_low == AlarmState::Alarm,
                    connections_high: Some(conn_high == AlarmState::Alarm),
                    connections_low: Some(conn_low == AlarmState::Alarm),
                };
                (
                    composite(signals::high(children), &[cpu_high, conn_high]),
                    composite(signals::low(children), &[cpu_low, conn_low]),
                )
            }
        };
        if let Some(l) = loops.as_mut() {
            l.step(t, high, low);
        }
        if let Some(policy) = tracking.as_mut() {
            // Spillway's scalable target counts every reader, the serverless one included.
            let extra = u32::from(counts_serverless);
            let counted = readers.desired() + extra;
            if let Some(desired) = policy.decide(&tracked, now, counted, readers.booting()) {
                let provisioned = desired.saturating_sub(extra);
                if provisioned > readers.desired() {
                    readers.add(provisioned - readers.desired(), t);
                } else {
                    readers.remove(readers.desired() - provisioned);
                }
            }
        }
        out.push(Second {
            t,
            provisioned_cpu,
            serverless_cpu,
            serverless_acu: serverless.acu(),
            serverless_weight: loops.as_ref().map_or(0, |l| l.weights().0),
            weight_share: weights_share,
            pool_share: share,
            readers_in_service: readers.in_service(),
            readers_billed: readers.desired(),
            rounds: loops.as_ref().map_or((0, 0), |l| l.rounds),
            direct: loops
                .as_ref()
                .map_or((0, 0), |l| (l.direct_starts, l.undone)),
            high,
            low,
            busiest_connections: busiest,
        });
    }
    out
}

fn summarise(sc: &Scenario, timeline: &[Second]) -> Summary {
    let onset = sc.load.onset();
    let after = |s: &&Second| s.t >= onset;
    Summary {
        onset_to_first_shift: timeline
            .iter()
            .filter(after)
            .find(|s| s.serverless_weight > 0)
            .map(|s| s.t - onset),
        peak_provisioned_cpu: timeline
            .iter()
            .map(|s| s.provisioned_cpu)
            .fold(0.0, f64::max),
        seconds_above_high: timeline
            .iter()
            .filter(|s| sc.high.breaches(s.provisioned_cpu))
            .count() as u32,
        onset_to_replicas: timeline
            .iter()
            .filter(after)
            .find(|s| s.readers_in_service > sc.readers)
            .map(|s| s.t - onset),
        max_pool_share: timeline.iter().map(|s| s.pool_share).fold(0.0, f64::max),
        max_weight_share: timeline.iter().map(|s| s.weight_share).fold(0.0, f64::max),
        direct_starts: timeline.last().map_or(0, |s| s.direct.0),
        undone_raises: timeline.last().map_or(0, |s| s.direct.1),
        seconds_to_follow: {
            // Measured against the weights' largest share, not the share of each second: once
            // the weights come down again, any lagging share is "within 10 %" of them.
            let top = timeline.iter().map(|s| s.weight_share).fold(0.0, f64::max);
            timeline
                .iter()
                .find(|s| s.serverless_weight > 0)
                .and_then(|first| {
                    timeline
                        .iter()
                        .skip_while(|s| s.t < first.t)
                        .find(|s| s.pool_share >= 0.9 * top)
                        .map(|s| s.t - first.t)
                })
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two readers at `baseline` reader-percent of demand, `multiplier` × for `hold` s, with
    /// `connections` (percent of max_connections a reader at the start) or none.
    fn signals_scenario(
        baseline: f64,
        multiplier: f64,
        hold: u32,
        connections: Option<f64>,
    ) -> Scenario {
        Scenario {
            load: Load::Spike(Spike {
                baseline,
                multiplier,
                onset: 60,
                ramp: 0,
                hold,
                decay: 0,
            }),
            duration: 2400,
            direct: None,
            autoscaling: None,
            native: None,
            connections: connections.map(|baseline_percent| ConnectionsModel {
                baseline_percent,
                ..ConnectionsModel::default()
            }),
            ..Scenario::default()
        }
    }

    #[test]
    fn a_connection_storm_spills_while_cpu_looks_fine_and_only_with_the_connections_signal() {
        // GIVEN readers at 45 % CPU rising to 58.5 % (below the 70 % threshold) while their
        // connections rise from 75 % to 97.5 % of max_connections
        let storm = signals_scenario(90.0, 1.3, 900, Some(75.0));
        let (with, seconds) = run_spillway(&storm).unwrap();
        // THEN the high signal holds on connections alone, and the spill starts; the busiest
        // reader's connections are 97.5 % of 1,000
        assert!(
            with.peak_provisioned_cpu < 70.0,
            "{}",
            with.peak_provisioned_cpu
        );
        let first = with
            .onset_to_first_shift
            .expect("connections raise the weight");
        // One-minute datapoints visible a minute late, evaluated every minute: two to three
        // minutes, not the CPU path's seconds.
        assert!(
            (60..=240).contains(&first),
            "first shift {first} s after the onset"
        );
        let peak = seconds
            .iter()
            .map(|s| s.busiest_connections)
            .fold(0.0, f64::max);
        assert!((peak - 975.0).abs() < 1e-6, "{peak}");
        // AND without the connections signal the same load never spills
        let cpu_only = signals_scenario(90.0, 1.3, 900, None);
        let (without, seconds) = run_spillway(&cpu_only).unwrap();
        assert_eq!(without.onset_to_first_shift, None);
        assert!(seconds.iter().all(|s| s.busiest_connections == 0.0));
    }

    #[test]
    fn cpu_low_but_connections_high_holds_the_spill_and_connections_low_lets_it_go() {
        // GIVEN a CPU spike that spills, then CPU back to 25 % a reader (below the low 30 %)
        let ends = |connections| {
            let (_, seconds) =
                run_spillway(&signals_scenario(50.0, 4.0, 300, connections)).unwrap();
            let raised = seconds.iter().any(|s| s.serverless_weight > 0);
            (raised, seconds.last().unwrap().serverless_weight)
        };
        // THEN with connections at 50 % of max_connections after it (above the low 40 %), the
        // low signal never holds: the serverless weight stays up
        let (raised, end) = ends(Some(50.0));
        assert!(raised);
        assert!(
            end > 0,
            "CPU low AND connections low, not CPU low alone: {end}"
        );
        // AND with connections at 20 % (or no connections signal) it comes back to 0
        assert_eq!(ends(Some(20.0)), (true, 0));
        assert_eq!(ends(None), (true, 0));
    }

    #[test]
    fn when_a_spike_melts_the_readers_spillway_should_shorten_the_time_above_the_threshold() {
        // GIVEN the default scenario: two readers at 45 % each, then 2.4× in 10 s (more than
        // the two readers can carry, less than they can with half of it spilled)
        let outcome = run(&Scenario::default()).expect("valid policy");
        let (with, without) = (outcome.spillway, outcome.baseline);
        // THEN without the spill the readers sit at 100 % until replicas arrive
        assert_eq!(without.peak_provisioned_cpu, 100.0);
        assert_eq!(
            without.onset_to_first_shift, None,
            "the baseline never shifts"
        );
        let replicas = without
            .onset_to_replicas
            .expect("auto scaling adds replicas");
        assert!(replicas >= 420, "after their 7-minute boot: {replicas} s");
        // AND with it, traffic starts moving within a minute and the time above the threshold
        // shrinks
        let first = with.onset_to_first_shift.expect("the spill starts");
        assert!(first <= 60, "first weight change {first} s after the onset");
        assert!(
            with.seconds_above_high * 2 < without.seconds_above_high,
            "{} s above the threshold with Spillway, {} s without",
            with.seconds_above_high,
            without.seconds_above_high
        );
        assert!(with.max_pool_share > 0.3, "share {}", with.max_pool_share);
        assert_eq!(outcome.timeline.len(), 1800);
    }

    fn alarms_only() -> Scenario {
        Scenario {
            direct: None,
            ..Scenario::default()
        }
    }

    #[test]
    fn when_the_direct_trigger_is_on_should_spill_within_seconds_of_the_onset() {
        // GIVEN the default scenario with and without the direct trigger
        let (with, _) = run_spillway(&Scenario::default()).expect("valid");
        let (without, _) = run_spillway(&alarms_only()).expect("valid");
        let (d, a) = (
            with.onset_to_first_shift.expect("spills"),
            without.onset_to_first_shift.expect("spills"),
        );
        // THEN the direct path: 3 hot seconds (the third is onset + 2... the ramp makes it
        // later), 3 s of delivery, 1 s to the first round; the alarm path tens of seconds
        assert!(d <= 10, "direct {d} s");
        assert!(a >= d + 10, "alarm {a} s, direct {d} s");
        assert_eq!((with.direct_starts, with.undone_raises), (1, 0));
        assert!(with.seconds_above_high <= without.seconds_above_high);
    }

    /// Demand that crosses the threshold for `hot` seconds every `period` seconds.
    fn flapping(hot: u32, period: u32, duration: u32) -> Load {
        Load::Recorded(super::super::load::Recorded {
            // two readers: 90 reader-% is 45 % each, 160 is 80 %
            demand: (0..duration)
                .map(|t| {
                    if t % period < hot && t >= 60 {
                        160.0
                    } else {
                        90.0
                    }
                })
                .collect(),
            onset: 60,
        })
    }

    #[test]
    fn when_one_second_is_hot_should_start_nothing() {
        let sc = Scenario {
            load: flapping(1, 5, 900),
            duration: 900,
            ..Scenario::default()
        };
        let (s, _) = run_spillway(&sc).expect("valid");
        assert_eq!(
            s.direct_starts, 0,
            "a hot second in five never makes a streak"
        );
    }

    #[test]
    fn when_load_flaps_should_start_at_most_once_per_window_and_undo_unconfirmed_raises() {
        // GIVEN bursts of 4 hot seconds every 30 s (the direct trigger's debounce is 3 s;
        // the alarm's 10-s buckets average them below the threshold), for 15 minutes
        let sc = Scenario {
            load: flapping(4, 30, 1020),
            duration: 1020,
            autoscaling: None,
            ..Scenario::default()
        };
        let (s, timeline) = run_spillway(&sc).expect("valid");
        // THEN one direct start per 5-minute window at most (windows of the samples' clock:
        // 0–300, 300–600, 600–900, 900–), each raise undone since the alarm never fires
        assert!(timeline.iter().all(|x| x.high != AlarmState::Alarm));
        assert!(s.direct_starts <= 4, "{} starts", s.direct_starts);
        assert_eq!(s.undone_raises, s.direct_starts);
        let changes: Vec<u16> = timeline
            .windows(2)
            .filter(|w| w[0].serverless_weight != w[1].serverless_weight)
            .map(|w| w[1].serverless_weight)
            .collect();
        assert!(
            changes.len() <= 8,
            "at most one raise and its undo per window: {changes:?}"
        );
        assert!(
            changes.iter().all(|w| *w <= 25),
            "never more than one step: {changes:?}"
        );
        assert_eq!(timeline.last().unwrap().serverless_weight, 0);
    }

    #[test]
    fn when_the_policy_is_unsafe_should_refuse_the_scenario() {
        let unsafe_scenario = Scenario {
            provisioned_weight: 0,
            ..Scenario::default()
        };
        assert!(
            run(&unsafe_scenario).is_err(),
            "a provisioned weight of 0 is refused"
        );
    }
}
