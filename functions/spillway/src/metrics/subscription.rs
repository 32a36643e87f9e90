//! The CloudWatch Logs subscription envelope: `{"awslogs":{"data":base64(gzip(json))}}` to a
//! [`LogBatch`].
//!
//! `aws_lambda_events::cloudwatch_logs::LogsEvent` decodes the same envelope, but through
//! `serde_json::from_reader` over the gzip stream; decoding into a buffer first and parsing the
//! slice is measurably faster (the benchmark reports both), so this module composes the same
//! crates (base64, flate2, serde_json) that way. The field names are those of `LogData`.

use std::io::Read;

use base64::Engine as _;
use serde::Deserialize;

/// The raw event a subscription delivers to Lambda.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionEvent {
    pub awslogs: AwsLogs,
}

/// `awslogs`: the base64 of the gzipped batch.
#[derive(Debug, Clone, Deserialize)]
pub struct AwsLogs {
    pub data: String,
}

/// `messageType` of a decoded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Data,
    Control,
}

/// One decoded subscription batch: one log stream, hence one DB instance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatch {
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub log_group: String,
    #[serde(default)]
    pub log_stream: String,
    pub message_type: String,
    #[serde(default)]
    pub log_events: Vec<LogRecord>,
}

impl LogBatch {
    /// `DATA_MESSAGE` or `CONTROL_MESSAGE`; anything else is a decode error upstream.
    pub fn kind(&self) -> Option<MessageType> {
        match self.message_type.as_str() {
            "DATA_MESSAGE" => Some(MessageType::Data),
            "CONTROL_MESSAGE" => Some(MessageType::Control),
            _ => None,
        }
    }
}

/// One log event of a batch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogRecord {
    #[serde(default)]
    pub id: String,
    /// Ingestion-side timestamp, ms. Spillway stamps metrics with the document's own time.
    #[serde(default)]
    pub timestamp: i64,
    pub message: String,
}

/// Why a whole payload could not be decoded. Nothing of it can be used, and a retry cannot help.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the event is not a logs subscription envelope: {0}")]
    Envelope(String),
    #[error("awslogs.data is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("awslogs.data is not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("awslogs.data inflates to more than {MAX_DECOMPRESSED} bytes (a decompression bomb?)")]
    TooLarge,
    #[error("the decompressed batch is not a log batch: {0}")]
    BatchJson(String),
    #[error("unknown messageType `{0}`")]
    MessageType(String),
}

impl DecodeError {
    /// A short stable name for the kind of problem.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Envelope(_) => "envelope",
            Self::Base64(_) => "base64",
            Self::Gzip(_) | Self::TooLarge => "gzip",
            Self::BatchJson(_) => "batch_json",
            Self::MessageType(_) => "message_type",
        }
    }
}

/// Parses the raw Lambda event (JSON bytes) and decodes its batch.
pub fn decode_event(event: &[u8]) -> Result<LogBatch, DecodeError> {
    let event: SubscriptionEvent =
        serde_json::from_slice(event).map_err(|e| DecodeError::Envelope(e.to_string()))?;
    decode_data(&event.awslogs.data)
}

/// Decodes the Lambda event as the runtime hands it over (already parsed into a `Value`): the
/// path the metrics function and the replay command take.
pub fn decode_value(event: serde_json::Value) -> Result<LogBatch, DecodeError> {
    let event: SubscriptionEvent =
        serde_json::from_value(event).map_err(|e| DecodeError::Envelope(e.to_string()))?;
    decode_data(&event.awslogs.data)
}

/// The most a batch may inflate to. A subscription delivers at most 1 MB of log events per
/// invocation (Lambda's 6 MB payload limit bounds the compressed side); 16 MB leaves room and
/// keeps a hostile input (replay reads any file) from exhausting memory.
pub const MAX_DECOMPRESSED: u64 = 16 * 1024 * 1024;

/// Decodes `awslogs.data`: base64, then gzip, then the batch JSON.
pub fn decode_data(data: &str) -> Result<LogBatch, DecodeError> {
    let compressed = base64::engine::general_purpose::STANDARD.decode(data.trim())?;
    let mut json = Vec::with_capacity(compressed.len() * 8);
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut json)
        .map_err(DecodeError::Gzip)?;
    if json.len() as u64 > MAX_DECOMPRESSED {
        return Err(DecodeError::TooLarge);
    }
    let batch: LogBatch =
        serde_json::from_slice(&json).map_err(|e| DecodeError::BatchJson(e.to_string()))?;
    if batch.kind().is_none() {
        return Err(DecodeError::MessageType(batch.message_type));
    }
    Ok(batch)
}

/// Encodes a batch as a subscription delivers it (used for `events/`, tests and benchmarks).
pub fn encode_event(batch_json: &serde_json::Value) -> String {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(batch_json.to_string().as_bytes())
        .expect("writing to a Vec cannot fail");
    let compressed = gz.finish().expect("writing to a Vec cannot fail");
    serde_json::json!({
        "awslogs": { "data": base64::engine::general_purpose::STANDARD.encode(compressed) }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(message_type: &str) -> serde_json::Value {
        json!({
            "messageType": message_type,
            "owner": "123456789012",
            "logGroup": "RDSOSMetrics",
            "logStream": "db-ABC",
            "subscriptionFilters": ["spillway"],
            "logEvents": [{"id": "1", "timestamp": 1_795_341_601_000_i64, "message": "{\"a\":1}"}]
        })
    }

    #[test]
    fn when_event_is_encoded_should_decode_to_the_same_batch() {
        let event = encode_event(&batch("DATA_MESSAGE"));
        let got = decode_event(event.as_bytes()).expect("valid event decodes");
        assert_eq!(got.kind(), Some(MessageType::Data));
        assert_eq!(got.log_stream, "db-ABC");
        assert_eq!(
            got.log_events,
            vec![LogRecord {
                id: "1".into(),
                timestamp: 1_795_341_601_000,
                message: "{\"a\":1}".into()
            }]
        );
    }

    #[test]
    fn when_aws_lambda_events_decodes_our_encoding_should_agree() {
        // Keeps this module honest against the crate that defines the envelope.
        let event = encode_event(&batch("DATA_MESSAGE"));
        let theirs: aws_lambda_events::event::cloudwatch_logs::LogsEvent =
            serde_json::from_str(&event).expect("aws_lambda_events decodes it");
        let ours = decode_event(event.as_bytes()).expect("we decode it");
        let data = theirs.aws_logs.data;
        assert_eq!(data.log_stream, ours.log_stream);
        assert_eq!(data.message_type, ours.message_type);
        assert_eq!(data.log_events.len(), ours.log_events.len());
        assert_eq!(data.log_events[0].message, ours.log_events[0].message);
    }

    #[test]
    fn when_payload_is_corrupt_should_name_the_layer() {
        let not_gzip = base64::engine::general_purpose::STANDARD.encode(b"plain text");
        let gz_not_json = {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(b"{not json").unwrap();
            base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
        };
        let cases = [
            (r#"{"Records":[]}"#.to_string(), "envelope"),
            (r#"{"awslogs":{"data":"%%%"}}"#.to_string(), "base64"),
            (format!(r#"{{"awslogs":{{"data":"{not_gzip}"}}}}"#), "gzip"),
            (
                format!(r#"{{"awslogs":{{"data":"{gz_not_json}"}}}}"#),
                "batch_json",
            ),
            (encode_event(&batch("HEARTBEAT")), "message_type"),
        ];
        for (event, reason) in cases {
            let err = decode_event(event.as_bytes()).expect_err("corrupt payload must fail");
            assert_eq!(err.reason(), reason, "{event} must fail as {reason}: {err}");
        }
    }

    #[test]
    fn when_batch_is_control_message_should_decode_as_control() {
        let event = encode_event(&json!({
            "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
            "logStream": "", "subscriptionFilters": [],
            "logEvents": [{"id": "", "timestamp": 1_795_341_601_000_i64,
                           "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda."}]
        }));
        let got = decode_event(event.as_bytes()).expect("control message decodes");
        assert_eq!(got.kind(), Some(MessageType::Control));
    }

    #[test]
    fn when_the_payload_inflates_past_the_limit_should_refuse_it_as_gzip() {
        // 17 MB of zeros compress to a few KB.
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b'0'; 1024 * 1024];
        for _ in 0..17 {
            gz.write_all(&zeros).unwrap();
        }
        let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let err = decode_data(&data).expect_err("a bomb");
        assert!(matches!(err, DecodeError::TooLarge), "{err}");
        assert_eq!(err.reason(), "gzip");
    }
}
