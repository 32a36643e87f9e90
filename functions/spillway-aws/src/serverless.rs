//! The serverless reader as the weight-step guards see it: its status (RDS) and its replica
//! lag (CloudWatch).

use std::time::{SystemTime, UNIX_EPOCH};

use spillway::shifting::shift::{InstanceStatus, StoreError};

use crate::rds::Rds;

pub struct ServerlessReader {
    pub rds: Rds,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl InstanceStatus for ServerlessReader {
    async fn status(&self, instance_id: &str) -> Result<Option<String>, StoreError> {
        self.rds.instance_status(instance_id).await
    }

    async fn cluster_status(&self, cluster_id: &str) -> Result<Option<String>, StoreError> {
        self.rds.cluster_status(cluster_id).await
    }

    async fn replica_lag_ms(&self, instance_id: &str) -> Result<Option<f64>, StoreError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        crate::cloudwatch::replica_lag_ms(&self.cloudwatch, instance_id, now_ms).await
    }
}
