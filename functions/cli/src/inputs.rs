//! Recorded log batches from files: subscription event files, JSON-lines files of them,
//! directories of either, and CloudWatch Logs exports (`aws logs filter-log-events` or
//! `get-log-events` JSON output).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use spillway::metrics::subscription::{self, DecodeError, LogBatch, LogRecord};

/// A file that could not be read as a whole.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no such file or directory")]
    Missing(PathBuf),
}

/// Every file named by `inputs`, directories walked recursively (`.json`, `.jsonl`, `.ndjson`),
/// in name order so a replay is deterministic.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut files)?;
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(InputError::Missing(input.clone()));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io = |source| InputError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        // A symlinked directory is not followed: a link back up would walk forever.
        let linked_dir = path.is_symlink() && path.is_dir();
        if linked_dir {
            tracing::warn!(path = %path.display(), "skipped a symlinked directory");
        } else if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "json" | "jsonl" | "ndjson"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// One item a file yielded: a decoded batch, or the problem with one part of the file.
pub type Item = Result<LogBatch, ItemError>;

/// A part of a file that gave no batch.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("line {line}: {source}")]
    Decode {
        line: usize,
        #[source]
        source: DecodeError,
    },
    #[error("line {line}: not a subscription event nor a CloudWatch Logs export: {detail}")]
    Unrecognised { line: usize, detail: String },
}

impl ItemError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Decode { source, .. } => source.reason(),
            Self::Unrecognised { .. } => "unrecognised_input",
        }
    }
}

/// An event of a CloudWatch Logs export.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportedEvent {
    #[serde(default)]
    log_stream_name: String,
    #[serde(default)]
    timestamp: i64,
    message: String,
    #[serde(default)]
    event_id: String,
}

#[derive(Debug, Deserialize)]
struct Export {
    events: Vec<ExportedEvent>,
}

/// Reads the batches of one file's text.
pub fn parse(text: &str) -> Vec<Item> {
    // A whole-file JSON value first (a pretty-printed event or an export), else JSON lines.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return from_value(value, 1);
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .flat_map(
            |(i, l)| match serde_json::from_str::<serde_json::Value>(l) {
                Ok(v) => from_value(v, i + 1),
                Err(e) => vec![Err(ItemError::Unrecognised {
                    line: i + 1,
                    detail: e.to_string(),
                })],
            },
        )
        .collect()
}

fn from_value(value: serde_json::Value, line: usize) -> Vec<Item> {
    if value.get("awslogs").is_some() {
        let batch =
            subscription::decode_value(value).map_err(|source| ItemError::Decode { line, source });
        return vec![batch];
    }
    if value.get("events").is_some_and(|e| e.is_array()) {
        return match serde_json::from_value::<Export>(value) {
            Ok(export) => from_export(export),
            Err(e) => vec![Err(ItemError::Unrecognised {
                line,
                detail: e.to_string(),
            })],
        };
    }
    vec![Err(ItemError::Unrecognised {
        line,
        detail: "expected an object with `awslogs` or `events`".into(),
    })]
}

/// Groups an export's events into batches of consecutive events of one log stream, as a
/// subscription would have delivered them.
fn from_export(export: Export) -> Vec<Item> {
    let mut batches: Vec<LogBatch> = Vec::new();
    for e in export.events {
        let record = LogRecord {
            id: e.event_id,
            timestamp: e.timestamp,
            message: e.message,
        };
        match batches.last_mut() {
            Some(b) if b.log_stream == e.log_stream_name => b.log_events.push(record),
            _ => batches.push(LogBatch {
                owner: String::new(),
                log_group: "RDSOSMetrics".into(),
                log_stream: e.log_stream_name,
                message_type: "DATA_MESSAGE".into(),
                log_events: vec![record],
            }),
        }
    }
    batches.into_iter().map(Ok).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(stream: &str, messages: &[&str]) -> String {
        subscription::encode_event(&json!({
            "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "RDSOSMetrics",
            "logStream": stream, "subscriptionFilters": [],
            "logEvents": messages.iter().enumerate()
                .map(|(i, m)| json!({"id": i.to_string(), "timestamp": 0, "message": m}))
                .collect::<Vec<_>>()
        }))
    }

    #[test]
    fn when_file_is_one_pretty_event_should_give_one_batch() {
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&envelope("db-A", &["{}"])).unwrap(),
        )
        .unwrap();
        let items = parse(&pretty);
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].as_ref().map(|b| b.log_stream.as_str()).ok(),
            Some("db-A")
        );
    }

    #[test]
    fn when_file_is_json_lines_should_give_a_batch_per_line_and_name_bad_lines() {
        let text = format!(
            "{}\n\n{}\n{{\"awslogs\":{{\"data\":\"!!\"}}}}\nnot json\n",
            envelope("db-A", &["{}"]),
            envelope("db-B", &["{}", "{}"])
        );
        let items = parse(&text);
        let streams: Vec<_> = items
            .iter()
            .map(|i| {
                i.as_ref()
                    .map(|b| b.log_stream.clone())
                    .map_err(|e| e.to_string())
            })
            .collect();
        assert_eq!(streams.len(), 4, "{streams:?}");
        assert_eq!(streams[0], Ok("db-A".into()));
        assert_eq!(streams[1], Ok("db-B".into()));
        assert!(
            streams[2]
                .as_ref()
                .is_err_and(|e| e.starts_with("line 4: awslogs.data is not valid base64")),
            "{:?}",
            streams[2]
        );
        assert_eq!(
            items[3].as_ref().err().map(ItemError::reason),
            Some("unrecognised_input")
        );
    }

    #[test]
    fn when_file_is_a_logs_export_should_group_consecutive_events_by_stream() {
        let export = json!({
            "events": [
                {"logStreamName": "db-A", "timestamp": 1, "message": "{\"a\":1}", "ingestionTime": 2, "eventId": "e1"},
                {"logStreamName": "db-A", "timestamp": 2, "message": "{\"a\":2}", "ingestionTime": 3, "eventId": "e2"},
                {"logStreamName": "db-B", "timestamp": 3, "message": "{\"b\":1}", "ingestionTime": 4, "eventId": "e3"}
            ],
            "searchedLogStreams": []
        });
        let items = parse(&export.to_string());
        let got: Vec<(String, usize)> = items
            .into_iter()
            .map(|i| {
                i.map(|b| (b.log_stream, b.log_events.len()))
                    .expect("export batch")
            })
            .collect();
        assert_eq!(got, vec![("db-A".into(), 2), ("db-B".into(), 1)]);
    }

    #[test]
    fn when_directory_is_expanded_should_list_event_files_in_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/spike");
        let files = expand(&[dir]).expect("the spike directory exists");
        assert_eq!(files.len(), 145, "144 batches and the topology file");
        let mut sorted = files.clone();
        sorted.sort();
        assert_eq!(files, sorted, "name order");
        assert!(matches!(
            expand(&[PathBuf::from("/nonexistent/x")]),
            Err(InputError::Missing(_))
        ));
    }

    #[test]
    fn when_a_directory_links_back_up_should_skip_the_link_instead_of_looping() {
        // GIVEN a directory holding one event file and a symlink to itself
        let dir = std::env::temp_dir().join(format!("spillway-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.json"), "{}").unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
        // WHEN it is expanded THEN the walk ends, with the file once
        let files = expand(std::slice::from_ref(&dir)).expect("walked");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(files, vec![dir.join("a.json")], "the link is not followed");
    }
}
