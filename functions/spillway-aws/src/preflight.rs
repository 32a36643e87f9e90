//! The preflight check's reads: one snapshot of a deployed stack and its cluster
//! (`spillway::preflight::Snapshot`), from CloudFormation, RDS, Route 53, CloudWatch Logs,
//! CloudWatch and Step Functions. Read-only: every call is a Describe or a List.
//!
//! A read that fails leaves its part of the snapshot `None` (the rule then fails with "could not
//! read …"), and its error is returned beside the snapshot; only a stack that cannot be
//! described at all is an error.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_rds::types::Filter as RdsFilter;
use aws_sdk_route53::types::RrType;
use spillway::preflight::{Alarm, Filter, Instance, Record, Running, Snapshot};

/// Why no snapshot could be taken.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PreflightError(String);

use crate::describe_error as describe;

/// A deployed stack's parameters (resolved values) and outputs.
#[derive(Debug, Clone, Default)]
pub struct StackFacts {
    pub name: String,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
}

impl StackFacts {
    pub fn output(&self, key: &str) -> Result<&str, String> {
        self.outputs.get(key).map(String::as_str).ok_or_else(|| {
            format!(
                "stack {} has no output {key} (deployed by an older template? run sam deploy)",
                self.name
            )
        })
    }
}

pub async fn describe_stack(config: &SdkConfig, name: &str) -> Result<StackFacts, String> {
    let out = aws_sdk_cloudformation::Client::new(config)
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe("DescribeStacks", &e))?;
    let s = out
        .stacks()
        .first()
        .ok_or_else(|| format!("no stack named {name}"))?;
    Ok(StackFacts {
        name: name.to_string(),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.resolved_value()
                        .or(p.parameter_value())
                        .unwrap_or_default()
                        .to_owned(),
                ))
            })
            .collect(),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
    })
}

/// The snapshot of `stack` at `now` (Unix seconds), and the reads that failed.
/// The keys of a stack's watched clusters (`""` alone: a one-cluster stack), as
/// [`snapshot`] takes them.
pub async fn cluster_keys(config: &SdkConfig, stack: &str) -> Result<Vec<String>, PreflightError> {
    let facts = describe_stack(config, stack)
        .await
        .map_err(PreflightError)?;
    let views = spillway::region::settings::per_cluster(&facts.parameters)
        .map_err(|p| PreflightError(p.join("; ")))?;
    Ok(views.into_iter().map(|(k, _)| k).collect())
}

/// The snapshot of one watched cluster of `stack` (`key`: its key in `Clusters`, `""` for a
/// one-cluster stack).
pub async fn snapshot(
    config: &SdkConfig,
    stack: &str,
    key: &str,
    now: i64,
) -> Result<(Snapshot, Vec<String>), PreflightError> {
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let StackFacts {
        parameters,
        outputs,
        ..
    } = describe_stack(config, stack)
        .await
        .map_err(PreflightError)?;
    // The cluster's view of the stack's parameters (its own over the stack's).
    let mut parameters = spillway::region::settings::per_cluster(&parameters)
        .map_err(|p| PreflightError(p.join("; ")))?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, view)| view)
        .ok_or_else(|| PreflightError(format!("stack {stack} watches no cluster keyed {key:?}")))?;
    let prefix = if key.is_empty() {
        stack.to_string()
    } else {
        format!("{stack}-{key}")
    };
    parameters.insert(spillway::preflight::NAME_PREFIX.into(), prefix.clone());
    let mut errors = Vec::new();
    let mut s = Snapshot {
        stack: stack.to_owned(),
        now,
        metrics_function: outputs.get("MetricsFunctionArn").cloned(),
        ..Snapshot::default()
    };
    let cluster = parameters.get("ClusterIdentifier").cloned();
    if let Some(cluster) = &cluster {
        match cluster_facts(config, cluster).await {
            Ok((instances, interval, range)) => {
                // An entry that names no serverless instance: its check found the cluster's
                // only db.serverless reader, and so does this.
                if !parameters.contains_key("ServerlessInstanceIdentifier") {
                    let mut serverless = instances
                        .iter()
                        .filter(|i| i.class == "db.serverless" && !i.writer);
                    if let (Some(one), None) = (serverless.next(), serverless.next()) {
                        parameters.insert("ServerlessInstanceIdentifier".into(), one.id.clone());
                    }
                }
                s.instances = Some(instances);
                s.cluster_monitoring_interval = interval;
                s.serverless_range = range;
            }
            Err(e) => errors.push(e),
        }
    }
    // The zone the stack created, by its resource (zone names repeat across Regions and stacks).
    let created_zone = cfn
        .describe_stack_resource()
        .stack_name(stack)
        .logical_resource_id("PrivateZone")
        .send()
        .await
        .ok()
        .and_then(|r| {
            r.stack_resource_detail()?
                .physical_resource_id()
                .map(str::to_owned)
        })
        .map(|id| id.trim_start_matches("/hostedzone/").to_owned());
    match records(config, &parameters, created_zone).await {
        Ok(r) => s.records = Some(r),
        Err(e) => errors.push(e),
    }
    match filters(config).await {
        Ok(f) => s.subscription_filters = Some(f),
        Err(e) => errors.push(e),
    }
    match alarms(config, &prefix).await {
        Ok(a) => s.alarms = Some(a),
        Err(e) => errors.push(e),
    }
    let machines: Vec<(&str, String)> = [
        ("scale-up", "ScaleUpStateMachineArn"),
        ("scale-down", "ScaleDownStateMachineArn"),
    ]
    .into_iter()
    .filter_map(|(name, key)| Some((name, outputs.get(key)?.clone())))
    .collect();
    match running(config, &machines).await {
        Ok(r) => s.running = Some(r),
        Err(e) => errors.push(e),
    }
    s.parameters = parameters;
    Ok((s, errors))
}

type ClusterFacts = (Vec<Instance>, Option<i32>, Option<(f64, f64)>);

async fn cluster_facts(config: &SdkConfig, cluster: &str) -> Result<ClusterFacts, String> {
    let rds = aws_sdk_rds::Client::new(config);
    let clusters = rds
        .describe_db_clusters()
        .db_cluster_identifier(cluster)
        .send()
        .await
        .map_err(|e| describe("DescribeDBClusters", &e))?;
    let c = clusters
        .db_clusters()
        .first()
        .ok_or_else(|| format!("DescribeDBClusters: no cluster {cluster}"))?;
    let writers: Vec<(String, bool, Option<i32>)> = c
        .db_cluster_members()
        .iter()
        .filter_map(|m| {
            Some((
                m.db_instance_identifier()?.to_owned(),
                m.is_cluster_writer().unwrap_or(false),
                m.promotion_tier(),
            ))
        })
        .collect();
    let range = c
        .serverless_v2_scaling_configuration()
        .and_then(|r| Some((r.min_capacity()?, r.max_capacity()?)));
    let interval = c.monitoring_interval().filter(|i| *i > 0);
    let mut instances = Vec::new();
    let mut pages = rds
        .describe_db_instances()
        .filters(
            RdsFilter::builder()
                .name("db-cluster-id")
                .values(cluster)
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe("DescribeDBInstances", &e))?;
        for i in page.db_instances() {
            let Some(id) = i.db_instance_identifier() else {
                continue;
            };
            let member = writers.iter().find(|(m, _, _)| m == id);
            instances.push(Instance {
                id: id.to_owned(),
                class: i.db_instance_class().unwrap_or_default().to_owned(),
                writer: member.is_some_and(|(_, w, _)| *w),
                monitoring_interval: i.monitoring_interval(),
                promotion_tier: i.promotion_tier().or(member.and_then(|(_, _, t)| *t)),
            });
        }
    }
    Ok((instances, interval, range))
}

async fn records(
    config: &SdkConfig,
    parameters: &BTreeMap<String, String>,
    created_zone: Option<String>,
) -> Result<Vec<Record>, String> {
    let r53 = aws_sdk_route53::Client::new(config);
    let name = parameters
        .get("RecordName")
        .ok_or("the stack has no RecordName parameter")?;
    let record = crate::route53::normalize(name);
    let given = parameters
        .get("HostedZoneId")
        .filter(|z| !z.is_empty())
        .cloned();
    let zone = match given.or(created_zone) {
        Some(z) => z,
        None => {
            let zone_name = parameters
                .get("ZoneName")
                .filter(|z| !z.is_empty())
                .cloned()
                .or_else(|| {
                    parameters
                        .get("ClusterIdentifier")
                        .map(|c| format!("{c}.spillway.internal"))
                })
                .ok_or("no ZoneName or HostedZoneId")?;
            let wanted = crate::route53::normalize(&zone_name);
            let zones = r53
                .list_hosted_zones_by_name()
                .dns_name(&zone_name)
                .send()
                .await
                .map_err(|e| describe("ListHostedZonesByName", &e))?;
            zones
                .hosted_zones()
                .iter()
                .find(|z| crate::route53::normalize(z.name()) == wanted)
                .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
                .ok_or_else(|| format!("no hosted zone {zone_name}"))?
        }
    };
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .start_record_name(&record)
        .start_record_type(RrType::Cname)
        .send()
        .await
        .map_err(|e| describe("ListResourceRecordSets", &e))?;
    Ok(sets
        .resource_record_sets()
        .iter()
        .filter(|r| crate::route53::normalize(r.name()) == record)
        .filter_map(|r| {
            Some(Record {
                set_identifier: r.set_identifier()?.to_owned(),
                ttl: r.ttl(),
                weight: r.weight(),
            })
        })
        .collect())
}

async fn filters(config: &SdkConfig) -> Result<Vec<Filter>, String> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    let out = logs
        .describe_subscription_filters()
        .log_group_name("RDSOSMetrics")
        .send()
        .await
        .map_err(|e| describe("DescribeSubscriptionFilters", &e))?;
    Ok(out
        .subscription_filters()
        .iter()
        .map(|f| Filter {
            name: f.filter_name().unwrap_or_default().to_owned(),
            destination: f.destination_arn().unwrap_or_default().to_owned(),
        })
        .collect())
}

async fn alarms(config: &SdkConfig, prefix: &str) -> Result<Vec<Alarm>, String> {
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let out = cw
        .describe_alarms()
        .alarm_names(format!("{prefix}-high-cpu"))
        .alarm_names(format!("{prefix}-low-cpu"))
        .send()
        .await
        .map_err(|e| describe("DescribeAlarms", &e))?;
    Ok(out
        .metric_alarms()
        .iter()
        .map(|a| Alarm {
            name: a.alarm_name().unwrap_or_default().to_owned(),
            namespace: a.namespace().map(str::to_owned),
            metric: a.metric_name().map(str::to_owned),
            statistic: a.statistic().map(|s| s.as_str().to_owned()),
            dimensions: a
                .dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                .collect(),
            period: a.period(),
            evaluation_periods: a.evaluation_periods(),
            datapoints_to_alarm: a.datapoints_to_alarm(),
            threshold: a.threshold(),
            comparison: a.comparison_operator().map(|c| c.as_str().to_owned()),
            treat_missing_data: a.treat_missing_data().map(str::to_owned),
            actions_enabled: a.actions_enabled(),
        })
        .collect())
}

async fn running(config: &SdkConfig, machines: &[(&str, String)]) -> Result<Vec<Running>, String> {
    let sfn = aws_sdk_sfn::Client::new(config);
    let mut out = Vec::new();
    for (machine, arn) in machines {
        let mut pages = sfn
            .list_executions()
            .state_machine_arn(arn)
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe("ListExecutions", &e))?;
            for e in page.executions() {
                out.push(Running {
                    machine: (*machine).to_owned(),
                    name: e.name().to_owned(),
                    started: e.start_date().secs(),
                });
            }
        }
    }
    Ok(out)
}
