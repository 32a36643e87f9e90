//! Spillway's two loops as the state machines run them, for the simulator: when an execution
//! starts, what each round reads, when it steps and when it ends. The step itself is
//! [`crate::shifting::weights::next`], the same arithmetic the weight-step function runs.
//!
//! This is a model of `state-machines/scale-up.asl.json` and `scale-down.asl.json`, not the
//! definitions themselves: what it leaves out is what no simulation needs (the lock table —
//! one execution per machine is what the election guarantees —, retries, the sweep's
//! restarts of executions that ended at their round limit).
//! - scale-up starts when the high alarm enters ALARM; each round reads the high alarm and, if
//!   it is in ALARM, steps up (at the maximum too: a no-op), then waits `alarm_cycle`; it ends
//!   when the alarm is not in ALARM or after `max_rounds`;
//! - scale-down starts when the low alarm enters ALARM; each round first reads the high alarm
//!   (ALARM: it ends, scale-up owns the pair), then the low alarm (not ALARM: it ends), then
//!   steps down (at 0: it ends) and waits `cooldown`.

use serde::{Deserialize, Serialize};

use super::alarm::AlarmState;
use crate::shifting::weights::{self, Direction, WeightPolicy};

/// The loops' settings (the template's parameters of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopSettings {
    pub alarm_cycle: u32,
    pub cooldown: u32,
    pub max_rounds: u32,
    /// EventBridge's delivery of the alarm event to a new execution, seconds.
    pub start_delay: u32,
}

impl Default for LoopSettings {
    fn default() -> Self {
        Self {
            alarm_cycle: 20,
            cooldown: 60,
            max_rounds: 180,
            start_delay: 1,
        }
    }
}

/// One running execution: its direction, its next round's second, its rounds so far.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Execution {
    next_round: u32,
    rounds: u32,
}

/// Both loops and the pair's weights.
#[derive(Debug, Clone)]
pub struct Loops {
    settings: LoopSettings,
    policy: WeightPolicy,
    serverless: u16,
    provisioned: u16,
    up: Option<Execution>,
    down: Option<Execution>,
    previous: (AlarmState, AlarmState),
    /// Seconds at which the weights changed, with the new serverless weight.
    pub changes: Vec<(u32, u16)>,
    /// Rounds run so far by scale-up and by scale-down executions (what Step Functions bills
    /// as state transitions).
    pub rounds: (u32, u32),
}

impl Loops {
    /// At rest: serverless weight 0, the policy's provisioned weight.
    pub fn new(settings: LoopSettings, policy: WeightPolicy) -> Self {
        Self {
            settings,
            policy,
            serverless: 0,
            provisioned: policy.provisioned(),
            up: None,
            down: None,
            previous: (AlarmState::InsufficientData, AlarmState::InsufficientData),
            changes: Vec::new(),
            rounds: (0, 0),
        }
    }

    /// (serverless, provisioned) weights now.
    pub fn weights(&self) -> (u16, u16) {
        (self.serverless, self.provisioned)
    }

    /// The serverless reader's share of new resolutions now (0–1).
    pub fn share(&self) -> f64 {
        weights::share(self.serverless, self.provisioned)
    }

    /// Second `now` with the alarms in `high` and `low`: starts executions on transitions into
    /// ALARM, and runs the rounds that are due.
    pub fn step(&mut self, now: u32, high: AlarmState, low: AlarmState) {
        let s = self.settings;
        if high == AlarmState::Alarm && self.previous.0 != AlarmState::Alarm && self.up.is_none() {
            self.up = Some(Execution {
                next_round: now + s.start_delay,
                rounds: 0,
            });
        }
        if low == AlarmState::Alarm && self.previous.1 != AlarmState::Alarm && self.down.is_none() {
            self.down = Some(Execution {
                next_round: now + s.start_delay,
                rounds: 0,
            });
        }
        self.previous = (high, low);
        if let Some(mut e) = self.up.filter(|e| e.next_round == now) {
            self.rounds.0 += 1;
            self.up = if e.rounds >= s.max_rounds || high != AlarmState::Alarm {
                None
            } else {
                self.apply(now, Direction::Up);
                e.rounds += 1;
                e.next_round = now + s.alarm_cycle;
                Some(e)
            };
        }
        if let Some(mut e) = self.down.filter(|e| e.next_round == now) {
            self.rounds.1 += 1;
            self.down = if high == AlarmState::Alarm
                || e.rounds >= s.max_rounds
                || low != AlarmState::Alarm
            {
                None
            } else {
                let at_zero = self.apply(now, Direction::Down);
                e.rounds += 1;
                e.next_round = now + s.cooldown;
                (!at_zero).then_some(e)
            };
        }
    }

    /// One weight step, as the weight-step function computes it; returns whether it is at the
    /// limit of its direction.
    fn apply(&mut self, now: u32, direction: Direction) -> bool {
        let step = weights::next(self.serverless, self.provisioned, direction, &self.policy);
        if step.changes() {
            self.serverless = step.serverless;
            self.provisioned = step.provisioned;
            self.changes.push((now, step.serverless));
        }
        step.at_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlarmState::{Alarm, Ok};

    fn loops() -> Loops {
        Loops::new(
            LoopSettings::default(),
            WeightPolicy::new(25, 100, 100).expect("valid"),
        )
    }

    /// Runs `seconds` with the alarm states `at(t)` returns.
    fn run(l: &mut Loops, from: u32, to: u32, at: impl Fn(u32) -> (AlarmState, AlarmState)) {
        for t in from..to {
            let (high, low) = at(t);
            l.step(t, high, low);
        }
    }

    #[test]
    fn when_the_high_alarm_fires_should_step_up_each_cycle_to_the_maximum() {
        let mut l = loops();
        run(&mut l, 0, 200, |t| (if t >= 10 { Alarm } else { Ok }, Ok));
        assert_eq!(
            l.changes,
            vec![(11, 25), (31, 50), (51, 75), (71, 100)],
            "one step per 20-s cycle, the first a second after the alarm"
        );
        assert_eq!(l.weights(), (100, 100));
        assert!((l.share() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn when_load_falls_should_step_down_each_cooldown_to_zero_and_hand_over_on_a_new_spike() {
        let mut l = loops();
        run(&mut l, 0, 100, |t| (if t >= 10 { Alarm } else { Ok }, Ok));
        assert_eq!(l.weights().0, 100);
        // the high alarm clears at 100; the low one fires at 200
        run(&mut l, 100, 300, |t| {
            (Ok, if t >= 200 { Alarm } else { Ok })
        });
        assert_eq!(
            &l.changes[4..],
            &[(201, 75), (261, 50)],
            "down one step per 60-s cooldown"
        );
        // a new spike at 300 while scale-down still runs (its low alarm clears only at 330)
        run(&mut l, 300, 400, |t| {
            (Alarm, if t < 330 { Alarm } else { Ok })
        });
        // THEN scale-up raises again and scale-down hands over at its next round (321)
        assert_eq!(
            &l.changes[6..],
            &[(301, 75), (321, 100)],
            "no step down after the hand-over: {:?}",
            l.changes
        );
    }

    #[test]
    fn when_the_round_limit_is_reached_should_end_with_the_weights_where_they_are() {
        let mut l = Loops::new(
            LoopSettings {
                max_rounds: 2,
                ..LoopSettings::default()
            },
            WeightPolicy::new(25, 100, 100).expect("valid"),
        );
        run(&mut l, 0, 300, |_| (Alarm, Ok));
        assert_eq!(l.weights().0, 50, "two rounds, then the execution ends");
    }
}
