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
//! Not documented by AWS, so a parameter: the length of the evaluation range ("the exact number
//! of data points it attempts to retrieve depends on the length of the alarm period and whether
//! it is based on a metric with standard resolution or high resolution"). The guide's only
//! example retrieves 5 datapoints for N = 3; [`AlarmRule::evaluation_range`] defaults to N + 2.
//! Also assumed: an evaluation happens exactly on the clock's 10-s (or 60-s) mark and sees the
//! samples visible by then; AWS documents the cadence ("every 10 seconds" for 10- and 30-s
//! periods; 20-s periods are assumed to be the same), not the instant.

use serde::{Deserialize, Serialize};

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's name of the state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
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
#[serde(deny_unknown_fields)]
pub struct AlarmRule {
    pub threshold: f64,
    pub comparison: Comparison,
    /// N.
    pub evaluation_periods: usize,
    /// M (1 ≤ M ≤ N).
    pub datapoints_to_alarm: usize,
    pub treat_missing_data: TreatMissingData,
    /// Periods one evaluation retrieves; `None`: N + 2 (see the module doc).
    #[serde(default)]
    pub evaluation_range: Option<usize>,
}

impl AlarmRule {
    /// How many of the most recent periods one evaluation retrieves (by default N + 2; see the
    /// module doc), never fewer than N.
    pub fn evaluation_range(&self) -> usize {
        self.evaluation_range
            .unwrap_or(self.evaluation_periods + 2)
            .max(self.evaluation_periods)
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

/// One metric sample as the alarm will see it: stamped `at` (the EMF `Timestamp`, seconds),
/// visible to the alarm from `visible` on (after the delivery delay), with its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: i64,
    pub visible: i64,
    pub value: f64,
}

/// The datapoints of the `count` complete periods that end at `now` (oldest first): each the
/// average of the samples stamped inside it that are visible at `now` (`Statistic: Average`),
/// `None` when none are. `samples` must be sorted by `at`.
pub fn datapoints(samples: &[Sample], period: i64, count: usize, now: i64) -> Vec<Option<f64>> {
    let end = now - now.rem_euclid(period);
    let start = end - period * count as i64;
    let mut sums = vec![(0.0, 0u32); count];
    let first = samples.partition_point(|s| s.at < start);
    for s in samples[first..].iter().take_while(|s| s.at < end) {
        if s.visible <= now {
            let slot = &mut sums[((s.at - start) / period) as usize];
            slot.0 += s.value;
            slot.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(sum, n)| (n > 0).then(|| sum / f64::from(n)))
        .collect()
}

/// How often CloudWatch evaluates an alarm of this period: every 10 s for 10-, 20- and 30-s
/// periods, every minute for longer ones (CloudWatch guide, "Alarm evaluation").
pub fn evaluation_interval(period: i64) -> i64 {
    if period < 60 { 10 } else { 60 }
}

/// The alarm's state at every evaluation from `from` to `to` (seconds), starting in
/// `INSUFFICIENT_DATA`, as `(time, state)` for each evaluation that changed it.
pub fn transitions(
    rule: &AlarmRule,
    period: i64,
    samples: &[Sample],
    from: i64,
    to: i64,
) -> Vec<(i64, AlarmState)> {
    let every = evaluation_interval(period);
    let mut state = AlarmState::InsufficientData;
    let mut out = Vec::new();
    let mut t = from + (every - from.rem_euclid(every)) % every;
    while t <= to {
        let next = rule.evaluate(
            &datapoints(samples, period, rule.evaluation_range(), t),
            state,
        );
        if next != state {
            out.push((t, next));
            state = next;
        }
        t += every;
    }
    out
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
            evaluation_range: None,
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

    /// One sample a second from `from` to `to` (exclusive), `value(t)`, visible `delay` later.
    fn series(from: i64, to: i64, delay: i64, value: impl Fn(i64) -> f64) -> Vec<Sample> {
        (from..to)
            .map(|t| Sample {
                at: t,
                visible: t + delay,
                value: value(t),
            })
            .collect()
    }

    #[test]
    fn when_samples_arrive_late_should_average_only_what_is_visible() {
        let samples = series(0, 30, 5, |t| t as f64);
        // At t=30 the periods [0,10), [10,20), [20,30): the last one's samples stamped after 25
        // are not visible yet (a sample stamped 25 is visible from 30 on).
        assert_eq!(
            datapoints(&samples, 10, 3, 30),
            vec![Some(4.5), Some(14.5), Some(22.5)]
        );
        assert_eq!(
            datapoints(&samples, 10, 1, 14),
            vec![Some(4.5)],
            "the complete period"
        );
        let gap = series(0, 10, 20, |_| 1.0);
        assert_eq!(
            datapoints(&gap, 10, 2, 19),
            vec![None, None],
            "nothing visible before 20 s"
        );
        assert_eq!(
            datapoints(&gap, 10, 2, 20),
            vec![Some(1.0), None],
            "the first sample from 20 s on"
        );
    }

    #[test]
    fn when_one_bucket_dips_during_the_spike_2_of_3_should_fire_before_2_of_2() {
        // GIVEN CPU that jumps from 20 % to 95 % at t=100 with one 10-s dip to 60 % (a noisy
        // load, or a bucket still filling), each sample visible 12 s after its time (the
        // delivery path: Enhanced Monitoring, Logs, Lambda, EMF extraction)
        let cpu = |t: i64| match t {
            ..100 => 20.0,
            110..120 => 60.0,
            _ => 95.0,
        };
        let samples = series(0, 400, 12, cpu);
        let fired = |m: usize, n: usize, treat: TreatMissingData| {
            let rule = AlarmRule {
                evaluation_periods: n,
                ..rule(m, treat)
            };
            transitions(&rule, 10, &samples, 0, 400)
                .into_iter()
                .find(|(_, s)| *s == AlarmState::Alarm)
                .map(|(t, _)| t)
                .expect("fires")
        };
        let m_of_n = fired(2, 3, TreatMissingData::Missing);
        let n_of_n = fired(2, 2, TreatMissingData::NotBreaching);
        // THEN 2 of 3 tolerates the one bucket and fires a period earlier than 2 of 2
        assert_eq!(
            (m_of_n, n_of_n),
            (140, 150),
            "2 of 3 at {m_of_n} s, 2 of 2 at {n_of_n} s"
        );
        assert_eq!(evaluation_interval(10), 10);
        assert_eq!(evaluation_interval(60), 60);
    }

    #[test]
    fn when_the_newest_buckets_are_still_empty_the_range_reaches_back_to_real_points() {
        // Samples visible 25 s late: the two newest buckets are empty at every evaluation, and
        // the evaluation uses older real points instead of counting them as anything.
        let samples = series(0, 300, 25, |t| if t < 100 { 20.0 } else { 95.0 });
        let rule = AlarmRule {
            evaluation_periods: 3,
            ..rule(2, TreatMissingData::Missing)
        };
        let t = transitions(&rule, 10, &samples, 0, 300);
        assert_eq!(
            t.first(),
            Some(&(30, AlarmState::Ok)),
            "data from the start: OK"
        );
        let alarm = t
            .iter()
            .find(|(_, s)| *s == AlarmState::Alarm)
            .expect("fires")
            .0;
        assert_eq!(alarm, 140, "two breaching buckets visible by 140 s: {t:?}");
    }
}
