//! The weight arithmetic of traffic shifting: where the serverless reader's Route 53 weight
//! goes next, and the safety rules every write obeys.
//!
//! Invariants, enforced here and tested as properties:
//! - the provisioned record's weight is never 0 (if every record of a weighted set has weight
//!   0, Route 53 splits traffic evenly — all-zero is *not* "off");
//! - weights stay within Route 53's 0–255, and the serverless weight within the configured
//!   maximum;
//! - `up` never lowers and `down` never raises the serverless weight; each moves it by at most
//!   one step; `down` reaches exactly 0 — except that a weight above the maximum (the
//!   configuration was lowered since it was written) is brought down to the maximum by either.
//!
//! Not here: reading or writing records (the `WeightedPairStore` adapter does that, both records
//! in one change batch), nor deciding *when* to step (the state machines do).

use serde::{Deserialize, Serialize};

/// Route 53's largest weight.
pub const MAX_ROUTE53_WEIGHT: u16 = 255;

/// Which way to move the serverless reader's share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// The configured bounds of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightPolicy {
    /// How much one step moves the serverless weight (1–255).
    step: u16,
    /// The highest serverless weight (0–255).
    max_serverless: u16,
    /// The provisioned record's fixed weight (1–255).
    provisioned: u16,
}

/// A policy that would break an invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the step must be 1 to 255, not {0}")]
    Step(u32),
    #[error("the maximum serverless weight must be 0 to 255, not {0}")]
    MaxServerless(u32),
    #[error(
        "the provisioned weight must be 1 to 255 (0 would let all-zero weights split traffic evenly), not {0}"
    )]
    Provisioned(u32),
}

impl WeightPolicy {
    pub fn new(step: u32, max_serverless: u32, provisioned: u32) -> Result<Self, PolicyError> {
        if !(1..=u32::from(MAX_ROUTE53_WEIGHT)).contains(&step) {
            return Err(PolicyError::Step(step));
        }
        if max_serverless > u32::from(MAX_ROUTE53_WEIGHT) {
            return Err(PolicyError::MaxServerless(max_serverless));
        }
        if !(1..=u32::from(MAX_ROUTE53_WEIGHT)).contains(&provisioned) {
            return Err(PolicyError::Provisioned(provisioned));
        }
        Ok(Self {
            step: step as u16,
            max_serverless: max_serverless as u16,
            provisioned: provisioned as u16,
        })
    }

    pub fn step(&self) -> u16 {
        self.step
    }
    pub fn max_serverless(&self) -> u16 {
        self.max_serverless
    }
    pub fn provisioned(&self) -> u16 {
        self.provisioned
    }

    /// The largest share of traffic the serverless reader can get: max / (max + provisioned).
    pub fn max_share(&self) -> f64 {
        share(self.max_serverless, self.provisioned)
    }
}

/// The serverless reader's share of new connections for a pair of weights.
pub fn share(serverless: u16, provisioned: u16) -> f64 {
    let total = f64::from(serverless) + f64::from(provisioned);
    if total == 0.0 {
        // Route 53 splits evenly when every weight is 0; the policy never writes this.
        0.5
    } else {
        f64::from(serverless) / total
    }
}

/// The weights one step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub previous_serverless: u16,
    pub previous_provisioned: u16,
    pub serverless: u16,
    pub provisioned: u16,
    /// `up` at the maximum, or `down` at 0: further steps this way change nothing.
    pub at_limit: bool,
}

impl Step {
    /// Whether the step changes anything in Route 53.
    pub fn changes(&self) -> bool {
        self.serverless != self.previous_serverless || self.provisioned != self.previous_provisioned
    }

    pub fn share(&self) -> f64 {
        share(self.serverless, self.provisioned)
    }
}

/// The next weights from the current ones. A current serverless weight above the maximum
/// (configuration lowered since) is brought down to it by either direction; a provisioned
/// weight that is not the configured one (0 included) is restored to it.
pub fn next(
    current_serverless: u16,
    current_provisioned: u16,
    dir: Direction,
    p: &WeightPolicy,
) -> Step {
    let current = current_serverless.min(MAX_ROUTE53_WEIGHT);
    let serverless = match dir {
        Direction::Up => current.saturating_add(p.step).min(p.max_serverless),
        Direction::Down => current.saturating_sub(p.step).min(p.max_serverless),
    };
    let at_limit = match dir {
        Direction::Up => serverless >= p.max_serverless,
        Direction::Down => serverless == 0,
    };
    Step {
        previous_serverless: current_serverless,
        previous_provisioned: current_provisioned,
        serverless,
        provisioned: p.provisioned,
        at_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> impl Strategy<Value = WeightPolicy> {
        (1u32..=255, 0u32..=255, 1u32..=255)
            .prop_map(|(s, m, p)| WeightPolicy::new(s, m, p).expect("valid by construction"))
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(Direction::Up), Just(Direction::Down)]
    }

    proptest! {
        #[test]
        fn weights_always_stay_within_bounds(p in policy(), s in 0u16..=255, pv in 0u16..=255, d in direction()) {
            let step = next(s, pv, d, &p);
            prop_assert!(step.serverless <= p.max_serverless(), "serverless {} above max {}", step.serverless, p.max_serverless());
            prop_assert!(step.serverless <= MAX_ROUTE53_WEIGHT);
            prop_assert!(step.provisioned >= 1, "provisioned weight 0 would split traffic evenly");
            prop_assert!(step.provisioned <= MAX_ROUTE53_WEIGHT);
            prop_assert!(step.share() <= p.max_share() + 1e-12, "share {} above the bound {}", step.share(), p.max_share());
        }

        #[test]
        fn steps_are_monotone_and_at_most_one_step(p in policy(), s in 0u16..=255, d in direction()) {
            let s = s.min(p.max_serverless());
            let step = next(s, p.provisioned(), d, &p);
            match d {
                Direction::Up => prop_assert!(step.serverless >= s && step.serverless - s <= p.step()),
                Direction::Down => prop_assert!(step.serverless <= s && s - step.serverless <= p.step()),
            }
        }

        #[test]
        fn above_a_lowered_maximum_either_direction_comes_down_to_it(p in policy(), over in 1u16..=255, d in direction()) {
            // The one exception to "up never lowers, one step at most": a weight above the
            // maximum (configuration lowered since it was written) is brought to the maximum.
            let s = p.max_serverless().saturating_add(over).min(MAX_ROUTE53_WEIGHT);
            prop_assume!(s > p.max_serverless());
            let step = next(s, p.provisioned(), d, &p);
            match d {
                Direction::Up => prop_assert_eq!(step.serverless, p.max_serverless(), "up lowers to the maximum, never further"),
                Direction::Down => prop_assert!(step.serverless <= p.max_serverless() && step.serverless >= p.max_serverless().saturating_sub(p.step()),
                    "down from {} lands at {}: at the maximum or one step below it", s, step.serverless),
            }
            prop_assert!(step.changes());
        }

        #[test]
        fn repeated_down_reaches_exactly_zero(p in policy(), s in 0u16..=255) {
            let mut w = s;
            let mut rounds = 0;
            loop {
                let step = next(w, p.provisioned(), Direction::Down, &p);
                w = step.serverless;
                rounds += 1;
                if step.at_limit { break; }
                prop_assert!(rounds <= 256, "down must terminate");
            }
            prop_assert_eq!(w, 0);
            prop_assert!(!next(0, p.provisioned(), Direction::Down, &p).changes(), "at 0, down changes nothing");
        }

        #[test]
        fn repeated_up_reaches_exactly_the_maximum_and_stays(p in policy()) {
            let mut w = 0;
            for _ in 0..=256 {
                let step = next(w, p.provisioned(), Direction::Up, &p);
                w = step.serverless;
                if step.at_limit { break; }
            }
            prop_assert_eq!(w, p.max_serverless());
            let again = next(w, p.provisioned(), Direction::Up, &p);
            prop_assert!(!again.changes() && again.at_limit, "at the maximum, up changes nothing");
        }
    }

    #[test]
    fn when_policy_would_break_an_invariant_should_refuse_it() {
        assert_eq!(WeightPolicy::new(0, 100, 100), Err(PolicyError::Step(0)));
        assert_eq!(
            WeightPolicy::new(256, 100, 100),
            Err(PolicyError::Step(256))
        );
        assert_eq!(
            WeightPolicy::new(10, 256, 100),
            Err(PolicyError::MaxServerless(256))
        );
        assert_eq!(
            WeightPolicy::new(10, 100, 0),
            Err(PolicyError::Provisioned(0))
        );
        assert_eq!(
            WeightPolicy::new(10, 100, 256),
            Err(PolicyError::Provisioned(256))
        );
    }

    #[test]
    fn when_stepping_up_from_zero_should_follow_the_steps_to_the_max() {
        let p = WeightPolicy::new(20, 50, 100).unwrap();
        let mut w = 0;
        let mut seen = vec![];
        loop {
            let s = next(w, 100, Direction::Up, &p);
            w = s.serverless;
            seen.push((w, s.at_limit));
            if s.at_limit {
                break;
            }
        }
        assert_eq!(seen, vec![(20, false), (40, false), (50, true)]);
        assert!((p.max_share() - 50.0 / 150.0).abs() < 1e-12);
    }

    #[test]
    fn when_provisioned_weight_was_zeroed_should_restore_it() {
        let p = WeightPolicy::new(10, 100, 100).unwrap();
        let s = next(0, 0, Direction::Down, &p);
        assert_eq!(s.provisioned, 100);
        assert!(s.changes(), "restoring the provisioned weight is a change");
    }

    #[test]
    fn when_weight_is_above_a_lowered_maximum_should_come_down_either_way() {
        let p = WeightPolicy::new(10, 50, 100).unwrap();
        assert_eq!(next(200, 100, Direction::Up, &p).serverless, 50);
        assert_eq!(next(200, 100, Direction::Down, &p).serverless, 50);
    }
}
