//! The planned-event function's configuration, read once at cold start from the environment
//! that `template.yaml` sets.

use spillway::config::{self, ConfigError};
use spillway::planned::reconcile::Limits;
use spillway_aws::planned::Scope;

#[derive(Debug, Clone)]
pub struct EventConfig {
    /// `CLUSTER_IDENTIFIER` (a comma-separated list): the clusters whose plans this
    /// deployment may carry out without `settings` in the request (its IAM policy names them
    /// too). Empty: every request carries its cluster's settings (the stack's machines pass
    /// them, read from the cluster's settings document).
    pub clusters: Vec<String>,
    /// With `CLUSTER_IDENTIFIER`: `SERVERLESS_INSTANCE_IDENTIFIER` (required),
    /// `PROVISIONED_ENDPOINT_ID` (the custom endpoint Spillway manages; empty: none),
    /// `AUTO_SCALING` (`true` / `false`).
    pub scope: Option<Scope>,
    /// `RECORD_TTL` (seconds, 5), `POLL_SECONDS` (30), `DRAIN_SECONDS` (300),
    /// `DRAINED_CONNECTIONS` (2); the other bounds are the reconciler's defaults.
    pub limits: Limits,
    /// `LOG_LEVEL` (`info`).
    pub log_level: String,
}

impl EventConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let whole = |name: &'static str, default: u32, max: u32| -> Result<u32, ConfigError> {
            match config::optional(&get, name) {
                None => Ok(default),
                Some(v) => v.parse().ok().filter(|n| *n <= max).ok_or(ConfigError::Invalid {
                    name,
                    value: v,
                    expected: "a whole number within its bound (README, \"Preparing for an announced sale\")",
                }),
            }
        };
        let autoscaling = match config::optional(&get, "AUTO_SCALING").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "AUTO_SCALING",
                    value: v.into(),
                    expected: "true or false",
                });
            }
        };
        let defaults = Limits::default();
        let limits = Limits {
            record_ttl_seconds: whole("RECORD_TTL", defaults.record_ttl_seconds, 86_400)?,
            poll_seconds: whole("POLL_SECONDS", defaults.poll_seconds, 3600)?.max(1),
            drain_seconds: whole("DRAIN_SECONDS", defaults.drain_seconds, 3600)?,
            drained_connections: f64::from(whole(
                "DRAINED_CONNECTIONS",
                defaults.drained_connections as u32,
                100_000,
            )?),
            ..defaults
        };
        let clusters = config::list(config::optional(&get, "CLUSTER_IDENTIFIER").as_deref());
        let scope = if clusters.is_empty() {
            None
        } else {
            Some(Scope {
                serverless_instance: config::required(&get, "SERVERLESS_INSTANCE_IDENTIFIER")?,
                endpoint: config::optional(&get, "PROVISIONED_ENDPOINT_ID"),
                autoscaling,
            })
        };
        Ok(Self {
            clusters,
            scope,
            limits,
            log_level: config::log_level(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_and_errors_name_the_variable() {
        let c = EventConfig::from_lookup(lookup(&[
            ("CLUSTER_IDENTIFIER", "orders"),
            ("SERVERLESS_INSTANCE_IDENTIFIER", "sv"),
        ]))
        .unwrap();
        assert_eq!(c.clusters, ["orders"]);
        assert_eq!(c.limits, Limits::default());
        let scope = c.scope.unwrap();
        assert!(!scope.autoscaling && scope.endpoint.is_none());
        let e = EventConfig::from_lookup(lookup(&[("CLUSTER_IDENTIFIER", "orders")])).unwrap_err();
        assert_eq!(e, ConfigError::Missing("SERVERLESS_INSTANCE_IDENTIFIER"));
        // No cluster in the environment: every request names its own settings.
        let c = EventConfig::from_lookup(lookup(&[])).unwrap();
        assert!(c.clusters.is_empty() && c.scope.is_none());
        let e = EventConfig::from_lookup(lookup(&[
            ("CLUSTER_IDENTIFIER", "orders"),
            ("SERVERLESS_INSTANCE_IDENTIFIER", "sv"),
            ("DRAIN_SECONDS", "soon"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("DRAIN_SECONDS"), "{e}");
        let e = EventConfig::from_lookup(lookup(&[
            ("CLUSTER_IDENTIFIER", "orders"),
            ("SERVERLESS_INSTANCE_IDENTIFIER", "sv"),
            ("AUTO_SCALING", "yes"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("AUTO_SCALING"), "{e}");
    }
}
