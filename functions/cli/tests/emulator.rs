//! The replay command end to end against the local emulator: live topology from its RDS API,
//! `--publish` to its CloudWatch. `scripts/test` starts the emulator and runs these with
//! `--include-ignored`.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn events() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// Creates the `orders` cluster of `events/spike/topology.json` in the emulator's RDS (its
/// instance names are those inside the recorded documents). Idempotent: an emulator that
/// already has it is fine.
async fn create_spike_cluster(rds: &aws_sdk_rds::Client) {
    let created = rds
        .create_db_cluster()
        .db_cluster_identifier("orders")
        .engine("aurora-mysql")
        .master_username("spillway")
        .master_user_password("not-a-secret-1")
        .send()
        .await;
    if let Err(e) = created {
        let code = e
            .as_service_error()
            .and_then(aws_sdk_rds::error::ProvideErrorMetadata::code);
        assert_eq!(
            code,
            Some("DBClusterAlreadyExistsFault"),
            "CreateDBCluster: {e:?}"
        );
        return;
    }
    for (id, class) in [
        ("orders-writer", "db.r6g.xlarge"),
        ("orders-reader-1", "db.r6g.xlarge"),
        ("orders-reader-2", "db.r6g.xlarge"),
        ("orders-serverless", "db.serverless"),
    ] {
        rds.create_db_instance()
            .db_instance_identifier(id)
            .db_cluster_identifier("orders")
            .engine("aurora-mysql")
            .db_instance_class(class)
            .send()
            .await
            .expect("CreateDBInstance");
    }
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn replay_with_live_topology_and_publish_backfills_every_sample() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL must point at the local emulator (scripts/test sets it)"
    );
    let sdk = spillway_aws::sdk_config().await;
    create_spike_cluster(&aws_sdk_rds::Client::new(&sdk)).await;
    let namespace = format!(
        "SpillwayReplayIT{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );

    let output = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("replay")
        .args([
            "--clusters",
            "orders",
            "--namespace",
            &namespace,
            "--publish",
            "--shift-to-now",
        ])
        .arg(events().join("spike/batches"))
        .arg(events().join("metrics-corrupt-payload.json"))
        .output()
        .expect("spillway replay runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );

    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout carries EMF lines only"))
        .collect();
    assert_eq!(lines.len(), 1440, "4 instances x 36 batches x 10 samples");
    let count = |role: &str| lines.iter().filter(|l| l["Role"] == role).count();
    assert_eq!(
        (
            count("provisioned-reader"),
            count("serverless-reader"),
            count("writer")
        ),
        (720, 360, 360),
        "roles from the emulator's RDS topology"
    );
    assert!(
        stderr.contains("RDS calls: 2 "),
        "one topology refresh for the replay: {stderr}"
    );
    assert!(
        stderr.contains("rejected: gzip 1"),
        "the corrupt payload is named: {stderr}"
    );
    assert!(
        stderr.contains("published: 1440 data points in 3 PutMetricData requests"),
        "{stderr}"
    );

    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let listed = cw
        .list_metrics()
        .namespace(&namespace)
        .send()
        .await
        .expect("ListMetrics");
    assert_eq!(
        listed.metrics().len(),
        3,
        "one metric per role under the EMF dimensions"
    );
}

#[test]
fn replay_offline_names_a_missing_input_and_fails() {
    let output = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("replay")
        .args(["--topology"])
        .arg(events().join("spike/topology.json"))
        .arg("/nonexistent/batches")
        .output()
        .expect("spillway replay runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("/nonexistent/batches: no such file or directory"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn replay_offline_of_the_spike_emits_every_sample_without_network() {
    let output = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("replay")
        .env_remove("AWS_ENDPOINT_URL")
        // The recording is dated 2026-11-22: past 14 days old every sample would be outside
        // CloudWatch's window and dropped, so the test moves it to now.
        .args(["--shift-to-now", "--topology"])
        .arg(events().join("spike/topology.json"))
        .arg(events().join("spike/batches"))
        .output()
        .expect("spillway replay runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().count(),
        1440
    );
    assert!(
        stderr.contains("RDS calls: 0 (topology from file)"),
        "{stderr}"
    );
}
