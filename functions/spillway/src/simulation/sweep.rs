//! A grid of what-if runs: every combination of a few parameters' values, ranked by how long the
//! provisioned readers spent above the high threshold (then by how soon traffic moved), to
//! tune a configuration before the sale.

use serde::{Deserialize, Serialize};

use super::cost::{self, CostError, PriceBook, StrategyCost};
use super::scenario::{self, Scenario, Summary};
use crate::shifting::weights::PolicyError;

/// A parameter a sweep can vary (the template's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Knob {
    WeightStep,
    AlarmCycleSeconds,
    HighCpuThreshold,
    MaxServerlessWeight,
    MetricDelay,
    MaxLifetime,
    DnsCache,
    IgnoreDns,
    EmInterval,
}

impl Knob {
    /// The command-line name (`weight-step`, …).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "weight-step" => Self::WeightStep,
            "alarm-cycle-seconds" => Self::AlarmCycleSeconds,
            "high-cpu-threshold" => Self::HighCpuThreshold,
            "max-serverless-weight" => Self::MaxServerlessWeight,
            "metric-delay" => Self::MetricDelay,
            "max-lifetime" => Self::MaxLifetime,
            "dns-cache" => Self::DnsCache,
            "ignore-dns" => Self::IgnoreDns,
            "em-interval" => Self::EmInterval,
            _ => return None,
        })
    }

    /// The names `parse` accepts.
    pub const NAMES: [&str; 9] = [
        "weight-step",
        "alarm-cycle-seconds",
        "high-cpu-threshold",
        "max-serverless-weight",
        "metric-delay",
        "max-lifetime",
        "dns-cache",
        "ignore-dns",
        "em-interval",
    ];

    fn apply(self, sc: &mut Scenario, value: f64) {
        // Whole-number knobs take the value rounded; out-of-range policies are refused by
        // `scenario::run`, not clamped here.
        let whole = value.round().clamp(0.0, f64::from(u32::MAX)) as u32;
        match self {
            Self::WeightStep => sc.weight_step = whole.min(u32::from(u16::MAX)) as u16,
            Self::AlarmCycleSeconds => sc.loops.alarm_cycle = whole.max(1),
            Self::HighCpuThreshold => sc.high.threshold = value,
            Self::MaxServerlessWeight => {
                sc.max_serverless_weight = whole.min(u32::from(u16::MAX)) as u16;
            }
            Self::MetricDelay => sc.metric_delay = whole,
            Self::MaxLifetime => sc.clients.max_lifetime = whole.max(1),
            Self::DnsCache => sc.clients.dns_cache = whole,
            Self::IgnoreDns => sc.clients.ignore_dns = value.clamp(0.0, 1.0),
            Self::EmInterval => sc.em_interval = whole.max(1),
        }
    }
}

/// One point of the grid and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub values: Vec<(Knob, f64)>,
    pub summary: Summary,
    /// Spillway's bill for the point, when the sweep is priced.
    pub cost: Option<StrategyCost>,
}

/// How a sweep ranks its points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rank {
    /// Least time above the high threshold first (then the soonest first shift).
    TimeAboveHigh,
    /// Cheapest per month first among the points within `max_above_high` seconds above the
    /// threshold (all points when `None`); the others after them, by time above.
    Cost { max_above_high: Option<u32> },
}

/// Why a sweep cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SweepError {
    #[error("a point of the sweep is not a valid policy: {0}")]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Cost(#[from] CostError),
    #[error("ranking by cost needs prices")]
    Unpriced,
}

/// Every combination of `axes` applied to `base`, ranked by `rank`; priced when `prices` are
/// given (the price file and the Region).
pub fn sweep(
    base: &Scenario,
    axes: &[(Knob, Vec<f64>)],
    rank: Rank,
    prices: Option<(&PriceBook, Option<&str>)>,
) -> Result<Vec<Point>, SweepError> {
    if matches!(rank, Rank::Cost { .. }) && prices.is_none() {
        return Err(SweepError::Unpriced);
    }
    let mut combos: Vec<Vec<(Knob, f64)>> = vec![Vec::new()];
    for (knob, values) in axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((*knob, *v));
                    c
                })
            })
            .collect();
    }
    let mut points = combos
        .into_iter()
        .map(|values| {
            let mut sc = base.clone();
            for (knob, v) in &values {
                knob.apply(&mut sc, *v);
            }
            let (summary, timeline) = scenario::run_spillway(&sc)?;
            let cost = prices
                .map(|(book, region)| {
                    cost::spillway(&sc, &timeline, summary.seconds_above_high, book, region)
                })
                .transpose()?;
            Ok(Point {
                values,
                summary,
                cost,
            })
        })
        .collect::<Result<Vec<_>, SweepError>>()?;
    let by_time = |p: &Point| {
        (
            p.summary.seconds_above_high,
            p.summary.onset_to_first_shift.unwrap_or(u32::MAX),
        )
    };
    match rank {
        Rank::TimeAboveHigh => points.sort_by_key(by_time),
        Rank::Cost { max_above_high } => {
            let within =
                |p: &Point| max_above_high.is_none_or(|max| p.summary.seconds_above_high <= max);
            let usd = |p: &Point| p.cost.as_ref().map_or(f64::INFINITY, |c| c.usd_per_month);
            points.sort_by(|a, b| match (within(a), within(b)) {
                (true, true) => usd(a).total_cmp(&usd(b)),
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                (false, false) => by_time(a).cmp(&by_time(b)),
            });
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_two_knobs_are_swept_should_run_every_combination_best_first() {
        let base = Scenario {
            duration: 900,
            ..Scenario::default()
        };
        let points = sweep(
            &base,
            &[
                (Knob::WeightStep, vec![10.0, 50.0]),
                (Knob::AlarmCycleSeconds, vec![10.0, 60.0]),
            ],
            Rank::TimeAboveHigh,
            None,
        )
        .expect("valid policies");
        assert_eq!(points.len(), 4, "2 × 2");
        assert!(
            points
                .windows(2)
                .all(|w| w[0].summary.seconds_above_high <= w[1].summary.seconds_above_high),
            "ranked"
        );
        // Big steps every 10 s spill fastest; small steps every minute slowest.
        assert_eq!(
            points[0].values,
            vec![(Knob::WeightStep, 50.0), (Knob::AlarmCycleSeconds, 10.0)]
        );
        assert_eq!(
            points[3].values,
            vec![(Knob::WeightStep, 10.0), (Knob::AlarmCycleSeconds, 60.0)]
        );
    }

    #[test]
    fn when_a_point_is_an_unsafe_policy_should_refuse_the_sweep() {
        let err = sweep(
            &Scenario::default(),
            &[(Knob::WeightStep, vec![25.0, 0.0])],
            Rank::TimeAboveHigh,
            None,
        );
        assert!(err.is_err(), "a step of 0 is no policy");
        let unpriced = sweep(
            &Scenario::default(),
            &[(Knob::WeightStep, vec![25.0])],
            Rank::Cost {
                max_above_high: None,
            },
            None,
        );
        assert_eq!(unpriced, Err(SweepError::Unpriced));
        assert_eq!(Knob::parse("weight-step"), Some(Knob::WeightStep));
        assert!(Knob::NAMES.iter().all(|n| Knob::parse(n).is_some()));
        assert_eq!(Knob::parse("nope"), None);
    }

    #[test]
    fn when_ranked_by_cost_under_a_constraint_should_put_the_cheapest_compliant_point_first() {
        // GIVEN the Enhanced Monitoring interval swept: 1 s reacts fastest and costs most
        let base = Scenario {
            duration: 900,
            ..Scenario::default()
        };
        let book = PriceBook::bundled();
        let axes = [(Knob::EmInterval, vec![1.0, 10.0, 60.0])];
        let by_time =
            sweep(&base, &axes, Rank::TimeAboveHigh, Some((&book, None))).expect("priced");
        let fastest = by_time[0].summary.seconds_above_high;
        let slowest = by_time[2].summary.seconds_above_high;
        assert!(fastest < slowest, "{by_time:?}");
        // WHEN ranked by cost with no constraint, the cheapest (60 s) comes first
        let cheapest = sweep(
            &base,
            &axes,
            Rank::Cost {
                max_above_high: None,
            },
            Some((&book, None)),
        )
        .expect("priced");
        assert_eq!(cheapest[0].values, vec![(Knob::EmInterval, 60.0)]);
        let usd: Vec<f64> = cheapest
            .iter()
            .map(|p| p.cost.as_ref().expect("priced").usd_per_month)
            .collect();
        assert!(usd.windows(2).all(|w| w[0] <= w[1]), "{usd:?}");
        // AND under a constraint only the fastest meets, that one comes first
        let constrained = sweep(
            &base,
            &axes,
            Rank::Cost {
                max_above_high: Some(fastest),
            },
            Some((&book, None)),
        )
        .expect("priced");
        assert_eq!(constrained[0].summary.seconds_above_high, fastest);
        assert_eq!(constrained[0].values, by_time[0].values);
    }
}
