//! CloudWatch Embedded Metric Format documents, one compact JSON object per line.
//!
//! Written here rather than with a crate: `metrics_cloudwatch_embedded` 0.10 cannot set a
//! per-document `Timestamp`, and `metrique-writer-format-emf` (which does expose
//! `HighStorageResolution`) brings a large pre-1.0 framework for what is a small serde mapping.
//! The limits are those of the EMF specification; a document that would break one is refused
//! with [`EmfError`] instead of being written and silently dropped by CloudWatch.

use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

/// Metrics in one `CloudWatchMetrics` directive.
pub const MAX_METRICS: usize = 100;
/// Values in one metric's value array.
pub const MAX_VALUES: usize = 100;
/// Keys in one dimension set.
pub const MAX_DIMENSION_KEYS: usize = 30;
/// How far in the past a `Timestamp` may be (14 days).
pub const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
/// How far in the future a `Timestamp` may be (2 hours).
pub const MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;
/// The size of one EMF event.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// The unit of a metric; only those Spillway publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Percent => "Percent",
            Self::None => "None",
        }
    }
}

/// One metric of a document, with one value or a value array.
#[derive(Debug, Clone)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub unit: Unit,
    /// High resolution (1 s) when true, standard (60 s) otherwise.
    pub high_resolution: bool,
    pub values: &'a [f64],
}

/// One EMF document: a namespace, one dimension set, metrics and plain properties.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    pub namespace: &'a str,
    pub timestamp_ms: i64,
    /// The dimension set, in order: (name, value).
    pub dimensions: &'a [(&'a str, &'a str)],
    pub metrics: &'a [Metric<'a>],
    /// Searchable properties that are not dimensions (e.g. `DBInstanceIdentifier`).
    pub properties: &'a [(&'a str, &'a str)],
}

/// Why a document was not written.
#[derive(Debug, thiserror::Error)]
pub enum EmfError {
    #[error("{0} metrics in one directive (at most {MAX_METRICS})")]
    TooManyMetrics(usize),
    #[error("metric `{0}` has {1} values (1 to {MAX_VALUES})")]
    ValueCount(String, usize),
    #[error("metric `{0}` has a value that is not finite")]
    NotFinite(String),
    #[error("{0} dimension keys (1 to {MAX_DIMENSION_KEYS})")]
    DimensionKeys(usize),
    #[error("the document is {0} bytes (at most {MAX_DOCUMENT_BYTES})")]
    TooLarge(usize),
    #[error("writing the document failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a timestamp stands against EMF's accepted window around `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Inside,
    TooOld,
    TooFarAhead,
}

/// Whether CloudWatch accepts a `Timestamp` of `timestamp_ms` at `now_ms`.
pub fn window(timestamp_ms: i64, now_ms: i64) -> Window {
    if timestamp_ms < now_ms - MAX_AGE_MS {
        Window::TooOld
    } else if timestamp_ms > now_ms + MAX_AHEAD_MS {
        Window::TooFarAhead
    } else {
        Window::Inside
    }
}

/// Checks the limits and writes the document as one line. `scratch` is reused between calls so
/// the hot path does not allocate per document.
pub fn write_line(
    out: &mut impl Write,
    doc: &Document<'_>,
    scratch: &mut Vec<u8>,
) -> Result<(), EmfError> {
    if doc.metrics.len() > MAX_METRICS {
        return Err(EmfError::TooManyMetrics(doc.metrics.len()));
    }
    if doc.dimensions.is_empty() || doc.dimensions.len() > MAX_DIMENSION_KEYS {
        return Err(EmfError::DimensionKeys(doc.dimensions.len()));
    }
    for m in doc.metrics {
        if m.values.is_empty() || m.values.len() > MAX_VALUES {
            return Err(EmfError::ValueCount(m.name.to_owned(), m.values.len()));
        }
        if m.values.iter().any(|v| !v.is_finite()) {
            return Err(EmfError::NotFinite(m.name.to_owned()));
        }
    }
    scratch.clear();
    serde_json::to_writer(&mut *scratch, &DocumentSer(doc)).map_err(std::io::Error::from)?;
    if scratch.len() > MAX_DOCUMENT_BYTES {
        return Err(EmfError::TooLarge(scratch.len()));
    }
    scratch.push(b'\n');
    out.write_all(scratch)?;
    Ok(())
}

struct DocumentSer<'a>(&'a Document<'a>);

impl Serialize for DocumentSer<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("_aws", &Aws(d))?;
        for (name, value) in d.dimensions {
            map.serialize_entry(name, value)?;
        }
        for m in d.metrics {
            if let [one] = m.values {
                map.serialize_entry(m.name, one)?;
            } else {
                map.serialize_entry(m.name, m.values)?;
            }
        }
        for (name, value) in d.properties {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

struct Aws<'a>(&'a Document<'a>);

impl Serialize for Aws<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("Timestamp", &self.0.timestamp_ms)?;
        map.serialize_entry("CloudWatchMetrics", &[Directive(self.0)])?;
        map.end()
    }
}

struct Directive<'a>(&'a Document<'a>);

impl Serialize for Directive<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("Namespace", d.namespace)?;
        map.serialize_entry("Dimensions", &[DimensionKeys(d.dimensions)])?;
        map.serialize_entry("Metrics", &MetricDefs(d.metrics))?;
        map.end()
    }
}

struct DimensionKeys<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for DimensionKeys<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (name, _) in self.0 {
            seq.serialize_element(name)?;
        }
        seq.end()
    }
}

struct MetricDefs<'a>(&'a [Metric<'a>]);

impl Serialize for MetricDefs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for m in self.0 {
            seq.serialize_element(&MetricDef(m))?;
        }
        seq.end()
    }
}

struct MetricDef<'a>(&'a Metric<'a>);

impl Serialize for MetricDef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("Name", self.0.name)?;
        map.serialize_entry("Unit", self.0.unit.as_str())?;
        map.serialize_entry(
            "StorageResolution",
            &(if self.0.high_resolution { 1 } else { 60 }),
        )?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn written(doc: &Document<'_>) -> Result<Value, EmfError> {
        let mut out = Vec::new();
        write_line(&mut out, doc, &mut Vec::new())?;
        assert_eq!(out.last(), Some(&b'\n'), "a document ends its line");
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            1,
            "a document is exactly one line"
        );
        Ok(serde_json::from_slice(&out).expect("EMF output is JSON"))
    }

    fn cpu_metric(values: &[f64]) -> Metric<'_> {
        Metric {
            name: "CPUUtilization",
            unit: Unit::Percent,
            high_resolution: true,
            values,
        }
    }

    #[test]
    fn when_one_value_should_write_the_whole_contract() {
        let metrics = [cpu_metric(&[42.5])];
        let doc = Document {
            namespace: "Spillway",
            timestamp_ms: 1_795_341_601_000,
            dimensions: &[
                ("DBClusterIdentifier", "orders"),
                ("Role", "provisioned-reader"),
            ],
            metrics: &metrics,
            properties: &[("DBInstanceIdentifier", "orders-r1")],
        };
        assert_eq!(
            written(&doc).expect("valid document"),
            json!({
                "_aws": {
                    "Timestamp": 1_795_341_601_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Spillway",
                        "Dimensions": [["DBClusterIdentifier", "Role"]],
                        "Metrics": [{"Name": "CPUUtilization", "Unit": "Percent", "StorageResolution": 1}]
                    }]
                },
                "DBClusterIdentifier": "orders",
                "Role": "provisioned-reader",
                "CPUUtilization": 42.5,
                "DBInstanceIdentifier": "orders-r1"
            })
        );
    }

    #[test]
    fn when_values_are_99_100_101_should_accept_up_to_100() {
        for (n, ok) in [(99, true), (100, true), (101, false)] {
            let values = vec![1.0; n];
            let metrics = [cpu_metric(&values)];
            let doc = Document {
                namespace: "Spillway",
                timestamp_ms: 0,
                dimensions: &[("DBClusterIdentifier", "c")],
                metrics: &metrics,
                properties: &[],
            };
            let got = written(&doc);
            assert_eq!(got.is_ok(), ok, "{n} values: accepted must be {ok}");
            if let Ok(v) = got {
                assert_eq!(
                    v["CPUUtilization"].as_array().map(Vec::len),
                    Some(n),
                    "a value array of {n}"
                );
            }
        }
    }

    #[test]
    fn when_metrics_are_99_100_101_should_accept_up_to_100() {
        let names: Vec<String> = (0..101).map(|i| format!("M{i}")).collect();
        for (n, ok) in [(99, true), (100, true), (101, false)] {
            let metrics: Vec<Metric<'_>> = names[..n]
                .iter()
                .map(|name| Metric {
                    name,
                    unit: Unit::None,
                    high_resolution: true,
                    values: &[1.0],
                })
                .collect();
            let doc = Document {
                namespace: "Spillway",
                timestamp_ms: 0,
                dimensions: &[("DBClusterIdentifier", "c")],
                metrics: &metrics,
                properties: &[],
            };
            let got = written(&doc);
            assert_eq!(got.is_ok(), ok, "{n} metrics: accepted must be {ok}");
            if let Ok(v) = got {
                assert_eq!(
                    v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                        .as_array()
                        .map(Vec::len),
                    Some(n)
                );
            }
        }
    }

    #[test]
    fn when_dimension_keys_are_0_30_31_should_accept_1_to_30() {
        let keys: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
        for (n, ok) in [(0, false), (1, true), (30, true), (31, false)] {
            let dims: Vec<(&str, &str)> = keys[..n].iter().map(|k| (k.as_str(), "v")).collect();
            let metrics = [cpu_metric(&[1.0])];
            let doc = Document {
                namespace: "Spillway",
                timestamp_ms: 0,
                dimensions: &dims,
                metrics: &metrics,
                properties: &[],
            };
            assert_eq!(written(&doc).is_ok(), ok, "{n} dimension keys");
        }
    }

    #[test]
    fn when_value_is_not_finite_should_refuse() {
        let metrics = [cpu_metric(&[f64::NAN])];
        let doc = Document {
            namespace: "Spillway",
            timestamp_ms: 0,
            dimensions: &[("DBClusterIdentifier", "c")],
            metrics: &metrics,
            properties: &[],
        };
        assert!(matches!(written(&doc), Err(EmfError::NotFinite(_))));
    }

    #[test]
    fn when_timestamp_is_at_the_window_edges_should_classify_it() {
        let now = 1_795_341_601_000;
        assert_eq!(window(now - MAX_AGE_MS, now), Window::Inside);
        assert_eq!(window(now - MAX_AGE_MS - 1, now), Window::TooOld);
        assert_eq!(window(now + MAX_AHEAD_MS, now), Window::Inside);
        assert_eq!(window(now + MAX_AHEAD_MS + 1, now), Window::TooFarAhead);
    }
}
