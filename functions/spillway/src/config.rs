//! Typed configuration, read once at cold start from SCREAMING_SNAKE environment variables.
//!
//! Built from a lookup function so tests never touch the process environment; nothing below
//! `main` reads it. A missing or malformed variable fails fast and is named.

use std::time::Duration;

use crate::topology::CacheSettings;

/// A variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} = {value:?}: {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Configuration of the metrics function (and of the replay command's defaults).
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
}

impl MetricsConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let clusters = list(get("CLUSTER_IDENTIFIERS").as_deref());
        if clusters.is_empty() {
            return Err(ConfigError::Missing("CLUSTER_IDENTIFIERS"));
        }
        let namespace = get("METRICS_NAMESPACE")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "Spillway".into());
        if namespace.starts_with("AWS/") || namespace.len() > 255 {
            return Err(ConfigError::Invalid {
                name: "METRICS_NAMESPACE",
                value: namespace,
                expected: "a custom namespace (not AWS/…, at most 255 characters)",
            });
        }
        let mut available_statuses = list(get("AVAILABLE_STATUSES").as_deref());
        if available_statuses.is_empty() {
            available_statuses.push("available".into());
        }
        let defaults = CacheSettings::default();
        let cache = CacheSettings {
            ttl: seconds(&get, "TOPOLOGY_TTL_SECONDS", defaults.ttl)?,
            max_staleness: seconds(
                &get,
                "TOPOLOGY_MAX_STALENESS_SECONDS",
                defaults.max_staleness,
            )?,
            min_refresh_interval: seconds(
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
        })
    }
}

/// A comma-separated list, blanks dropped.
pub fn list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))
            .map(Duration::from_secs)
            .ok_or(ConfigError::Invalid {
                name,
                value: v,
                expected: "whole seconds from 1 to 86400",
            }),
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

/// Configuration of the weight-step function.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftConfig {
    /// `HOSTED_ZONE_ID` (required).
    pub hosted_zone_id: String,
    /// `RECORD_NAME`: the weighted CNAME clients connect to (required; inside `ZONE_NAME` when
    /// that is set).
    pub record_name: String,
    /// `PROVISIONED_SET_IDENTIFIER` (default `provisioned`).
    pub provisioned_set_identifier: String,
    /// `SERVERLESS_SET_IDENTIFIER` (default `serverless`).
    pub serverless_set_identifier: String,
    /// `SERVERLESS_INSTANCE_IDENTIFIER`: the Aurora Serverless v2 reader (required).
    pub serverless_instance: String,
    /// `CLUSTER_IDENTIFIER`: the `DBClusterIdentifier` dimension of the weight metrics (required).
    pub cluster: String,
    /// `WEIGHT_STEP` (25), `MAX_SERVERLESS_WEIGHT` (100), `PROVISIONED_WEIGHT` (100).
    pub policy: crate::weights::WeightPolicy,
    /// `DRY_RUN` (`false`): compute and log steps without writing.
    pub dry_run: bool,
    /// `METRICS_NAMESPACE` (`Spillway`).
    pub namespace: String,
}

impl ShiftConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let or = |name: &'static str, default: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let number = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            let v = or(name, &default.to_string());
            v.parse().map_err(|_| ConfigError::Invalid {
                name,
                value: v,
                expected: "a whole number from 0 to 255",
            })
        };
        let step = number("WEIGHT_STEP", 25)?;
        let max = number("MAX_SERVERLESS_WEIGHT", 100)?;
        let provisioned = number("PROVISIONED_WEIGHT", 100)?;
        let policy = crate::weights::WeightPolicy::new(step, max, provisioned).map_err(|e| {
            let (name, value) = match e {
                crate::weights::PolicyError::Step(v) => ("WEIGHT_STEP", v),
                crate::weights::PolicyError::MaxServerless(v) => ("MAX_SERVERLESS_WEIGHT", v),
                crate::weights::PolicyError::Provisioned(v) => ("PROVISIONED_WEIGHT", v),
            };
            ConfigError::Invalid {
                name,
                value: value.to_string(),
                expected: "step 1–255, maximum 0–255, provisioned 1–255 (never 0)",
            }
        })?;
        let dry_run = match or("DRY_RUN", "false").to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                return Err(ConfigError::Invalid {
                    name: "DRY_RUN",
                    value: other.to_owned(),
                    expected: "true or false",
                });
            }
        };
        let provisioned_set_identifier = or("PROVISIONED_SET_IDENTIFIER", "provisioned");
        let serverless_set_identifier = or("SERVERLESS_SET_IDENTIFIER", "serverless");
        if provisioned_set_identifier == serverless_set_identifier {
            return Err(ConfigError::Invalid {
                name: "SERVERLESS_SET_IDENTIFIER",
                value: serverless_set_identifier,
                expected: "a set identifier other than PROVISIONED_SET_IDENTIFIER",
            });
        }
        let record_name = required("RECORD_NAME")?;
        if let Some(zone) = get("ZONE_NAME").map(|z| z.trim().to_owned())
            && !zone.is_empty()
            && !inside_zone(&record_name, &zone)
        {
            // Route 53 would refuse every write ("not permitted in zone"): say so at cold start.
            return Err(ConfigError::Invalid {
                name: "RECORD_NAME",
                value: record_name,
                expected: "a name inside the zone ZONE_NAME",
            });
        }
        Ok(Self {
            hosted_zone_id: required("HOSTED_ZONE_ID")?,
            record_name,
            provisioned_set_identifier,
            serverless_set_identifier,
            serverless_instance: required("SERVERLESS_INSTANCE_IDENTIFIER")?,
            cluster: required("CLUSTER_IDENTIFIER")?,
            policy,
            dry_run,
            namespace: or("METRICS_NAMESPACE", "Spillway"),
        })
    }
}

/// Whether `name` lies inside the DNS zone `zone` (case and trailing dot ignored).
fn inside_zone(name: &str, zone: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    name == zone || name.ends_with(&format!(".{zone}"))
}

#[cfg(test)]
mod shift_config_tests {
    use super::*;
    use std::collections::HashMap;

    const BASE: [(&str, &str); 4] = [
        ("HOSTED_ZONE_ID", "Z123"),
        ("RECORD_NAME", "reads.orders.internal"),
        ("SERVERLESS_INSTANCE_IDENTIFIER", "orders-serverless"),
        ("CLUSTER_IDENTIFIER", "orders"),
    ];

    fn config(extra: &[(&str, &str)]) -> Result<ShiftConfig, ConfigError> {
        let map: HashMap<String, String> = BASE
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ShiftConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn when_only_required_are_set_should_use_safe_defaults() {
        let c = config(&[]).expect("valid");
        assert_eq!(
            (
                c.policy.step(),
                c.policy.max_serverless(),
                c.policy.provisioned()
            ),
            (25, 100, 100)
        );
        assert!(!c.dry_run);
        assert_eq!(c.provisioned_set_identifier, "provisioned");
    }

    #[test]
    fn when_provisioned_weight_is_zero_should_refuse_naming_it() {
        let err = config(&[("PROVISIONED_WEIGHT", "0")]).expect_err("0 is unsafe");
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "PROVISIONED_WEIGHT",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn when_a_required_variable_is_missing_should_name_it() {
        let map: HashMap<&str, &str> = BASE[..3].iter().copied().collect();
        let err = ShiftConfig::from_lookup(|k| map.get(k).map(|v| (*v).to_owned()))
            .expect_err("CLUSTER_IDENTIFIER missing");
        assert_eq!(err, ConfigError::Missing("CLUSTER_IDENTIFIER"));
    }

    #[test]
    fn when_the_record_is_outside_the_zone_should_refuse_naming_it() {
        assert!(
            config(&[("ZONE_NAME", "orders.internal")]).is_ok(),
            "inside"
        );
        assert!(
            config(&[("ZONE_NAME", "Orders.Internal.")]).is_ok(),
            "case and dot"
        );
        for zone in ["spillway.internal", "ders.internal"] {
            let err = config(&[("ZONE_NAME", zone)]).expect_err(zone);
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "RECORD_NAME",
                        ..
                    }
                ),
                "{zone}: {err}"
            );
        }
    }

    #[test]
    fn when_dry_run_is_malformed_should_refuse() {
        assert!(config(&[("DRY_RUN", "TRUE")]).unwrap().dry_run);
        assert!(matches!(
            config(&[("DRY_RUN", "maybe")]),
            Err(ConfigError::Invalid {
                name: "DRY_RUN",
                ..
            })
        ));
    }
}
