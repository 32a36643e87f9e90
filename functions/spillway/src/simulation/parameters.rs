//! The template's parameters, by their names in `template.yaml`, applied to a scenario: so that
//! what is simulated is what is deployed (a template's defaults, or a deployed stack's
//! parameters copied as `sam deploy --parameter-overrides` takes them).

use thiserror::Error;

use super::scenario::Scenario;

/// A parameter that cannot be applied.
#[derive(Debug, Error, PartialEq)]
pub enum ParameterError {
    #[error("{name}={value}: not {expected}")]
    Value {
        name: String,
        value: String,
        expected: &'static str,
    },
    #[error("{0}: not a parameter of template.yaml")]
    Unknown(String),
}

/// The template's parameters that change nothing the simulator models (names, endpoints,
/// schedules, logging): accepted and ignored, so a deployed stack's whole list can be passed.
pub const NOT_SIMULATED: [&str; 25] = [
    // Which clusters and their own settings: a run is one cluster with the stack's values.
    "Clusters",
    "ClusterSettings",
    "CreateEndpoints",
    "ClusterIdentifier",
    "ServerlessInstanceIdentifier",
    "MonitoringRoleArn",
    "ProvisionedEndpointHost",
    "ServerlessEndpointHost",
    "HostedZoneId",
    "ZoneName",
    "RecordName",
    "VpcId",
    "RecordTtl",
    "DryRun",
    // The model has no replica lag: the guard never holds a round back in it.
    "MaxReplicaLagMilliseconds",
    "EventStartSchedule",
    "EventEndSchedule",
    // Announced sales (Prepare / Recover) happen outside a spike's run.
    "PlannedEventPollSeconds",
    "DrainSeconds",
    // Not yet modelled: replica scaling on connections (the simulator's replicas scale on
    // CPU). The connections signals are (`simulation::connections`).
    "ReplicaScalingMetric",
    "TargetReaderConnectionsPercent",
    "MetricsNamespace",
    "MetricsFilterPattern",
    "Architecture",
    "LogLevel",
];

/// Parameters the simulator ignores beyond [`NOT_SIMULATED`]: the local emulator's endpoint,
/// and `EventMinReplicas` (scheduled actions are outside a spike's run).
const ALSO_IGNORED: [&str; 2] = ["LocalEndpointUrl", "EventMinReplicas"];

/// Applies `(name, value)` pairs in order; the first that does not apply is the error.
pub fn apply(sc: &mut Scenario, parameters: &[(String, String)]) -> Result<(), ParameterError> {
    for (name, value) in parameters {
        apply_one(sc, name, value)?;
    }
    Ok(())
}

fn apply_one(sc: &mut Scenario, name: &str, value: &str) -> Result<(), ParameterError> {
    let err = |expected| ParameterError::Value {
        name: name.to_owned(),
        value: value.to_owned(),
        expected,
    };
    let number = || {
        value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| err("a number"))
    };
    let whole = || {
        value
            .trim()
            .parse::<u32>()
            .map_err(|_| err("a whole number"))
    };
    let weight = || {
        value
            .trim()
            .parse::<u16>()
            .map_err(|_| err("a weight (0–255)"))
    };
    match name {
        "HighCpuThreshold" => sc.high.threshold = number()?,
        "LowCpuThreshold" => sc.low.threshold = number()?,
        "AlarmPeriodSeconds" => sc.alarm_period = whole()?.max(1),
        "HighAlarmDatapoints" => sc.high.datapoints_to_alarm = whole()? as usize,
        "HighAlarmEvaluationPeriods" => sc.high.evaluation_periods = whole()? as usize,
        "LowAlarmDatapoints" => sc.low.datapoints_to_alarm = whole()? as usize,
        "LowAlarmEvaluationPeriods" => sc.low.evaluation_periods = whole()? as usize,
        "WeightStep" => sc.weight_step = weight()?,
        "MaxServerlessWeight" => sc.max_serverless_weight = weight()?,
        "ProvisionedWeight" => sc.provisioned_weight = weight()?,
        "AlarmCycleSeconds" => sc.loops.alarm_cycle = whole()?.max(1),
        "CooldownSeconds" => sc.loops.cooldown = whole()?.max(1),
        "ScaleDownDelayAfterScaleUpSeconds" => sc.loops.scale_down_delay = whole()?,
        "MaxRounds" => sc.loops.max_rounds = whole()?,
        "SweepMinutes" => sc.loops.sweep_every = Some(whole()?.saturating_mul(60)),
        "DirectTrigger" => match value.trim() {
            "true" => {
                if sc.direct.is_none() {
                    sc.direct = Some(super::scenario::DirectPath::default());
                }
            }
            "false" => sc.direct = None,
            _ => return Err(err("true or false")),
        },
        "DirectTriggerSeconds" => {
            let n = whole()?;
            if let Some(d) = sc.direct.as_mut() {
                d.trigger.debounce = n;
            }
        }
        "DirectTriggerWindowSeconds" => {
            let n = whole()?;
            if let Some(d) = sc.direct.as_mut() {
                d.trigger.window = n;
            }
        }
        "DirectTriggerGraceRounds" => sc.loops.grace_rounds = whole()?,
        // As the direct trigger's: the percentages apply to signals that are on.
        "ConnectionSignals" => match value.trim() {
            "true" => {
                if sc.connections.is_none() {
                    sc.connections = Some(super::connections::ConnectionsModel::default());
                }
            }
            "false" => sc.connections = None,
            _ => return Err(err("true or false")),
        },
        "HighConnectionsPercent" => {
            let n = number()?;
            if let Some(c) = sc.connections.as_mut() {
                c.high_percent = n;
            }
        }
        "LowConnectionsPercent" => {
            let n = number()?;
            if let Some(c) = sc.connections.as_mut() {
                c.low_percent = n;
            }
        }
        // 0: the check derives it from the readers' class, which the model does not have: the
        // model's figure stands.
        "MaxConnections" => {
            let n = whole()?;
            if let Some(c) = sc.connections.as_mut()
                && n > 0
            {
                c.max_connections = n;
            }
        }
        "EnableReplicaAutoScaling" => match value.trim() {
            "true" => {
                if sc.autoscaling.is_none() {
                    sc.autoscaling = Scenario::default().autoscaling;
                }
            }
            "false" => sc.autoscaling = None,
            _ => return Err(err("true or false")),
        },
        // The template's ReaderCount mapping adds the serverless reader to the replica counts.
        "MinReplicas" => {
            let n = whole()?;
            if let Some(a) = sc.autoscaling.as_mut() {
                a.min_capacity = n + 1;
            }
        }
        "MaxReplicas" => {
            let n = whole()?;
            if let Some(a) = sc.autoscaling.as_mut() {
                a.max_capacity = n + 1;
            }
        }
        "TargetReaderCpu" => {
            let target = number()?;
            if let Some(a) = sc.autoscaling.as_mut() {
                a.target = target;
            }
        }
        other if NOT_SIMULATED.contains(&other) || ALSO_IGNORED.contains(&other) => {}
        other => return Err(ParameterError::Unknown(other.to_owned())),
    }
    Ok(())
}

/// `NAME=VALUE` items (each may hold several, space-separated, as `sam deploy
/// --parameter-overrides` writes them; `ParameterKey=…,ParameterValue=…` too) into pairs.
pub fn parse_overrides(items: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for item in items {
        for word in item.split_whitespace() {
            if let Some(rest) = word.strip_prefix("ParameterKey=") {
                let (key, value) = rest
                    .split_once(",ParameterValue=")
                    .ok_or_else(|| format!("`{word}`: expected ParameterKey=K,ParameterValue=V"))?;
                pairs.push((key.to_owned(), value.to_owned()));
            } else {
                let (key, value) = word
                    .split_once('=')
                    .ok_or_else(|| format!("`{word}`: expected NAME=VALUE"))?;
                pairs.push((key.to_owned(), value.trim_matches('"').to_owned()));
            }
        }
    }
    Ok(pairs)
}

/// A deployed stack's parameters from `aws cloudformation describe-stacks --stack-name S`'s
/// JSON (`{"Stacks": [{"Parameters": [{"ParameterKey": …, "ParameterValue": …}]}]}`, one
/// stack), or from its `Parameters` list alone.
pub fn from_stack_description(text: &str) -> Result<Vec<(String, String)>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &v {
        serde_json::Value::Array(_) => &v,
        _ => {
            let stacks = v["Stacks"]
                .as_array()
                .ok_or("neither describe-stacks output (`Stacks`) nor a `Parameters` list")?;
            match stacks.as_slice() {
                [one] => &one["Parameters"],
                other => return Err(format!("{} stacks; describe one", other.len())),
            }
        }
    };
    list.as_array()
        .ok_or("the stack has no `Parameters` list")?
        .iter()
        .map(
            |p| match (p["ParameterKey"].as_str(), p["ParameterValue"].as_str()) {
                (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
                _ => Err(format!(
                    "a parameter without ParameterKey/ParameterValue: {p}"
                )),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn when_parameters_are_given_by_template_name_should_set_the_scenario() {
        let mut sc = Scenario::default();
        apply(
            &mut sc,
            &pairs(&[
                ("WeightStep", "10"),
                ("AlarmCycleSeconds", "30"),
                ("HighCpuThreshold", "65.5"),
                ("HighAlarmDatapoints", "3"),
                ("MinReplicas", "2"),
                ("MaxReplicas", "4"),
                ("ClusterIdentifier", "orders"),
            ]),
        )
        .expect("all apply");
        assert_eq!(sc.weight_step, 10);
        assert_eq!(sc.loops.alarm_cycle, 30);
        assert_eq!(sc.high.threshold, 65.5);
        assert_eq!(sc.high.datapoints_to_alarm, 3);
        let a = sc.autoscaling.expect("on");
        assert_eq!(
            (a.min_capacity, a.max_capacity),
            (3, 5),
            "the serverless reader counted"
        );
        apply(&mut sc, &pairs(&[("EnableReplicaAutoScaling", "false")])).expect("applies");
        assert_eq!(sc.autoscaling, None);
    }

    #[test]
    fn the_connections_signals_follow_the_templates_parameters() {
        let mut sc = Scenario::default();
        assert_eq!(sc.connections, None, "the default run reads CPU alone");
        // The template's order: the switch, then its percentages and max_connections (0:
        // derived, which the model cannot: its own figure stands).
        apply(
            &mut sc,
            &pairs(&[
                ("ConnectionSignals", "true"),
                ("HighConnectionsPercent", "85"),
                ("LowConnectionsPercent", "35"),
                ("MaxConnections", "0"),
            ]),
        )
        .unwrap();
        let c = sc.connections.unwrap();
        assert_eq!(
            (c.high_percent, c.low_percent, c.max_connections),
            (85.0, 35.0, 1000)
        );
        apply(&mut sc, &pairs(&[("MaxConnections", "1200")])).unwrap();
        assert_eq!(sc.connections.unwrap().max_connections, 1200);
        apply(&mut sc, &pairs(&[("ConnectionSignals", "false")])).unwrap();
        assert_eq!(sc.connections, None);
        let err = apply(&mut sc, &pairs(&[("ConnectionSignals", "yes")])).unwrap_err();
        assert_eq!(err.to_string(), "ConnectionSignals=yes: not true or false");
    }

    #[test]
    fn when_a_parameter_is_unknown_or_malformed_should_name_it() {
        let mut sc = Scenario::default();
        assert_eq!(
            apply(&mut sc, &pairs(&[("WeightStepp", "10")])),
            Err(ParameterError::Unknown("WeightStepp".to_owned()))
        );
        let err = apply(&mut sc, &pairs(&[("AlarmCycleSeconds", "soon")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AlarmCycleSeconds=soon: not a whole number"
        );
        assert_eq!(sc, Scenario::default(), "nothing applied");
    }

    #[test]
    fn when_a_stack_is_described_should_take_its_parameters() {
        let described = r#"{"Stacks": [{"StackName": "spillway", "Parameters": [
            {"ParameterKey": "WeightStep", "ParameterValue": "10"},
            {"ParameterKey": "ClusterIdentifier", "ParameterValue": "orders"}]}]}"#;
        let pairs_read = from_stack_description(described).expect("parses");
        assert_eq!(
            pairs_read,
            pairs(&[("WeightStep", "10"), ("ClusterIdentifier", "orders")])
        );
        let bare = r#"[{"ParameterKey": "MaxRounds", "ParameterValue": "60"}]"#;
        assert_eq!(
            from_stack_description(bare).expect("parses"),
            pairs(&[("MaxRounds", "60")])
        );
        assert!(from_stack_description(r#"{"Stacks": []}"#).is_err());
        assert!(from_stack_description(r#"[{"ParameterKey": "X"}]"#).is_err());
        assert!(from_stack_description("nope").is_err());
    }

    #[test]
    fn when_overrides_are_written_as_sam_writes_them_should_split_them() {
        let parsed = parse_overrides(&[
            "WeightStep=10 AlarmCycleSeconds=\"30\"".to_owned(),
            "ParameterKey=MaxRounds,ParameterValue=60".to_owned(),
        ])
        .expect("parses");
        assert_eq!(
            parsed,
            pairs(&[
                ("WeightStep", "10"),
                ("AlarmCycleSeconds", "30"),
                ("MaxRounds", "60")
            ])
        );
        assert!(parse_overrides(&["WeightStep".to_owned()]).is_err());
    }
}
