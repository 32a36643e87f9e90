//! Enhanced Monitoring documents (the `message` of an `RDSOSMetrics` log event) to [`Sample`]s.
//!
//! Reads only what Spillway needs — `engine`, `instanceID`, `instanceResourceID`, `timestamp` and
//! `cpuUtilization.total` — and tolerates every other field in any shape. These fields come first
//! in every document Enhanced Monitoring writes, so a single document is read only until all of
//! them are seen: the multi-kilobyte `processList`, `diskIO` and `fileSys` that follow are never
//! parsed. A message that holds several documents back to back (`{…}{…}`) is read in full,
//! document by document.
//!
//! Not here: which instances matter (see `topology`), or what is emitted (see `emf`).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// The Aurora engine a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Aurora MySQL (`"engine": "Aurora"`; `aurora-mysql` is accepted too).
    AuroraMySql,
    /// Aurora PostgreSQL (`"engine": "aurora-postgresql"`).
    AuroraPostgreSql,
}

impl Engine {
    fn parse(engine: &str) -> Option<Self> {
        if engine.eq_ignore_ascii_case("aurora") || engine.eq_ignore_ascii_case("aurora-mysql") {
            Some(Self::AuroraMySql)
        } else if engine.eq_ignore_ascii_case("aurora-postgresql") {
            Some(Self::AuroraPostgreSql)
        } else {
            None
        }
    }
}

/// One second of one instance's CPU, as Enhanced Monitoring reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `instanceID`: the DB instance identifier, the stable key for matching.
    pub instance_id: String,
    /// `instanceResourceID` (the `DbiResourceId`, also the log stream name), if present.
    pub resource_id: Option<String>,
    /// The sample's own time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub engine: Engine,
    /// `cpuUtilization.total`, percent, within 0–100.
    pub cpu_total: f64,
}

/// Why a document gave no sample. The `reason` strings are stable: they name the problem in
/// log lines and replay summaries.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocumentError {
    #[error("the message is not valid JSON: {0}")]
    Json(String),
    #[error("the document has no `{0}`")]
    MissingField(&'static str),
    #[error("`{field}` is not {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("`cpuUtilization.total` is {0}, outside 0–100")]
    CpuOutOfRange(f64),
    #[error("engine `{0}` is not Aurora MySQL or Aurora PostgreSQL")]
    UnsupportedEngine(String),
    #[error("timestamp `{0}` is not RFC 3339")]
    BadTimestamp(String),
}

impl DocumentError {
    /// A short stable name for the kind of problem.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Json(_) => "document_json",
            Self::MissingField(_) | Self::WrongType { .. } => "document_shape",
            Self::CpuOutOfRange(_) => "cpu_out_of_range",
            Self::UnsupportedEngine(_) => "unsupported_engine",
            Self::BadTimestamp(_) => "bad_timestamp",
        }
    }
}

/// Parses one log event message into its samples: usually one, several when documents are
/// concatenated. Each document succeeds or fails on its own; JSON too broken to find the next
/// document ends the message with one error.
pub fn parse_message(message: &str) -> Vec<Result<Sample, DocumentError>> {
    if !has_concatenated_documents(message.as_bytes()) {
        return vec![parse_single(message)];
    }
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_str(message).into_iter::<FullDocument>();
    for item in stream {
        match item {
            Ok(FullDocument(fields)) => out.push(fields.into_sample()),
            Err(e) => {
                out.push(Err(DocumentError::Json(e.to_string())));
                break;
            }
        }
    }
    out
}

/// True when a `}` is followed (after white space) by `{`, which valid single JSON never has
/// outside a string. A false positive (the pair inside a string value) only costs the slow path.
fn has_concatenated_documents(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'}', bytes).any(|at| {
        bytes[at + 1..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{')
    })
}

/// The message to sentinel an early stop: every wanted field was read.
const EARLY_STOP: &str = "\u{0}spillway: all wanted fields read";

fn parse_single(message: &str) -> Result<Sample, DocumentError> {
    let mut fields = Fields::default();
    let mut de = serde_json::Deserializer::from_str(message);
    let result = (FieldsSeed {
        fields: &mut fields,
        stop_early: true,
    })
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match result {
        Ok(()) => fields.into_sample(),
        // The early stop is an error to serde; the flag, not the message, says it was ours.
        Err(_) if fields.stopped_early => fields.into_sample(),
        Err(e) => Err(DocumentError::Json(e.to_string())),
    }
}

/// What the reader has collected from one document so far.
#[derive(Default)]
struct Fields {
    engine: Option<Result<String, ()>>,
    instance_id: Option<Result<String, ()>>,
    resource_id: Option<Result<String, ()>>,
    timestamp: Option<Result<String, ()>>,
    cpu: Option<CpuTotal>,
    /// Set when the reader stopped because every wanted field was read.
    stopped_early: bool,
}

impl Fields {
    fn complete(&self) -> bool {
        self.engine.is_some()
            && self.instance_id.is_some()
            && self.resource_id.is_some()
            && self.timestamp.is_some()
            && self.cpu.is_some()
    }

    fn into_sample(self) -> Result<Sample, DocumentError> {
        let engine = required_string(self.engine, "engine")?;
        let engine = Engine::parse(&engine).ok_or(DocumentError::UnsupportedEngine(engine))?;
        let instance_id = required_string(self.instance_id, "instanceID")?;
        let resource_id = match self.resource_id {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(())) => {
                return Err(DocumentError::WrongType {
                    field: "instanceResourceID",
                    expected: "a string",
                });
            }
        };
        let timestamp = required_string(self.timestamp, "timestamp")?;
        let timestamp_ms = chrono::DateTime::parse_from_rfc3339(&timestamp)
            .map_err(|_| DocumentError::BadTimestamp(timestamp.clone()))?
            .timestamp_millis();
        let cpu_total = match self.cpu {
            None | Some(CpuTotal::Missing) => {
                return Err(DocumentError::MissingField("cpuUtilization.total"));
            }
            Some(CpuTotal::NotANumber) => {
                return Err(DocumentError::WrongType {
                    field: "cpuUtilization.total",
                    expected: "a number",
                });
            }
            Some(CpuTotal::Value(v)) if (0.0..=100.0).contains(&v) => v,
            Some(CpuTotal::Value(v)) => return Err(DocumentError::CpuOutOfRange(v)),
        };
        Ok(Sample {
            instance_id,
            resource_id,
            timestamp_ms,
            engine,
            cpu_total,
        })
    }
}

fn required_string(
    field: Option<Result<String, ()>>,
    name: &'static str,
) -> Result<String, DocumentError> {
    match field {
        None => Err(DocumentError::MissingField(name)),
        Some(Err(())) => Err(DocumentError::WrongType {
            field: name,
            expected: "a string",
        }),
        Some(Ok(s)) => Ok(s),
    }
}

/// `cpuUtilization.total` as found.
enum CpuTotal {
    Missing,
    NotANumber,
    Value(f64),
}

/// The document keys the reader looks at; every other key is skipped unparsed.
enum Key {
    Engine,
    InstanceId,
    ResourceId,
    Timestamp,
    Cpu,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "engine" => Key::Engine,
                    "instanceID" => Key::InstanceId,
                    "instanceResourceID" => Key::ResourceId,
                    "timestamp" => Key::Timestamp,
                    "cpuUtilization" => Key::Cpu,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// A JSON value that is kept when it is a string and remembered as "wrong type" otherwise.
struct StringOrWrong(Result<String, ()>);

impl<'de> Deserialize<'de> for StringOrWrong {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrWrong;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrWrong(Ok(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(StringOrWrong(Ok(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StringOrWrong(Err(())))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StringOrWrong(Err(())))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StringOrWrong(Err(())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StringOrWrong(Err(())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(StringOrWrong(Err(())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StringOrWrong(Err(())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StringOrWrong(Err(())))
            }
        }
        d.deserialize_any(V)
    }
}

/// `cpuUtilization`: an object whose `total` is read; anything else is "not a number".
struct CpuObject(CpuTotal);

impl<'de> Deserialize<'de> for CpuObject {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CpuObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the cpuUtilization object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut total = CpuTotal::Missing;
                while let Some(key) = map.next_key::<TotalKey>()? {
                    match key {
                        TotalKey::Total => {
                            total = match map.next_value::<NumberOrWrong>()?.0 {
                                Some(v) if v.is_finite() => CpuTotal::Value(v),
                                _ => CpuTotal::NotANumber,
                            }
                        }
                        TotalKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(CpuObject(total))
            }
            // Any other shape (string, array, number, null) is skipped and reported as such.
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(CpuObject(CpuTotal::NotANumber))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(CpuObject(CpuTotal::NotANumber))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(CpuObject(CpuTotal::NotANumber))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(CpuObject(CpuTotal::NotANumber))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(CpuObject(CpuTotal::NotANumber))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(CpuObject(CpuTotal::NotANumber))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(CpuObject(CpuTotal::NotANumber))
            }
        }
        d.deserialize_any(V)
    }
}

enum TotalKey {
    Total,
    Other,
}

impl<'de> Deserialize<'de> for TotalKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TotalKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TotalKey, E> {
                Ok(if v == "total" {
                    TotalKey::Total
                } else {
                    TotalKey::Other
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// A number, or `None` for any other JSON value (which is consumed).
struct NumberOrWrong(Option<f64>);

impl<'de> Deserialize<'de> for NumberOrWrong {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumberOrWrong;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(NumberOrWrong(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumberOrWrong(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(NumberOrWrong(Some(v)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NumberOrWrong(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NumberOrWrong(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(NumberOrWrong(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(NumberOrWrong(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(NumberOrWrong(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a document's top-level object into `fields`; with `stop_early`, fails with
/// [`EARLY_STOP`] as soon as every wanted field was read, leaving the rest unparsed.
struct FieldsSeed<'f> {
    fields: &'f mut Fields,
    stop_early: bool,
}

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an Enhanced Monitoring document (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            let fields = &mut *self.fields;
            match key {
                Key::Engine => fields.engine = Some(map.next_value::<StringOrWrong>()?.0),
                Key::InstanceId => fields.instance_id = Some(map.next_value::<StringOrWrong>()?.0),
                Key::ResourceId => fields.resource_id = Some(map.next_value::<StringOrWrong>()?.0),
                Key::Timestamp => fields.timestamp = Some(map.next_value::<StringOrWrong>()?.0),
                Key::Cpu => fields.cpu = Some(map.next_value::<CpuObject>()?.0),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if self.stop_early && fields.complete() {
                fields.stopped_early = true;
                return Err(de::Error::custom(EARLY_STOP));
            }
        }
        Ok(())
    }
}

/// One whole document, read to its end (the concatenated-documents path).
struct FullDocument(Fields);

impl<'de> Deserialize<'de> for FullDocument {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fields = Fields::default();
        FieldsSeed {
            fields: &mut fields,
            stop_early: false,
        }
        .deserialize(d)?;
        Ok(FullDocument(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/enhanced-monitoring/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let pretty = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let value: serde_json::Value = serde_json::from_str(&pretty).expect("fixture is JSON");
        serde_json::to_string(&value).expect("compact JSON")
    }

    fn doc(cpu: &str) -> String {
        format!(
            r#"{{"engine":"Aurora","instanceID":"orders-r1","instanceResourceID":"db-ABC","timestamp":"2026-11-22T10:00:01Z","cpuUtilization":{cpu},"processList":[{{"vmlimit":"unlimited"}}]}}"#
        )
    }

    #[test]
    fn when_document_is_real_aurora_mysql_should_read_its_fields() {
        let samples = parse_message(&fixture("aurora-mysql-56.json"));
        assert_eq!(
            samples,
            vec![Ok(Sample {
                instance_id: "autotest-aurora-mysql-56".into(),
                resource_id: Some("db-OQT42DPIZWWQBVXQ2LH2BW3SV4".into()),
                timestamp_ms: 1_751_461_190_000,
                engine: Engine::AuroraMySql,
                cpu_total: 7.8,
            })],
            "the real Aurora MySQL capture must give exactly one sample"
        );
    }

    #[test]
    fn when_document_is_real_aurora_postgresql_should_read_its_fields() {
        let samples = parse_message(&fixture("aurora-psql-11.json"));
        assert_eq!(
            samples,
            vec![Ok(Sample {
                instance_id: "autotest-aurora-psql-11".into(),
                resource_id: Some("db-TYM5GWPPEMFCR5L6YX6ZBHUIUE".into()),
                timestamp_ms: 1_751_461_163_000,
                engine: Engine::AuroraPostgreSql,
                cpu_total: 6.6,
            })],
            "the real Aurora PostgreSQL capture must give exactly one sample"
        );
    }

    #[test]
    fn when_documents_are_concatenated_should_read_each() {
        let pg = fixture("aurora-psql-11.json");
        let my = fixture("aurora-mysql-56.json");
        let samples = parse_message(&format!("{my}\n{pg}{my}"));
        let ids: Vec<_> = samples
            .iter()
            .map(|s| s.as_ref().map(|s| s.instance_id.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![
                Ok("autotest-aurora-mysql-56"),
                Ok("autotest-aurora-psql-11"),
                Ok("autotest-aurora-mysql-56")
            ],
            "three concatenated documents must give three samples in order"
        );
    }

    #[test]
    fn when_second_concatenated_document_is_bad_should_keep_the_first() {
        let good = doc(r#"{"total":12.5}"#);
        let bad = doc(r#"{"total":"high"}"#);
        let samples = parse_message(&format!("{good}{bad}"));
        assert_eq!(samples.len(), 2, "both documents must be reported");
        assert_eq!(
            samples[0].as_ref().map(|s| s.cpu_total),
            Ok(12.5),
            "the good one is kept"
        );
        assert_eq!(
            samples[1].as_ref().map_err(DocumentError::reason),
            Err("document_shape"),
            "the bad one is named"
        );
    }

    #[test]
    fn when_cpu_is_missing_string_or_out_of_range_should_name_the_problem() {
        let cases = [
            (r#"{"idle":90.0}"#, "document_shape"),
            (r#"{"total":"NaN"}"#, "document_shape"),
            (r#"{"total":null}"#, "document_shape"),
            (r#""12""#, "document_shape"),
            (r#"{"total":100.5}"#, "cpu_out_of_range"),
            (r#"{"total":-1}"#, "cpu_out_of_range"),
        ];
        for (cpu, reason) in cases {
            let got = parse_message(&doc(cpu));
            assert_eq!(
                got.iter()
                    .map(|r| r.as_ref().map_err(DocumentError::reason).err())
                    .collect::<Vec<_>>(),
                vec![Some(reason)],
                "cpuUtilization {cpu} must be rejected as {reason}"
            );
        }
    }

    #[test]
    fn when_cpu_total_is_an_integer_should_accept_it() {
        let got = parse_message(&doc(r#"{"total":100}"#));
        assert_eq!(got[0].as_ref().map(|s| s.cpu_total), Ok(100.0));
    }

    #[test]
    fn when_document_is_sql_server_shaped_should_reject_engine() {
        let msg = r#"{"engine":"SQLServer","instanceID":"mssql-1","instanceResourceID":"db-X","timestamp":"2026-11-22T10:00:01Z","cpuUtilization":{"idle":98.1,"kern":0.5,"user":1.4}}"#;
        let got = parse_message(msg);
        assert_eq!(
            got,
            vec![Err(DocumentError::UnsupportedEngine("SQLServer".into()))]
        );
    }

    #[test]
    fn when_json_is_truncated_before_the_fields_should_fail_as_json() {
        let full = fixture("aurora-mysql-56.json");
        let cut = &full[..60];
        let got = parse_message(cut);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].as_ref().map_err(DocumentError::reason).err(),
            Some("document_json")
        );
    }

    #[test]
    fn when_message_is_not_an_object_should_fail_as_json() {
        for msg in ["", "[]", "42", "\"x\"", "not json"] {
            let got = parse_message(msg);
            assert_eq!(
                got.iter()
                    .map(|r| r.as_ref().map_err(DocumentError::reason).err())
                    .collect::<Vec<_>>(),
                vec![Some("document_json")],
                "message {msg:?} must be rejected as JSON"
            );
        }
    }

    #[test]
    fn when_timestamp_is_not_rfc3339_should_reject_it() {
        let msg = doc(r#"{"total":1}"#).replace("2026-11-22T10:00:01Z", "yesterday");
        assert_eq!(
            parse_message(&msg),
            vec![Err(DocumentError::BadTimestamp("yesterday".into()))]
        );
    }

    #[test]
    fn when_fields_come_in_another_order_should_still_read_them() {
        let msg = r#"{"processList":[{"vmlimit":5}],"cpuUtilization":{"total":3.5},"timestamp":"2026-11-22T10:00:01Z","instanceID":"a","engine":"aurora-postgresql"}"#;
        let got = parse_message(msg);
        assert_eq!(
            got,
            vec![Ok(Sample {
                instance_id: "a".into(),
                resource_id: None,
                timestamp_ms: 1_795_341_601_000,
                engine: Engine::AuroraPostgreSql,
                cpu_total: 3.5
            })]
        );
    }

    #[test]
    fn when_brace_pair_is_inside_a_string_should_still_parse_one_document() {
        let msg = doc(r#"{"total":9}"#).replace("unlimited", "}{");
        assert_eq!(parse_message(&msg).len(), 1, "one document, slow path");
        assert_eq!(
            parse_message(&msg)[0].as_ref().map(|s| s.cpu_total),
            Ok(9.0)
        );
    }
}
