//! CloudWatch metric-alarm evaluation, as the CloudWatch user guide documents it ("Configuring
//! how CloudWatch alarms treat missing data", and "Avoiding premature transitions to alarm
//! state" in the same page), for the simulator and for the demo's closed loop.
//!
//! One evaluation looks at the datapoints of the *evaluation range* (oldest first; `None` is a
//! missing datapoint) and decides the next state:
//! - every datapoint missing: `missing` → `INSUFFICIENT_DATA`, `ignore` → the current state,
//!   `breaching` → `ALARM`, `notBreaching` → `OK`;
//! - at least `EvaluationPeriods` (N) real datapoints: the N most recent real ones decide
//!   (`ALARM` when at least `DatapointsToAlarm` (M) breach), whatever `TreatMissingData` says;
//! - fewer: every real datapoint counts, and missing ones are filled as few times as possible
//!   with the treatment (`breaching`/`notBreaching`) until there are N; `missing` and `ignore`
//!   fill nothing.
//!
//! The premature-alarm rule: with fewer than N real datapoints, the alarm goes to `ALARM` under
//! `missing` when the oldest breaching datapoint is at least M periods old and every more recent
//! one is breaching or missing. The guide states the rule without this condition, but its own
//! 2-of-3 table (`0 - X - -` → `OK`) contradicts that reading (awsdocs issue #129); the reading
//! here — the rule applies only when no real datapoint of the range is within the threshold —
//! agrees with every row of both tables, which the tests check. Under `ignore` the same case
//! keeps the current state (the tables' "Retain current state").
//!
//! Not documented by AWS, so a parameter: the length of the evaluation range. The guide's only
//! example retrieves 5 datapoints for N = 3; [`AlarmRule::evaluation_range`] defaults to N + 2.

use serde::{Deserialize, Serialize};

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

/// `ComparisonOperator` (the static-threshold ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanThreshold,
    GreaterThanOrEqualToThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

/// An alarm's evaluation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlarmRule {
    pub threshold: f64,
    pub comparison: Comparison,
    /// N.
    pub evaluation_periods: usize,
    /// M (1 ≤ M ≤ N).
    pub datapoints_to_alarm: usize,
    pub treat_missing_data: TreatMissingData,
}

impl AlarmRule {
    /// How many of the most recent periods one evaluation retrieves (N + 2; see the module doc).
    pub fn evaluation_range(&self) -> usize {
        self.evaluation_periods + 2
    }

    /// Whether one datapoint breaches the threshold.
    pub fn breaches(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::GreaterThanThreshold => value > self.threshold,
            Comparison::GreaterThanOrEqualToThreshold => value >= self.threshold,
            Comparison::LessThanThreshold => value < self.threshold,
            Comparison::LessThanOrEqualToThreshold => value <= self.threshold,
        }
    }

    /// The state after one evaluation of `range` (the evaluation range, oldest first; `None`
    /// is a missing datapoint), from the `current` state.
    pub fn evaluate(&self, range: &[Option<f64>], current: AlarmState) -> AlarmState {
        let n = self.evaluation_periods;
        let m = self.datapoints_to_alarm;
        let decide = |breaching: usize| {
            if breaching >= m {
                AlarmState::Alarm
            } else {
                AlarmState::Ok
            }
        };
        // Breaching flags of the real datapoints, oldest first, with their age in periods
        // (1 = the most recent period of the range).
        let real: Vec<(usize, bool)> = range
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (range.len() - i, self.breaches(v))))
            .collect();
        if real.is_empty() {
            return match self.treat_missing_data {
                TreatMissingData::Missing => AlarmState::InsufficientData,
                TreatMissingData::Ignore => current,
                TreatMissingData::Breaching => AlarmState::Alarm,
                TreatMissingData::NotBreaching => AlarmState::Ok,
            };
        }
        if real.len() >= n {
            let recent = &real[real.len() - n..];
            return decide(recent.iter().filter(|(_, b)| *b).count());
        }
        let breaching = real.iter().filter(|(_, b)| *b).count();
        match self.treat_missing_data {
            TreatMissingData::Breaching => decide(breaching + (n - real.len())),
            TreatMissingData::NotBreaching => decide(breaching),
            TreatMissingData::Missing | TreatMissingData::Ignore => {
                let all_breaching = real.iter().all(|(_, b)| *b);
                let oldest_age = real.first().map_or(0, |(age, _)| *age);
                if all_breaching && oldest_age >= m {
                    match self.treat_missing_data {
                        TreatMissingData::Missing => AlarmState::Alarm,
                        _ => current,
                    }
                } else {
                    decide(breaching)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guide's notation: oldest first, `0` within the threshold, `X` breaching, `-` missing.
    fn points(pattern: &str) -> Vec<Option<f64>> {
        pattern
            .split_whitespace()
            .map(|p| match p {
                "0" => Some(10.0),
                "X" => Some(90.0),
                "-" => None,
                other => panic!("not a datapoint: {other}"),
            })
            .collect()
    }

    fn rule(m: usize, treat: TreatMissingData) -> AlarmRule {
        AlarmRule {
            threshold: 70.0,
            comparison: Comparison::GreaterThanThreshold,
            evaluation_periods: 3,
            datapoints_to_alarm: m,
            treat_missing_data: treat,
        }
    }

    /// `None` for "Retain current state".
    type Row = (&'static str, [Option<AlarmState>; 4]);

    const OK: Option<AlarmState> = Some(AlarmState::Ok);
    const ALARM: Option<AlarmState> = Some(AlarmState::Alarm);
    const INSUFFICIENT: Option<AlarmState> = Some(AlarmState::InsufficientData);
    const RETAIN: Option<AlarmState> = None;

    /// Checks every row against MISSING, IGNORE, BREACHING, NOT BREACHING, from each possible
    /// current state (a "Retain current state" cell must return that state).
    fn check_table(m: usize, rows: &[Row]) {
        let treatments = [
            TreatMissingData::Missing,
            TreatMissingData::Ignore,
            TreatMissingData::Breaching,
            TreatMissingData::NotBreaching,
        ];
        for (pattern, expected) in rows {
            let range = points(pattern);
            assert_eq!(range.len(), 5, "the tables show an evaluation range of 5");
            for (treat, want) in treatments.iter().zip(expected) {
                for current in [
                    AlarmState::Ok,
                    AlarmState::Alarm,
                    AlarmState::InsufficientData,
                ] {
                    let got = rule(m, *treat).evaluate(&range, current);
                    assert_eq!(
                        got,
                        want.unwrap_or(current),
                        "{m} of 3, `{pattern}`, {treat:?}, from {current:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn when_3_of_3_should_match_the_guides_missing_data_table() {
        // CloudWatch user guide, "Configuring how CloudWatch alarms treat missing data":
        // Datapoints to Alarm 3, Evaluation Periods 3.
        check_table(
            3,
            &[
                ("0 - X - X", [OK, OK, OK, OK]),
                ("0 - - - -", [OK, OK, OK, OK]),
                ("- - - - -", [INSUFFICIENT, RETAIN, ALARM, OK]),
                ("0 X X - X", [ALARM, ALARM, ALARM, ALARM]),
                ("- - X - -", [ALARM, RETAIN, ALARM, OK]),
            ],
        );
    }

    #[test]
    fn when_2_of_3_should_match_the_guides_missing_data_table() {
        // The same page: Datapoints to Alarm 2, Evaluation Periods 3.
        check_table(
            2,
            &[
                ("0 - X - X", [ALARM, ALARM, ALARM, ALARM]),
                ("0 0 X 0 X", [ALARM, ALARM, ALARM, ALARM]),
                ("0 - X - -", [OK, OK, ALARM, OK]),
                ("- - - - 0", [OK, OK, ALARM, OK]),
                ("- - - X -", [ALARM, RETAIN, ALARM, OK]),
            ],
        );
    }

    #[test]
    fn when_the_recent_points_are_real_should_ignore_older_ones() {
        // 2 of 3 on the three most recent real datapoints; the two oldest do not count.
        let r = rule(2, TreatMissingData::Missing);
        assert_eq!(
            r.evaluate(&points("X X 0 0 X"), AlarmState::Ok),
            AlarmState::Ok
        );
        assert_eq!(
            r.evaluate(&points("0 0 X 0 X"), AlarmState::Ok),
            AlarmState::Alarm
        );
    }

    #[test]
    fn when_the_comparison_is_less_than_should_breach_below() {
        let low = AlarmRule {
            comparison: Comparison::LessThanThreshold,
            threshold: 30.0,
            ..rule(2, TreatMissingData::Missing)
        };
        assert!(low.breaches(29.9) && !low.breaches(30.0));
        assert_eq!(
            low.evaluate(&[Some(10.0), Some(20.0), Some(50.0)], AlarmState::Ok),
            AlarmState::Alarm
        );
        assert_eq!(low.evaluation_range(), 5);
    }
}
