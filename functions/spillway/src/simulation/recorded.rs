//! A recorded load for the simulator: the EMF lines the metrics function (or `spillway replay`)
//! wrote for a cluster, turned into the demand of each second.
//!
//! The demand of a second is the sum of the provisioned readers' CPU in it, in reader-percent
//! (see [`super::load`]): what those readers did. A reader missing a second (1-second Enhanced
//! Monitoring drops one now and then) counts with its previous second's value. Where a reader
//! was at 100 %, the recording shows what it could do, not what was asked: the demand is then a
//! floor, and [`Recording::saturated_seconds`] says for how many seconds. The serverless
//! reader's and the writer's samples are not demand on the provisioned readers and are left out.

use std::collections::BTreeMap;

use thiserror::Error;

use super::alarm::{self, AlarmRule, AlarmState, Sample};

/// The role the metrics function gives the provisioned readers' samples.
const PROVISIONED: &str = "provisioned-reader";

/// A cluster's recorded demand.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub cluster: String,
    /// The first second's time (Unix epoch, seconds).
    pub start: i64,
    /// Distinct provisioned readers in the recording.
    pub readers: u32,
    /// Demand per second from the first sample, reader-percent.
    pub demand: Vec<f64>,
    /// Seconds in which some reader was at 100 % (the demand there is a floor).
    pub saturated_seconds: u32,
    /// Lines that were not metrics-function EMF (each named once in `problems`).
    pub skipped_lines: u32,
    /// The first few skipped lines' reasons, `line N: why`.
    pub problems: Vec<String>,
}

/// Why a recording gives no load.
#[derive(Debug, Error, PartialEq)]
pub enum RecordingError {
    #[error("no provisioned-reader CPU samples in the recording{0}")]
    Empty(String),
    #[error("the recording holds several clusters ({0}); choose one")]
    SeveralClusters(String),
    #[error("the recording spans {0} s; at most {MAX_SECONDS} s (a day) can be simulated")]
    TooLong(i64),
}

/// The longest recording the simulator takes: a day at 1-second resolution.
pub const MAX_SECONDS: i64 = 86_400;

impl Recording {
    /// The first second at which the demand per reader is above `threshold` (the spike's
    /// onset, for the summary), or 0.
    pub fn first_above(&self, threshold: f64) -> u32 {
        let readers = f64::from(self.readers.max(1));
        self.demand
            .iter()
            .position(|d| d / readers > threshold)
            .unwrap_or(0) as u32
    }
}

impl Recording {
    /// The provisioned readers' average CPU of each second as the alarms' samples (at their
    /// epoch second), visible `delay` seconds later.
    pub fn samples(&self, delay: u32) -> Vec<Sample> {
        let readers = f64::from(self.readers.max(1));
        self.demand
            .iter()
            .enumerate()
            .map(|(t, d)| {
                let at = self.start + t as i64;
                Sample {
                    at,
                    visible: at + i64::from(delay),
                    value: d / readers,
                }
            })
            .collect()
    }

    /// When `rule` (period `period`) would have changed state on this recording, as
    /// CloudWatch evaluates it (periods and evaluations on the clock's 10-s or 60-s marks),
    /// until the last sample is visible: `(epoch second, state)`.
    pub fn alarm_transitions(
        &self,
        rule: &AlarmRule,
        period: i64,
        delay: u32,
    ) -> Vec<(i64, AlarmState)> {
        let samples = self.samples(delay);
        let end = samples.last().map_or(self.start, |s| s.visible);
        alarm::transitions(rule, period, &samples, self.start, end)
    }
}

/// One EMF line's part this needs.
struct Point {
    cluster: String,
    instance: String,
    ms: i64,
    cpu: f64,
}

fn point(line: &str) -> Result<Option<Point>, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let ms = v["_aws"]["Timestamp"]
        .as_i64()
        .ok_or("no _aws.Timestamp: not an EMF line")?;
    if v["Role"].as_str() != Some(PROVISIONED) {
        return Ok(None);
    }
    let text = |key: &str| {
        v[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {key}"))
    };
    let cpu = v["CPUUtilization"]
        .as_f64()
        .filter(|c| c.is_finite() && (0.0..=100.0).contains(c))
        .ok_or("no CPUUtilization within 0–100")?;
    Ok(Some(Point {
        cluster: text("DBClusterIdentifier")?,
        instance: text("DBInstanceIdentifier")?,
        ms,
        cpu,
    }))
}

/// The demand of `cluster` (or of the only cluster) in `text`, EMF lines one per line.
pub fn from_emf(text: &str, cluster: Option<&str>) -> Result<Recording, RecordingError> {
    let mut points = Vec::new();
    let mut problems = Vec::new();
    let mut skipped = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match point(line) {
            Ok(Some(p)) => points.push(p),
            Ok(None) => {}
            Err(why) => {
                skipped += 1;
                if problems.len() < 5 {
                    problems.push(format!("line {}: {why}", n + 1));
                }
            }
        }
    }
    let clusters: std::collections::BTreeSet<&str> =
        points.iter().map(|p| p.cluster.as_str()).collect();
    let chosen = match cluster {
        Some(c) => c.to_owned(),
        None if clusters.len() > 1 => {
            return Err(RecordingError::SeveralClusters(
                clusters.into_iter().collect::<Vec<_>>().join(", "),
            ));
        }
        None => clusters
            .first()
            .map(|c| (*c).to_owned())
            .ok_or_else(|| RecordingError::Empty(String::new()))?,
    };
    points.retain(|p| p.cluster == chosen);
    let first = points
        .iter()
        .map(|p| p.ms.div_euclid(1000))
        .min()
        .ok_or_else(|| RecordingError::Empty(format!(" for cluster {chosen}")))?;
    let last = points
        .iter()
        .map(|p| p.ms.div_euclid(1000))
        .max()
        .unwrap_or(first);
    if last - first >= MAX_SECONDS {
        return Err(RecordingError::TooLong(last - first + 1));
    }
    let seconds = (last - first + 1) as usize;
    // instance → its CPU in each second it reported.
    let mut by_instance: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    for p in &points {
        let row = by_instance
            .entry(p.instance.as_str())
            .or_insert_with(|| vec![None; seconds]);
        row[(p.ms.div_euclid(1000) - first) as usize] = Some(p.cpu);
    }
    let mut demand = vec![0.0; seconds];
    let mut saturated = vec![false; seconds];
    for row in by_instance.values() {
        let mut previous = None;
        for (t, cpu) in row.iter().enumerate() {
            // Before its first sample a reader counts from its first value; after, carried.
            let value = cpu
                .or(previous)
                .or_else(|| row.iter().flatten().next().copied());
            previous = value;
            if let Some(v) = value {
                demand[t] += v;
                saturated[t] |= v >= 100.0;
            }
        }
    }
    Ok(Recording {
        cluster: chosen,
        start: first,
        readers: by_instance.len() as u32,
        demand,
        saturated_seconds: saturated.iter().filter(|s| **s).count() as u32,
        skipped_lines: skipped,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(cluster: &str, role: &str, instance: &str, second: i64, cpu: f64) -> String {
        serde_json::json!({
            "_aws": {"Timestamp": 1_700_000_000_000_i64 + second * 1000 + 118,
                     "CloudWatchMetrics": [{"Namespace": "Spillway",
                        "Dimensions": [["DBClusterIdentifier", "Role"]],
                        "Metrics": [{"Name": "CPUUtilization", "Unit": "Percent",
                                     "StorageResolution": 1}]}]},
            "DBClusterIdentifier": cluster, "Role": role,
            "CPUUtilization": cpu, "DBInstanceIdentifier": instance,
        })
        .to_string()
    }

    #[test]
    fn when_readers_report_each_second_should_sum_them_into_demand() {
        // GIVEN two readers, one missing second 2, and a serverless sample that is not demand
        let text = [
            line("orders", PROVISIONED, "r1", 0, 40.0),
            line("orders", PROVISIONED, "r2", 0, 50.0),
            line("orders", PROVISIONED, "r1", 1, 60.0),
            line("orders", PROVISIONED, "r2", 1, 70.0),
            line("orders", PROVISIONED, "r1", 2, 100.0),
            line("orders", "serverless-reader", "sv", 2, 99.0),
            "{not json".to_owned(),
            line("orders", PROVISIONED, "r1", 3, 100.0),
            line("orders", PROVISIONED, "r2", 3, 100.0),
        ]
        .join("\n");
        let r = from_emf(&text, None).expect("a recording");
        // THEN each second is the readers' sum, r2's missing second carried from the one before
        assert_eq!(r.cluster, "orders");
        assert_eq!(r.readers, 2);
        assert_eq!(r.demand, vec![90.0, 130.0, 170.0, 200.0]);
        assert_eq!(r.saturated_seconds, 2, "the demand is a floor there");
        assert_eq!(r.skipped_lines, 1);
        assert!(
            r.problems[0].starts_with("line 7: not JSON"),
            "{:?}",
            r.problems
        );
        assert_eq!(r.first_above(70.0), 2, "85 per reader at second 2");
        assert_eq!(r.start, 1_700_000_000);
    }

    #[test]
    fn when_a_recording_rises_and_falls_should_give_the_alarm_transitions_aws_would() {
        use crate::simulation::alarm::{Comparison, TreatMissingData};
        // GIVEN one reader at 20 % for 60 s, 90 % for 60 s, 20 % for 60 s, from second 0
        let text: Vec<String> = (0..180)
            .map(|s| {
                let cpu = if (60..120).contains(&s) { 90.0 } else { 20.0 };
                line("orders", PROVISIONED, "r1", s, cpu)
            })
            .collect();
        let r = from_emf(&text.join("\n"), None).expect("a recording");
        let high = AlarmRule {
            threshold: 70.0,
            comparison: Comparison::GreaterThanThreshold,
            evaluation_periods: 3,
            datapoints_to_alarm: 2,
            treat_missing_data: TreatMissingData::Missing,
            evaluation_range: None,
        };
        // WHEN the template's high alarm (2 of 3 × 10 s) evaluates it with a 6-s delay
        let at: Vec<(i64, AlarmState)> = r
            .alarm_transitions(&high, 10, 6)
            .into_iter()
            .map(|(t, s)| (t - r.start, s))
            .collect();
        // THEN OK at the first evaluation with data; ALARM at 80 s, when [60,70) is complete
        // and [70,80) holds the 90 % samples visible so far (up to second 74: the period still
        // filling counts, as it does on CloudWatch); OK at 140 s, when only [110,120) of the
        // last three breaches
        assert_eq!(
            at,
            vec![
                (10, AlarmState::Ok),
                (80, AlarmState::Alarm),
                (140, AlarmState::Ok)
            ]
        );
    }

    #[test]
    fn when_the_recording_is_ambiguous_or_empty_should_say_so() {
        let two = [
            line("orders", PROVISIONED, "r1", 0, 40.0),
            line("tickets", PROVISIONED, "t1", 0, 40.0),
        ]
        .join("\n");
        assert_eq!(
            from_emf(&two, None),
            Err(RecordingError::SeveralClusters(
                "orders, tickets".to_owned()
            ))
        );
        assert_eq!(from_emf(&two, Some("tickets")).expect("chosen").readers, 1);
        assert_eq!(
            from_emf(&two, Some("payments")),
            Err(RecordingError::Empty(" for cluster payments".to_owned()))
        );
        let long = [
            line("orders", PROVISIONED, "r1", 0, 40.0),
            line("orders", PROVISIONED, "r1", MAX_SECONDS, 40.0),
        ]
        .join("\n");
        assert!(matches!(
            from_emf(&long, None),
            Err(RecordingError::TooLong(_))
        ));
        let bogus = line("orders", PROVISIONED, "r1", 0, 140.0);
        let r = from_emf(&bogus, None);
        assert_eq!(
            r,
            Err(RecordingError::Empty(String::new())),
            "CPU above 100 is no sample"
        );
    }
}
