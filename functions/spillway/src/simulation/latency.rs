//! Onset → first weight change over the delays AWS does not document, for both starters: the
//! alarm path and the direct trigger. Each delay is a range (README, "The direct trigger": the
//! estimates behind each), every combination is one run, and the report gives percentiles of
//! the runs (each combination weighted alike: a grid, not a measured distribution).

use serde::{Deserialize, Serialize};

use super::load::Load;
use super::scenario::{self, DirectPath, Scenario};
use crate::shifting::weights::PolicyError;

/// The delays varied, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayRanges {
    /// Sample → the metrics function has it (Enhanced Monitoring → Logs → subscription →
    /// Lambda's asynchronous queue).
    pub delivery: Vec<u32>,
    /// The function's EMF line → the metric visible to the alarm (EMF extraction).
    pub extraction: Vec<u32>,
    /// A start → the execution's first round: EventBridge's delivery of the alarm event, or
    /// the function's `StartExecution`.
    pub start: Vec<u32>,
    /// The spike's onset moved by this many seconds (its phase against the alarm's 10-s
    /// evaluation); synthetic spikes only.
    pub onset_shift: Vec<u32>,
}

impl Default for DelayRanges {
    fn default() -> Self {
        Self {
            delivery: vec![1, 2, 3, 5, 8],
            extraction: vec![1, 3, 5, 10],
            start: vec![0, 1, 2],
            onset_shift: (0..10).collect(),
        }
    }
}

/// Percentiles of onset → first weight change over the grid, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub runs: usize,
    /// Runs with no weight change at all.
    pub never: usize,
    pub min: u32,
    pub p50: u32,
    pub p95: u32,
    pub max: u32,
}

/// Both paths over the same grid, and the wake-up option of the direct path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyReport {
    pub direct: Percentiles,
    pub alarm: Percentiles,
    /// The direct trigger as a wake-up: the machine judges the cluster on the freshest metric
    /// (`DirectPath::wake_up`), not deployed.
    pub wake_up: Percentiles,
}

/// Nearest-rank percentile of sorted values.
fn rank(sorted: &[u32], p: f64) -> u32 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn percentiles(mut values: Vec<u32>, never: usize) -> Percentiles {
    values.sort_unstable();
    let runs = values.len() + never;
    match values.as_slice() {
        [] => Percentiles {
            runs,
            never,
            min: 0,
            p50: 0,
            p95: 0,
            max: 0,
        },
        v => Percentiles {
            runs,
            never,
            min: v[0],
            p50: rank(v, 0.5),
            p95: rank(v, 0.95),
            max: v[v.len() - 1],
        },
    }
}

/// Runs the grid for the scenario's direct path (its trigger settings; the default ones when
/// it has none) and for alarms only. Each run stops 10 minutes after the onset: the first
/// change comes long before.
pub fn onset_to_first_shift(
    base: &Scenario,
    ranges: &DelayRanges,
) -> Result<LatencyReport, PolicyError> {
    let direct_path = base.direct.unwrap_or_default();
    let shifts: &[u32] = match base.load {
        Load::Spike(_) => &ranges.onset_shift,
        Load::Recorded(_) => &[0],
    };
    let (mut direct, mut alarm, mut wake) = (Vec::new(), Vec::new(), Vec::new());
    let (mut direct_never, mut alarm_never, mut wake_never) = (0, 0, 0);
    for &shift in shifts {
        for &delivery in &ranges.delivery {
            for &extraction in &ranges.extraction {
                for &start in &ranges.start {
                    let mut sc = base.clone();
                    if let Some(spike) = sc.spike_mut() {
                        spike.onset += shift;
                    }
                    sc.duration = sc.duration.min(sc.load.onset() + 600);
                    sc.native = None;
                    sc.metric_delay = delivery + extraction;
                    sc.loops.start_delay = start;
                    for (wake_up, into, never) in [
                        (false, &mut direct, &mut direct_never),
                        (true, &mut wake, &mut wake_never),
                    ] {
                        sc.direct = Some(DirectPath {
                            delivery_delay: delivery,
                            start_delay: start,
                            wake_up,
                            ..direct_path
                        });
                        match scenario::run_spillway(&sc)?.0.onset_to_first_shift {
                            Some(s) => into.push(s),
                            None => *never += 1,
                        }
                    }
                    sc.direct = None;
                    match scenario::run_spillway(&sc)?.0.onset_to_first_shift {
                        Some(s) => alarm.push(s),
                        None => alarm_never += 1,
                    }
                }
            }
        }
    }
    Ok(LatencyReport {
        direct: percentiles(direct, direct_never),
        alarm: percentiles(alarm, alarm_never),
        wake_up: percentiles(wake, wake_never),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = percentiles((1..=20).collect(), 1);
        assert_eq!(
            (p.runs, p.never, p.min, p.p50, p.p95, p.max),
            (21, 1, 1, 10, 19, 20)
        );
    }

    #[test]
    fn when_the_default_scenario_is_swept_the_direct_path_should_reach_its_goal() {
        // GIVEN the default scenario over the default delay grid
        let r = onset_to_first_shift(&Scenario::default(), &DelayRanges::default()).expect("valid");
        // THEN every run spills, the direct path's median within the 10-s goal, and each of
        // its percentiles ahead of the alarm path's
        assert_eq!(r.direct.runs, 600);
        assert_eq!((r.direct.never, r.alarm.never), (0, 0));
        assert!(r.direct.p50 <= 10, "{r:?}");
        assert!(
            r.direct.p50 < r.alarm.p50 && r.direct.p95 < r.alarm.p95,
            "{r:?}"
        );
        // AND the direct path moves with the delivery delay only: its spread is the grid's
        // delivery and start ranges (7 + 2 s) on top of the debounce
        assert!(r.direct.max - r.direct.min <= 9, "{r:?}");
    }
}
