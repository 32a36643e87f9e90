//! The weight-step function's configuration: read once at cold start from the environment that
//! `template.yaml` sets (README, "Configuration (weight-step function)"), into the structs the
//! step and the Route 53 adapter take as they are.

use spillway::config::{self, ConfigError};
use spillway::shifting::shift::ShiftSettings;
use spillway_aws::route53::PairLocation;

/// What the environment gives the function: the process-wide values of every request, and,
/// where it names one (`HOSTED_ZONE_ID` set), the cluster of a request that carries no
/// `settings` of its own (`sam local invoke` on `events/`, a hand-made function). The stack
/// sets none: its machines pass each execution's cluster settings.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// `METRICS_NAMESPACE` (`Spillway`).
    pub namespace: String,
    /// `LOG_LEVEL` (`info`).
    pub log_level: String,
    pub cluster: Option<ShiftConfig>,
}

impl FunctionConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let cluster = match config::optional(&get, "HOSTED_ZONE_ID") {
            Some(_) => Some(ShiftConfig::from_lookup(&get)?),
            None => None,
        };
        Ok(Self {
            namespace: config::namespace(&get)?,
            log_level: config::log_level(&get)?,
            cluster,
        })
    }
}

/// One cluster's configuration: the environment's, or a request's `settings` (same names).
#[derive(Debug, Clone)]
pub struct ShiftConfig {
    /// Where the pair lives: `HOSTED_ZONE_ID` (required), `RECORD_NAME` (required; inside
    /// `ZONE_NAME` when that is set), `PROVISIONED_SET_IDENTIFIER` (`provisioned`),
    /// `SERVERLESS_SET_IDENTIFIER` (`serverless`).
    pub location: PairLocation,
    /// How a step is made: `WEIGHT_STEP` (25), `MAX_SERVERLESS_WEIGHT` (100),
    /// `PROVISIONED_WEIGHT` (100), `SERVERLESS_INSTANCE_IDENTIFIER` (required: the Aurora
    /// Serverless v2 reader of the status guard), `DRY_RUN` (`false`), `MAX_REPLICA_LAG_MS`
    /// (1000; 0: no lag guard), `SCALE_DOWN_DELAY_SECONDS` (600; 0: none).
    pub settings: ShiftSettings,
    /// `CLUSTER_IDENTIFIER`: the `DBClusterIdentifier` dimension of the weight metrics (required).
    pub cluster: String,
    /// `METRICS_NAMESPACE` (`Spillway`).
    pub namespace: String,
}

impl ShiftConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| config::required(&get, name);
        let or = |name: &'static str, default: &str| {
            config::optional(&get, name).unwrap_or_else(|| default.to_owned())
        };
        let number = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            let v = or(name, &default.to_string());
            v.parse().map_err(|_| ConfigError::Invalid {
                name,
                value: v,
                expected: "a whole number (step 1–255, maximum 0–255, provisioned 1–255)",
            })
        };
        let step = number("WEIGHT_STEP", 25)?;
        let max = number("MAX_SERVERLESS_WEIGHT", 100)?;
        let provisioned = number("PROVISIONED_WEIGHT", 100)?;
        let policy = spillway::shifting::weights::WeightPolicy::new(step, max, provisioned)
            .map_err(|e| {
                let (name, value) = match e {
                    spillway::shifting::weights::PolicyError::Step(v) => ("WEIGHT_STEP", v),
                    spillway::shifting::weights::PolicyError::MaxServerless(v) => {
                        ("MAX_SERVERLESS_WEIGHT", v)
                    }
                    spillway::shifting::weights::PolicyError::Provisioned(v) => {
                        ("PROVISIONED_WEIGHT", v)
                    }
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
        let max_replica_lag_ms = match number("MAX_REPLICA_LAG_MS", 1000)? {
            0 => None,
            ms => Some(f64::from(ms)),
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
        if let Some(zone) = config::optional(&get, "ZONE_NAME")
            && !inside_zone(&record_name, &zone)
        {
            // Route 53 would refuse every write ("not permitted in zone"): say so at cold start.
            return Err(ConfigError::Invalid {
                name: "RECORD_NAME",
                value: record_name,
                expected: "a name inside the zone ZONE_NAME",
            });
        }
        let cluster = required("CLUSTER_IDENTIFIER")?;
        Ok(Self {
            location: PairLocation {
                hosted_zone_id: required("HOSTED_ZONE_ID")?,
                record_name,
                provisioned_set_identifier,
                serverless_set_identifier,
            },
            settings: ShiftSettings {
                policy,
                cluster: cluster.clone(),
                serverless_instance: required("SERVERLESS_INSTANCE_IDENTIFIER")?,
                dry_run,
                max_replica_lag_ms,
                scale_down_delay_s: u64::from(number("SCALE_DOWN_DELAY_SECONDS", 600)?),
            },
            cluster,
            namespace: config::namespace(&get)?,
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
mod tests {
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
                c.settings.policy.step(),
                c.settings.policy.max_serverless(),
                c.settings.policy.provisioned()
            ),
            (25, 100, 100)
        );
        assert!(!c.settings.dry_run);
        assert_eq!(c.location.provisioned_set_identifier, "provisioned");
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
    fn the_function_needs_no_cluster_in_its_environment() {
        let none = FunctionConfig::from_lookup(|_| None).unwrap();
        assert!(none.cluster.is_none());
        assert_eq!(
            (none.namespace.as_str(), none.log_level.as_str()),
            ("Spillway", "info")
        );
        let map: HashMap<&str, &str> = BASE.iter().copied().collect();
        let one = FunctionConfig::from_lookup(|k| map.get(k).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(one.cluster.unwrap().cluster, "orders");
        // A half-configured cluster is refused, naming what is missing.
        let err = FunctionConfig::from_lookup(|k| (k == "HOSTED_ZONE_ID").then(|| "Z1".into()))
            .unwrap_err();
        assert_eq!(err, ConfigError::Missing("RECORD_NAME"));
    }

    #[test]
    fn when_dry_run_is_malformed_should_refuse() {
        assert!(config(&[("DRY_RUN", "TRUE")]).unwrap().settings.dry_run);
        assert!(matches!(
            config(&[("DRY_RUN", "maybe")]),
            Err(ConfigError::Invalid {
                name: "DRY_RUN",
                ..
            })
        ));
    }
}
