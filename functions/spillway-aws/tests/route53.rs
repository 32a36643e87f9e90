//! The Route 53 adapter against the local emulator: one change batch, trailing-dot and case
//! insensitive names, compare-and-swap, missing records. `scripts/test` runs these.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
};
use spillway::region::removal::{PairWeights, PresentWeights};
use spillway::shifting::shift::{InstanceStatus, StoreError, WeightedPairStore};
use spillway_aws::route53::{PairLocation, Route53Pair};
use spillway_aws::serverless::ServerlessReader;

async fn client() -> aws_sdk_route53::Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL must point at the local emulator (scripts/test sets it)"
    );
    aws_sdk_route53::Client::new(&spillway_aws::sdk_config().await)
}

/// A name part no other test of this run (tests run in parallel) or earlier run shares: the
/// clock alone collided once two tests asked within the same tick.
fn unique() -> u128 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    nanos * 1000 + u128::from(n)
}

fn weighted(name: &str, set: &str, weight: i64, target: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .set_identifier(set)
        .weight(weight)
        .ttl(5)
        .resource_records(ResourceRecord::builder().value(target).build().unwrap())
        .build()
        .unwrap()
}

/// A private zone with the pair (provisioned 100, serverless 0) and a decoy record whose name
/// sorts right after ours.
async fn zone_with_pair(r53: &aws_sdk_route53::Client) -> (String, String) {
    let n = unique();
    let zone_name = format!("spillway{n}.internal");
    let zone = r53
        .create_hosted_zone()
        .name(&zone_name)
        .caller_reference(format!("it-{n}"))
        .hosted_zone_config(HostedZoneConfig::builder().private_zone(true).build())
        .send()
        .await
        .expect("CreateHostedZone");
    let zone_id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    let record = format!("reads.{zone_name}.");
    let changes = vec![
        weighted(
            &record,
            "provisioned",
            100,
            "orders-ro.cluster-custom-x.rds.amazonaws.com",
        ),
        weighted(
            &record,
            "serverless",
            0,
            "orders-sv.cluster-custom-x.rds.amazonaws.com",
        ),
        weighted(
            &format!("readsx.{zone_name}."),
            "serverless",
            7,
            "decoy.example.com",
        ),
    ]
    .into_iter()
    .map(|r| {
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(r)
            .build()
            .unwrap()
    })
    .collect();
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the pair");
    (zone_id, record)
}

fn pair(r53: &aws_sdk_route53::Client, zone_id: &str, name: &str) -> Route53Pair {
    Route53Pair::new(
        r53.clone(),
        PairLocation {
            hosted_zone_id: zone_id.into(),
            record_name: name.into(),
            provisioned_set_identifier: "provisioned".into(),
            serverless_set_identifier: "serverless".into(),
        },
    )
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn reads_the_pair_by_name_without_trailing_dot_and_in_other_case() {
    let r53 = client().await;
    let (zone_id, record) = zone_with_pair(&r53).await;
    let name = record.trim_end_matches('.').to_uppercase();
    let got = pair(&r53, &zone_id, &name)
        .read()
        .await
        .expect("pair found");
    assert_eq!((got.serverless.weight, got.provisioned.weight), (0, 100));
    assert_eq!(got.serverless.ttl, 5);
    assert_eq!(
        got.serverless.values,
        vec!["orders-sv.cluster-custom-x.rds.amazonaws.com"]
    );
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn reads_and_writes_the_pair_across_pages_of_one_record() {
    // GIVEN a pair that ListResourceRecordSets returns one record per page
    let r53 = client().await;
    let (zone_id, record) = zone_with_pair(&r53).await;
    let store = pair(&r53, &zone_id, &record).with_page_size(1);
    // WHEN it is read and stepped
    let got = store.read().await.expect("both records found across pages");
    assert_eq!((got.serverless.weight, got.provisioned.weight), (0, 100));
    store.write(&got, 25, 100).await.expect("written");
    // THEN the next read, again page by page, sees the new weights
    let again = store.read().await.expect("read again");
    assert_eq!(
        (again.serverless.weight, again.provisioned.weight),
        (25, 100)
    );
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn writes_both_weights_in_one_change_batch_keeping_ttl_and_targets() {
    let r53 = client().await;
    let (zone_id, record) = zone_with_pair(&r53).await;
    let store = pair(&r53, &zone_id, &record);
    let before = store.read().await.unwrap();
    let change_id = store
        .write(&before, 25, 100)
        .await
        .expect("ChangeResourceRecordSets");
    assert!(!change_id.is_empty(), "a change id comes back");
    let after = store.read().await.unwrap();
    assert_eq!(
        (after.serverless.weight, after.provisioned.weight),
        (25, 100)
    );
    assert_eq!(after.serverless.ttl, before.serverless.ttl);
    assert_eq!(after.serverless.values, before.serverless.values);
    assert_eq!(after.provisioned.values, before.provisioned.values);
    let change = r53
        .get_change()
        .id(&change_id)
        .send()
        .await
        .expect("GetChange");
    assert!(
        change.change_info().is_some(),
        "the change is known to Route 53"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn a_write_from_stale_records_is_rejected_whole() {
    let r53 = client().await;
    let (zone_id, record) = zone_with_pair(&r53).await;
    let store = pair(&r53, &zone_id, &record);
    let stale = store.read().await.unwrap();
    store
        .write(&stale, 25, 100)
        .await
        .expect("first writer wins");
    let err = store
        .write(&stale, 25, 100)
        .await
        .expect_err("second writer from stale records");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let now = store.read().await.unwrap();
    assert_eq!(
        (now.serverless.weight, now.provisioned.weight),
        (25, 100),
        "one step, not two; and the provisioned record is intact"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn missing_records_are_named() {
    let r53 = client().await;
    let (zone_id, record) = zone_with_pair(&r53).await;
    let location_store = pair(&r53, &zone_id, &format!("nothing-{record}"));
    let err = location_store.read().await.expect_err("no such record");
    assert!(
        matches!(err, StoreError::NotFound(ref m) if m.contains("provisioned")),
        "{err:?}"
    );
    let location_store = Route53Pair::new(
        r53.clone(),
        PairLocation {
            hosted_zone_id: zone_id.clone(),
            record_name: record.clone(),
            provisioned_set_identifier: "provisioned".into(),
            serverless_set_identifier: "no-such-set".into(),
        },
    );
    let err = location_store
        .read()
        .await
        .expect_err("no such set identifier");
    assert!(
        matches!(err, StoreError::NotFound(ref m) if m.contains("no-such-set")),
        "{err:?}"
    );
    let err = pair(&r53, "ZNOSUCHZONE", &record)
        .read()
        .await
        .expect_err("no zone");
    assert!(
        matches!(err, StoreError::NotFound(_) | StoreError::Other(_)),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn the_weights_read_names_each_record_present_even_half_a_pair() {
    // GIVEN the pair, spilled at 25 (both records in one batch)
    let r53 = client().await;
    let (zone_id, record) = zone_with_pair(&r53).await;
    let store = pair(&r53, &zone_id, &record);
    let current = store.read().await.expect("read");
    store.write(&current, 25, 100).await.expect("write");
    assert_eq!(
        store.weights().await.expect("weights"),
        PresentWeights {
            provisioned: Some(100),
            serverless: Some(25)
        }
    );
    // WHEN the provisioned record is gone (what a delete that skipped the serverless one
    // leaves)
    let provisioned = store.read().await.expect("read").provisioned;
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(weighted(
                            &record,
                            "provisioned",
                            100,
                            &provisioned.values[0],
                        ))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("delete the provisioned record");
    // THEN the pair cannot be read as a pair, and the weights read still sees the serverless one
    assert!(matches!(store.read().await, Err(StoreError::NotFound(_))));
    assert_eq!(
        store.weights().await.expect("weights"),
        PresentWeights {
            provisioned: None,
            serverless: Some(25)
        }
    );
    // AND no records at all is two `None`s
    assert_eq!(
        pair(&r53, &zone_id, &format!("nothing-{record}"))
            .weights()
            .await
            .expect("weights"),
        PresentWeights::default()
    );
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn serverless_reader_status_comes_from_rds() {
    let sdk = spillway_aws::sdk_config().await;
    let rds = aws_sdk_rds::Client::new(&sdk);
    let n = unique();
    let cluster = format!("st-{n}");
    rds.create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("spillway")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .unwrap();
    let sv = format!("{cluster}-sv");
    rds.create_db_instance()
        .db_instance_identifier(&sv)
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .unwrap();
    let adapter = spillway_aws::rds::Rds::new(rds);
    assert_eq!(
        adapter.instance_status(&sv).await.unwrap().as_deref(),
        Some("available")
    );
    assert_eq!(
        adapter
            .instance_status(&format!("{sv}-gone"))
            .await
            .unwrap(),
        None,
        "a missing instance"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator; run by scripts/test"]
async fn serverless_reader_lag_comes_from_cloudwatch() {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    let sdk = spillway_aws::sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let n = unique();
    let (lagging, quiet, stale) = (
        format!("lag-{n}-sv"),
        format!("lag-{n}-none"),
        format!("lag-{n}-stale"),
    );
    // Harness quirk: the emulator runs no RDS, so nothing publishes AWS/RDS metrics; the test
    // seeds the datapoint RDS would send (AWS refuses PutMetricData into AWS/ namespaces).
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (instance, minutes_ago, value) in [
        (&lagging, 2, 40.0),
        (&lagging, 1, 1234.0),
        (&stale, 6, 5000.0),
    ] {
        cloudwatch
            .put_metric_data()
            .namespace("AWS/RDS")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("AuroraReplicaLag")
                    .dimensions(
                        Dimension::builder()
                            .name("DBInstanceIdentifier")
                            .value(instance)
                            .build(),
                    )
                    .timestamp(DateTime::from_millis(now_ms - minutes_ago * 60_000))
                    .value(value)
                    .unit(StandardUnit::Milliseconds)
                    .build(),
            )
            .send()
            .await
            .expect("PutMetricData");
    }
    let reader = ServerlessReader {
        rds: spillway_aws::rds::Rds::new(aws_sdk_rds::Client::new(&sdk)),
        cloudwatch,
    };
    assert_eq!(
        reader.replica_lag_ms(&lagging).await.unwrap(),
        Some(1234.0),
        "the newest minute"
    );
    assert_eq!(
        reader.replica_lag_ms(&quiet).await.unwrap(),
        None,
        "no datapoint"
    );
    assert_eq!(
        reader.replica_lag_ms(&stale).await.unwrap(),
        None,
        "a datapoint six minutes old says nothing about now"
    );
}
