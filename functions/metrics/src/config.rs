//! The metrics function's configuration: read once at cold start from the environment that
//! `template.yaml` sets (README, "Configuration (metrics function)").

use spillway::config::{self, ConfigError};
use spillway::metrics::topology::CacheSettings;

/// Configuration of the metrics function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `CLUSTER_IDENTIFIERS`: the watched clusters, comma-separated (required).
    pub clusters: Vec<String>,
    /// `METRICS_NAMESPACE` (default `Spillway`).
    pub namespace: String,
    /// `AVAILABLE_STATUSES`: instance statuses that count as available (default `available`).
    pub available_statuses: Vec<String>,
    /// `TOPOLOGY_TTL_SECONDS` (60), `TOPOLOGY_MAX_STALENESS_SECONDS` (300),
    /// `TOPOLOGY_MIN_REFRESH_SECONDS` (10).
    pub cache: CacheSettings,
    /// `LOG_LEVEL` (`info`).
    pub log_level: String,
}

impl MetricsConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let clusters = config::list(get("CLUSTER_IDENTIFIERS").as_deref());
        if clusters.is_empty() {
            return Err(ConfigError::Missing("CLUSTER_IDENTIFIERS"));
        }
        let namespace = config::namespace(&get)?;
        let mut available_statuses = config::list(get("AVAILABLE_STATUSES").as_deref());
        if available_statuses.is_empty() {
            available_statuses.push("available".into());
        }
        let defaults = CacheSettings::default();
        let cache = CacheSettings {
            ttl: config::seconds(&get, "TOPOLOGY_TTL_SECONDS", defaults.ttl)?,
            max_staleness: config::seconds(
                &get,
                "TOPOLOGY_MAX_STALENESS_SECONDS",
                defaults.max_staleness,
            )?,
            min_refresh_interval: config::seconds(
                &get,
                "TOPOLOGY_MIN_REFRESH_SECONDS",
                defaults.min_refresh_interval,
            )?,
        };
        if cache.max_staleness < cache.ttl {
            return Err(ConfigError::Invalid {
                name: "TOPOLOGY_MAX_STALENESS_SECONDS",
                value: cache.max_staleness.as_secs().to_string(),
                expected: "at least TOPOLOGY_TTL_SECONDS",
            });
        }
        Ok(Self {
            clusters,
            namespace,
            available_statuses,
            cache,
            log_level: config::log_level(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<MetricsConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MetricsConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn when_only_clusters_are_set_should_use_defaults() {
        let c = config(&[("CLUSTER_IDENTIFIERS", " orders, tickets ,")]).expect("valid");
        assert_eq!(
            c,
            MetricsConfig {
                clusters: vec!["orders".into(), "tickets".into()],
                namespace: "Spillway".into(),
                available_statuses: vec!["available".into()],
                cache: CacheSettings::default(),
                log_level: "info".into(),
            }
        );
    }

    #[test]
    fn when_clusters_are_missing_should_name_the_variable() {
        assert_eq!(
            config(&[]),
            Err(ConfigError::Missing("CLUSTER_IDENTIFIERS"))
        );
        assert_eq!(
            config(&[("CLUSTER_IDENTIFIERS", " , ")]),
            Err(ConfigError::Missing("CLUSTER_IDENTIFIERS"))
        );
    }

    #[test]
    fn when_a_number_is_malformed_should_name_it() {
        let err = config(&[("CLUSTER_IDENTIFIERS", "a"), ("TOPOLOGY_TTL_SECONDS", "1m")])
            .expect_err("1m is not seconds");
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "TOPOLOGY_TTL_SECONDS",
                    ..
                }
            ),
            "{err}"
        );
        let err = config(&[("CLUSTER_IDENTIFIERS", "a"), ("TOPOLOGY_TTL_SECONDS", "0")])
            .expect_err("0 is out of range");
        assert!(err.to_string().contains("TOPOLOGY_TTL_SECONDS"), "{err}");
    }

    #[test]
    fn when_staleness_is_below_ttl_should_refuse() {
        let err = config(&[
            ("CLUSTER_IDENTIFIERS", "a"),
            ("TOPOLOGY_TTL_SECONDS", "120"),
            ("TOPOLOGY_MAX_STALENESS_SECONDS", "60"),
        ])
        .expect_err("staleness below TTL");
        assert!(err.to_string().contains("TOPOLOGY_MAX_STALENESS_SECONDS"));
    }

    #[test]
    fn when_namespace_is_aws_reserved_should_refuse() {
        let err = config(&[
            ("CLUSTER_IDENTIFIERS", "a"),
            ("METRICS_NAMESPACE", "AWS/RDS"),
        ])
        .expect_err("reserved namespace");
        assert!(err.to_string().contains("METRICS_NAMESPACE"));
    }

    #[test]
    fn when_statuses_are_set_should_use_them() {
        let c = config(&[
            ("CLUSTER_IDENTIFIERS", "a"),
            ("AVAILABLE_STATUSES", "available,backing-up"),
        ])
        .unwrap();
        assert_eq!(c.available_statuses, vec!["available", "backing-up"]);
    }
}
