//! The preflight check of a deployment: what silently breaks a spill, judged from a snapshot
//! of the deployed stack and its cluster (gathered by `spillway-aws`'s adapter, judged here so
//! every rule is testable without AWS).
//!
//! Each rule gives pass, warning or failure with the fix, or says that only real AWS can tell
//! (it never passes what it could not see).

use std::collections::BTreeMap;

use serde::Serialize;

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Only real AWS can tell; not checked here.
    NotChecked,
    Warn,
    Fail,
}

/// One rule's finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do (empty when it passes).
    pub fix: String,
}

/// A DB instance of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub class: String,
    pub writer: bool,
    pub monitoring_interval: Option<i32>,
    pub promotion_tier: Option<i32>,
}

impl Instance {
    fn serverless(&self) -> bool {
        self.class == "db.serverless"
    }
}

/// A deployed alarm, as DescribeAlarms gives it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alarm {
    pub name: String,
    pub namespace: Option<String>,
    pub metric: Option<String>,
    pub statistic: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub period: Option<i32>,
    pub evaluation_periods: Option<i32>,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: Option<f64>,
    pub comparison: Option<String>,
    pub treat_missing_data: Option<String>,
    pub actions_enabled: Option<bool>,
}

/// One record of the weighted pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub set_identifier: String,
    pub ttl: Option<i64>,
    pub weight: Option<i64>,
}

/// A subscription filter on `RDSOSMetrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub name: String,
    pub destination: String,
}

/// A running execution of one of the stack's state machines.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub machine: String,
    pub name: String,
    pub started: i64,
}

/// Everything the rules look at. `None` where the adapter could not read it (the rule then
/// says so).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub stack: String,
    /// The stack's parameters (defaults resolved as CloudFormation shows them).
    pub parameters: BTreeMap<String, String>,
    pub instances: Option<Vec<Instance>>,
    /// The cluster's `MonitoringInterval` when monitoring is set at the cluster level.
    pub cluster_monitoring_interval: Option<i32>,
    /// The cluster's Serverless v2 capacity range.
    pub serverless_range: Option<(f64, f64)>,
    pub records: Option<Vec<Record>>,
    /// Subscription filters on `RDSOSMetrics`.
    pub subscription_filters: Option<Vec<Filter>>,
    /// The stack's metrics function (its filter's destination).
    pub metrics_function: Option<String>,
    pub alarms: Option<Vec<Alarm>>,
    pub running: Option<Vec<Running>>,
    /// Now, Unix epoch seconds.
    pub now: i64,
}

/// CloudWatch Logs: at most two subscription filters per log group.
pub const MAX_SUBSCRIPTION_FILTERS: usize = 2;

/// The pseudo-parameter of a cluster's view that carries its resources' name prefix.
pub const NAME_PREFIX: &str = "Spillway::NamePrefix";

fn finding(rule: &'static str, verdict: Verdict, detail: String, fix: &str) -> Finding {
    Finding {
        rule,
        verdict,
        detail,
        fix: if verdict == Verdict::Pass {
            String::new()
        } else {
            fix.to_owned()
        },
    }
}

fn unread(rule: &'static str, what: &str) -> Finding {
    finding(
        rule,
        Verdict::Fail,
        format!("could not read {what}"),
        "check the credentials and Region, and that the stack's resources exist",
    )
}

impl Snapshot {
    /// What the cluster's resource names start with: `<stack>-<key>` for a cluster of a Region
    /// stack (`NAME_PREFIX`, set by the adapter), `<stack>` for a one-cluster stack.
    pub fn name_prefix(&self) -> &str {
        self.parameter(NAME_PREFIX).unwrap_or(&self.stack)
    }

    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    fn number(&self, name: &str) -> Option<f64> {
        self.parameter(name).and_then(|v| v.trim().parse().ok())
    }
}

/// Every rule, in a fixed order.
pub fn check(s: &Snapshot) -> Vec<Finding> {
    vec![
        monitoring(s),
        serverless_tier(s),
        serverless_minimum(s),
        record_ttl(s),
        pair(s),
        subscription_filters(s),
        alarms(s),
        stuck_executions(s),
        iam(),
    ]
}

fn monitoring(s: &Snapshot) -> Finding {
    const RULE: &str = "every reader at 1-second Enhanced Monitoring";
    let Some(instances) = &s.instances else {
        return unread(RULE, "the cluster's instances");
    };
    let slow: Vec<String> = instances
        .iter()
        .filter(|i| !i.writer)
        .filter(|i| i.monitoring_interval.or(s.cluster_monitoring_interval) != Some(1))
        .map(|i| {
            format!(
                "{} ({})",
                i.id,
                i.monitoring_interval
                    .map_or("off".to_owned(), |m| format!("{m} s"))
            )
        })
        .collect();
    let readers = instances.iter().filter(|i| !i.writer).count();
    if readers == 0 {
        return finding(
            RULE,
            Verdict::Fail,
            "the cluster has no readers".to_owned(),
            "add the provisioned readers and the db.serverless reader",
        );
    }
    if slow.is_empty() {
        finding(RULE, Verdict::Pass, format!("{readers} readers at 1 s"), "")
    } else {
        finding(
            RULE,
            Verdict::Fail,
            format!("not at 1 s: {}", slow.join(", ")),
            "set MonitoringInterval 1 at the cluster level (it reaches replicas added later), or on each instance: aws rds modify-db-instance --monitoring-interval 1 --monitoring-role-arn …; with per-instance monitoring deploy with MonitoringRoleArn so new readers get it",
        )
    }
}

fn serverless_reader(s: &Snapshot) -> Option<Option<&Instance>> {
    let id = s.parameter("ServerlessInstanceIdentifier")?;
    Some(
        s.instances
            .as_ref()?
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(id)),
    )
}

fn serverless_tier(s: &Snapshot) -> Finding {
    const RULE: &str = "the serverless reader in promotion tier 2-15";
    match serverless_reader(s) {
        None => unread(RULE, "the serverless reader"),
        Some(None) => finding(
            RULE,
            Verdict::Fail,
            format!(
                "{} is not an instance of the cluster",
                s.parameter("ServerlessInstanceIdentifier").unwrap_or("?")
            ),
            "create the db.serverless reader, or fix ServerlessInstanceIdentifier",
        ),
        Some(Some(i)) if !i.serverless() => finding(
            RULE,
            Verdict::Fail,
            format!("{} is a {}, not db.serverless", i.id, i.class),
            "point ServerlessInstanceIdentifier at the db.serverless reader",
        ),
        Some(Some(i)) => match i.promotion_tier {
            Some(t) if t >= 2 => finding(RULE, Verdict::Pass, format!("{} in tier {t}", i.id), ""),
            tier => finding(
                RULE,
                Verdict::Fail,
                format!(
                    "{} in tier {}: it scales with the writer and comes first in failover order",
                    i.id,
                    tier.map_or("?".to_owned(), |t| t.to_string())
                ),
                "aws rds modify-db-instance --db-instance-identifier <serverless> --promotion-tier 15",
            ),
        },
    }
}

fn serverless_minimum(s: &Snapshot) -> Finding {
    const RULE: &str = "the serverless reader's capacity range fits the spill";
    let Some((min, max)) = s.serverless_range else {
        return unread(RULE, "the cluster's ServerlessV2ScalingConfiguration");
    };
    // One provisioned reader's worth of capacity (an r6g.large ≈ 8 ACU) must be reachable, and
    // a minimum of 0 pauses the reader: resuming takes seconds the spill does not have.
    if min <= 0.0 {
        finding(
            RULE,
            Verdict::Fail,
            format!("minimum {min} ACU: the reader auto-pauses and must resume before it serves"),
            "set MinCapacity to at least 0.5 ACU (higher scales faster: the simulator's pre-warm sweep tells how much)",
        )
    } else if max < 8.0 {
        finding(
            RULE,
            Verdict::Warn,
            format!(
                "{min}-{max} ACU: the maximum is below one provisioned reader's capacity (about 8 ACU for an r6g.large)"
            ),
            "raise MaxCapacity to at least the capacity of the readers it relieves",
        )
    } else {
        finding(RULE, Verdict::Pass, format!("{min}-{max} ACU"), "")
    }
}

fn record_ttl(s: &Snapshot) -> Finding {
    const RULE: &str = "record TTLs of a few seconds";
    let Some(records) = &s.records else {
        return unread(RULE, "the weighted records");
    };
    // What the stack set (RecordTtl), and never above a minute whatever it says.
    let wanted = s.number("RecordTtl").map(|t| t as i64);
    let long: Vec<String> = records
        .iter()
        .filter(|r| {
            r.ttl
                .is_none_or(|t| t > 60 || wanted.is_some_and(|w| t != w))
        })
        .map(|r| {
            format!(
                "{} TTL {}",
                r.set_identifier,
                r.ttl.map_or("?".to_owned(), |t| t.to_string())
            )
        })
        .collect();
    if records.is_empty() {
        return finding(
            RULE,
            Verdict::Fail,
            "no weighted records".to_owned(),
            "deploy the stack again",
        );
    }
    if long.is_empty() {
        let ttls: Vec<String> = records
            .iter()
            .map(|r| format!("{} {}", r.set_identifier, r.ttl.unwrap_or_default()))
            .collect();
        finding(RULE, Verdict::Pass, ttls.join(", "), "")
    } else {
        finding(
            RULE,
            Verdict::Fail,
            format!(
                "not the stack's RecordTtl ({}) or above 60 s: {}",
                wanted.map_or("?".to_owned(), |w| w.to_string()),
                long.join(", ")
            ),
            "set RecordTtl (5 by default) and update the stack; do not edit the records by hand",
        )
    }
}

fn pair(s: &Snapshot) -> Finding {
    const RULE: &str = "the weighted pair, provisioned weight above 0";
    let Some(records) = &s.records else {
        return unread(RULE, "the weighted records");
    };
    let weight = |id: &str| {
        records
            .iter()
            .find(|r| r.set_identifier == id)
            .map(|r| r.weight)
    };
    match (weight("provisioned"), weight("serverless")) {
        (Some(Some(p)), Some(Some(sv))) if p > 0 => finding(
            RULE,
            Verdict::Pass,
            format!("provisioned {p}, serverless {sv}"),
            "",
        ),
        (Some(Some(p)), Some(_)) => finding(
            RULE,
            Verdict::Fail,
            format!("provisioned weight {p}: with both at 0 Route 53 splits traffic evenly"),
            "set the provisioned record's weight back to ProvisionedWeight (both records in one change batch)",
        ),
        _ => finding(
            RULE,
            Verdict::Fail,
            format!(
                "the pair is incomplete: {}",
                records
                    .iter()
                    .map(|r| r.set_identifier.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "update the stack so CloudFormation recreates both records",
        ),
    }
}

fn subscription_filters(s: &Snapshot) -> Finding {
    const RULE: &str = "RDSOSMetrics subscription filters within the limit";
    let Some(filters) = &s.subscription_filters else {
        return unread(RULE, "the RDSOSMetrics log group's subscription filters");
    };
    let ours = s
        .metrics_function
        .as_deref()
        .is_some_and(|arn| filters.iter().any(|f| f.destination == arn));
    let names = filters
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if filters.len() > MAX_SUBSCRIPTION_FILTERS {
        finding(
            RULE,
            Verdict::Fail,
            format!(
                "{} filters ({names}); a log group takes {MAX_SUBSCRIPTION_FILTERS}",
                filters.len()
            ),
            "remove a filter: a log group takes two subscription filters; one Spillway stack watches every cluster of the Region (Clusters) with one filter",
        )
    } else if !ours {
        finding(
            RULE,
            Verdict::Fail,
            format!("no filter sends to this stack's metrics function (filters: {names})"),
            "update the stack: the metrics function's subscription is missing",
        )
    } else if filters.len() == MAX_SUBSCRIPTION_FILTERS {
        finding(
            RULE,
            Verdict::Warn,
            format!(
                "{} filters ({names}): the limit; another stack's deploy will fail",
                filters.len()
            ),
            "a third stack's subscription will be refused: free the other filter before deploying another",
        )
    } else {
        finding(RULE, Verdict::Pass, names, "")
    }
}

/// What the template defines for the two alarms, from the stack's parameters.
fn expected_alarms(s: &Snapshot) -> Option<Vec<Alarm>> {
    let cluster = s.parameter("ClusterIdentifier")?;
    let namespace = s.parameter("MetricsNamespace").unwrap_or("Spillway");
    let int = |name: &str| s.number(name).map(|v| v as i32);
    let alarm = |suffix: &str, threshold: &str, periods: &str, points: &str, cmp: &str| Alarm {
        name: format!("{}-{suffix}", s.name_prefix()),
        namespace: Some(namespace.to_owned()),
        metric: Some("CPUUtilization".to_owned()),
        statistic: Some("Average".to_owned()),
        dimensions: BTreeMap::from([
            ("DBClusterIdentifier".to_owned(), cluster.to_owned()),
            ("Role".to_owned(), "provisioned-reader".to_owned()),
        ]),
        period: int("AlarmPeriodSeconds"),
        evaluation_periods: int(periods),
        datapoints_to_alarm: int(points),
        threshold: s.number(threshold),
        comparison: Some(cmp.to_owned()),
        treat_missing_data: Some("missing".to_owned()),
        actions_enabled: None,
    };
    Some(vec![
        alarm(
            "high-cpu",
            "HighCpuThreshold",
            "HighAlarmEvaluationPeriods",
            "HighAlarmDatapoints",
            "GreaterThanThreshold",
        ),
        alarm(
            "low-cpu",
            "LowCpuThreshold",
            "LowAlarmEvaluationPeriods",
            "LowAlarmDatapoints",
            "LessThanThreshold",
        ),
    ])
}

fn alarms(s: &Snapshot) -> Finding {
    const RULE: &str = "alarms as the template defines them";
    let (Some(deployed), Some(expected)) = (&s.alarms, expected_alarms(s)) else {
        return unread(RULE, "the alarms or the stack's parameters");
    };
    let mut differences = Vec::new();
    for want in &expected {
        let Some(got) = deployed.iter().find(|a| a.name == want.name) else {
            differences.push(format!("{} is missing", want.name));
            continue;
        };
        let pairs: [(&str, String, String); 9] = [
            (
                "namespace",
                format!("{:?}", want.namespace),
                format!("{:?}", got.namespace),
            ),
            (
                "metric",
                format!("{:?}", want.metric),
                format!("{:?}", got.metric),
            ),
            (
                "statistic",
                format!("{:?}", want.statistic),
                format!("{:?}", got.statistic),
            ),
            (
                "dimensions",
                format!("{:?}", want.dimensions),
                format!("{:?}", got.dimensions),
            ),
            (
                "period",
                format!("{:?}", want.period),
                format!("{:?}", got.period),
            ),
            (
                "evaluation periods",
                format!("{:?}", want.evaluation_periods),
                format!("{:?}", got.evaluation_periods),
            ),
            (
                "datapoints to alarm",
                format!("{:?}", want.datapoints_to_alarm),
                format!("{:?}", got.datapoints_to_alarm),
            ),
            (
                "threshold",
                format!("{:?}", want.threshold),
                format!("{:?}", got.threshold),
            ),
            (
                "comparison / missing data",
                format!("{:?} {:?}", want.comparison, want.treat_missing_data),
                format!("{:?} {:?}", got.comparison, got.treat_missing_data),
            ),
        ];
        for (field, w, g) in pairs {
            if w != g {
                differences.push(format!(
                    "{}: {field} is {g}, the template says {w}",
                    want.name
                ));
            }
        }
    }
    if differences.is_empty() {
        finding(
            RULE,
            Verdict::Pass,
            expected
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            "",
        )
    } else {
        finding(
            RULE,
            Verdict::Fail,
            differences.join("; "),
            "the alarms were edited outside CloudFormation: update the stack (or change the parameters) instead of editing them",
        )
    }
}

/// The longest an execution can legally run: `MaxRounds` rounds of the longer wait, with a
/// minute a round for the tasks (the definitions' own bound is larger still).
fn execution_bound(s: &Snapshot) -> Option<i64> {
    let rounds = s.number("MaxRounds")?;
    let wait = s
        .number("AlarmCycleSeconds")?
        .max(s.number("CooldownSeconds")?);
    Some((rounds * (wait + 60.0)) as i64)
}

fn stuck_executions(s: &Snapshot) -> Finding {
    const RULE: &str = "no execution running longer than its bound";
    let Some(running) = &s.running else {
        return unread(RULE, "the state machines' executions");
    };
    let Some(bound) = execution_bound(s) else {
        return unread(RULE, "MaxRounds, AlarmCycleSeconds and CooldownSeconds");
    };
    let stuck: Vec<String> = running
        .iter()
        .filter(|r| s.now - r.started > bound)
        .map(|r| format!("{} {} running {} s", r.machine, r.name, s.now - r.started))
        .collect();
    if stuck.is_empty() {
        finding(
            RULE,
            Verdict::Pass,
            format!("{} running, bound {bound} s", running.len()),
            "",
        )
    } else {
        finding(
            RULE,
            Verdict::Fail,
            format!("past the {bound}-s bound: {}", stuck.join(", ")),
            "look at its history (a task that never returns), then stop it: aws stepfunctions stop-execution --execution-arn …; the sweep schedule restarts the loop if its alarm still fires",
        )
    }
}

fn iam() -> Finding {
    finding(
        "the roles can make the calls they need",
        Verdict::NotChecked,
        "only real AWS can tell: the local emulator enforces no IAM".to_owned(),
        "on AWS, run the IAM policy simulator (aws iam simulate-principal-policy) on each function's and state machine's role for the actions its template policy grants",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:spillway-Metrics";

    fn filter(name: &str, destination: &str) -> Filter {
        Filter {
            name: name.to_owned(),
            destination: destination.to_owned(),
        }
    }

    /// A deployment that passes every rule.
    fn good() -> Snapshot {
        let instance = |id: &str, class: &str, writer: bool, tier: i32| Instance {
            id: id.to_owned(),
            class: class.to_owned(),
            writer,
            monitoring_interval: Some(1),
            promotion_tier: Some(tier),
        };
        let parameters = [
            ("ClusterIdentifier", "orders"),
            ("ServerlessInstanceIdentifier", "orders-serverless"),
            ("MetricsNamespace", "Spillway"),
            ("AlarmPeriodSeconds", "10"),
            ("HighCpuThreshold", "70"),
            ("HighAlarmEvaluationPeriods", "3"),
            ("HighAlarmDatapoints", "2"),
            ("LowCpuThreshold", "30"),
            ("LowAlarmEvaluationPeriods", "18"),
            ("LowAlarmDatapoints", "15"),
            ("MaxRounds", "180"),
            ("AlarmCycleSeconds", "20"),
            ("CooldownSeconds", "60"),
            ("RecordTtl", "5"),
        ];
        let mut s = Snapshot {
            stack: "spillway".to_owned(),
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            instances: Some(vec![
                instance("orders-writer", "db.r6g.large", true, 0),
                instance("orders-reader-1", "db.r6g.large", false, 1),
                instance("orders-serverless", "db.serverless", false, 15),
            ]),
            cluster_monitoring_interval: None,
            serverless_range: Some((0.5, 16.0)),
            records: Some(vec![
                Record {
                    set_identifier: "provisioned".to_owned(),
                    ttl: Some(5),
                    weight: Some(100),
                },
                Record {
                    set_identifier: "serverless".to_owned(),
                    ttl: Some(5),
                    weight: Some(0),
                },
            ]),
            subscription_filters: Some(vec![filter("spillway-Metrics-ABC", FUNCTION)]),
            metrics_function: Some(FUNCTION.to_owned()),
            alarms: None,
            running: Some(vec![]),
            now: 1_800_000_000,
        };
        s.alarms = expected_alarms(&s);
        s
    }

    fn verdicts(s: &Snapshot) -> Vec<(&'static str, Verdict)> {
        check(s).into_iter().map(|f| (f.rule, f.verdict)).collect()
    }

    fn failing(s: &Snapshot) -> Vec<Finding> {
        check(s)
            .into_iter()
            .filter(|f| f.verdict >= Verdict::Warn)
            .collect()
    }

    #[test]
    fn when_the_deployment_is_right_every_rule_should_pass_but_what_needs_aws() {
        let v = verdicts(&good());
        assert!(
            v.iter()
                .all(|(_, verdict)| *verdict == Verdict::Pass || *verdict == Verdict::NotChecked),
            "{v:?}"
        );
        assert_eq!(
            v.iter().filter(|(_, x)| *x == Verdict::NotChecked).count(),
            1,
            "IAM says it needs real AWS"
        );
    }

    /// Each mistake, seeded alone, fails (or warns) exactly its rule, with a fix.
    #[test]
    fn when_one_mistake_is_seeded_its_rule_should_report_it_with_the_fix() {
        type Seed = fn(&mut Snapshot);
        let seeds: [(&str, Seed, Verdict); 12] = [
            (
                "1-second",
                |s| s.instances.as_mut().unwrap()[1].monitoring_interval = Some(60),
                Verdict::Fail,
            ),
            (
                "promotion tier",
                |s| s.instances.as_mut().unwrap()[2].promotion_tier = Some(1),
                Verdict::Fail,
            ),
            (
                "capacity range",
                |s| s.serverless_range = Some((0.0, 16.0)),
                Verdict::Fail,
            ),
            (
                "capacity range",
                |s| s.serverless_range = Some((0.5, 4.0)),
                Verdict::Warn,
            ),
            (
                "TTL",
                |s| s.records.as_mut().unwrap()[0].ttl = Some(300),
                Verdict::Fail,
            ),
            (
                "provisioned weight",
                |s| s.records.as_mut().unwrap()[0].weight = Some(0),
                Verdict::Fail,
            ),
            (
                "subscription",
                |s| {
                    s.subscription_filters = Some(vec![
                        filter("spillway-Metrics-ABC", FUNCTION),
                        filter("other-stack", "arn:aws:lambda:us-east-1:1:function:x"),
                        filter("a-third", "arn:aws:lambda:us-east-1:1:function:y"),
                    ])
                },
                Verdict::Fail,
            ),
            (
                "subscription",
                |s| s.subscription_filters = Some(vec![filter("other", "arn:aws:lambda:x")]),
                Verdict::Fail,
            ),
            (
                "subscription",
                |s| {
                    s.subscription_filters
                        .as_mut()
                        .unwrap()
                        .push(filter("other", "arn:x"))
                },
                Verdict::Warn,
            ),
            (
                "alarms",
                |s| s.alarms.as_mut().unwrap()[0].threshold = Some(90.0),
                Verdict::Fail,
            ),
            (
                "alarms",
                |s| {
                    s.alarms.as_mut().unwrap()[1].treat_missing_data =
                        Some("notBreaching".to_owned())
                },
                Verdict::Fail,
            ),
            (
                "execution",
                |s| {
                    s.running = Some(vec![Running {
                        machine: "scale-up".to_owned(),
                        name: "stuck".to_owned(),
                        started: s.now - 3 * 86_400,
                    }])
                },
                Verdict::Fail,
            ),
        ];
        for (rule, seed, verdict) in seeds {
            let mut s = good();
            seed(&mut s);
            let found = failing(&s);
            assert_eq!(
                found.len(),
                1,
                "{rule}: exactly one rule reports it: {found:?}"
            );
            assert!(found[0].rule.contains(rule), "{rule}: {found:?}");
            assert_eq!(found[0].verdict, verdict, "{rule}");
            assert!(!found[0].fix.is_empty(), "{rule}: a fix is given");
        }
    }

    #[test]
    fn when_something_cannot_be_read_the_rule_should_fail_rather_than_pass() {
        let mut s = good();
        s.subscription_filters = None;
        s.records = None;
        let found = failing(&s);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|f| f.detail.starts_with("could not read")));
    }

    #[test]
    fn when_monitoring_is_set_at_the_cluster_level_readers_should_inherit_it() {
        let mut s = good();
        for i in s.instances.as_mut().unwrap() {
            i.monitoring_interval = None;
        }
        s.cluster_monitoring_interval = Some(1);
        assert!(failing(&s).is_empty(), "{:?}", failing(&s));
    }
}
