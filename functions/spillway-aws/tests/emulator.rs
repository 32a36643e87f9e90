//! The RDS and CloudWatch adapters against the local AWS emulator (real SDK calls, no HTTP
//! mocks). `scripts/test` starts the emulator on 127.0.0.1 and runs these with
//! `--include-ignored`; by hand: start it as the README says and export `AWS_ENDPOINT_URL`.

use std::time::{SystemTime, UNIX_EPOCH};

use spillway::metrics::pipeline::Emitted;
use spillway::metrics::topology::{Placement, Role, SourceError, Topology, TopologySource};
use spillway_aws::rds::Rds;

const NEEDS_EMULATOR: &str =
    "AWS_ENDPOINT_URL must point at the local emulator (scripts/test sets it)";

/// A name no other test of this run (tests run in parallel) or earlier run shares.
fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{n}", nanos % 1_000_000_000)
}

async fn clients() -> (aws_sdk_rds::Client, aws_sdk_cloudwatch::Client) {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "{NEEDS_EMULATOR}"
    );
    let sdk = spillway_aws::sdk_config().await;
    (
        aws_sdk_rds::Client::new(&sdk),
        aws_sdk_cloudwatch::Client::new(&sdk),
    )
}

async fn create_cluster(rds: &aws_sdk_rds::Client, cluster: &str, instances: &[(&str, &str)]) {
    rds.create_db_cluster()
        .db_cluster_identifier(cluster)
        .engine("aurora-postgresql")
        .master_username("spillway")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .expect("CreateDBCluster");
    for (id, class) in instances {
        rds.create_db_instance()
            .db_instance_identifier(*id)
            .db_cluster_identifier(cluster)
            .engine("aurora-postgresql")
            .db_instance_class(*class)
            .send()
            .await
            .expect("CreateDBInstance");
    }
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn rds_adapter_describes_only_the_watched_clusters_with_roles() {
    let (rds, _) = clients().await;
    let watched = unique("it-orders");
    let other = unique("it-other");
    let w = format!("{watched}-w");
    let r1 = format!("{watched}-r1");
    let sv = format!("{watched}-sv");
    create_cluster(
        &rds,
        &watched,
        &[
            (&w, "db.r6g.large"),
            (&r1, "db.r6g.large"),
            (&sv, "db.serverless"),
        ],
    )
    .await;
    let ow = format!("{other}-w");
    create_cluster(&rds, &other, &[(&ow, "db.r6g.large")]).await;

    let adapter = Rds::new(rds);
    let snapshot = adapter
        .describe(std::slice::from_ref(&watched))
        .await
        .expect("DescribeDB* against the emulator");

    assert_eq!(
        adapter.calls(),
        2,
        "one DescribeDBClusters and one DescribeDBInstances"
    );
    assert_eq!(
        snapshot.clusters.len(),
        1,
        "filtered by db-cluster-id: {snapshot:?}"
    );
    assert_eq!(snapshot.clusters[0].id, watched);
    let writers: Vec<_> = snapshot.clusters[0]
        .members
        .iter()
        .filter(|m| m.writer)
        .map(|m| m.instance.as_str())
        .collect();
    assert_eq!(
        writers,
        vec![w.as_str()],
        "the first instance is the writer"
    );
    let mut ids: Vec<_> = snapshot.instances.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![r1.clone(), sv.clone(), w.clone()],
        "only the watched cluster's instances"
    );
    assert!(
        snapshot.instances.iter().all(|i| i
            .resource_id
            .as_deref()
            .is_some_and(|r| r.starts_with("db-"))),
        "every instance has its DbiResourceId"
    );

    let topology = Topology::classify(
        &snapshot,
        std::slice::from_ref(&watched),
        &["available".into()],
    );
    let role = |id: &str| match topology.lookup(id, None) {
        Some(Placement::Member { role, .. }) => Some(*role),
        _ => None,
    };
    assert_eq!(role(&w), Some(Role::Writer));
    assert_eq!(role(&r1), Some(Role::ProvisionedReader));
    assert_eq!(role(&sv), Some(Role::ServerlessReader));
    assert_eq!(role(&ow), None, "the other cluster is not watched");
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn rds_adapter_names_the_call_when_rds_is_unreachable() {
    // A closed loopback port: connection refused, after the SDK's own retries.
    let sdk = spillway_aws::sdk_config().await;
    let conf = aws_sdk_rds::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_rds::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let adapter = Rds::new(aws_sdk_rds::Client::from_conf(conf));
    let err: SourceError = adapter
        .describe(&["orders".into()])
        .await
        .expect_err("nothing listens on port 9");
    assert!(err.message.starts_with("DescribeDBClusters:"), "{err:?}");
    assert!(!err.throttled, "a refused connection is not throttling");
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn cloudwatch_publish_sends_high_resolution_points_with_their_dimensions() {
    let (_, cw) = clients().await;
    let namespace = unique("SpillwayIT");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let samples: Vec<Emitted> = (0..1_200)
        .map(|i| Emitted {
            cluster: "orders".into(),
            role: if i % 2 == 0 {
                Role::ProvisionedReader
            } else {
                Role::ServerlessReader
            },
            instance_id: "orders-r1".into(),
            timestamp_ms: now_ms - 1_200_000 + i * 1_000,
            cpu_total: 50.0,
        })
        .collect();
    let requests = spillway_aws::cloudwatch::publish(&cw, &namespace, &samples)
        .await
        .expect("PutMetricData against the emulator");
    assert_eq!(requests, 3, "1,200 points in requests of 500");

    let listed = cw
        .list_metrics()
        .namespace(&namespace)
        .send()
        .await
        .expect("ListMetrics");
    let mut roles: Vec<String> = listed
        .metrics()
        .iter()
        .map(|m| {
            assert_eq!(m.metric_name(), Some("CPUUtilization"));
            let dims: Vec<_> = m
                .dimensions()
                .iter()
                .map(|d| d.name().unwrap_or_default())
                .collect();
            assert_eq!(
                dims,
                vec!["DBClusterIdentifier", "Role"],
                "the EMF dimension set"
            );
            m.dimensions()[1].value().unwrap_or_default().to_owned()
        })
        .collect();
    roles.sort();
    assert_eq!(roles, vec!["provisioned-reader", "serverless-reader"]);

    let stats = cw
        .get_metric_statistics()
        .namespace(&namespace)
        .metric_name("CPUUtilization")
        .dimensions(dim("DBClusterIdentifier", "orders"))
        .dimensions(dim("Role", "provisioned-reader"))
        .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(
            now_ms - 1_300_000,
        ))
        .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(
            now_ms,
        ))
        .period(3_600)
        .statistics(aws_sdk_cloudwatch::types::Statistic::SampleCount)
        .send()
        .await
        .expect("GetMetricStatistics");
    let count: f64 = stats
        .datapoints()
        .iter()
        .filter_map(|d| d.sample_count())
        .sum();
    assert_eq!(count, 600.0, "every provisioned-reader point arrived");
}

fn dim(name: &str, value: &str) -> aws_sdk_cloudwatch::types::Dimension {
    aws_sdk_cloudwatch::types::Dimension::builder()
        .name(name)
        .value(value)
        .build()
}
