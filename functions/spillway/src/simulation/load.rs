//! The load and the readers that carry it, second by second: a synthetic spike, the
//! provisioned readers (and the replicas that join them after their boot time), and the Aurora
//! Serverless v2 reader's capacity following its share of the demand.
//!
//! Units: demand is counted in *reader-percent* — 100 is what one provisioned reader does at
//! 100 % CPU. A provisioned reader's CPU is its share of the demand over 100 % of one reader,
//! capped at 100 (the rest queues: that is the melt-down). The serverless reader's capacity is
//! in ACUs; `acu_per_reader` converts (an r6g.large, 16 GiB, is about 8 ACUs, AWS-NOTES), and
//! its CPU is relative to its current capacity.
//!
//! Serverless v2 "scales in increments as small as 0.5 ACUs", and "the larger the current
//! capacity, the larger the scaling increment and thus the faster scaling can happen" (Aurora
//! guide, Serverless v2 how it works); AWS publishes no rate, so the model grows capacity by a
//! fixed fraction per second towards what the load needs (`growth_per_second`, a parameter to
//! sweep), at least `min_growth_acu` a second (0.5 by default: an assumption, AWS's 0.5 ACU is a
//! step size, not a rate), within `[min_acu, max_acu]`; it shrinks towards the need at the same
//! rate. Not modelled: query latency, the writer, memory and buffer-pool warm-up.

use serde::{Deserialize, Serialize};

/// A synthetic spike: `baseline` reader-percent of demand, rising linearly to `multiplier` ×
/// baseline over `ramp` seconds from `onset`, held for `hold` seconds, then falling back over
/// `decay` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub baseline: f64,
    pub multiplier: f64,
    pub onset: u32,
    pub ramp: u32,
    pub hold: u32,
    pub decay: u32,
}

impl Spike {
    /// The demand at second `t`, in reader-percent.
    pub fn demand(&self, t: u32) -> f64 {
        let peak = self.baseline * self.multiplier;
        let fraction = |elapsed: u32, over: u32| {
            if over == 0 {
                1.0
            } else {
                (f64::from(elapsed) / f64::from(over)).min(1.0)
            }
        };
        let rise_end = self.onset + self.ramp;
        let fall_start = rise_end + self.hold;
        if t < self.onset {
            self.baseline
        } else if t < rise_end {
            self.baseline + (peak - self.baseline) * fraction(t - self.onset, self.ramp)
        } else if t < fall_start {
            peak
        } else {
            peak - (peak - self.baseline) * fraction(t - fall_start, self.decay)
        }
    }
}

/// A recorded load: the demand of each second, in reader-percent (see
/// [`crate::simulation::recorded`]). After its last second the demand holds at that second's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    pub demand: Vec<f64>,
    /// The second the spike starts (what "onset to the first weight change" counts from).
    pub onset: u32,
}

/// What the readers are asked to do: a synthetic spike or a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Load {
    Spike(Spike),
    Recorded(Recorded),
}

impl Load {
    /// The demand at second `t`, in reader-percent.
    pub fn demand(&self, t: u32) -> f64 {
        match self {
            Self::Spike(s) => s.demand(t),
            Self::Recorded(r) => r
                .demand
                .get(t as usize)
                .or(r.demand.last())
                .copied()
                .unwrap_or(0.0),
        }
    }

    /// The second the spike starts.
    pub fn onset(&self) -> u32 {
        match self {
            Self::Spike(s) => s.onset,
            Self::Recorded(r) => r.onset,
        }
    }
}

/// The Serverless v2 reader's capacity model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerlessSettings {
    pub min_acu: f64,
    pub max_acu: f64,
    /// Capacity change per second, as a fraction of the current capacity (e.g. 0.05).
    pub growth_per_second: f64,
    /// ACUs that do the work of one provisioned reader at 100 % CPU.
    pub acu_per_reader: f64,
    /// The least capacity change per second, ACU (an assumption: AWS documents 0.5 ACU as the
    /// smallest scaling increment, not a rate).
    #[serde(default = "half")]
    pub min_growth_acu: f64,
}

fn half() -> f64 {
    0.5
}

/// The serverless reader, second by second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerlessReader {
    settings: ServerlessSettings,
    acu: f64,
}

impl ServerlessReader {
    /// At rest, at its minimum capacity.
    pub fn new(settings: ServerlessSettings) -> Self {
        Self {
            settings,
            acu: settings.min_acu,
        }
    }

    pub fn acu(&self) -> f64 {
        self.acu
    }

    /// One second with `demand` reader-percent sent to it; returns its CPU % (relative to its
    /// current capacity, capped at 100).
    pub fn step(&mut self, demand: f64) -> f64 {
        let s = self.settings;
        let needed = (demand / 100.0 * s.acu_per_reader).clamp(s.min_acu, s.max_acu);
        let rate = (self.acu * s.growth_per_second).max(s.min_growth_acu.max(0.0));
        self.acu = if needed > self.acu {
            (self.acu + rate).min(needed)
        } else {
            (self.acu - rate).max(needed)
        };
        let capacity = self.acu / s.acu_per_reader * 100.0;
        (demand / capacity * 100.0).min(100.0)
    }
}

/// The provisioned readers: those in service and the replicas still booting.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedReaders {
    in_service: u32,
    /// The readers there before any was added: auto scaling never removes them.
    original: u32,
    /// The second each booting replica joins.
    booting: Vec<u32>,
    boot_seconds: u32,
}

impl ProvisionedReaders {
    pub fn new(in_service: u32, boot_seconds: u32) -> Self {
        Self {
            in_service,
            original: in_service,
            booting: Vec::new(),
            boot_seconds,
        }
    }

    pub fn in_service(&self) -> u32 {
        self.in_service
    }

    /// In service plus booting: what Application Auto Scaling counts as its current capacity.
    pub fn desired(&self) -> u32 {
        self.in_service + self.booting.len() as u32
    }

    /// Starts `n` replicas at second `now`; they join `boot_seconds` later.
    pub fn add(&mut self, n: u32, now: u32) {
        self.booting
            .extend(std::iter::repeat_n(now + self.boot_seconds, n as usize));
    }

    /// Whether replicas are still being created.
    pub fn booting(&self) -> bool {
        !self.booting.is_empty()
    }

    /// Removes up to `n` readers in service that were added ("Aurora Auto Scaling only removes
    /// Aurora Replicas that it created"), keeping at least one.
    pub fn remove(&mut self, n: u32) {
        self.in_service = self
            .in_service
            .saturating_sub(n)
            .max(self.original.min(self.in_service))
            .max(1);
    }

    /// Second `now` passes with `demand` reader-percent on the provisioned readers; returns
    /// their average CPU %.
    pub fn step(&mut self, demand: f64, now: u32) -> f64 {
        let joined = self.booting.iter().filter(|at| **at <= now).count() as u32;
        self.booting.retain(|at| *at > now);
        self.in_service += joined;
        (demand / f64::from(self.in_service.max(1))).min(100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spike() -> Spike {
        Spike {
            baseline: 60.0,
            multiplier: 10.0,
            onset: 100,
            ramp: 20,
            hold: 600,
            decay: 60,
        }
    }

    #[test]
    fn when_the_spike_rises_holds_and_decays_the_demand_should_follow() {
        let s = spike();
        assert_eq!(s.demand(0), 60.0);
        assert_eq!(s.demand(99), 60.0);
        assert_eq!(s.demand(110), 60.0 + 540.0 / 2.0, "half way up the ramp");
        assert_eq!(s.demand(120), 600.0, "at the peak");
        assert_eq!(s.demand(719), 600.0, "held");
        assert_eq!(s.demand(750), 330.0, "half way down");
        assert_eq!(s.demand(10_000), 60.0, "back at the baseline");
        let instant = Spike { ramp: 0, ..s };
        assert_eq!(instant.demand(100), 600.0, "a ramp of 0 is a step");
    }

    #[test]
    fn when_the_load_exceeds_the_readers_cpu_should_saturate_until_replicas_join() {
        // GIVEN two readers and a demand of three readers' worth
        let mut readers = ProvisionedReaders::new(2, 420);
        assert_eq!(readers.step(300.0, 0), 100.0, "saturated");
        readers.add(2, 10);
        assert_eq!(readers.desired(), 4);
        assert_eq!(readers.step(300.0, 429), 100.0, "still booting at 429 s");
        // THEN the replicas join after their boot time and share the load
        assert_eq!(readers.step(300.0, 430), 75.0);
        assert_eq!(readers.in_service(), 4);
        readers.remove(10);
        assert_eq!(readers.in_service(), 2, "never the readers it did not add");
        let mut one = ProvisionedReaders::new(1, 0);
        one.remove(1);
        assert_eq!(one.in_service(), 1, "never below one");
    }

    #[test]
    fn when_load_arrives_the_serverless_reader_should_grow_faster_from_a_higher_capacity() {
        let settings = ServerlessSettings {
            min_acu: 0.5,
            max_acu: 64.0,
            growth_per_second: 0.1,
            acu_per_reader: 8.0,
            min_growth_acu: 0.5,
        };
        let seconds_to_reach = |min_acu: f64, target: f64| {
            let mut sv = ServerlessReader::new(ServerlessSettings {
                min_acu,
                ..settings
            });
            (1..=600)
                .find(|_| {
                    sv.step(400.0);
                    sv.acu() >= target
                })
                .expect("reaches it")
        };
        // 400 reader-percent needs 32 ACUs.
        let from_low = seconds_to_reach(0.5, 32.0);
        let from_high = seconds_to_reach(8.0, 32.0);
        assert!(
            from_high < from_low,
            "pre-warmed: {from_high} s, from 0.5 ACU: {from_low} s"
        );
        let mut sv = ServerlessReader::new(settings);
        let cpu = sv.step(400.0);
        assert_eq!(cpu, 100.0, "overloaded while small");
        for _ in 0..600 {
            sv.step(400.0);
        }
        assert_eq!(sv.acu(), 32.0, "settles at the need");
        assert_eq!(sv.step(400.0), 100.0, "at exactly its capacity");
        for _ in 0..600 {
            sv.step(0.0);
        }
        assert_eq!(sv.acu(), 0.5, "back at its minimum");
    }
}
