//! The event plan: what an announced sale needs from the cluster, and when (issue 8's first
//! piece; the Prepare / Recover machines and the scheduler are not built yet).
//!
//! A plan is a small JSON document (schema: `event-plan.schema.json` beside this file, held to this
//! validator by a test). [`parse`] reads it and reports **every** wrong field at once, each
//! with its own message, instead of stopping at the first (serde's `deny_unknown_fields`
//! names only one): an operator preparing a sale at night fixes the file in one pass.
//!
//! Times carry their zone as an RFC 3339 offset (`2026-12-12T20:00:00+01:00`, or `Z`): the
//! instant is unambiguous, and the scheduler can write EventBridge Scheduler's `at(...)` in
//! UTC from it.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde_json::{Map, Value};

/// What becomes of the writer the event's writer replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OldWriter {
    /// Kept as a tier-15 reader during the event (the failback target).
    KeepAsReader,
    /// Deleted once the new writer is in place; Recover creates the original class again.
    Remove,
}

/// The serverless reader's capacity range, in ACUs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AcuRange {
    pub min: f64,
    pub max: f64,
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPlan {
    pub cluster: String,
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    /// Prepare starts this long before `start`.
    pub lead_minutes: u32,
    /// The writer's class during the event; `None`: the writer is not changed.
    pub writer_class: Option<String>,
    pub old_writer: OldWriter,
    /// Provisioned readers (the serverless reader not counted) during the event.
    pub provisioned_readers: u32,
    /// The serverless reader's range during the event (a higher minimum pre-warms it).
    pub serverless_acu: AcuRange,
    /// The serverless weight set once Prepare is done; `None`: left to the loops.
    pub starting_serverless_weight: Option<u16>,
    /// Recover starts this long after `end`.
    pub hold_minutes: u32,
}

/// One wrong field: its name (a JSON pointer-like path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every field the plan knows (the schema's `properties`, checked by a test).
pub const FIELDS: &[&str] = &[
    "cluster",
    "start",
    "end",
    "leadMinutes",
    "writerClass",
    "oldWriter",
    "provisionedReaders",
    "serverlessAcu",
    "startingServerlessWeight",
    "holdMinutes",
];

/// The fields a plan must have.
pub const REQUIRED: &[&str] = &[
    "cluster",
    "start",
    "end",
    "provisionedReaders",
    "serverlessAcu",
];

pub const DEFAULT_LEAD_MINUTES: u32 = 10;
pub const DEFAULT_HOLD_MINUTES: u32 = 30;
/// Lead time bounds: a new instance takes about 7 minutes, a failover seconds; a day ahead is
/// the most a plan may prepare (the ACUs and instances are billed from Prepare on).
pub const LEAD_MINUTES: (u32, u32) = (5, 1440);
pub const HOLD_MINUTES: (u32, u32) = (0, 1440);
/// The template's `ReaderCount` bounds for provisioned readers.
pub const PROVISIONED_READERS: (u32, u32) = (1, 14);
/// Aurora Serverless v2: 0.5 ACU steps up to 256; a minimum of 0 would let it auto-pause.
pub const ACU: (f64, f64) = (0.5, 256.0);

/// Reads a plan from JSON text; every wrong field is reported.
pub fn parse(text: &str) -> Result<EventPlan, Vec<FieldError>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![FieldError {
            field: "(document)".into(),
            message: format!("not JSON: {e}"),
        }]
    })?;
    let Value::Object(doc) = value else {
        return Err(vec![FieldError {
            field: "(document)".into(),
            message: "must be a JSON object".into(),
        }]);
    };
    validate(&doc)
}

fn validate(doc: &Map<String, Value>) -> Result<EventPlan, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    for key in doc.keys() {
        if !FIELDS.contains(&key.as_str()) {
            err(key, format!("unknown field (known: {})", FIELDS.join(", ")));
        }
    }
    for key in REQUIRED {
        if !doc.contains_key(*key) {
            err(key, "required".into());
        }
    }
    let cluster = doc.get("cluster").and_then(|v| match v.as_str() {
        Some(s) if valid_identifier(s) => Some(s.to_owned()),
        _ => {
            err(
                "cluster",
                "an Aurora cluster identifier: 1–63 letters, digits or hyphens, starting with a letter, no two hyphens in a row, not ending in one".into(),
            );
            None
        }
    });
    let mut time = |field: &str| {
        doc.get(field)
            .and_then(|v| match v.as_str().map(DateTime::parse_from_rfc3339) {
                Some(Ok(t)) => Some(t),
                _ => {
                    err(
                        field,
                        "an RFC 3339 time with its zone offset, e.g. 2026-12-12T20:00:00+01:00"
                            .into(),
                    );
                    None
                }
            })
    };
    let start = time("start");
    let end = time("end");
    let mut whole = |field: &str, (lo, hi): (u32, u32), default: Option<u32>| match doc.get(field) {
        None => default,
        Some(v) => match v.as_u64() {
            Some(n) if (u64::from(lo)..=u64::from(hi)).contains(&n) => Some(n as u32),
            _ => {
                err(field, format!("a whole number from {lo} to {hi}"));
                None
            }
        },
    };
    let lead = whole("leadMinutes", LEAD_MINUTES, Some(DEFAULT_LEAD_MINUTES));
    let hold = whole("holdMinutes", HOLD_MINUTES, Some(DEFAULT_HOLD_MINUTES));
    let readers = whole("provisionedReaders", PROVISIONED_READERS, None);
    let weight = whole("startingServerlessWeight", (0, 255), None);
    let writer_class = match doc.get("writerClass") {
        None => Some(None),
        Some(v) => match v.as_str() {
            Some(c) if valid_class(c) => Some(Some(c.to_owned())),
            _ => {
                err(
                    "writerClass",
                    "a DB instance class such as db.r6g.4xlarge (not db.serverless: the writer stays provisioned)".into(),
                );
                None
            }
        },
    };
    let old_writer = match doc.get("oldWriter").map(|v| v.as_str()) {
        None | Some(Some("keep-as-reader")) => Some(OldWriter::KeepAsReader),
        Some(Some("remove")) => Some(OldWriter::Remove),
        Some(_) => {
            err("oldWriter", "\"keep-as-reader\" or \"remove\"".into());
            None
        }
    };
    let acu = doc
        .get("serverlessAcu")
        .and_then(|v| acu_range(v, &mut err));
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        err("end", format!("must be after start ({s})"));
    }
    if doc.contains_key("oldWriter") && doc.get("writerClass").is_none() {
        err(
            "oldWriter",
            "only with writerClass: without a new writer there is no old one".into(),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    match (
        cluster,
        start,
        end,
        lead,
        writer_class,
        old_writer,
        readers,
        acu,
        hold,
    ) {
        (
            Some(cluster),
            Some(start),
            Some(end),
            Some(lead_minutes),
            Some(writer_class),
            Some(old_writer),
            Some(provisioned_readers),
            Some(serverless_acu),
            Some(hold_minutes),
        ) => Ok(EventPlan {
            cluster,
            start,
            end,
            lead_minutes,
            writer_class,
            old_writer,
            provisioned_readers,
            serverless_acu,
            starting_serverless_weight: weight.map(|w| w as u16),
            hold_minutes,
        }),
        // Every None above pushed an error, so this is unreachable with no errors; say so
        // rather than panic.
        _ => Err(vec![FieldError {
            field: "(document)".into(),
            message: "incomplete plan".into(),
        }]),
    }
}

fn acu_range(v: &Value, err: &mut impl FnMut(&str, String)) -> Option<AcuRange> {
    let Some(obj) = v.as_object() else {
        err("serverlessAcu", "an object {\"min\": …, \"max\": …}".into());
        return None;
    };
    let mut bad = false;
    for key in obj.keys() {
        if key != "min" && key != "max" {
            err(
                &format!("serverlessAcu.{key}"),
                "unknown field (known: min, max)".into(),
            );
            bad = true;
        }
    }
    let mut one = |name: &str| {
        let field = format!("serverlessAcu.{name}");
        match obj.get(name).and_then(Value::as_f64) {
            Some(x) if (ACU.0..=ACU.1).contains(&x) && (x * 2.0).fract() == 0.0 => Some(x),
            Some(_) => {
                err(
                    &field,
                    format!(
                        "ACUs from {} to {} in steps of 0.5 (0 would let the reader auto-pause)",
                        ACU.0, ACU.1
                    ),
                );
                None
            }
            None => {
                err(&field, "required, a number of ACUs".into());
                None
            }
        }
    };
    let (min, max) = (one("min"), one("max"));
    match (min, max) {
        (Some(min), Some(max)) if max < min => {
            err("serverlessAcu.max", format!("must be at least min ({min})"));
            None
        }
        // ServerlessV2ScalingConfiguration: "The maximum capacity must be higher than 0.5
        // ACUs" (AWS::RDS::DBCluster); ModifyDBCluster refuses it.
        (Some(_), Some(max)) if max < 1.0 => {
            err(
                "serverlessAcu.max",
                "must be at least 1 (RDS refuses a maximum of 0.5 ACU)".into(),
            );
            None
        }
        (Some(min), Some(max)) if !bad => Some(AcuRange { min, max }),
        _ => None,
    }
}

/// RDS identifier rules (CreateDBCluster's `DBClusterIdentifier`).
fn valid_identifier(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.contains("--")
        && !s.ends_with('-')
}

/// `db.<family>.<size>`, lower case; whether the engine offers it is a question for RDS
/// (`DescribeOrderableDBInstanceOptions`), asked before Prepare changes anything.
fn valid_class(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0] == "db"
        && parts[1] != "serverless"
        && parts[1..].iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

impl EventPlan {
    /// When Prepare starts (start − lead) and when Recover starts (end + hold).
    pub fn schedule(&self) -> (DateTime<FixedOffset>, DateTime<FixedOffset>) {
        (
            self.start - chrono::Duration::minutes(i64::from(self.lead_minutes)),
            self.end + chrono::Duration::minutes(i64::from(self.hold_minutes)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "cluster": "orders",
            "start": "2026-12-12T20:00:00+01:00",
            "end": "2026-12-12T23:00:00+01:00",
            "writerClass": "db.r6g.4xlarge",
            "provisionedReaders": 6,
            "serverlessAcu": {"min": 8, "max": 64},
            "startingServerlessWeight": 25
        })
    }

    fn errors(v: Value) -> Vec<String> {
        parse(&v.to_string())
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn when_the_plan_is_right_should_apply_the_defaults_and_schedule_both_machines() {
        let p = parse(&good().to_string()).expect("valid");
        assert_eq!(
            (p.lead_minutes, p.hold_minutes, p.old_writer),
            (10, 30, OldWriter::KeepAsReader)
        );
        assert_eq!(
            p.serverless_acu,
            AcuRange {
                min: 8.0,
                max: 64.0
            }
        );
        let (prepare, recover) = p.schedule();
        assert_eq!(prepare.to_rfc3339(), "2026-12-12T19:50:00+01:00");
        assert_eq!(recover.to_rfc3339(), "2026-12-12T23:30:00+01:00");
        assert_eq!(
            prepare.with_timezone(&chrono::Utc).to_rfc3339(),
            "2026-12-12T18:50:00+00:00"
        );
    }

    #[test]
    fn when_many_fields_are_wrong_should_name_each_one() {
        let mut v = good();
        v["cluster"] = json!("Orders--1");
        v["start"] = json!("2026-12-12 20:00");
        v["leadMinutes"] = json!(2);
        v["writerClass"] = json!("db.serverless");
        v["provisionedReaders"] = json!(0);
        v["serverlessAcu"] = json!({"min": 0, "max": 300.25, "maximum": 4});
        v["startingServerlessWeight"] = json!(-1);
        v["holdMinutes"] = json!("thirty");
        v["oldWriter"] = json!("delete");
        v["colour"] = json!("red");
        let got = errors(v);
        let fields: Vec<&str> = got.iter().map(|e| e.split(':').next().unwrap()).collect();
        for f in [
            "cluster",
            "start",
            "leadMinutes",
            "writerClass",
            "provisionedReaders",
            "serverlessAcu.min",
            "serverlessAcu.max",
            "serverlessAcu.maximum",
            "startingServerlessWeight",
            "holdMinutes",
            "oldWriter",
            "colour",
        ] {
            assert!(fields.contains(&f), "{f} not reported: {got:#?}");
        }
        assert_eq!(got.len(), 12, "one error per wrong field: {got:#?}");
    }

    #[test]
    fn when_fields_disagree_or_are_missing_should_say_which() {
        let mut v = good();
        v["end"] = v["start"].clone();
        v["serverlessAcu"] = json!({"min": 16, "max": 8});
        let got = errors(v);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got.iter()
                .any(|e| e.starts_with("end: must be after start")),
            "{got:#?}"
        );
        let mut tiny = good();
        tiny["serverlessAcu"] = json!({"min": 0.5, "max": 0.5});
        assert_eq!(
            errors(tiny),
            ["serverlessAcu.max: must be at least 1 (RDS refuses a maximum of 0.5 ACU)"]
        );
        assert!(
            got.iter()
                .any(|e| e.starts_with("serverlessAcu.max: must be at least min (16)")),
            "{got:#?}"
        );
        let got = errors(json!({"oldWriter": "remove"}));
        for f in REQUIRED {
            assert!(got.contains(&format!("{f}: required")), "{f}: {got:#?}");
        }
        assert!(
            got.iter()
                .any(|e| e.starts_with("oldWriter: only with writerClass"))
        );
        assert_eq!(errors(json!([1]))[0], "(document): must be a JSON object");
        assert!(errors(json!("x"))[0].starts_with("(document)"));
        assert!(parse("{").unwrap_err()[0].message.starts_with("not JSON"));
    }

    #[test]
    fn the_published_schema_should_know_exactly_the_validators_fields() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/planned/event-plan.schema.json"
        );
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("JSON");
        fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
            let mut v: Vec<&str> = names.into_iter().collect();
            v.sort_unstable();
            v
        }
        let props = schema["properties"].as_object().expect("properties");
        assert_eq!(
            sorted(props.keys().map(String::as_str)),
            sorted(FIELDS.iter().copied())
        );
        let required = schema["required"].as_array().expect("required");
        assert_eq!(
            sorted(required.iter().filter_map(Value::as_str)),
            sorted(REQUIRED.iter().copied())
        );
        assert_eq!(schema["additionalProperties"], json!(false));
        // and its bounds are the validator's
        let p = &schema["properties"];
        assert_eq!(p["leadMinutes"]["minimum"], json!(LEAD_MINUTES.0));
        assert_eq!(p["leadMinutes"]["maximum"], json!(LEAD_MINUTES.1));
        assert_eq!(p["leadMinutes"]["default"], json!(DEFAULT_LEAD_MINUTES));
        assert_eq!(p["holdMinutes"]["default"], json!(DEFAULT_HOLD_MINUTES));
        assert_eq!(
            p["provisionedReaders"]["minimum"],
            json!(PROVISIONED_READERS.0)
        );
        assert_eq!(
            p["provisionedReaders"]["maximum"],
            json!(PROVISIONED_READERS.1)
        );
        // the example in the schema is a valid plan
        let example = &schema["examples"][0];
        parse(&example.to_string()).expect("the schema's example is valid");
    }
}
