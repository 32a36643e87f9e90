//! Spillway's two loops as the state machines run them, for the simulator: when an execution
//! starts, what each round reads, when it steps and when it ends. The step itself is
//! [`crate::shifting::weights::next`], the same arithmetic the weight-step function runs.
//!
//! This is a model of `state-machines/scale-up.asl.json` and `scale-down.asl.json`, not the
//! definitions themselves (the conformance test in `tests/e2e` holds it to them): what it
//! leaves out is the lock table (one execution per machine is what the election guarantees)
//! and retries. It keeps:
//! - the expected weight each execution passes to the weight-step function: when the other
//!   machine (or an operator) moved the pair since, the step fails with `ConcurrentChange`,
//!   and the round is spent re-reading (no step, then the usual wait);
//! - the sweep schedule (`SweepMinutes`): at every sweep an idle machine whose alarm is in
//!   ALARM starts again (an execution that ended at its round limit, or a hand-over, while
//!   the alarm stayed in ALARM);
//! - a round's own duration beyond its wait (`round_overhead`: the alarm read, the lock, the
//!   function), whole seconds.
//! - scale-up starts when the high alarm enters ALARM; each round reads the high alarm and, if
//!   it is in ALARM, steps up (at the maximum too: a no-op), then waits `alarm_cycle`; it ends
//!   when the alarm is not in ALARM or after `max_rounds`;
//! - a direct start (the metrics function's trigger, [`Loops::start_direct`]) raises in its
//!   first round whatever the alarm says, then holds (no step) while the alarm has
//!   `grace_rounds` left to confirm; a raise the alarm never confirmed is undone (one step
//!   down, only if the raise moved the weight and it is still the one it set; at the round
//!   limit too) and the execution ends. It starts only
//!   when no scale-up execution runs (the election makes a later one a standby);
//! - scale-down starts when the low alarm enters ALARM; each round first reads the high alarm
//!   (ALARM: it ends, scale-up owns the pair), then the low alarm (not ALARM: it ends), then
//!   steps down (at 0: it ends) and waits `cooldown`; a step within `scale_down_delay` of the
//!   last raise is held (no step, the round spent), by the weight-step function's own rule
//!   ([`crate::shifting::shift::lowering_held_until`]).

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
    /// Seconds a round takes beyond its wait (tasks, the function).
    #[serde(default)]
    pub round_overhead: u32,
    /// `SweepMinutes` in seconds; `None` or 0: no sweep schedule.
    #[serde(default)]
    pub sweep_every: Option<u32>,
    /// `DirectTriggerGraceRounds`: rounds after a direct start's raise for the alarm to
    /// confirm it.
    #[serde(default = "three")]
    pub grace_rounds: u32,
    /// `ScaleDownDelayAfterScaleUpSeconds`: no lowering step until this long after the last
    /// raise.
    #[serde(default = "six_hundred")]
    pub scale_down_delay: u32,
}

fn six_hundred() -> u32 {
    600
}

fn three() -> u32 {
    3
}

impl Default for LoopSettings {
    fn default() -> Self {
        Self {
            alarm_cycle: 20,
            cooldown: 60,
            max_rounds: 180,
            start_delay: 1,
            round_overhead: 0,
            sweep_every: Some(300),
            grace_rounds: 3,
            scale_down_delay: 600,
        }
    }
}

/// One running execution: its direction, its next round's second, its rounds so far.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Execution {
    next_round: u32,
    rounds: u32,
    /// The serverless weight it expects to find (what it set last); `None`: any.
    expected: Option<u16>,
    /// Started by the direct trigger, and not yet confirmed by the alarm.
    direct: bool,
    confirmed: bool,
    /// The last raise moved the serverless weight (the machine's `raised`): a direct raise
    /// that moved nothing (already at the maximum) has nothing to undo.
    raised: bool,
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
    /// Direct starts taken, and direct raises undone because the alarm never confirmed them.
    pub direct_starts: u32,
    pub undone: u32,
    /// The second of the last raise that moved the serverless weight (scale-up's note).
    last_raise: Option<u32>,
    /// Scale-down rounds held by the delay after a raise.
    pub held_by_delay: u32,
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
            direct_starts: 0,
            undone: 0,
            last_raise: None,
            held_by_delay: 0,
        }
    }

    /// The direct trigger's `StartExecution`, its first round at `first_round`: taken only when
    /// no scale-up execution runs (otherwise the newcomer stands by and, having waited, has
    /// lost the trigger's word: the running one carries on).
    pub fn start_direct(&mut self, first_round: u32) {
        if self.up.is_none() {
            self.direct_starts += 1;
            self.up = Some(Execution {
                next_round: first_round,
                rounds: 0,
                expected: None,
                direct: true,
                confirmed: false,
                raised: false,
            });
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
        let start = Execution {
            next_round: now + s.start_delay,
            rounds: 0,
            expected: None,
            direct: false,
            confirmed: false,
            raised: false,
        };
        let sweep = s
            .sweep_every
            .is_some_and(|every| every > 0 && now > 0 && now.is_multiple_of(every));
        let up_starts =
            high == AlarmState::Alarm && (self.previous.0 != AlarmState::Alarm || sweep);
        if up_starts && self.up.is_none() {
            self.up = Some(start);
        }
        let down_starts =
            low == AlarmState::Alarm && (self.previous.1 != AlarmState::Alarm || sweep);
        if down_starts && self.down.is_none() {
            self.down = Some(start);
        }
        self.previous = (high, low);
        let wait = |cycle: u32| now + cycle + s.round_overhead;
        if let Some(mut e) = self.up.filter(|e| e.next_round == now) {
            self.rounds.0 += 1;
            let raise = |l: &mut Self, e: &mut Execution| {
                if e.expected.is_some_and(|w| w != l.serverless) {
                    e.expected = None;
                    e.raised = false;
                } else {
                    let before = l.serverless;
                    l.apply(now, Direction::Up);
                    e.expected = Some(l.serverless);
                    e.raised = l.serverless != before;
                    if e.raised {
                        l.last_raise = Some(now);
                    }
                }
            };
            let unconfirmed = e.direct && !e.confirmed && e.raised && high != AlarmState::Alarm;
            self.up = if unconfirmed && (e.rounds >= s.grace_rounds || e.rounds >= s.max_rounds) {
                // the undo comes first, at the round limit too; it fails (ConcurrentChange)
                // when someone moved the weight since
                if e.expected == Some(self.serverless) {
                    self.apply(now, Direction::Down);
                    self.undone += 1;
                }
                None
            } else if e.rounds >= s.max_rounds {
                None
            } else if high == AlarmState::Alarm {
                e.confirmed = true;
                raise(self, &mut e);
                e.rounds += 1;
                e.next_round = wait(s.alarm_cycle);
                Some(e)
            } else if e.direct && e.rounds == 0 {
                raise(self, &mut e);
                e.rounds += 1;
                e.next_round = wait(s.alarm_cycle);
                Some(e)
            } else if e.direct && !e.confirmed && e.rounds < s.grace_rounds {
                e.rounds += 1;
                e.next_round = wait(s.alarm_cycle);
                Some(e)
            } else {
                None
            };
        }
        if let Some(mut e) = self.down.filter(|e| e.next_round == now) {
            self.rounds.1 += 1;
            self.down = if high == AlarmState::Alarm
                || e.rounds >= s.max_rounds
                || low != AlarmState::Alarm
            {
                None
            } else if e.expected.is_some_and(|w| w != self.serverless) {
                e.expected = None;
                e.rounds += 1;
                e.next_round = wait(s.cooldown);
                Some(e)
            } else if self.serverless > 0
                && self.last_raise.is_some_and(|at| {
                    crate::shifting::shift::lowering_held_until(
                        i64::from(at) * 1000,
                        i64::from(now) * 1000,
                        u64::from(s.scale_down_delay),
                    )
                    .is_some()
                })
            {
                // "Hold back: the scale-down delay": no step, the weight it expects unchanged.
                self.held_by_delay += 1;
                e.rounds += 1;
                e.next_round = wait(s.cooldown);
                Some(e)
            } else {
                let at_zero = self.apply(now, Direction::Down);
                e.expected = Some(self.serverless);
                e.rounds += 1;
                e.next_round = wait(s.cooldown);
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

    /// The defaults, without the delay after a raise (tested on its own below).
    fn loops() -> Loops {
        Loops::new(
            LoopSettings {
                scale_down_delay: 0,
                ..LoopSettings::default()
            },
            WeightPolicy::new(25, 100, 100).expect("valid"),
        )
    }

    #[test]
    fn no_lowering_step_until_the_delay_after_the_last_raise() {
        let mut l = Loops::new(
            LoopSettings::default(),
            WeightPolicy::new(25, 100, 100).expect("valid"),
        );
        // raises at 11, 31, 51, 71 (the last at 71); the low alarm fires at 200
        run(&mut l, 0, 100, |t| (if t >= 10 { Alarm } else { Ok }, Ok));
        run(&mut l, 100, 1000, |t| {
            (Ok, if t >= 200 { Alarm } else { Ok })
        });
        // held at 201, 261, …, 621 (before 71 + 600 = 671); the first step at 681
        assert_eq!(&l.changes[4..6], &[(681, 75), (741, 50)], "{:?}", l.changes);
        assert_eq!(l.held_by_delay, 8);
        assert_eq!(l.weights().0, 0);
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

    #[test]
    fn when_the_other_machine_moved_the_pair_the_round_should_be_spent_re_reading() {
        // GIVEN scale-down running from 100 (its expected weight 75 after its first step)
        let mut l = loops();
        run(&mut l, 0, 100, |t| (if t >= 10 { Alarm } else { Ok }, Ok));
        run(&mut l, 100, 200, |t| {
            (Ok, if t >= 150 { Alarm } else { Ok })
        });
        assert_eq!(l.weights().0, 75, "one step down at 151");
        // WHEN a short burst fires the high alarm for one scale-up round (it raises to 100)
        // while the low alarm stays in ALARM
        run(&mut l, 200, 215, |t| {
            (if t < 202 { Alarm } else { Ok }, Alarm)
        });
        assert_eq!(l.weights().0, 100, "scale-up raised at 201");
        // THEN scale-down's next round (211) finds 100, not the 75 it set: ConcurrentChange,
        // no step; it steps again a cooldown later (271)
        run(&mut l, 215, 300, |_| (Ok, Alarm));
        let after: Vec<(u32, u16)> = l
            .changes
            .iter()
            .copied()
            .filter(|(t, _)| *t > 201)
            .collect();
        assert_eq!(after, vec![(271, 75)], "{:?}", l.changes);
    }

    #[test]
    fn when_a_direct_start_is_confirmed_should_raise_at_once_and_carry_on_with_the_alarm() {
        // GIVEN a direct start at 5 s, the alarm in ALARM from 30 s
        let mut l = loops();
        l.start_direct(5);
        run(&mut l, 0, 120, |t| (if t >= 30 { Alarm } else { Ok }, Ok));
        // THEN the first raise at 5 (no alarm yet), a hold at 25, then a raise per cycle
        assert_eq!(l.changes, vec![(5, 25), (45, 50), (65, 75), (85, 100)]);
        assert_eq!((l.direct_starts, l.undone), (1, 0));
    }

    #[test]
    fn when_the_alarm_never_confirms_a_direct_start_should_undo_its_raise_and_end() {
        let mut l = loops();
        l.start_direct(5);
        run(&mut l, 0, 200, |_| (Ok, Ok));
        // raise at 5, holds at 25 and 45, the third grace round (65) undoes it
        assert_eq!(l.changes, vec![(5, 25), (65, 0)]);
        assert_eq!(l.undone, 1);
        // AND a second direct start while one runs is not taken
        let mut busy = loops();
        busy.start_direct(5);
        busy.start_direct(6);
        assert_eq!(busy.direct_starts, 1);
    }

    #[test]
    fn when_someone_moved_the_weight_after_a_direct_raise_should_not_undo_it() {
        // GIVEN a direct raise to 25, then the pair set to 50 by someone else
        let mut l = loops();
        l.start_direct(5);
        run(&mut l, 0, 10, |_| (Ok, Ok));
        l.serverless = 50;
        run(&mut l, 10, 200, |_| (Ok, Ok));
        assert_eq!(l.changes, vec![(5, 25)], "no step down from 50");
        assert_eq!(l.weights().0, 50);
    }

    #[test]
    fn when_a_direct_raise_moved_nothing_should_not_undo_anything() {
        // GIVEN the serverless weight already at its maximum (someone else's spill)
        let mut l = loops();
        l.serverless = 100;
        l.start_direct(5);
        run(&mut l, 0, 200, |_| (Ok, Ok));
        // THEN the raise was a no-op, and no step down follows the unconfirmed start
        assert!(l.changes.is_empty(), "{:?}", l.changes);
        assert_eq!((l.weights().0, l.undone), (100, 0));
    }

    #[test]
    fn when_the_round_limit_comes_before_the_grace_ends_should_still_undo_the_raise() {
        // GIVEN executions limited to two rounds and three grace rounds
        let mut l = Loops::new(
            LoopSettings {
                max_rounds: 2,
                ..LoopSettings::default()
            },
            WeightPolicy::new(25, 100, 100).expect("valid"),
        );
        l.start_direct(5);
        run(&mut l, 0, 200, |_| (Ok, Ok));
        // THEN the raise at 5 is undone at the limit (round 2), not left standing
        assert_eq!(l.changes.len(), 2, "{:?}", l.changes);
        assert_eq!((l.weights().0, l.undone), (0, 1));
    }

    #[test]
    fn when_an_execution_ended_while_its_alarm_stays_in_alarm_the_sweep_should_restart_it() {
        // GIVEN executions limited to one round, the high alarm in ALARM from 10 s on
        let mut l = Loops::new(
            LoopSettings {
                max_rounds: 1,
                ..LoopSettings::default()
            },
            WeightPolicy::new(25, 100, 100).expect("valid"),
        );
        run(&mut l, 0, 700, |t| (if t >= 10 { Alarm } else { Ok }, Ok));
        // THEN one step at 11, then the execution ends at its limit; the sweeps at 300 and
        // 600 start it again (a second later), one step each
        assert_eq!(l.changes, vec![(11, 25), (301, 50), (601, 75)]);
        // AND without the schedule it stays where the first execution left it
        let mut quiet = Loops::new(
            LoopSettings {
                max_rounds: 1,
                sweep_every: None,
                ..LoopSettings::default()
            },
            WeightPolicy::new(25, 100, 100).expect("valid"),
        );
        run(&mut quiet, 0, 700, |t| {
            (if t >= 10 { Alarm } else { Ok }, Ok)
        });
        assert_eq!(quiet.changes, vec![(11, 25)]);
    }
}
