//! The metrics function's configuration: read once at cold start from the environment that
//! `template.yaml` sets (README, "Configuration (metrics function)").

use serde::Deserialize;
use spillway::config::{self, ConfigError};
use spillway::metrics::topology::CacheSettings;
use spillway::shifting::trigger::{TriggerSettings, TriggerTarget};

/// Configuration of the metrics function.
#[derive(Debug, Clone, PartialEq)]
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
    /// The direct trigger; `None` when `DIRECT_TRIGGER_TARGETS` is unset or empty (off).
    pub direct: Option<DirectTrigger>,
}

/// The direct trigger's configuration: `DIRECT_TRIGGER_TARGETS`, a JSON list of
/// `{"cluster", "stateMachineArn", "highCpuThreshold"}` (each cluster one of
/// `CLUSTER_IDENTIFIERS`, at most once), `DIRECT_TRIGGER_SECONDS` (3, at least 2),
/// `DIRECT_TRIGGER_MAX_AGE_SECONDS` (30), `DIRECT_TRIGGER_WINDOW_SECONDS` (300).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectTrigger {
    pub settings: TriggerSettings,
    pub targets: Vec<TriggerTarget>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TargetDocument {
    cluster: String,
    state_machine_arn: String,
    high_cpu_threshold: f64,
}

fn direct_trigger(
    get: &impl Fn(&str) -> Option<String>,
    clusters: &[String],
) -> Result<Option<DirectTrigger>, ConfigError> {
    const TARGETS: &str = "DIRECT_TRIGGER_TARGETS";
    let Some(text) = config::optional(get, TARGETS) else {
        return Ok(None);
    };
    let invalid = |expected: &'static str| ConfigError::Invalid {
        name: TARGETS,
        value: text.clone(),
        expected,
    };
    let documents: Vec<TargetDocument> = serde_json::from_str(&text).map_err(|_| {
        invalid(r#"a JSON list of {"cluster", "stateMachineArn", "highCpuThreshold"}"#)
    })?;
    let mut targets: Vec<TriggerTarget> = Vec::with_capacity(documents.len());
    for d in documents {
        if !clusters.contains(&d.cluster) {
            return Err(invalid("clusters that CLUSTER_IDENTIFIERS watches"));
        }
        if targets.iter().any(|t| t.cluster == d.cluster) {
            return Err(invalid("each cluster at most once"));
        }
        if !d.state_machine_arn.starts_with("arn:")
            || !d.state_machine_arn.contains(":stateMachine:")
        {
            return Err(invalid("state machine ARNs (arn:…:stateMachine:…)"));
        }
        if !(d.high_cpu_threshold > 0.0 && d.high_cpu_threshold < 100.0) {
            return Err(invalid("thresholds above 0 and below 100 (% CPU)"));
        }
        targets.push(TriggerTarget {
            cluster: d.cluster,
            state_machine_arn: d.state_machine_arn,
            high_cpu_threshold: d.high_cpu_threshold,
        });
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let defaults = TriggerSettings::default();
    let whole =
        |name: &'static str, default: u32, range: std::ops::RangeInclusive<u32>, expected| {
            match config::optional(get, name) {
                None => Ok(default),
                Some(v) => v.parse::<u32>().ok().filter(|n| range.contains(n)).ok_or(
                    ConfigError::Invalid {
                        name,
                        value: v,
                        expected,
                    },
                ),
            }
        };
    let settings = TriggerSettings {
        debounce: whole(
            "DIRECT_TRIGGER_SECONDS",
            defaults.debounce,
            2..=60,
            "whole seconds from 2 to 60 (one hot second never starts anything)",
        )?,
        max_age: whole(
            "DIRECT_TRIGGER_MAX_AGE_SECONDS",
            defaults.max_age,
            1..=600,
            "whole seconds from 1 to 600",
        )?,
        window: whole(
            "DIRECT_TRIGGER_WINDOW_SECONDS",
            defaults.window,
            60..=3600,
            "whole seconds from 60 to 3600",
        )?,
    };
    Ok(Some(DirectTrigger { settings, targets }))
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
        let direct = direct_trigger(&get, &clusters)?;
        Ok(Self {
            clusters,
            namespace,
            available_statuses,
            cache,
            log_level: config::log_level(&get)?,
            direct,
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
                direct: None,
            }
        );
    }

    const ARN: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:s-scale-up";

    fn targets(json: &str) -> Result<MetricsConfig, ConfigError> {
        let map: HashMap<String, String> = [
            ("CLUSTER_IDENTIFIERS", "orders,tickets"),
            ("DIRECT_TRIGGER_TARGETS", json),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        MetricsConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn when_direct_trigger_targets_are_set_should_read_them_with_the_defaults() {
        let c = targets(&format!(
            r#"[{{"cluster":"orders","stateMachineArn":"{ARN}","highCpuThreshold":70}}]"#
        ))
        .expect("valid");
        let d = c.direct.expect("on");
        assert_eq!(d.settings, TriggerSettings::default());
        assert_eq!(d.targets[0].cluster, "orders");
        assert_eq!(d.targets[0].high_cpu_threshold, 70.0);
        assert_eq!(targets("").unwrap().direct, None, "empty: off");
        assert_eq!(targets("[]").unwrap().direct, None, "no target: off");
    }

    #[test]
    fn when_direct_trigger_targets_are_wrong_should_say_what_is_expected() {
        let one = |cluster: &str, arn: &str, t: f64| {
            format!(r#"{{"cluster":"{cluster}","stateMachineArn":"{arn}","highCpuThreshold":{t}}}"#)
        };
        let cases = [
            ("not json".to_owned(), "a JSON list"),
            (
                format!("[{}]", one("payments", ARN, 70.0)),
                "CLUSTER_IDENTIFIERS",
            ),
            (
                format!(
                    "[{},{}]",
                    one("orders", ARN, 70.0),
                    one("orders", ARN, 80.0)
                ),
                "at most once",
            ),
            (format!("[{}]", one("orders", "scale-up", 70.0)), "ARNs"),
            (format!("[{}]", one("orders", ARN, 100.0)), "below 100"),
            (r#"[{"cluster":"orders"}]"#.to_owned(), "a JSON list"),
        ];
        for (json, expected) in cases {
            let err = targets(&json).expect_err(&json);
            assert!(
                err.to_string().contains("DIRECT_TRIGGER_TARGETS")
                    && err.to_string().contains(expected),
                "{json}: {err}"
            );
        }
        let map: HashMap<String, String> = [
            ("CLUSTER_IDENTIFIERS", "orders"),
            (
                "DIRECT_TRIGGER_TARGETS",
                r#"[{"cluster":"orders","stateMachineArn":"arn:aws:states:us-east-1:1:stateMachine:x","highCpuThreshold":70}]"#,
            ),
            ("DIRECT_TRIGGER_SECONDS", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let err = MetricsConfig::from_lookup(|k| map.get(k).cloned()).expect_err("1 s");
        assert!(err.to_string().contains("DIRECT_TRIGGER_SECONDS"), "{err}");
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
