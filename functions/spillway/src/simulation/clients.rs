//! How much traffic a weight change really moves: clients' pools follow the weights only as
//! their connections are replaced, and each new connection resolves the name through a DNS
//! cache.
//!
//! Model, at 1-second steps: a pool of connections whose ages are spread evenly over the pool's
//! maximum lifetime `L` (HikariCP `maxLifetime`, 30 minutes by default), so 1/L of the pool is
//! replaced each second (in-use connections are retired a little later; the model ignores
//! that). A replacement resolves the record through a client-side cache of `C` seconds (the
//! JVM's `networkaddress.cache.ttl`, 30 s by default): the answer it gets is the weights' share
//! as it was a uniformly random 0–C seconds ago, after Route 53's propagation delay `P`.
//! So the share of new connections at `t` is the mean of the weights' share over
//! `[t − P − C, t − P]`, and the pool's share moves towards it by 1/L per second: with the
//! defaults about 3.3 % of the pool per minute follows a weight change (AWS-NOTES, HikariCP
//! README).
//!
//! Beyond that steady replacement:
//! - `ages`: the pool's connections spread evenly over their lifetime (the steady state), or
//!   all opened together when the run starts (an application that started with the sale, or
//!   a fleet restarted together): then none is replaced until HikariCP's shortened lifetimes
//!   (each up to 2.5 % shorter) run out, and the whole pool turns over in that last 2.5 %;
//! - `churn_per_second`: the fraction of connections that are new each second for other
//!   reasons (application servers scaling out, short-lived clients, serverless functions);
//! - `ignore_dns`: the fraction of the traffic from clients that never follow the weights —
//!   the AWS Advanced JDBC Wrapper's read/write-splitting and failover plugins (they connect to
//!   instance endpoints they choose), RDS Proxy, ProxySQL (they route on their own).
//!
//! Not modelled: pools that grow with load, connections retired late because they are in use.

use serde::{Deserialize, Serialize};

/// How old the pool's connections are when the run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolAges {
    /// Spread evenly over the lifetime: 1/L of the pool is replaced each second.
    #[default]
    Spread,
    /// All opened at the run's start: replaced together as their lifetimes run out.
    Together,
}

/// The client side of a weight change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The pool's maximum connection lifetime, seconds (HikariCP default 1800).
    pub max_lifetime: u32,
    /// The client's DNS cache, seconds (JVM default 30).
    pub dns_cache: u32,
    /// Route 53's propagation delay to the resolvers, seconds.
    pub propagation: u32,
    #[serde(default)]
    pub ages: PoolAges,
    /// Fraction of the connections that are new each second for other reasons (0–1).
    #[serde(default)]
    pub churn_per_second: f64,
    /// Fraction of the traffic from clients that ignore DNS weights (0–1).
    #[serde(default)]
    pub ignore_dns: f64,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            max_lifetime: 1800,
            dns_cache: 30,
            propagation: 0,
            ages: PoolAges::Spread,
            churn_per_second: 0.0,
            ignore_dns: 0.0,
        }
    }
}

/// HikariCP shortens each connection's lifetime by up to 2.5 % ("variance"), so a pool opened
/// together turns over in the last 2.5 % of its lifetime.
const LIFETIME_VARIANCE: f64 = 0.025;

/// The serverless reader's share of the clients' connections, second by second.
#[derive(Debug, Clone)]
pub struct Pool {
    settings: ClientSettings,
    /// The weights' share of the last `propagation + dns_cache + 1` seconds, newest last.
    history: std::collections::VecDeque<f64>,
    /// The share of the DNS-following clients' connections.
    share: f64,
    /// Seconds since the run started.
    elapsed: u32,
}

impl Pool {
    /// A pool at rest: every connection on the provisioned readers, the weights' share 0.
    pub fn new(settings: ClientSettings) -> Self {
        let window = (settings.propagation + settings.dns_cache + 1) as usize;
        Self {
            settings,
            history: std::iter::repeat_n(0.0, window).collect(),
            share: 0.0,
            elapsed: 0,
        }
    }

    /// The effective share of the traffic on the serverless reader (0–1): the DNS-following
    /// clients' pools, none of the others.
    pub fn share(&self) -> f64 {
        self.share * (1.0 - self.settings.ignore_dns.clamp(0.0, 1.0))
    }

    /// The fraction of the pool replaced in the second that ends at `elapsed` seconds.
    fn replaced(&self) -> f64 {
        let s = self.settings;
        let lifetime = f64::from(s.max_lifetime.max(1));
        let lifetimes = match s.ages {
            PoolAges::Spread => 1.0 / lifetime,
            PoolAges::Together => {
                // Within each lifetime, the connections opened together expire uniformly over
                // its last 2.5 %; of those still open, this second's share.
                // The end of this second within the current lifetime, 1..=L.
                let end = f64::from((self.elapsed.max(1) - 1) % s.max_lifetime.max(1) + 1);
                let start = lifetime - (lifetime * LIFETIME_VARIANCE).max(1.0);
                if end <= start {
                    0.0
                } else {
                    // Of the connections still open, one per remaining second expires.
                    1.0 / (lifetime - end + 1.0)
                }
            }
        };
        (lifetimes + s.churn_per_second.clamp(0.0, 1.0)).min(1.0)
    }

    /// One second passes while the weights give the serverless reader `weights_share` (0–1) of
    /// new resolutions; returns the pool's share after it.
    pub fn step(&mut self, weights_share: f64) -> f64 {
        self.history.pop_front();
        self.history.push_back(weights_share);
        // Resolutions made 0..=C seconds ago, each seeing the weights P seconds before that.
        let cache = self.settings.dns_cache as usize;
        let seen = self.history.iter().take(cache + 1);
        let resolved = seen.sum::<f64>() / (cache + 1) as f64;
        self.elapsed += 1;
        let replaced = self.replaced();
        self.share += (resolved - self.share) * replaced;
        self.share()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_weights_give_half_the_pool_follows_about_3_percent_a_minute() {
        // GIVEN HikariCP's and the JVM's defaults, and a weight change to 50 % at t=0
        let mut pool = Pool::new(ClientSettings::default());
        let after = |pool: &mut Pool, seconds: u32| {
            for _ in 0..seconds {
                pool.step(0.5);
            }
            pool.share()
        };
        // THEN after the DNS cache has passed, 1/1800 of the gap closes each second: 3.3 % of
        // the way to the new share each minute
        let first_minute = after(&mut pool, 60);
        assert!(
            (0.005..0.02).contains(&first_minute),
            "the first minute moves little (DNS cache, then 1/L per second): {first_minute}"
        );
        let second_minute = after(&mut pool, 60);
        let closed = (second_minute - first_minute) / (0.5 - first_minute);
        assert!(
            (0.031..0.034).contains(&closed),
            "{closed} of the gap closed in a minute"
        );
        let hour = after(&mut pool, 3480);
        assert!(
            (0.42..0.5).contains(&hour),
            "converging to the weights' share: {hour}"
        );
    }

    #[test]
    fn when_connections_live_a_minute_the_pool_follows_within_minutes() {
        let mut pool = Pool::new(ClientSettings {
            max_lifetime: 60,
            dns_cache: 5,
            ..ClientSettings::default()
        });
        let mut share = 0.0;
        for _ in 0..300 {
            share = pool.step(0.5);
        }
        assert!(share > 0.49, "five lifetimes: {share}");
    }

    #[test]
    fn when_the_change_has_not_propagated_nothing_moves() {
        let mut pool = Pool::new(ClientSettings {
            max_lifetime: 60,
            dns_cache: 0,
            propagation: 10,
            ..ClientSettings::default()
        });
        for second in 0..10 {
            assert_eq!(
                pool.step(1.0),
                0.0,
                "second {second}: resolvers still answer the old weights"
            );
        }
        assert!(pool.step(1.0) > 0.0, "then the first new connections move");
    }

    /// Seconds until the effective share is within 10 % of a steady weights' share `target`.
    fn follow(settings: ClientSettings, target: f64, limit: u32) -> Option<u32> {
        let mut pool = Pool::new(settings);
        (1..=limit).find(|_| pool.step(target) >= 0.9 * target)
    }

    #[test]
    fn when_lifetime_is_a_minute_and_no_dns_cache_the_share_follows_within_about_a_minute() {
        let settings = ClientSettings {
            max_lifetime: 60,
            dns_cache: 0,
            ..ClientSettings::default()
        };
        let seconds = follow(settings, 0.5, 3600).expect("it follows");
        // 1 − (1 − 1/60)^t ≥ 0.9 at t ≈ 137 s: within a minute or two.
        assert!((60..=150).contains(&seconds), "{seconds} s");
    }

    #[test]
    fn when_the_clients_keep_their_defaults_the_share_lags_for_tens_of_minutes() {
        let seconds = follow(ClientSettings::default(), 0.5, 7200).expect("eventually");
        assert!(seconds > 40 * 60, "HikariCP and JVM defaults: {seconds} s");
    }

    #[test]
    fn when_clients_ignore_dns_their_traffic_never_moves() {
        let all_ignore = ClientSettings {
            max_lifetime: 60,
            dns_cache: 0,
            ignore_dns: 1.0,
            ..ClientSettings::default()
        };
        let mut pool = Pool::new(all_ignore);
        for _ in 0..3600 {
            assert_eq!(pool.step(0.5), 0.0);
        }
        // A quarter ignoring DNS caps the effective share at three quarters of the weights'.
        let quarter = ClientSettings {
            ignore_dns: 0.25,
            ..all_ignore
        };
        let mut pool = Pool::new(quarter);
        for _ in 0..3600 {
            pool.step(0.5);
        }
        assert!((pool.share() - 0.375).abs() < 1e-3, "{}", pool.share());
        assert_eq!(follow(quarter, 0.5, 3600), None, "never within 10 %");
    }

    #[test]
    fn when_the_pool_was_opened_together_it_turns_over_at_the_end_of_its_lifetime() {
        let together = ClientSettings {
            max_lifetime: 600,
            dns_cache: 0,
            ages: PoolAges::Together,
            ..ClientSettings::default()
        };
        let mut pool = Pool::new(together);
        let mut at = Vec::new();
        for t in 1..=600 {
            at.push((t, pool.step(0.5)));
        }
        // Nothing is replaced before 97.5 % of the lifetime (585 s), everything by 600 s.
        assert_eq!(at[584].1, 0.0, "still none at 585 s");
        assert!(
            (at[599].1 - 0.5).abs() < 1e-9,
            "all moved at 600 s: {}",
            at[599].1
        );
        // Churn moves some of it before.
        let churning = ClientSettings {
            churn_per_second: 0.01,
            ..together
        };
        let mut pool = Pool::new(churning);
        for _ in 0..120 {
            pool.step(0.5);
        }
        assert!(
            pool.share() > 0.3,
            "1 %/s of new connections: {}",
            pool.share()
        );
    }
}
