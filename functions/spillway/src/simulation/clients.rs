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
//! Not modelled: clients that bypass DNS weights (the AWS Advanced JDBC Wrapper's read/write
//! splitting, RDS Proxy, ProxySQL) — they move nothing; pools that grow with load.

use serde::{Deserialize, Serialize};

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
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            max_lifetime: 1800,
            dns_cache: 30,
            propagation: 0,
        }
    }
}

/// The serverless reader's share of the clients' connections, second by second.
#[derive(Debug, Clone)]
pub struct Pool {
    settings: ClientSettings,
    /// The weights' share of the last `propagation + dns_cache + 1` seconds, newest last.
    history: std::collections::VecDeque<f64>,
    share: f64,
}

impl Pool {
    /// A pool at rest: every connection on the provisioned readers, the weights' share 0.
    pub fn new(settings: ClientSettings) -> Self {
        let window = (settings.propagation + settings.dns_cache + 1) as usize;
        Self {
            settings,
            history: std::iter::repeat_n(0.0, window).collect(),
            share: 0.0,
        }
    }

    /// The pool's share of connections on the serverless reader (0–1).
    pub fn share(&self) -> f64 {
        self.share
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
        let replaced = 1.0 / f64::from(self.settings.max_lifetime.max(1));
        self.share += (resolved - self.share) * replaced;
        self.share
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
            propagation: 0,
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
}
