//! The planned-event adapter: what Prepare and Recover observe of a cluster (RDS, Application
//! Auto Scaling, CloudWatch) and the changes they make, one SDK call per domain action.
//! Every rule is the reconciler's (`spillway::planned::reconcile`); this file only translates.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_rds::types::{Filter, ServerlessV2ScalingConfiguration, Tag};
use chrono::{DateTime, Utc};
use spillway::planned::plan::AcuRange;
use spillway::planned::reconcile::{Action, Endpoint, Instance, Observed, Reading};

use crate::describe_error as describe;

/// Where to look, besides the cluster: fixed by the deployment.
#[derive(Debug, Clone)]
pub struct Scope {
    pub serverless_instance: String,
    /// The provisioned readers' custom endpoint Spillway manages (`None`: the read record
    /// points at an endpoint the operator gave).
    pub endpoint: Option<String>,
    /// Whether Application Auto Scaling manages the cluster's replicas.
    pub autoscaling: bool,
}

/// What the adapter needs to act that the domain does not carry.
#[derive(Debug, Clone, Default)]
struct ClusterFacts {
    arn: String,
    engine: String,
    engine_version: String,
}

impl ClusterFacts {
    fn of(c: &aws_sdk_rds::types::DbCluster) -> Self {
        Self {
            arn: c.db_cluster_arn().unwrap_or_default().to_string(),
            engine: c.engine().unwrap_or_default().to_string(),
            engine_version: c.engine_version().unwrap_or_default().to_string(),
        }
    }
}

pub struct PlannedEvents {
    pub rds: aws_sdk_rds::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub scope: Scope,
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn resource_id(cluster: &str) -> String {
    format!("cluster:{cluster}")
}

impl PlannedEvents {
    /// The cluster as it is now. `writer_class`: ask whether it is offered (Prepare with a
    /// writer change).
    pub async fn observe(
        &self,
        cluster: &str,
        writer_class: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Observed, String> {
        self.observe_in(&self.scope, cluster, writer_class, now)
            .await
    }

    /// [`Self::observe`] with the scope of a request's cluster (a Region's machines pass each
    /// plan's cluster settings).
    pub async fn observe_in(
        &self,
        scope: &Scope,
        cluster: &str,
        writer_class: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Observed, String> {
        let c = self.cluster(cluster).await?;
        let facts = ClusterFacts::of(&c);
        let tiers: BTreeMap<String, (bool, u8)> = c
            .db_cluster_members()
            .iter()
            .map(|m| {
                (
                    m.db_instance_identifier().unwrap_or_default().to_string(),
                    (
                        m.is_cluster_writer().unwrap_or(false),
                        m.promotion_tier().unwrap_or(1).clamp(0, 15) as u8,
                    ),
                )
            })
            .collect();
        let acu = c.serverless_v2_scaling_configuration().and_then(|s| {
            Some(AcuRange {
                min: s.min_capacity()?,
                max: s.max_capacity()?,
            })
        });
        let mut members = vec![];
        let mut pages = self
            .rds
            .describe_db_instances()
            .filters(
                Filter::builder()
                    .name("db-cluster-id")
                    .values(cluster)
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe("DescribeDBInstances", &e))?;
            for i in page.db_instances() {
                let id = i.db_instance_identifier().unwrap_or_default().to_string();
                // Members only: an instance being created may not be listed by the cluster yet.
                let (writer, tier) = tiers
                    .get(&id)
                    .copied()
                    .unwrap_or((false, i.promotion_tier().unwrap_or(1).clamp(0, 15) as u8));
                let pending = i.pending_modified_values().is_some_and(|p| {
                    *p != aws_sdk_rds::types::PendingModifiedValues::builder().build()
                });
                members.push(Instance {
                    pending_changes: pending,
                    class: i.db_instance_class().unwrap_or_default().to_string(),
                    status: i.db_instance_status().unwrap_or_default().to_string(),
                    writer,
                    tier,
                    tags: tags(i.tag_list()),
                    id,
                });
            }
        }
        let writer_class_orderable = match writer_class {
            None => None,
            Some(class) => Some(
                !self
                    .rds
                    .describe_orderable_db_instance_options()
                    .engine(&facts.engine)
                    .engine_version(&facts.engine_version)
                    .db_instance_class(class)
                    .max_records(20)
                    .send()
                    .await
                    .map_err(|e| describe("DescribeOrderableDBInstanceOptions", &e))?
                    .orderable_db_instance_options()
                    .is_empty(),
            ),
        };
        let autoscaling = if scope.autoscaling {
            let out = self
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Rds)
                .resource_ids(resource_id(cluster))
                .scalable_dimension(ScalableDimension::RdsClusterReadReplicaCount)
                .send()
                .await
                .map_err(|e| describe("DescribeScalableTargets", &e))?;
            let target = out.scalable_targets().first().ok_or_else(|| {
                format!("DescribeScalableTargets: no scalable target for {cluster}")
            })?;
            Some((
                target.min_capacity().max(0) as u32,
                target.max_capacity().max(0) as u32,
            ))
        } else {
            None
        };
        let endpoint = match &scope.endpoint {
            None => None,
            Some(id) => {
                let out = self
                    .rds
                    .describe_db_cluster_endpoints()
                    .db_cluster_identifier(cluster)
                    .db_cluster_endpoint_identifier(id)
                    .send()
                    .await
                    .map_err(|e| describe("DescribeDBClusterEndpoints", &e))?;
                let e = out
                    .db_cluster_endpoints()
                    .first()
                    .ok_or_else(|| format!("DescribeDBClusterEndpoints: no endpoint {id}"))?;
                Some(Endpoint {
                    id: id.clone(),
                    status: e.status().unwrap_or_default().to_string(),
                    excluded: e.excluded_members().to_vec(),
                })
            }
        };
        let mut seen = Observed {
            cluster: c.db_cluster_identifier().unwrap_or(cluster).to_string(),
            status: c.status().unwrap_or_default().to_string(),
            tags: tags(c.tag_list()),
            acu,
            members,
            serverless_instance: scope.serverless_instance.clone(),
            writer_class_orderable,
            autoscaling_min: autoscaling.map(|(min, _)| min),
            autoscaling_max: autoscaling.map(|(_, max)| max),
            endpoint,
            connections: BTreeMap::new(),
            now,
        };
        // Connections of the readers Spillway created (the ones a Recover drains).
        if let Some(event) = seen
            .tags
            .get(spillway::planned::reconcile::EVENT_TAG)
            .cloned()
        {
            let ours: Vec<String> = seen
                .members
                .iter()
                .filter(|m| {
                    !m.writer && m.tags.get(spillway::planned::reconcile::EVENT_TAG) == Some(&event)
                })
                .map(|m| m.id.clone())
                .collect();
            seen.connections = self.connections(&ours, now).await?;
        }
        Ok(seen)
    }

    async fn cluster(&self, cluster: &str) -> Result<aws_sdk_rds::types::DbCluster, String> {
        let out = self
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .map_err(|e| describe("DescribeDBClusters", &e))?;
        out.db_clusters()
            .first()
            .cloned()
            .ok_or_else(|| format!("DescribeDBClusters: cluster {cluster} not found"))
    }

    async fn facts(&self, cluster: &str) -> Result<ClusterFacts, String> {
        Ok(ClusterFacts::of(&self.cluster(cluster).await?))
    }

    /// The newest 1-minute maximum of `DatabaseConnections` (AWS/RDS) of each instance, from the
    /// last 5 minutes; an instance without a datapoint is left out.
    async fn connections(
        &self,
        instances: &[String],
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, Reading>, String> {
        use aws_sdk_cloudwatch::primitives::DateTime as SdkTime;
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
        if instances.is_empty() {
            return Ok(BTreeMap::new());
        }
        let queries = instances.iter().enumerate().map(|(n, id)| {
            MetricDataQuery::builder()
                .id(format!("c{n}"))
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/RDS")
                                .metric_name("DatabaseConnections")
                                .dimensions(
                                    Dimension::builder()
                                        .name("DBInstanceIdentifier")
                                        .value(id)
                                        .build(),
                                )
                                .build(),
                        )
                        .period(60)
                        .stat("Maximum")
                        .build(),
                )
                .return_data(true)
                .build()
        });
        let now_ms = now.timestamp_millis();
        let out = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.collect()))
            .start_time(SdkTime::from_millis(now_ms - 5 * 60_000))
            .end_time(SdkTime::from_millis(now_ms))
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| describe("GetMetricData", &e))?;
        let mut found = BTreeMap::new();
        for r in out.metric_data_results() {
            let Some(n) = r
                .id()
                .and_then(|id| id.strip_prefix('c')?.parse::<usize>().ok())
            else {
                continue;
            };
            // Newest first is asked for; the emulator may not honour it, so take the newest.
            let newest = r
                .timestamps()
                .iter()
                .zip(r.values())
                .map(|(t, v)| (t.to_millis().unwrap_or(0), *v))
                .max_by_key(|(t, _)| *t);
            if let (Some(id), Some((t, value))) = (instances.get(n), newest) {
                let at = DateTime::<Utc>::from_timestamp_millis(t).unwrap_or(now);
                found.insert(id.clone(), Reading { value, at });
            }
        }
        Ok(found)
    }

    /// Carries out one action.
    pub async fn apply(&self, cluster: &str, action: &Action) -> Result<(), String> {
        let rds = &self.rds;
        let rds_tags = |t: &BTreeMap<String, String>| -> Vec<Tag> {
            t.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect()
        };
        match action {
            Action::TagCluster { tags } => {
                let facts = self.facts(cluster).await?;
                rds.add_tags_to_resource()
                    .resource_name(&facts.arn)
                    .set_tags(Some(rds_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| describe("AddTagsToResource", &e))?;
            }
            Action::UntagCluster { keys } => {
                let facts = self.facts(cluster).await?;
                rds.remove_tags_from_resource()
                    .resource_name(&facts.arn)
                    .set_tag_keys(Some(keys.clone()))
                    .send()
                    .await
                    .map_err(|e| describe("RemoveTagsFromResource", &e))?;
            }
            Action::CreateInstance {
                id,
                class,
                tier,
                tags,
            } => {
                // The new instance is set up like the writer where the cluster does not decide:
                // its parameter group, public accessibility and CA.
                let facts = self.facts(cluster).await?;
                let like = self.writer_settings(cluster).await?;
                rds.create_db_instance()
                    .db_instance_identifier(id)
                    .db_cluster_identifier(cluster)
                    .engine(&facts.engine)
                    .db_instance_class(class)
                    .promotion_tier(i32::from(*tier))
                    .set_db_parameter_group_name(like.parameter_group)
                    .set_publicly_accessible(like.publicly_accessible)
                    .set_ca_certificate_identifier(like.ca_certificate)
                    .set_tags(Some(rds_tags(tags)))
                    .send()
                    .await
                    .map_err(|e| describe("CreateDBInstance", &e))?;
            }
            Action::Failover { target } => {
                rds.failover_db_cluster()
                    .db_cluster_identifier(cluster)
                    .target_db_instance_identifier(target)
                    .send()
                    .await
                    .map_err(|e| describe("FailoverDBCluster", &e))?;
            }
            Action::SetTier { id, tier } => {
                // ApplyImmediately also applies the instance's pending modifications: Prepare
                // refuses a writer that has any (reconcile.rs), so only the tier applies.
                rds.modify_db_instance()
                    .db_instance_identifier(id)
                    .promotion_tier(i32::from(*tier))
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| describe("ModifyDBInstance", &e))?;
            }
            Action::SetAcu { min, max } => {
                rds.modify_db_cluster()
                    .db_cluster_identifier(cluster)
                    .serverless_v2_scaling_configuration(
                        ServerlessV2ScalingConfiguration::builder()
                            .min_capacity(*min)
                            .max_capacity(*max)
                            .build(),
                    )
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| describe("ModifyDBCluster", &e))?;
            }
            Action::SetAutoScalingMin { min } => {
                // RegisterScalableTarget on a registered target updates only what it is given.
                self.autoscaling
                    .register_scalable_target()
                    .service_namespace(ServiceNamespace::Rds)
                    .resource_id(resource_id(cluster))
                    .scalable_dimension(ScalableDimension::RdsClusterReadReplicaCount)
                    .min_capacity(i32::try_from(*min).unwrap_or(i32::MAX))
                    .send()
                    .await
                    .map_err(|e| describe("RegisterScalableTarget", &e))?;
            }
            Action::SetExcluded { endpoint, excluded } => {
                rds.modify_db_cluster_endpoint()
                    .db_cluster_endpoint_identifier(endpoint)
                    .set_excluded_members(Some(excluded.clone()))
                    .send()
                    .await
                    .map_err(|e| describe("ModifyDBClusterEndpoint", &e))?;
            }
            Action::DeleteInstance { id } => {
                rds.delete_db_instance()
                    .db_instance_identifier(id)
                    .send()
                    .await
                    .map_err(|e| describe("DeleteDBInstance", &e))?;
            }
        }
        Ok(())
    }

    async fn writer_settings(&self, cluster: &str) -> Result<WriterSettings, String> {
        let c = self.cluster(cluster).await?;
        let writer = c
            .db_cluster_members()
            .iter()
            .find(|m| m.is_cluster_writer() == Some(true))
            .and_then(|m| m.db_instance_identifier())
            .map(str::to_string);
        let Some(writer) = writer else {
            return Ok(WriterSettings::default());
        };
        let out = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(&writer)
            .send()
            .await
            .map_err(|e| describe("DescribeDBInstances", &e))?;
        let Some(i) = out.db_instances().first() else {
            return Ok(WriterSettings::default());
        };
        Ok(WriterSettings {
            parameter_group: i
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_string),
            publicly_accessible: i.publicly_accessible(),
            ca_certificate: i.ca_certificate_identifier().map(str::to_string),
        })
    }
}

#[derive(Debug, Default)]
struct WriterSettings {
    parameter_group: Option<String>,
    publicly_accessible: Option<bool>,
    ca_certificate: Option<String>,
}
