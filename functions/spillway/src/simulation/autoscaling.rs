//! Application Auto Scaling target tracking on the provisioned readers' CPU: the slow path.
//!
//! What AWS documents (Application Auto Scaling guide, "Target tracking scaling policies"):
//! target tracking creates and manages its own CloudWatch alarms on the metric "at a one-minute
//! granularity"; it scales in only when the metric is "far enough below the target value
//! (usually more than 10 % lower)"; during the scale-out cooldown it "won't increase the desired
//! capacity again unless … a larger scale out is triggered"; a scale-out during the scale-in
//! cooldown happens at once; the default cooldown for Aurora DB clusters is 300 s. Not
//! documented, observed in the alarms it creates: 3 of 3 one-minute datapoints above the target
//! to scale out, 15 of 15 below to scale in — parameters here, with those defaults.
//!
//! The policy acts at every one-minute evaluation while its alarm is in ALARM (as alarm actions
//! on scaling policies repeat), sizing the fleet to `ceil(capacity × metric / target)` within
//! `[min, max]`. Aurora's rules on top (Aurora guide, "Amazon Aurora Auto Scaling with Aurora
//! Replicas"): it "only scales a DB cluster if the DB cluster is in the available state" — no
//! new activity while replicas are being created (`busy`) — and the scale-out cooldown runs
//! "after a scale-out activity completes", i.e. from the moment the replicas joined. Scale-in
//! is "more gradual" than scale-out (Application Auto Scaling guide) with no figure given: at
//! most `max_scale_in_step` replicas per activity (default 1, an assumption), and "Aurora Auto
//! Scaling only removes Aurora Replicas that it created" (the caller keeps the originals).

use serde::{Deserialize, Serialize};

use super::alarm::{self, AlarmRule, AlarmState, Comparison, Sample, TreatMissingData};

/// A target-tracking policy on a scalable target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTrackingSettings {
    pub target: f64,
    pub min_capacity: u32,
    pub max_capacity: u32,
    pub scale_out_cooldown: i64,
    pub scale_in_cooldown: i64,
    /// One-minute datapoints above the target before scaling out (observed: 3).
    pub out_datapoints: usize,
    /// One-minute datapoints below 90 % of the target before scaling in (observed: 15).
    pub in_datapoints: usize,
    /// Replicas removed per scale-in activity at most (an assumption: AWS says only "more
    /// gradually").
    #[serde(default = "one")]
    pub max_scale_in_step: u32,
}

fn one() -> u32 {
    1
}

impl TargetTrackingSettings {
    /// The template's policy: `TargetReaderCpu`, scale-out cooldown 60 s, scale-in 600 s.
    pub fn new(target: f64, min_capacity: u32, max_capacity: u32) -> Self {
        Self {
            target,
            min_capacity,
            max_capacity,
            scale_out_cooldown: 60,
            scale_in_cooldown: 600,
            out_datapoints: 3,
            in_datapoints: 15,
            max_scale_in_step: 1,
        }
    }
}

/// The policy with its two alarms, evaluated once a minute.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    settings: TargetTrackingSettings,
    high: AlarmRule,
    low: AlarmRule,
    high_state: AlarmState,
    low_state: AlarmState,
    last_out: Option<(i64, u32)>,
    last_in: Option<i64>,
}

/// The one-minute period of target tracking's alarms.
const PERIOD: i64 = 60;

impl TargetTracking {
    pub fn new(settings: TargetTrackingSettings) -> Self {
        let rule = |n, comparison, threshold| AlarmRule {
            threshold,
            comparison,
            evaluation_periods: n,
            datapoints_to_alarm: n,
            treat_missing_data: TreatMissingData::Missing,
            evaluation_range: None,
        };
        Self {
            high: rule(
                settings.out_datapoints,
                Comparison::GreaterThanThreshold,
                settings.target,
            ),
            low: rule(
                settings.in_datapoints,
                Comparison::LessThanThreshold,
                settings.target * 0.9,
            ),
            settings,
            high_state: AlarmState::InsufficientData,
            low_state: AlarmState::InsufficientData,
            last_out: None,
            last_in: None,
        }
    }

    /// At second `now` (acting on whole minutes only), with the metric's `samples` and the
    /// current desired `capacity`, `busy` while an earlier activity's replicas are still being
    /// created: the new desired capacity, if the policy changes it.
    pub fn decide(
        &mut self,
        samples: &[Sample],
        now: i64,
        capacity: u32,
        busy: bool,
    ) -> Option<u32> {
        if busy {
            // The cooldown starts when the activity completes: push it along until then.
            if let Some((_, to)) = self.last_out {
                self.last_out = Some((now, to));
            }
        }
        if now.rem_euclid(PERIOD) != 0 {
            return None;
        }
        let s = self.settings;
        let high_range = alarm::datapoints(samples, PERIOD, self.high.evaluation_range(), now);
        let low_range = alarm::datapoints(samples, PERIOD, self.low.evaluation_range(), now);
        self.high_state = self.high.evaluate(&high_range, self.high_state);
        self.low_state = self.low.evaluate(&low_range, self.low_state);
        if busy {
            return None;
        }
        let latest = high_range.iter().rev().flatten().next().copied()?;
        let sized = ((f64::from(capacity) * latest / s.target).ceil() as u32)
            .clamp(s.min_capacity, s.max_capacity);
        if self.high_state == AlarmState::Alarm && sized > capacity {
            let cooling = self
                .last_out
                .is_some_and(|(at, to)| now - at < s.scale_out_cooldown && sized <= to);
            if !cooling {
                self.last_out = Some((now, sized));
                return Some(sized);
            }
        }
        if self.low_state == AlarmState::Alarm && sized < capacity {
            let cooling = self
                .last_in
                .is_some_and(|at| now - at < s.scale_in_cooldown);
            if !cooling {
                self.last_in = Some(now);
                return Some(sized.max(capacity.saturating_sub(s.max_scale_in_step.max(1))));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(from: i64, to: i64, value: f64) -> Vec<Sample> {
        (from..to)
            .map(|t| Sample {
                at: t,
                visible: t + 5,
                value,
            })
            .collect()
    }

    /// The capacities the policy sets, second by second over `samples`, from `capacity`.
    fn run(samples: &[Sample], capacity: u32, until: i64) -> Vec<(i64, u32)> {
        let mut policy = TargetTracking::new(TargetTrackingSettings::new(60.0, 1, 14));
        let mut capacity = capacity;
        let mut changes = Vec::new();
        for now in 0..=until {
            if let Some(c) = policy.decide(samples, now, capacity, false) {
                changes.push((now, c));
                capacity = c;
            }
        }
        changes
    }

    #[test]
    fn when_cpu_stays_above_the_target_should_scale_out_after_three_minutes() {
        // GIVEN 2 readers at 90 % against a 60 % target from t=0
        let samples = cpu(0, 1200, 90.0);
        let changes = run(&samples, 2, 1200);
        // THEN the first change comes once three one-minute datapoints breached: 2 × 90/60 = 3
        let (at, to) = changes[0];
        assert_eq!(to, 3, "{changes:?}");
        assert!(
            (180..=240).contains(&at),
            "at {at} s: three full minutes, then the next evaluation"
        );
        // AND the metric does not fall (the model's load does not move): it keeps sizing up,
        // once per cooldown at most
        assert!(
            changes.windows(2).all(|w| w[1].0 - w[0].0 >= 60),
            "{changes:?}"
        );
        assert_eq!(changes.last().unwrap().1, 14, "up to the maximum");
    }

    #[test]
    fn when_cpu_falls_below_ninety_percent_of_the_target_should_scale_in_after_fifteen_minutes() {
        let samples = cpu(0, 2400, 20.0);
        let changes = run(&samples, 6, 2400);
        let (at, to) = changes[0];
        assert_eq!(
            to, 5,
            "6 × 20/60 = 2, one replica per activity: {changes:?}"
        );
        assert!(
            (900..=960).contains(&at),
            "fifteen one-minute datapoints: {at} s"
        );
    }

    #[test]
    fn when_cpu_is_near_the_target_should_do_nothing() {
        let samples = cpu(0, 2400, 57.0);
        assert!(
            run(&samples, 4, 2400).is_empty(),
            "within 10 % below the target"
        );
    }

    #[test]
    fn when_replicas_are_still_being_created_should_wait_and_cool_down_from_their_arrival() {
        // GIVEN 2 readers at 90 % against a 60 % target, and replicas taking 420 s to join
        let samples = cpu(0, 2400, 90.0);
        let mut policy = TargetTracking::new(TargetTrackingSettings::new(60.0, 1, 14));
        let (mut capacity, mut joins_at) = (2, None::<i64>);
        let mut changes = Vec::new();
        for now in 0..=2400 {
            let busy = joins_at.is_some_and(|at| now < at);
            if let Some(c) = policy.decide(&samples, now, capacity, busy) {
                changes.push((now, c));
                capacity = c;
                joins_at = Some(now + 420);
            }
        }
        // THEN no second activity until the first one's replicas joined (the cooldown counts
        // from then, and a larger scale-out is allowed within it, as AWS documents)
        assert!(changes.len() >= 2, "{changes:?}");
        assert!(
            changes.windows(2).all(|w| w[1].0 >= w[0].0 + 420),
            "one activity at a time: {changes:?}"
        );
        // AND a scale-out that is not larger waits out the cooldown from the arrival
        let mut policy = TargetTracking::new(TargetTrackingSettings::new(60.0, 1, 14));
        assert_eq!(policy.decide(&samples, 180, 2, false), Some(3));
        for now in 181..600 {
            assert_eq!(policy.decide(&samples, now, 3, true), None, "busy at {now}");
        }
        assert_eq!(
            policy.last_out,
            Some((599, 3)),
            "the cooldown runs from the last second the activity was in progress"
        );
    }
}
