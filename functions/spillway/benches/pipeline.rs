//! Throughput of the metrics pipeline against floors measured in the same run.
//!
//! `cargo bench -p spillway --bench pipeline [-- --check]`
//!
//! Input: recorded-size batches, 100 log events of ~8 KB Enhanced Monitoring documents each
//! (built from the real Aurora MySQL capture in tests/fixtures). Measured, per batch:
//! - floor: base64 decode + gunzip + parsing the subscription envelope (the unavoidable work);
//! - floor + scan: the floor plus a full JSON scan of every message;
//! - pipeline: the Lambda's whole path (decode, parse, classify, write EMF to memory);
//! - pipeline + direct trigger: the same with every emitted sample judged by the direct
//!   trigger (`shifting::trigger`), as the metrics function runs it when `DirectTrigger` is on;
//! - `aws_lambda_events::LogsEvent` decoding, and gunzip alone with flate2's configured backend
//!   (zlib-rs) and with miniz_oxide (flate2's default), to back the choices made.
//!
//! Each figure is the median of several rounds. The target is a ratio, not a number: pipeline
//! within 1.3x of the floor, with the direct trigger too. `--check` exits 1 when it is not.

use std::hint::black_box;
use std::io::Read;
use std::time::Instant;

use base64::Engine as _;
use serde_json::{Value, json};
use spillway::metrics::pipeline::{self, Report};
use spillway::metrics::subscription::{self, LogBatch};
use spillway::metrics::topology::{
    ClusterDescription, ClusterMember, InstanceDescription, RdsSnapshot, Topology,
};
use spillway::shifting::trigger::{Trigger, TriggerSettings, TriggerTarget};

const EVENTS_PER_BATCH: usize = 100;
const BATCHES: usize = 16;
const ROUNDS: usize = 7;

fn fixture() -> Value {
    let path = format!(
        "{}/../../tests/fixtures/enhanced-monitoring/aurora-mysql-56.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}

/// Replaces every number with a pseudo-random one of similar size (xorshift, fixed seed), so
/// batches compress like real ones, whose counters all move from second to second.
fn perturb(v: &mut Value, seed: &mut u64) {
    match v {
        Value::Number(n) => {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let x = n.as_f64().unwrap_or(0.0);
            let jitter = (*seed % 1000) as f64 / 1000.0;
            *v = if n.is_f64() {
                json!(((x + 1.0) * (0.5 + jitter) * 100.0).round() / 100.0)
            } else {
                json!(((x + 1.0) * (0.5 + jitter)) as u64)
            };
        }
        Value::Array(a) => a.iter_mut().for_each(|x| perturb(x, seed)),
        Value::Object(o) => o.values_mut().for_each(|x| perturb(x, seed)),
        _ => {}
    }
}

/// A ~8 KB document: the real capture (field order kept), numbers varied, process list cut to
/// fit.
fn document(template: &Value, instance: &str, second: usize, cpu: f64) -> String {
    let mut doc = template.clone();
    let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (second as u64 + 1);
    perturb(&mut doc, &mut seed);
    doc["instanceID"] = json!(instance);
    doc["timestamp"] = json!(format!(
        "2026-11-22T10:{:02}:{:02}Z",
        (second / 60) % 60,
        second % 60
    ));
    doc["cpuUtilization"]["total"] = json!(cpu);
    doc["cpuUtilization"]["idle"] = json!(100.0 - cpu);
    let procs = doc["processList"].as_array().cloned().unwrap_or_default();
    let mut keep = procs.len();
    loop {
        doc["processList"] = json!(procs[..keep]);
        let s = doc.to_string();
        if s.len() <= 8 * 1024 || keep == 0 {
            return s;
        }
        keep -= 1;
    }
}

fn batches() -> (Vec<String>, usize) {
    let template = fixture();
    let mut message_bytes = 0;
    let events = (0..BATCHES)
        .map(|b| {
            let instance = format!("orders-reader-{}", b % 4);
            let log_events: Vec<Value> = (0..EVENTS_PER_BATCH)
                .map(|i| {
                    let m = document(&template, &instance, b * 100 + i, 20.0 + (i % 70) as f64 * 1.1);
                    message_bytes += m.len();
                    json!({"id": format!("{b}{i:04}"), "timestamp": 1_795_341_600_000_i64 + i as i64 * 1000, "message": m})
                })
                .collect();
            subscription::encode_event(&json!({
                "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "RDSOSMetrics",
                "logStream": format!("db-{b}"), "subscriptionFilters": ["spillway"],
                "logEvents": log_events
            }))
        })
        .collect();
    (events, message_bytes)
}

fn topology() -> Topology {
    let instances: Vec<InstanceDescription> = (0..4)
        .map(|i| InstanceDescription {
            id: format!("orders-reader-{i}"),
            cluster: "orders".into(),
            status: "available".into(),
            class: "db.r6g.xlarge".into(),
            resource_id: None,
        })
        .collect();
    let snapshot = RdsSnapshot {
        clusters: vec![ClusterDescription {
            id: "orders".into(),
            engine: "aurora-mysql".into(),
            members: instances
                .iter()
                .map(|i| ClusterMember {
                    instance: i.id.clone(),
                    writer: false,
                })
                .collect(),
        }],
        instances,
    };
    Topology::classify(&snapshot, &["orders".into()], &["available".into()])
}

fn data_of(event: &str) -> String {
    let v: Value = serde_json::from_str(event).unwrap();
    v["awslogs"]["data"].as_str().unwrap().to_owned()
}

/// Median seconds of one pass over all batches.
fn measure(mut pass: impl FnMut()) -> f64 {
    pass(); // warm-up
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            pass();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[ROUNDS / 2]
}

fn gunzip_flate2(compressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(compressed.len() * 8);
    flate2::read::GzDecoder::new(compressed)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// gunzip with miniz_oxide directly: skip the 10-byte gzip header (no optional fields are
/// written by the encoder used here) and inflate the raw deflate stream.
fn gunzip_miniz(compressed: &[u8]) -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec(&compressed[10..compressed.len() - 8]).unwrap()
}

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let (events, message_bytes) = batches();
    let datas: Vec<String> = events.iter().map(|e| data_of(e)).collect();
    let compressed: Vec<Vec<u8>> = datas
        .iter()
        .map(|d| base64::engine::general_purpose::STANDARD.decode(d).unwrap())
        .collect();
    let topology = topology();
    let n_events = (BATCHES * EVENTS_PER_BATCH) as f64;
    let mb = message_bytes as f64 / 1e6;
    let payload_kb = events.iter().map(String::len).sum::<usize>() as f64 / BATCHES as f64 / 1024.0;
    let msg_kb = message_bytes as f64 / n_events / 1024.0;

    let floor = measure(|| {
        for d in &datas {
            let c = base64::engine::general_purpose::STANDARD.decode(d).unwrap();
            let json = gunzip_flate2(&c);
            let batch: LogBatch = serde_json::from_slice(&json).unwrap();
            black_box(batch);
        }
    });
    let floor_scan = measure(|| {
        for d in &datas {
            let c = base64::engine::general_purpose::STANDARD.decode(d).unwrap();
            let json = gunzip_flate2(&c);
            let batch: LogBatch = serde_json::from_slice(&json).unwrap();
            for e in &batch.log_events {
                black_box(serde_json::from_str::<serde::de::IgnoredAny>(&e.message).unwrap());
            }
        }
    });
    let mut sink = Vec::with_capacity(1 << 20);
    let mut emitted = 0;
    let full = measure(|| {
        emitted = 0;
        for e in &events {
            sink.clear();
            let mut report = Report::default();
            let batch = subscription::decode_event(e.as_bytes()).unwrap();
            let samples = pipeline::parse_batch(&batch, &mut report);
            pipeline::emit(
                &samples,
                &topology,
                "Spillway",
                1_795_341_700_000,
                &mut sink,
                &mut report,
                |_| {},
            )
            .unwrap();
            emitted += report.emitted_total();
            black_box(&sink);
        }
    });
    assert_eq!(
        emitted as f64, n_events,
        "every event of the benchmark is emitted"
    );
    let mut starts = 0;
    let with_trigger = measure(|| {
        // A fresh trigger per pass, as a cold container: streaks and windows start empty.
        let mut trigger = Trigger::new(
            TriggerSettings::default(),
            vec![TriggerTarget {
                cluster: "orders".into(),
                state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:s".into(),
                high_cpu_threshold: 70.0,
            }],
        );
        starts = 0;
        for (b, e) in events.iter().enumerate() {
            // The function's clock: two seconds after the batch's first hot streak is complete
            // (documents 46–48 of each batch cross 70 %).
            let now_ms = 1_795_341_600_000 + ((b * 100) as i64 + 50) * 1000;
            sink.clear();
            let mut report = Report::default();
            let batch = subscription::decode_event(e.as_bytes()).unwrap();
            let samples = pipeline::parse_batch(&batch, &mut report);
            pipeline::emit(
                &samples,
                &topology,
                "Spillway",
                1_795_341_700_000,
                &mut sink,
                &mut report,
                |x| {
                    if trigger
                        .observe(
                            &x.cluster,
                            x.role,
                            &x.instance_id,
                            x.timestamp_ms,
                            x.cpu_total,
                            now_ms,
                        )
                        .is_some()
                    {
                        starts += 1;
                    }
                },
            )
            .unwrap();
            black_box(&sink);
        }
    });
    assert!(
        starts >= 1,
        "the batches hold hot streaks: the trigger decides on them"
    );
    let lambda_events = measure(|| {
        for e in &events {
            let ev: aws_lambda_events::event::cloudwatch_logs::LogsEvent =
                serde_json::from_str(e).unwrap();
            black_box(ev);
        }
    });
    let gz_flate2 = measure(|| {
        for c in &compressed {
            black_box(gunzip_flate2(c));
        }
    });
    let gz_miniz = measure(|| {
        for c in &compressed {
            black_box(gunzip_miniz(c));
        }
    });
    assert_eq!(gunzip_miniz(&compressed[0]), gunzip_flate2(&compressed[0]));

    println!(
        "input: {BATCHES} batches x {EVENTS_PER_BATCH} events, {msg_kb:.1} KB per document, {payload_kb:.0} KB per subscription event"
    );
    let row = |name: &str, secs: f64| {
        println!(
            "{name:<44} {:>10.0} events/s {:>8.1} MB/s {:>6.2}x floor",
            n_events / secs,
            mb / secs,
            secs / floor
        );
    };
    row("floor: base64 + gunzip + envelope", floor);
    row("floor + full JSON scan of every message", floor_scan);
    row("pipeline (decode, parse, classify, EMF)", full);
    row("pipeline + direct trigger", with_trigger);
    row("aws_lambda_events LogsEvent decode only", lambda_events);
    row("gunzip only, flate2 (zlib-rs backend)", gz_flate2);
    row("gunzip only, miniz_oxide", gz_miniz);
    let ratio = full / floor;
    let trigger_ratio = with_trigger / floor;
    println!("pipeline / floor = {ratio:.2} (target <= 1.30)");
    println!(
        "pipeline + direct trigger / floor = {trigger_ratio:.2} (target <= 1.30); the trigger adds {:.1} % to the pipeline ({:.0} ns a batch)",
        (with_trigger / full - 1.0) * 100.0,
        (with_trigger - full) / BATCHES as f64 * 1e9
    );
    if check && (ratio > 1.30 || trigger_ratio > 1.30) {
        eprintln!(
            "FAIL: the pipeline is {ratio:.2}x the unavoidable floor, {trigger_ratio:.2}x with the direct trigger (target 1.30x)"
        );
        std::process::exit(1);
    }
}
