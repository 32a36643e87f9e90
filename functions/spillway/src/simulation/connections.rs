//! The readers' connections and the two signals they add (Aurora's rules: CPU **or**
//! connections up, CPU **and** connections down; `spillway::region::signals`).
//!
//! Model: the clients hold `baseline_percent` of a reader's `max_connections` on each
//! provisioned reader at the load's first second, and their pools grow and shrink with the
//! demand (a sale that brings more clients brings more connections). The serverless reader
//! holds the pools' share of them (`simulation::clients`), the provisioned readers in service
//! the rest, evenly. The alarms read `AWS/RDS` `DatabaseConnections` with `Role=READER`,
//! statistic `Maximum`, one datapoint a minute: the busiest reader, the serverless one included
//! (as deployed: CloudWatch cannot leave it out). Each minute's datapoint becomes visible
//! `delay` seconds after the minute ends (not documented; a minute by default, RDS's own
//! publication interval).
//!
//! Not modelled: a connection storm without more demand (a pool reset): raise
//! `baseline_percent` to play one.

use serde::{Deserialize, Serialize};

use super::alarm::{AlarmRule, AlarmState, Comparison, TreatMissingData};

/// The connections signals of a run (`None` in the scenario: CPU alone, `ConnectionSignals`
/// false).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsModel {
    /// A reader's `max_connections` (the template's `MaxConnections`, or AWS's default for the
    /// class: 1,000 for an Aurora MySQL db.r6g.large).
    pub max_connections: u32,
    /// Connections per provisioned reader at the load's first second, percent of
    /// `max_connections`.
    pub baseline_percent: f64,
    /// `HighConnectionsPercent` (90).
    pub high_percent: f64,
    /// `LowConnectionsPercent` (40).
    pub low_percent: f64,
    /// Seconds after a minute ends until its datapoint is visible.
    #[serde(default = "minute")]
    pub delay: u32,
}

fn minute() -> u32 {
    60
}

impl Default for ConnectionsModel {
    fn default() -> Self {
        Self {
            max_connections: 1000,
            baseline_percent: 30.0,
            high_percent: 90.0,
            low_percent: 40.0,
            delay: 60,
        }
    }
}

impl ConnectionsModel {
    /// The high connections alarm as the template writes it: at least the high share, 1 of 2
    /// one-minute periods, missing data never raises.
    pub fn high_rule(&self) -> AlarmRule {
        AlarmRule {
            threshold: self.count(self.high_percent),
            comparison: Comparison::GreaterThanOrEqualToThreshold,
            evaluation_periods: 2,
            datapoints_to_alarm: 1,
            treat_missing_data: TreatMissingData::Missing,
            evaluation_range: None,
        }
    }

    /// The low connections alarm: below the low share for 3 of 3 minutes, missing data counts
    /// as low (`breaching`).
    pub fn low_rule(&self) -> AlarmRule {
        AlarmRule {
            threshold: self.count(self.low_percent),
            comparison: Comparison::LessThanThreshold,
            evaluation_periods: 3,
            datapoints_to_alarm: 3,
            treat_missing_data: TreatMissingData::Breaching,
            evaluation_range: None,
        }
    }

    fn count(&self, percent: f64) -> f64 {
        // The check's rounding (spillway::region::max_connections::threshold).
        f64::from(crate::region::max_connections::threshold(
            percent,
            self.max_connections,
        ))
    }

    /// The busiest reader's connections at one second: `demand_ratio` (demand over the first
    /// second's), the pools' serverless `share`, `readers` provisioned readers in service, of
    /// `initial_readers` at the start.
    pub fn busiest(
        &self,
        demand_ratio: f64,
        share: f64,
        readers: u32,
        initial_readers: u32,
    ) -> f64 {
        let total = self.baseline_percent / 100.0
            * f64::from(self.max_connections)
            * f64::from(initial_readers.max(1))
            * demand_ratio.max(0.0);
        let serverless = total * share;
        let provisioned = if readers == 0 {
            0.0
        } else {
            total * (1.0 - share) / f64::from(readers)
        };
        serverless.max(provisioned)
    }
}

/// A composite alarm's state from its rule and its children (CloudWatch: `ALARM` while the
/// rule is true, else `OK`; `INSUFFICIENT_DATA` while no child has a state yet).
pub fn composite(rule: bool, children: &[AlarmState]) -> AlarmState {
    if rule {
        AlarmState::Alarm
    } else if children.iter().all(|c| *c == AlarmState::InsufficientData) {
        AlarmState::InsufficientData
    } else {
        AlarmState::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_reader_is_the_serverless_one_once_it_holds_more() {
        let m = ConnectionsModel::default();
        // 300 a reader at the start, two readers: 600 in all.
        assert_eq!(m.busiest(1.0, 0.0, 2, 2), 300.0);
        assert_eq!(m.busiest(2.0, 0.0, 2, 2), 600.0, "pools grow with demand");
        assert_eq!(
            m.busiest(2.0, 0.5, 2, 2),
            600.0,
            "half on the serverless reader"
        );
        assert_eq!(
            m.busiest(2.0, 0.25, 3, 2),
            300.0,
            "a replica more shares the rest"
        );
        assert_eq!(
            m.busiest(2.0, 0.6, 2, 2),
            720.0,
            "the serverless reader is the busiest"
        );
        assert_eq!(m.busiest(1.0, 0.0, 0, 2), 0.0);
    }

    #[test]
    fn the_rules_are_the_templates() {
        let m = ConnectionsModel::default();
        let (h, l) = (m.high_rule(), m.low_rule());
        assert_eq!(
            (h.threshold, h.evaluation_periods, h.datapoints_to_alarm),
            (900.0, 2, 1)
        );
        assert_eq!(
            (l.threshold, l.evaluation_periods, l.datapoints_to_alarm),
            (400.0, 3, 3)
        );
        assert_eq!(l.treat_missing_data, TreatMissingData::Breaching);
        assert!(h.breaches(900.0) && !l.breaches(400.0));
    }

    #[test]
    fn a_composite_is_alarm_while_its_rule_holds() {
        use AlarmState::*;
        assert_eq!(composite(true, &[Ok, Alarm]), Alarm);
        assert_eq!(composite(false, &[Ok, InsufficientData]), Ok);
        assert_eq!(
            composite(false, &[InsufficientData, InsufficientData]),
            InsufficientData
        );
    }
}
