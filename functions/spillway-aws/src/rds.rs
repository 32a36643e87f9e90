//! The RDS adapter, serving two ports: "describe the cluster topology" (metrics pipeline: one
//! DescribeDBClusters and one DescribeDBInstances, plus pages, for all watched clusters,
//! filtered by `db-cluster-id`) and "the serverless reader's status" (traffic shifting: one
//! DescribeDBInstances by identifier).

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::Filter;
use spillway::metrics::topology::{
    ClusterDescription, ClusterMember, InstanceDescription, RdsSnapshot, SourceError,
    TopologySource,
};

/// The RDS adapter; counts the API calls it makes (for summaries and benchmarks): describe
/// calls of both ports alike.
#[derive(Debug)]
pub struct Rds {
    client: aws_sdk_rds::Client,
    calls: AtomicU64,
}

impl Rds {
    pub fn new(client: aws_sdk_rds::Client) -> Self {
        Self {
            client,
            calls: AtomicU64::new(0),
        }
    }

    /// Describe calls made so far (each page counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn filter(clusters: &[String]) -> Filter {
        Filter::builder()
            .name("db-cluster-id")
            .set_values(Some(clusters.to_vec()))
            .build()
    }
}

use crate::describe_error as describe;

fn source_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    call: &str,
    e: &aws_sdk_rds::error::SdkError<E>,
) -> SourceError {
    SourceError {
        message: describe(call, e),
        throttled: crate::is_throttling(e.as_service_error().and_then(|s| s.code())),
    }
}

impl TopologySource for Rds {
    async fn describe(&self, clusters: &[String]) -> Result<RdsSnapshot, SourceError> {
        let mut snapshot = RdsSnapshot::default();
        let mut pages = self
            .client
            .describe_db_clusters()
            .filters(Self::filter(clusters))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| source_error("DescribeDBClusters", &e))?;
            for c in page.db_clusters() {
                snapshot.clusters.push(ClusterDescription {
                    id: c.db_cluster_identifier().unwrap_or_default().to_owned(),
                    engine: c.engine().unwrap_or_default().to_owned(),
                    members: c
                        .db_cluster_members()
                        .iter()
                        .map(|m| ClusterMember {
                            instance: m.db_instance_identifier().unwrap_or_default().to_owned(),
                            writer: m.is_cluster_writer().unwrap_or(false),
                        })
                        .collect(),
                });
            }
        }
        let mut pages = self
            .client
            .describe_db_instances()
            .filters(Self::filter(clusters))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| source_error("DescribeDBInstances", &e))?;
            for i in page.db_instances() {
                snapshot.instances.push(InstanceDescription {
                    id: i.db_instance_identifier().unwrap_or_default().to_owned(),
                    cluster: i.db_cluster_identifier().unwrap_or_default().to_owned(),
                    status: i.db_instance_status().unwrap_or_default().to_owned(),
                    class: i.db_instance_class().unwrap_or_default().to_owned(),
                    resource_id: i.dbi_resource_id().map(str::to_owned),
                });
            }
        }
        Ok(snapshot)
    }
}

/// A weight-step guard's read error: throttling is told apart (the machines retry it).
fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    call: &str,
    e: &aws_sdk_rds::error::SdkError<E>,
) -> spillway::shifting::shift::StoreError {
    let message = describe(call, e);
    if crate::is_throttling(e.as_service_error().and_then(|s| s.code())) {
        spillway::shifting::shift::StoreError::Throttled(message)
    } else {
        spillway::shifting::shift::StoreError::Other(message)
    }
}

impl Rds {
    /// The cluster's status (the weight step's failover guard); `Ok(None)` when it does not
    /// exist.
    pub async fn cluster_status(
        &self,
        cluster_id: &str,
    ) -> Result<Option<String>, spillway::shifting::shift::StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(cluster_id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .db_clusters()
                .first()
                .and_then(|c| c.status())
                .map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_cluster_not_found_fault()) =>
            {
                Ok(None)
            }
            Err(e) => Err(store_error("DescribeDBClusters", &e)),
        }
    }
}

/// The serverless reader's status, for the weight-step guard.
impl Rds {
    /// `Ok(None)` when the instance does not exist.
    pub async fn instance_status(
        &self,
        instance_id: &str,
    ) -> Result<Option<String>, spillway::shifting::shift::StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self
            .client
            .describe_db_instances()
            .db_instance_identifier(instance_id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .db_instances()
                .first()
                .and_then(|i| i.db_instance_status())
                .map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
            {
                Ok(None)
            }
            Err(e) => Err(store_error("DescribeDBInstances", &e)),
        }
    }
}
