//! Cold start and memory of the metrics Lambda's real binary.
//!
//! `cargo bench -p spillway-metrics --bench cold_start`
//!
//! The bootstrap is started as Lambda starts it, against a stand-in for the Lambda Runtime API
//! and the RDS query API served here on 127.0.0.1 (a harness for measuring, not a test of the
//! adapters: those run against the emulator). Measured:
//! - init: exec → the first `GET /runtime/invocation/next` (ready for its first event), median
//!   of 15 starts, next to the same figure for `python3 -c "import boto3; boto3.client('rds')"`
//!   when the project's .venv has boto3 (the reference implementation's import cost);
//! - peak memory (VmHWM) at init and after one 1 MB subscription batch;
//! - the EMF lines that batch produced (all of them, or the figure is meaningless).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const STARTS: usize = 15;

enum Seen {
    Next,
    Response(String),
    Error(String),
}

fn topology() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/spike/topology.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// RDS query-protocol answers built from events/spike/topology.json.
fn rds_xml(action: &str, topo: &Value) -> String {
    let ns = "http://rds.amazonaws.com/doc/2014-10-31/";
    let body = if action == "DescribeDBClusters" {
        let clusters: String = topo["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let members: String = c["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        format!(
                            "<DBClusterMember><DBInstanceIdentifier>{}</DBInstanceIdentifier><IsClusterWriter>{}</IsClusterWriter></DBClusterMember>",
                            m["instance"].as_str().unwrap(),
                            m["writer"]
                        )
                    })
                    .collect();
                format!(
                    "<DBCluster><DBClusterIdentifier>{}</DBClusterIdentifier><DBClusterMembers>{members}</DBClusterMembers></DBCluster>",
                    c["id"].as_str().unwrap()
                )
            })
            .collect();
        format!("<DBClusters>{clusters}</DBClusters>")
    } else {
        let instances: String = topo["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "<DBInstance><DBInstanceIdentifier>{}</DBInstanceIdentifier><DBClusterIdentifier>{}</DBClusterIdentifier><DBInstanceStatus>{}</DBInstanceStatus><DBInstanceClass>{}</DBInstanceClass><DbiResourceId>{}</DbiResourceId></DBInstance>",
                    i["id"].as_str().unwrap(),
                    i["cluster"].as_str().unwrap(),
                    i["status"].as_str().unwrap(),
                    i["class"].as_str().unwrap(),
                    i["resourceId"].as_str().unwrap()
                )
            })
            .collect();
        format!("<DBInstances>{instances}</DBInstances>")
    };
    format!(
        "<{action}Response xmlns=\"{ns}\"><{action}Result>{body}</{action}Result><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></{action}Response>"
    )
}

fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Serves one connection: Runtime API and RDS requests, keep-alive.
fn serve(stream: TcpStream, event: &str, topo: &Value, seen: &mpsc::Sender<Seen>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    let mut served_event = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body = String::from_utf8_lossy(&body).into_owned();
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let _ = seen.send(Seen::Next);
            if served_event {
                std::thread::sleep(Duration::from_secs(30)); // parked until killed
                return;
            }
            served_event = true;
            respond(
                &mut stream,
                "200 OK",
                "lambda-runtime-aws-request-id: bench-1\r\nlambda-runtime-deadline-ms: 99999999999999\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:bench\r\ncontent-type: application/json\r\n",
                event.as_bytes(),
            );
        } else if path.ends_with("/response") {
            let _ = seen.send(Seen::Response(body));
            respond(&mut stream, "202 Accepted", "", b"{}");
        } else if path.ends_with("/error") {
            let _ = seen.send(Seen::Error(body));
            respond(&mut stream, "202 Accepted", "", b"{}");
        } else if method == "POST" && body.contains("Action=DescribeDB") {
            let action = if body.contains("Action=DescribeDBClusters") {
                "DescribeDBClusters"
            } else {
                "DescribeDBInstances"
            };
            respond(
                &mut stream,
                "200 OK",
                "content-type: text/xml\r\n",
                rds_xml(action, topo).as_bytes(),
            );
        } else {
            respond(&mut stream, "404 Not Found", "", b"");
        }
    }
}

struct Harness {
    port: u16,
    seen: mpsc::Receiver<Seen>,
}

fn harness(event: String) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let topo = topology();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (tx, event, topo) = (tx.clone(), event.clone(), topo.clone());
            std::thread::spawn(move || serve(stream, &event, &topo, &tx));
        }
    });
    Harness { port, seen: rx }
}

fn start(port: u16, stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_spillway-metrics"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_FUNCTION_NAME", "spillway-metrics")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/spillway-metrics")
        .env("CLUSTER_IDENTIFIERS", "orders")
        .env("LOG_LEVEL", "warn")
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("the metrics binary starts")
}

fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn wait_next(h: &Harness) {
    loop {
        match h
            .seen
            .recv_timeout(Duration::from_secs(30))
            .expect("the runtime polled")
        {
            Seen::Next => return,
            Seen::Error(e) => panic!("the function reported an error: {e}"),
            Seen::Response(_) => {}
        }
    }
}

/// About 1 MB of log events (the subscription batch limit), from the recorded spike.
fn one_megabyte_event() -> (String, usize, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/spike/batches");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut events = Vec::new();
    let mut bytes = 0;
    'fill: for f in files
        .iter()
        .filter(|f| f.to_string_lossy().contains("orders-reader-1"))
    {
        let batch =
            spillway::metrics::subscription::decode_event(&std::fs::read(f).unwrap()).unwrap();
        for e in batch.log_events {
            if bytes + e.message.len() > 1_000_000 {
                break 'fill;
            }
            bytes += e.message.len();
            events.push(json!({"id": e.id, "timestamp": e.timestamp, "message": e.message}));
        }
    }
    let n = events.len();
    let event = spillway::metrics::subscription::encode_event(&json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "RDSOSMetrics",
        "logStream": "db-bench", "subscriptionFilters": ["spillway"], "logEvents": events
    }));
    (event, n, bytes)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let (event, n_events, message_bytes) = one_megabyte_event();
    let compressed_kb = event.len() / 1024;
    let h = harness(event.clone());

    let mut inits = Vec::new();
    let mut hwm_init = 0;
    for _ in 0..STARTS {
        let t = Instant::now();
        let mut child = start(h.port, Stdio::null());
        wait_next(&h);
        inits.push(t.elapsed().as_secs_f64() * 1000.0);
        hwm_init = vm_hwm_kb(child.id());
        let _ = child.kill();
        let _ = child.wait();
        // Each start was served the event by its connection: drain what it reported.
        while h.seen.try_recv().is_ok() {}
    }

    // One run that takes the 1 MB event and comes back for the next.
    let h = harness(event);
    let mut child = start(h.port, Stdio::piped());
    let mut stdout = child.stdout.take().unwrap();
    wait_next(&h);
    let response = loop {
        match h
            .seen
            .recv_timeout(Duration::from_secs(60))
            .expect("a response")
        {
            Seen::Response(r) => break r,
            Seen::Error(e) => panic!("the function failed on the 1 MB batch: {e}"),
            Seen::Next => {}
        }
    };
    wait_next(&h);
    let hwm_batch = vm_hwm_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let emf_lines = out.lines().filter(|l| l.starts_with("{\"_aws\"")).count();
    assert_eq!(
        emf_lines, n_events,
        "every sample of the batch is emitted: {response}"
    );

    let init = median(inits);
    println!(
        "init (exec -> ready for the first event): median {init:.1} ms over {STARTS} starts (target < 20 ms)"
    );
    let venv_python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv_python.exists() {
        let py: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let ok = Command::new(&venv_python)
                    .args([
                        "-c",
                        "import boto3; boto3.client('rds', region_name='us-east-1')",
                    ])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "python with boto3 runs");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!(
            "         python3 + boto3 import and client, same machine: median {:.0} ms",
            median(py)
        );
    }
    println!(
        "peak memory (VmHWM): {:.1} MB at init, {:.1} MB after a {} KB batch of {n_events} events ({} KB compressed)",
        hwm_init as f64 / 1024.0,
        hwm_batch as f64 / 1024.0,
        message_bytes / 1024,
        compressed_kb,
    );
}
