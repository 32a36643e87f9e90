//! The pieces of configuration every Spillway binary shares: the error type and the parsers of
//! the variables' formats. Each function's own configuration (its variables, their defaults)
//! lives in that function's crate (`functions/*/src/config.rs`), read once at cold start from a
//! lookup function so tests never touch the process environment.

use std::time::Duration;

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

/// A variable's value, trimmed; `None` when unset or blank.
pub fn optional(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A required variable, trimmed.
pub fn required(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    optional(get, name).ok_or(ConfigError::Missing(name))
}

/// `METRICS_NAMESPACE` (default `Spillway`): a custom CloudWatch namespace.
pub fn namespace(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let namespace = optional(get, "METRICS_NAMESPACE").unwrap_or_else(|| "Spillway".into());
    if namespace.starts_with("AWS/") || namespace.len() > 255 || namespace.contains(':') {
        return Err(ConfigError::Invalid {
            name: "METRICS_NAMESPACE",
            value: namespace,
            expected: "a custom namespace (not AWS/…, no ':', at most 255 characters)",
        });
    }
    Ok(namespace)
}

/// `LOG_LEVEL` (or Lambda's own `AWS_LAMBDA_LOG_LEVEL`; default `info`), lowercased.
pub fn log_level(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let level = optional(get, "LOG_LEVEL")
        .or_else(|| optional(get, "AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|| "info".into())
        .to_ascii_lowercase();
    match level.as_str() {
        "error" | "warn" | "info" | "debug" | "trace" => Ok(level),
        _ => Err(ConfigError::Invalid {
            name: "LOG_LEVEL",
            value: level,
            expected: "error, warn, info, debug or trace",
        }),
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

pub fn seconds(
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

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn when_the_log_level_is_malformed_should_refuse_naming_it() {
        assert_eq!(log_level(&lookup(&[])).unwrap(), "info");
        assert_eq!(
            log_level(&lookup(&[("LOG_LEVEL", "DEBUG")])).unwrap(),
            "debug"
        );
        assert_eq!(
            log_level(&lookup(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")])).unwrap(),
            "warn"
        );
        let err = log_level(&lookup(&[("LOG_LEVEL", "verbose")])).expect_err("not a level");
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "LOG_LEVEL",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn when_the_namespace_is_reserved_or_malformed_should_refuse() {
        assert_eq!(namespace(&lookup(&[])).unwrap(), "Spillway");
        for bad in [
            &[("METRICS_NAMESPACE", "AWS/RDS")][..],
            &[("METRICS_NAMESPACE", "a:b")],
        ] {
            let vars: &'static [(&str, &str)] = Box::leak(bad.to_vec().into_boxed_slice());
            assert!(namespace(&lookup(vars)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn when_a_list_has_blanks_should_drop_them() {
        assert_eq!(list(Some(" a, ,b ,")), vec!["a", "b"]);
        assert!(list(None).is_empty());
    }
}
