//! What each strategy costs for the same load: Spillway, auto scaling alone (Spillway's
//! 1-second metric, no spill), native Aurora auto scaling, provisioned for the peak (readers
//! added ahead of the event and held through it), and an all-Serverless v2 reader fleet.
//!
//! Every strategy is billed second by second from its run: provisioned readers while they are
//! in service or being created (instance-hours), serverless capacity (ACU-hours), and for the
//! strategies that need it, Spillway's own running cost —
//! - 1-second Enhanced Monitoring, billed as CloudWatch Logs ingestion: one OS document
//!   (4–12 KB) per monitored instance per interval;
//! - the metrics function: one invocation per monitored instance per subscription delivery;
//! - the custom metrics, the high-resolution alarms, the hosted zone;
//! - the state machines' transitions: the sweep schedule at rest, the rounds during a spike.
//!
//! The writer is the same in every strategy and left out. A month is the standing cost at rest
//! for 730 hours plus, per event, what the event's run cost beyond rest. Prices live in one
//! file (`prices.json`, us-east-1 defaults with their sources; another file or Region can be
//! given).
//!
//! Left out (README, "What it costs"): free tiers (5 GB of Logs, 10 standard alarms, 4,000
//! transitions, 3 dashboards), the template's dashboard, the metrics function's own log
//! ingestion, invocations for other clusters' streams when no filter pattern is set, Aurora's
//! 10-minute minimum per instance (billed per second after it), and log storage compression
//! (storage is priced on compressed bytes: the figure here is an upper bound).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::load::ServerlessReader;
use super::scenario::{Outcome, Scenario, Second};

/// The bundled price file.
pub const BUNDLED_PRICES: &str = include_str!("prices.json");

/// Hours in a billing month (AWS's pricing pages use 730).
pub const MONTH_HOURS: f64 = 730.0;

/// Step Functions transitions per round: the states a scale-up round passes through (alarm,
/// choice, lock, step, count, next-round, wait) and a scale-down round (two alarm reads, two
/// choices more).
const UP_TRANSITIONS_PER_ROUND: f64 = 7.0;
const DOWN_TRANSITIONS_PER_ROUND: f64 = 9.0;
/// The two sweep executions at rest, per schedule: scale-up enters about 6 states (settings,
/// count, alarm read, choice, the lock's release, end), scale-down about 8 (two alarm reads and
/// choices).
const SWEEP_TRANSITIONS: f64 = 14.0;

/// One Region's prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub serverless_acu_hour: f64,
    /// Per instance class.
    pub instance_hour: BTreeMap<String, f64>,
    pub logs_ingestion_gb: f64,
    pub logs_storage_gb_month: f64,
    pub custom_metric_month: f64,
    pub high_resolution_alarm_month: f64,
    pub standard_alarm_month: f64,
    pub lambda_requests_million: f64,
    pub lambda_gb_second: f64,
    pub state_transitions_thousand: f64,
    pub hosted_zone_month: f64,
}

/// The price file: Regions' prices and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBook {
    pub currency: String,
    pub default_region: String,
    pub regions: BTreeMap<String, Prices>,
    pub sources: BTreeMap<String, String>,
}

/// Why prices cannot be used.
#[derive(Debug, Error, PartialEq)]
pub enum CostError {
    #[error("the price file is not valid: {0}")]
    Malformed(String),
    #[error("no prices for Region {region} (the file has: {known})")]
    UnknownRegion { region: String, known: String },
    #[error("no instance-hour price for {class} in {region} (the file has: {known})")]
    UnknownClass {
        class: String,
        region: String,
        known: String,
    },
    #[error("{field} in {region}: {value} is not a price (a finite number ≥ 0)")]
    BadPrice {
        field: String,
        region: String,
        value: f64,
    },
}

impl PriceBook {
    /// Parses and checks a price file.
    pub fn parse(text: &str) -> Result<Self, CostError> {
        let book: Self =
            serde_json::from_str(text).map_err(|e| CostError::Malformed(e.to_string()))?;
        for (region, p) in &book.regions {
            let fields = [
                ("serverless_acu_hour", p.serverless_acu_hour),
                ("logs_ingestion_gb", p.logs_ingestion_gb),
                ("logs_storage_gb_month", p.logs_storage_gb_month),
                ("custom_metric_month", p.custom_metric_month),
                ("high_resolution_alarm_month", p.high_resolution_alarm_month),
                ("standard_alarm_month", p.standard_alarm_month),
                ("lambda_requests_million", p.lambda_requests_million),
                ("lambda_gb_second", p.lambda_gb_second),
                ("state_transitions_thousand", p.state_transitions_thousand),
                ("hosted_zone_month", p.hosted_zone_month),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .chain(
                p.instance_hour
                    .iter()
                    .map(|(class, v)| (format!("instance_hour.{class}"), *v)),
            );
            for (field, value) in fields {
                if !value.is_finite() || value < 0.0 {
                    return Err(CostError::BadPrice {
                        field,
                        region: region.clone(),
                        value,
                    });
                }
            }
        }
        if !book.regions.contains_key(&book.default_region) {
            return Err(CostError::Malformed(format!(
                "default_region {} has no prices",
                book.default_region
            )));
        }
        Ok(book)
    }

    /// The bundled us-east-1 prices.
    pub fn bundled() -> Self {
        Self::parse(BUNDLED_PRICES).expect("the bundled price file is valid (tested)")
    }

    /// The prices of `region` (default: the file's default Region).
    pub fn region(&self, region: Option<&str>) -> Result<(&str, &Prices), CostError> {
        let name = region.unwrap_or(&self.default_region);
        self.regions
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v))
            .ok_or_else(|| CostError::UnknownRegion {
                region: name.to_owned(),
                known: self.regions.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

/// What the bill depends on beyond the run itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostSettings {
    /// The provisioned readers' instance class.
    pub instance_class: String,
    pub events_per_month: f64,
    /// One Enhanced Monitoring OS document, bytes (4–12 KB; 8 KB for a mid-size instance).
    pub em_document_bytes: f64,
    /// Seconds between subscription deliveries to the metrics function, per instance (not
    /// documented; an estimate).
    pub em_delivery_seconds: f64,
    /// Days `RDSOSMetrics` keeps its documents (its default: 30).
    pub em_retention_days: f64,
    /// The metrics function's duration per invocation, ms, and its memory, MB.
    pub function_ms: f64,
    pub function_memory_mb: f64,
    /// A floor under the spill reader's capacity at rest, ACU, from features that hold a
    /// Serverless v2 instance above its minimum (README, "What it costs").
    pub spill_floor_acu: f64,
    /// Provisioned for the peak: seconds before the onset the extra readers are in service.
    pub lead_seconds: u32,
    /// `SweepMinutes`: the schedule that starts both machines at rest.
    pub sweep_minutes: f64,
}

impl Default for CostSettings {
    fn default() -> Self {
        Self {
            instance_class: "db.r6g.large".to_owned(),
            events_per_month: 4.0,
            em_document_bytes: 8192.0,
            em_delivery_seconds: 5.0,
            em_retention_days: 30.0,
            function_ms: 10.0,
            function_memory_mb: 128.0,
            spill_floor_acu: 0.0,
            lead_seconds: 600,
            sweep_minutes: 5.0,
        }
    }
}

/// One strategy's bill for the run and for a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyCost {
    pub strategy: &'static str,
    pub acu_hours: f64,
    pub instance_hours: f64,
    /// Spillway's own running cost during the run (monitoring, function, metrics, alarms,
    /// transitions).
    pub running_usd: f64,
    pub usd_per_event: f64,
    pub usd_per_month: f64,
    pub seconds_above_high: u32,
}

/// The billable state of one second.
#[derive(Debug, Clone, Copy)]
struct Billed {
    readers: u32,
    acu: f64,
    transitions: f64,
}

/// A strategy's fixed monthly items and whether it runs Spillway's metric pipeline.
#[derive(Debug, Clone, Copy)]
struct Running {
    /// Enhanced Monitoring at the scenario's interval and the metrics function.
    metrics: bool,
    custom_metrics: f64,
    high_resolution_alarms: f64,
    standard_alarms: f64,
    hosted_zones: f64,
    sweep: bool,
}

const SPILLWAY: Running = Running {
    metrics: true,
    // CPUUtilization per role (provisioned, serverless, writer) + ServerlessWeight and
    // ServerlessShare.
    custom_metrics: 5.0,
    high_resolution_alarms: 2.0,
    // Target tracking's own two alarms.
    standard_alarms: 2.0,
    hosted_zones: 1.0,
    sweep: true,
};
const AUTO_SCALING_ONLY: Running = Running {
    metrics: true,
    custom_metrics: 3.0,
    high_resolution_alarms: 0.0,
    standard_alarms: 2.0,
    hosted_zones: 0.0,
    sweep: false,
};
const NATIVE: Running = Running {
    metrics: false,
    custom_metrics: 0.0,
    high_resolution_alarms: 0.0,
    standard_alarms: 2.0,
    hosted_zones: 0.0,
    sweep: false,
};
const NOTHING: Running = Running {
    metrics: false,
    custom_metrics: 0.0,
    high_resolution_alarms: 0.0,
    standard_alarms: 0.0,
    hosted_zones: 0.0,
    sweep: false,
};

struct Bill<'a> {
    sc: &'a Scenario,
    prices: &'a Prices,
    instance_hour: f64,
}

impl Bill<'_> {
    /// Dollars per second of the running items, for `monitored` instances.
    fn running_per_second(&self, r: Running, monitored: u32) -> f64 {
        let p = self.prices;
        let c = &self.sc.cost;
        let month = MONTH_HOURS * 3600.0;
        let mut usd = (r.custom_metrics * p.custom_metric_month
            + r.high_resolution_alarms * p.high_resolution_alarm_month
            + r.standard_alarms * p.standard_alarm_month
            + r.hosted_zones * p.hosted_zone_month)
            / month;
        if r.metrics {
            let interval = f64::from(self.sc.em_interval.max(1));
            let gb = f64::from(monitored) * c.em_document_bytes / interval / 1e9;
            // Ingested once; stored for the retention (a month's storage of what is held).
            usd += gb * p.logs_ingestion_gb
                + gb * c.em_retention_days * 86_400.0 / month * p.logs_storage_gb_month;
            let delivery = c.em_delivery_seconds.max(interval);
            let invocations = f64::from(monitored) / delivery;
            usd += invocations
                * (p.lambda_requests_million / 1e6
                    + c.function_ms / 1000.0 * c.function_memory_mb / 1024.0 * p.lambda_gb_second);
        }
        if r.sweep && c.sweep_minutes > 0.0 {
            usd += SWEEP_TRANSITIONS / (c.sweep_minutes * 60.0) * p.state_transitions_thousand
                / 1000.0;
        }
        usd
    }

    /// `seconds`: the event's billable seconds (the run, and for a strategy that prepares
    /// ahead, the seconds before it); `rest`: the strategy's state at rest.
    fn cost(
        &self,
        strategy: &'static str,
        seconds: &[Billed],
        rest: Billed,
        running: Running,
        with_serverless_reader: bool,
        seconds_above_high: u32,
    ) -> StrategyCost {
        let p = self.prices;
        let monitored = |b: &Billed| 1 + b.readers + u32::from(with_serverless_reader);
        let per_second = |b: &Billed| {
            f64::from(b.readers) * self.instance_hour / 3600.0
                + b.acu * p.serverless_acu_hour / 3600.0
                + self.running_per_second(running, monitored(b))
                + b.transitions * p.state_transitions_thousand / 1000.0
        };
        let event: f64 = seconds.iter().map(per_second).sum();
        let running_usd: f64 = seconds
            .iter()
            .map(|b| {
                self.running_per_second(running, monitored(b))
                    + b.transitions * p.state_transitions_thousand / 1000.0
            })
            .sum();
        let rest = per_second(&rest);
        let month = rest * MONTH_HOURS * 3600.0
            + self.sc.cost.events_per_month * (event - rest * seconds.len() as f64);
        StrategyCost {
            strategy,
            acu_hours: seconds.iter().map(|b| b.acu).sum::<f64>() / 3600.0,
            instance_hours: seconds.iter().map(|b| f64::from(b.readers)).sum::<f64>() / 3600.0,
            running_usd,
            usd_per_event: event,
            usd_per_month: month,
            seconds_above_high,
        }
    }
}

/// The prices of `region` and the instance-hour price of the scenario's class.
fn prices_for<'a>(
    sc: &Scenario,
    book: &'a PriceBook,
    region: Option<&str>,
) -> Result<(&'a Prices, f64), CostError> {
    let (region_name, prices) = book.region(region)?;
    let class = &sc.cost.instance_class;
    let instance_hour =
        *prices
            .instance_hour
            .get(class)
            .ok_or_else(|| CostError::UnknownClass {
                class: class.clone(),
                region: region_name.to_owned(),
                known: prices
                    .instance_hour
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    Ok((prices, instance_hour))
}

/// Spillway's billable seconds from its run: readers, the spill reader's capacity (at least
/// the floor), the state machines' transitions.
fn spillway_seconds(sc: &Scenario, timeline: &[Second]) -> Vec<Billed> {
    let floor = sc.cost.spill_floor_acu;
    let mut previous = (0, 0);
    timeline
        .iter()
        .map(|s| {
            let (up, down) = (s.rounds.0 - previous.0, s.rounds.1 - previous.1);
            previous = s.rounds;
            Billed {
                readers: s.readers_billed,
                acu: s.serverless_acu.max(floor),
                transitions: f64::from(up) * UP_TRANSITIONS_PER_ROUND
                    + f64::from(down) * DOWN_TRANSITIONS_PER_ROUND,
            }
        })
        .collect()
}

fn spillway_rest(sc: &Scenario) -> Billed {
    Billed {
        readers: sc.readers,
        acu: sc.serverless.min_acu.max(sc.cost.spill_floor_acu),
        transitions: 0.0,
    }
}

/// Spillway's bill alone, from its run (what a sweep ranks by cost).
pub fn spillway(
    sc: &Scenario,
    timeline: &[Second],
    seconds_above_high: u32,
    book: &PriceBook,
    region: Option<&str>,
) -> Result<StrategyCost, CostError> {
    let (prices, instance_hour) = prices_for(sc, book, region)?;
    let bill = Bill {
        sc,
        prices,
        instance_hour,
    };
    Ok(bill.cost(
        "Spillway",
        &spillway_seconds(sc, timeline),
        spillway_rest(sc),
        SPILLWAY,
        true,
        seconds_above_high,
    ))
}

/// Every strategy's bill for the scenario's load: Spillway and the two baselines from their
/// runs in `outcome`, provisioned-for-the-peak and all-serverless from their own runs here.
pub fn compare(
    sc: &Scenario,
    outcome: &Outcome,
    book: &PriceBook,
    region: Option<&str>,
) -> Result<Vec<StrategyCost>, CostError> {
    let (prices, instance_hour) = prices_for(sc, book, region)?;
    let bill = Bill {
        sc,
        prices,
        instance_hour,
    };
    let spillway = spillway_seconds(sc, &outcome.timeline);
    let provisioned_only = |timeline: &[Second]| -> Vec<Billed> {
        timeline
            .iter()
            .map(|s| Billed {
                readers: s.readers_billed,
                acu: 0.0,
                transitions: 0.0,
            })
            .collect()
    };
    let at_rest = |acu: f64| Billed {
        readers: sc.readers,
        acu,
        transitions: 0.0,
    };
    let mut out = vec![
        bill.cost(
            "Spillway",
            &spillway,
            spillway_rest(sc),
            SPILLWAY,
            true,
            outcome.spillway.seconds_above_high,
        ),
        bill.cost(
            "auto scaling only",
            &provisioned_only(&outcome.baseline_timeline),
            at_rest(0.0),
            AUTO_SCALING_ONLY,
            false,
            outcome.baseline.seconds_above_high,
        ),
    ];
    if let Some(native) = &outcome.native {
        out.push(bill.cost(
            "native Aurora auto scaling",
            &provisioned_only(&outcome.native_timeline),
            at_rest(0.0),
            NATIVE,
            false,
            native.seconds_above_high,
        ));
    }
    let (peak, above) = provisioned_for_peak(sc);
    out.push(bill.cost(
        "provisioned for the peak",
        &peak,
        at_rest(0.0),
        NOTHING,
        false,
        above,
    ));
    let (fleet, rest, above) = all_serverless(sc);
    out.push(bill.cost(
        "all-Serverless v2 readers",
        &fleet,
        rest,
        NOTHING,
        false,
        above,
    ));
    Ok(out)
}

/// The seconds in which the load is the spike's: from its onset to the last second whose
/// demand per reader is above the high threshold (at least the onset's second).
fn event_window(sc: &Scenario) -> (u32, u32) {
    let onset = sc.load.onset();
    let readers = f64::from(sc.readers.max(1));
    let end = (onset..sc.duration)
        .rev()
        .find(|t| sc.high.breaches(sc.load.demand(*t) / readers))
        .unwrap_or(onset);
    (onset, end + 1)
}

/// Enough readers for the peak demand to stay at the high threshold, in service from
/// `lead_seconds` before the onset (created a boot time earlier, before the run if need be:
/// those seconds are billed too) until the event ends.
fn provisioned_for_peak(sc: &Scenario) -> (Vec<Billed>, u32) {
    let (from, to) = event_window(sc);
    let peak = (0..sc.duration)
        .map(|t| sc.load.demand(t))
        .fold(0.0, f64::max);
    let needed = ((peak / sc.high.threshold.max(1.0)).ceil() as u32).max(sc.readers);
    let ready = i64::from(from) - i64::from(sc.cost.lead_seconds);
    let created = ready - i64::from(sc.boot_seconds);
    let mut above = 0;
    let seconds = (created.min(0)..i64::from(sc.duration))
        .map(|t| {
            let window = |start: i64| (start..i64::from(to)).contains(&t);
            let in_service = if window(ready) { needed } else { sc.readers };
            if t >= 0 {
                let cpu = (sc.load.demand(t as u32) / f64::from(in_service.max(1))).min(100.0);
                above += u32::from(sc.high.breaches(cpu));
            }
            Billed {
                readers: if window(created) { needed } else { sc.readers },
                acu: 0.0,
                transitions: 0.0,
            }
        })
        .collect();
    (seconds, above)
}

/// As many Serverless v2 readers as the scenario's provisioned ones, sharing the load evenly,
/// each scaling as the spill reader does, towards the capacity that holds its load at the high
/// threshold (the headroom the provisioned readers get); a second counts above the threshold
/// when a reader's load is above it relative to its current capacity (its ACUs lag behind).
/// Returns the seconds, the state at rest (the capacity for the load at the start), and the
/// seconds above the threshold.
fn all_serverless(sc: &Scenario) -> (Vec<Billed>, Billed, u32) {
    let n = sc.readers.max(1);
    let headroom = 100.0 / sc.high.threshold.clamp(1.0, 100.0);
    let s = sc.serverless;
    let capacity = |acu: f64| acu / s.acu_per_reader * 100.0;
    let mut readers: Vec<ServerlessReader> = (0..n).map(|_| ServerlessReader::new(s)).collect();
    let mut above = 0;
    let seconds = (0..sc.duration)
        .map(|t| {
            let each = sc.load.demand(t) / f64::from(n);
            let mut hot = false;
            let mut acu = 0.0;
            for r in &mut readers {
                r.step(each * headroom);
                hot |= sc.high.breaches(each / capacity(r.acu()) * 100.0);
                acu += r.acu();
            }
            above += u32::from(hot);
            Billed {
                readers: 0,
                acu,
                transitions: 0.0,
            }
        })
        .collect();
    let rest_acu = (sc.load.demand(0) / f64::from(n) * headroom / 100.0 * s.acu_per_reader)
        .clamp(s.min_acu, s.max_acu);
    let rest = Billed {
        readers: 0,
        acu: rest_acu * f64::from(n),
        transitions: 0.0,
    };
    (seconds, rest, above)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::load::{Load, Spike};
    use crate::simulation::scenario;

    fn flat(readers: u32, demand: f64, duration: u32) -> Scenario {
        Scenario {
            load: Load::Spike(Spike {
                baseline: demand,
                multiplier: 1.0,
                onset: 0,
                ramp: 0,
                hold: 0,
                decay: 0,
            }),
            duration,
            readers,
            autoscaling: None,
            native: None,
            ..Scenario::default()
        }
    }

    #[test]
    fn when_the_bundled_prices_load_they_should_be_complete_and_sourced() {
        let book = PriceBook::bundled();
        let (name, p) = book.region(None).expect("the default Region");
        assert_eq!(name, "us-east-1");
        assert!(p.instance_hour.contains_key("db.r6g.large"));
        for field in [
            "serverless_acu_hour",
            "instance_hour",
            "logs_ingestion_gb",
            "logs_storage_gb_month",
            "custom_metric_month",
            "high_resolution_alarm_month",
            "standard_alarm_month",
            "lambda_requests_million",
            "lambda_gb_second",
            "state_transitions_thousand",
            "hosted_zone_month",
        ] {
            assert!(book.sources.contains_key(field), "{field} has a source");
        }
    }

    #[test]
    fn when_an_hour_runs_at_a_fixed_acu_and_n_readers_should_bill_it_to_the_cent() {
        // GIVEN one hour, 3 readers at rest, the spill reader held at 2 ACU by a floor, and
        // prices made round: $0.10 per ACU-hour, $1.00 per instance-hour, nothing else
        let mut sc = flat(3, 90.0, 3600);
        sc.cost.spill_floor_acu = 2.0;
        sc.cost.events_per_month = 0.0;
        let prices = Prices {
            serverless_acu_hour: 0.10,
            instance_hour: BTreeMap::from([("db.r6g.large".to_owned(), 1.00)]),
            logs_ingestion_gb: 0.0,
            logs_storage_gb_month: 0.0,
            custom_metric_month: 0.0,
            high_resolution_alarm_month: 0.0,
            standard_alarm_month: 0.0,
            lambda_requests_million: 0.0,
            lambda_gb_second: 0.0,
            state_transitions_thousand: 0.0,
            hosted_zone_month: 0.0,
        };
        let book = PriceBook {
            currency: "USD".to_owned(),
            default_region: "test".to_owned(),
            regions: BTreeMap::from([("test".to_owned(), prices)]),
            sources: BTreeMap::new(),
        };
        let outcome = scenario::run(&sc).expect("valid");
        let costs = compare(&sc, &outcome, &book, None).expect("priced");
        let spill = &costs[0];
        assert_eq!(spill.strategy, "Spillway");
        // THEN 3 instance-hours and 2 ACU-hours: $3.00 + $0.20
        assert!((spill.instance_hours - 3.0).abs() < 1e-9);
        assert!((spill.acu_hours - 2.0).abs() < 1e-9);
        assert!(
            (spill.usd_per_event - 3.20).abs() < 0.005,
            "{}",
            spill.usd_per_event
        );
        // AND a month is 730 such hours
        assert!((spill.usd_per_month - 730.0 * 3.20).abs() < 0.005);
    }

    #[test]
    fn when_spillway_runs_its_own_cost_should_follow_the_documented_figures() {
        // GIVEN the bundled prices and an hour at rest with 2 readers (4 monitored instances)
        let mut sc = flat(2, 60.0, 3600);
        sc.cost.events_per_month = 0.0;
        let outcome = scenario::run(&sc).expect("valid");
        let book = PriceBook::bundled();
        let costs = compare(&sc, &outcome, &book, None).expect("priced");
        // THEN Enhanced Monitoring dominates: 4 × 8,192 B/s × 3,600 s = 0.118 GB at $0.50,
        // plus its 30 days of storage
        let (_, p) = book.region(None).expect("default");
        let gb = 4.0 * 8192.0 * 3600.0 / 1e9;
        let em = gb * p.logs_ingestion_gb + gb * 30.0 * 24.0 / 730.0 * p.logs_storage_gb_month;
        let spill = &costs[0];
        assert!(spill.running_usd > em, "{} > {em}", spill.running_usd);
        assert!(spill.running_usd < em * 1.2, "{} ≈ {em}", spill.running_usd);
        // AND at a 10-s interval the monitoring part falls tenfold (the fixed items stay)
        sc.em_interval = 10;
        let ten = compare(&sc, &scenario::run(&sc).expect("valid"), &book, None).expect("priced");
        let saved = spill.running_usd - ten[0].running_usd;
        assert!(
            (saved - 0.9 * em).abs() < 0.1 * em,
            "saved {saved}, nine tenths of {em}"
        );
        // AND native auto scaling runs none of it
        let native = costs
            .iter()
            .find(|c| c.strategy == "auto scaling only")
            .expect("listed");
        assert!(native.running_usd < spill.running_usd);
    }

    #[test]
    fn when_strategies_are_compared_they_should_see_the_same_load() {
        let sc = Scenario::default();
        let outcome = scenario::run(&sc).expect("valid");
        let costs = compare(&sc, &outcome, &PriceBook::bundled(), None).expect("priced");
        let names: Vec<&str> = costs.iter().map(|c| c.strategy).collect();
        assert_eq!(
            names,
            [
                "Spillway",
                "auto scaling only",
                "native Aurora auto scaling",
                "provisioned for the peak",
                "all-Serverless v2 readers"
            ]
        );
        let by = |n: &str| costs.iter().find(|c| c.strategy == n).expect("listed");
        // Provisioned for the peak holds the threshold but pays for the readers ahead of it.
        assert_eq!(by("provisioned for the peak").seconds_above_high, 0);
        assert!(
            by("provisioned for the peak").instance_hours > by("Spillway").instance_hours,
            "{costs:?}"
        );
        // Spillway cuts the time above the threshold against auto scaling alone.
        assert!(by("Spillway").seconds_above_high < by("auto scaling only").seconds_above_high);
        assert_eq!(by("all-Serverless v2 readers").instance_hours, 0.0);
        assert!(by("all-Serverless v2 readers").acu_hours > 0.0);
    }

    #[test]
    fn when_the_price_file_is_wrong_should_say_what() {
        assert!(matches!(
            PriceBook::parse("{"),
            Err(CostError::Malformed(_))
        ));
        let missing = BUNDLED_PRICES.replace("\"hosted_zone_month\": 0.5", "\"x\": 1");
        let err = PriceBook::parse(&missing).unwrap_err();
        assert!(err.to_string().contains("unknown field `x`"), "{err}");
        let negative =
            BUNDLED_PRICES.replace("\"logs_ingestion_gb\": 0.5,", "\"logs_ingestion_gb\": -1,");
        assert_eq!(
            PriceBook::parse(&negative),
            Err(CostError::BadPrice {
                field: "logs_ingestion_gb".to_owned(),
                region: "us-east-1".to_owned(),
                value: -1.0
            })
        );
        let book = PriceBook::bundled();
        assert!(matches!(
            book.region(Some("eu-west-9")),
            Err(CostError::UnknownRegion { .. })
        ));
        let mut sc = Scenario::default();
        sc.cost.instance_class = "db.x9.huge".to_owned();
        let outcome = scenario::run(&Scenario {
            duration: 10,
            ..sc.clone()
        })
        .expect("valid");
        assert!(matches!(
            compare(&sc, &outcome, &book, None),
            Err(CostError::UnknownClass { .. })
        ));
    }
}
