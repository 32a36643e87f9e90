//! Backfill: the samples of a replay sent to CloudWatch with PutMetricData, at 1-second
//! resolution and with their own timestamps, under the same namespace and dimensions as the EMF
//! the Lambda prints.

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use spillway::metrics::pipeline::{CLUSTER_DIMENSION, CPU_METRIC, Emitted, ROLE_DIMENSION};

/// Data points per PutMetricData request (the API takes up to 1,000 and 1 MB).
pub const BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
#[error("PutMetricData failed: {0}")]
pub struct PublishError(String);

/// Publishes samples, `BATCH` at a time; returns the number of requests made.
pub async fn publish(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    samples: &[Emitted],
) -> Result<u64, PublishError> {
    let mut requests = 0;
    for chunk in samples.chunks(BATCH) {
        let data: Vec<MetricDatum> = chunk
            .iter()
            .map(|s| {
                MetricDatum::builder()
                    .metric_name(CPU_METRIC)
                    .dimensions(dimension(CLUSTER_DIMENSION, &s.cluster))
                    .dimensions(dimension(ROLE_DIMENSION, s.role.as_str()))
                    .timestamp(DateTime::from_millis(s.timestamp_ms))
                    .value(s.cpu_total)
                    .unit(StandardUnit::Percent)
                    .storage_resolution(1)
                    .build()
            })
            .collect();
        client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .map_err(|e| {
                PublishError(match e.as_service_error() {
                    Some(s) => format!(
                        "{}: {}",
                        s.code().unwrap_or("error"),
                        s.message().unwrap_or_default()
                    ),
                    None => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                })
            })?;
        requests += 1;
    }
    Ok(requests)
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The newest `AuroraReplicaLag` (AWS/RDS, milliseconds, one-minute datapoints) of an
/// instance: the largest value of each minute over the last four, newest first; `Ok(None)`
/// when CloudWatch has none (a reader just created, or Enhanced Monitoring's clock ahead).
pub async fn replica_lag_ms(
    client: &aws_sdk_cloudwatch::Client,
    instance_id: &str,
    now_ms: i64,
) -> Result<Option<f64>, spillway::shifting::shift::StoreError> {
    use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat, ScanBy};
    let query = MetricDataQuery::builder()
        .id("lag")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/RDS")
                        .metric_name("AuroraReplicaLag")
                        .dimensions(dimension("DBInstanceIdentifier", instance_id))
                        .build(),
                )
                .period(60)
                .stat("Maximum")
                .build(),
        )
        .return_data(true)
        .build();
    let out = client
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from_millis(now_ms - LAG_MAX_AGE_MS))
        .end_time(DateTime::from_millis(now_ms))
        .scan_by(ScanBy::TimestampDescending)
        .send()
        .await
        .map_err(|e| {
            let message = crate::describe_error("GetMetricData", &e);
            if crate::is_throttling(e.as_service_error().and_then(|s| s.code())) {
                spillway::shifting::shift::StoreError::Throttled(message)
            } else {
                spillway::shifting::shift::StoreError::Other(message)
            }
        })?;
    // The newest minute's value, by its timestamp (not by position: ScanBy orders the
    // points, but the value is chosen the same whatever the order); a minute that began
    // before the window says nothing about now, whatever the service returned.
    Ok(out
        .metric_data_results()
        .iter()
        .find(|r| r.id() == Some("lag"))
        .and_then(|r| {
            r.timestamps()
                .iter()
                .zip(r.values())
                .filter(|(t, _)| t.to_millis().is_ok_and(|ms| ms >= now_ms - LAG_MAX_AGE_MS))
                .max_by_key(|(t, _)| (t.secs(), t.subsec_nanos()))
                .map(|(_, v)| *v)
        }))
}

/// How old the newest `AuroraReplicaLag` minute may be to count: it began at most four
/// minutes ago, so it ended at most three ago (the minute that just ended, plus a publication
/// delay AWS gives no figure for; `GetMetricData` rounds the start down to the minute).
/// Older (the reader stopped publishing, the metric is gone): no datapoint, which the lag
/// guard logs and raises without.
pub const LAG_MAX_AGE_MS: i64 = 4 * 60_000;
