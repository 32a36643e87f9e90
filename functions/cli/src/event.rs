//! `spillway event`: an announced sale's plan, checked, dry-run, scheduled, listed, cancelled or
//! run by hand against a deployed stack.
//!
//! The decisions are the domain's (`spillway::planned`): the dry run plays the very reconciler
//! the planned-event function runs, on a model of the cluster as it is now, with AWS's expected
//! durations.
//!
//! Exit status: 0 done; 1 refused (a plan that would not be safe, an overlap, a failed run);
//! 2 the command line, the plan file or the stack cannot be read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use spillway::planned::model::{Line, Model, Played};
use spillway::planned::plan::{self, EventPlan};
use spillway::planned::reconcile::{Limits, Phase, event_id};
use spillway::planned::schedule;
use spillway_aws::schedule::{Schedules, Stack};

#[derive(Debug, clap::Args)]
pub struct EventArgs {
    #[command(subcommand)]
    command: EventCommand,
}

#[derive(Debug, Subcommand)]
enum EventCommand {
    /// Validate a plan file: every wrong field, and when Prepare and Recover would start.
    Check {
        #[arg(value_name = "PLAN")]
        plan: PathBuf,
    },
    /// What Prepare and Recover would change, in order, with the expected time of each step, on
    /// the stack's cluster as it is now (nothing is changed).
    DryRun {
        #[arg(value_name = "PLAN")]
        plan: PathBuf,
        #[command(flatten)]
        stack: StackArg,
        /// Print the steps as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create the two one-time schedules (EventBridge Scheduler): Prepare at start − lead,
    /// Recover at end + hold.
    Schedule {
        #[arg(value_name = "PLAN")]
        plan: PathBuf,
        #[command(flatten)]
        stack: StackArg,
    },
    /// The plans scheduled for the stack's cluster.
    List {
        #[command(flatten)]
        stack: StackArg,
        #[arg(long)]
        json: bool,
    },
    /// Delete a plan's schedules (whichever have not run yet).
    Cancel {
        #[arg(value_name = "PLAN")]
        plan: PathBuf,
        #[command(flatten)]
        stack: StackArg,
    },
    /// Start Prepare or Recover now (for a plan whose time has come, or after a failure: a run
    /// resumes where the cluster is).
    Run {
        #[arg(value_enum)]
        phase: RunPhase,
        #[arg(value_name = "PLAN")]
        plan: PathBuf,
        #[command(flatten)]
        stack: StackArg,
        /// Wait for the execution to end and report how it ended.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RunPhase {
    Prepare,
    Recover,
}

#[derive(Debug, clap::Args)]
struct StackArg {
    /// The deployed stack's name.
    #[arg(long, env = "SPILLWAY_STACK")]
    stack: String,
}

/// A failure and its exit status.
struct Failed(u8, String);

fn usage(e: impl std::fmt::Display) -> Failed {
    Failed(2, e.to_string())
}

fn refused(e: impl std::fmt::Display) -> Failed {
    Failed(1, e.to_string())
}

pub async fn run(args: &EventArgs) -> ExitCode {
    match dispatch(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(code, message)) => {
            eprintln!("spillway event: {message}");
            ExitCode::from(code)
        }
    }
}

fn read_plan(path: &Path) -> Result<(EventPlan, serde_json::Value), Failed> {
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    match plan::parse(&text) {
        Ok(p) => {
            let doc = serde_json::from_str(&text).map_err(usage)?;
            Ok((p, doc))
        }
        Err(errors) => {
            let mut m = format!("{}: the plan is not valid:", path.display());
            for e in errors {
                m.push_str(&format!("\n  {e}"));
            }
            Err(usage(m))
        }
    }
}

fn utc(t: DateTime<chrono::FixedOffset>) -> String {
    t.with_timezone(&Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

async fn stack(name: &str) -> Result<(aws_config::SdkConfig, Stack), Failed> {
    let config = spillway_aws::sdk_config().await;
    let stack = spillway_aws::schedule::describe_stack(&config, name)
        .await
        .map_err(usage)?;
    Ok((config, stack))
}

/// The stack's view of the plan's cluster (its key and its parameters: its own over the
/// stack's, `spillway::region::settings::per_cluster`), or why the stack does not serve it.
fn cluster_view(
    plan: &EventPlan,
    stack: &Stack,
) -> Result<(String, spillway::region::settings::Parameters), Failed> {
    let views = spillway::region::settings::per_cluster(&stack.parameters)
        .map_err(|p| usage(format!("stack {}: {}", stack.name, p.join("; "))))?;
    let served: Vec<String> = views
        .iter()
        .filter_map(|(_, v)| v.get("ClusterIdentifier").cloned())
        .collect();
    if served.is_empty() {
        return Err(usage(format!(
            "stack {} has no ClusterIdentifier parameter",
            stack.name
        )));
    }
    views
        .into_iter()
        .find(|(_, v)| v.get("ClusterIdentifier") == Some(&plan.cluster))
        .ok_or_else(|| {
            refused(format!(
                "the plan is for cluster {}, stack {} serves {}",
                plan.cluster,
                stack.name,
                served.join(", ")
            ))
        })
}

/// The plan must be for one of the stack's clusters.
fn same_cluster(plan: &EventPlan, stack: &Stack) -> Result<(), Failed> {
    cluster_view(plan, stack).map(|_| ())
}

async fn dispatch(args: &EventArgs) -> Result<(), Failed> {
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Failed(2, format!("writing the output: {e}"));
    match &args.command {
        EventCommand::Check { plan } => {
            let (p, _) = read_plan(plan)?;
            let (prepare, recover) = p.schedule();
            writeln!(
                out,
                "{}: valid plan for cluster {} (event {})\n  Prepare starts {} ({} − {} min lead)\n  Recover starts {} ({} + {} min hold)",
                plan.display(),
                p.cluster,
                event_id(&p),
                utc(prepare),
                p.start.to_rfc3339(),
                p.lead_minutes,
                utc(recover),
                p.end.to_rfc3339(),
                p.hold_minutes
            )
            .map_err(io)?;
        }
        EventCommand::DryRun {
            plan,
            stack: s,
            json,
        } => {
            let (p, _) = read_plan(plan)?;
            let (config, stack) = stack(&s.stack).await?;
            same_cluster(&p, &stack)?;
            let (played, limits) = dry_run(&config, &stack, &p).await?;
            if *json {
                let doc = serde_json::json!({
                    "event": event_id(&p),
                    "cluster": p.cluster,
                    "prepare": played.0,
                    "recover": played.1,
                    "limits": {"pollSeconds": limits.poll_seconds, "drainSeconds": limits.drain_seconds,
                               "recordTtlSeconds": limits.record_ttl_seconds},
                });
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&doc).unwrap_or_default()
                )
                .map_err(io)?;
            } else {
                let (prepare, recover) = p.schedule();
                writeln!(
                    out,
                    "Dry run of event {} on cluster {} (stack {}), from the cluster as it is now; nothing is changed.\nDurations are AWS's usual ones (instance creation about 7 min, failover about 1 min); only a real account shows the real ones.",
                    event_id(&p),
                    p.cluster,
                    stack.name
                )
                .map_err(io)?;
                print_phase(&mut out, "Prepare", &utc(prepare), &played.0).map_err(io)?;
                print_phase(&mut out, "Recover", &utc(recover), &played.1).map_err(io)?;
            }
            if played.0.outcome.is_err() || played.1.outcome.is_err() {
                return Err(refused(
                    "the dry run found the plan would be refused (above)",
                ));
            }
        }
        EventCommand::Schedule { plan, stack: s } => {
            let (p, doc) = read_plan(plan)?;
            let (config, stack) = stack(&s.stack).await?;
            same_cluster(&p, &stack)?;
            let schedules = Schedules::new(&config);
            let mine = scheduled_plans(&schedules, &stack, &p.cluster).await?;
            if let Some(why) = schedule::refusal(&p, &mine, now()) {
                return Err(refused(why));
            }
            let role = stack
                .output("PlannedEventSchedulerRoleArn")
                .map_err(usage)?;
            let input = serde_json::json!({ "plan": doc }).to_string();
            let (prepare_at, recover_at) = p.schedule();
            for (phase, at, output) in [
                (Phase::Prepare, prepare_at, "PrepareStateMachineArn"),
                (Phase::Recover, recover_at, "RecoverStateMachineArn"),
            ] {
                let machine = stack.output(output).map_err(usage)?;
                let name = schedule::name(&stack.name, &p, phase);
                // The same plan again: its schedules are replaced, not doubled.
                schedules.delete(&name).await.map_err(refused)?;
                schedules
                    .create(&name, &schedule::at_expression(at), machine, role, &input)
                    .await
                    .map_err(refused)?;
                writeln!(out, "scheduled {name}: {:?} at {}", phase, utc(at)).map_err(io)?;
            }
        }
        EventCommand::List { stack: s, json } => {
            let (config, stack) = stack(&s.stack).await?;
            let schedules = Schedules::new(&config);
            // Every watched cluster's schedules.
            let views = spillway::region::settings::per_cluster(&stack.parameters)
                .map_err(|p| usage(format!("stack {}: {}", stack.name, p.join("; "))))?;
            let mut found = vec![];
            let mut clusters = vec![];
            for (_, view) in &views {
                let cluster = view.get("ClusterIdentifier").cloned().unwrap_or_default();
                found.extend(ours(&schedules, &stack, &cluster).await?);
                clusters.push(cluster);
            }
            let cluster = clusters.join(", ");
            if *json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&found).unwrap_or_default()
                )
                .map_err(io)?;
            } else if found.is_empty() {
                writeln!(
                    out,
                    "nothing scheduled for cluster {cluster} (stack {})",
                    stack.name
                )
                .map_err(io)?;
            } else {
                for s in &found {
                    let at = schedule::parse_at(&s.expression)
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                        .unwrap_or_else(|| s.expression.clone());
                    writeln!(out, "{at}  {}  {}", s.name, s.state).map_err(io)?;
                }
            }
        }
        EventCommand::Cancel { plan, stack: s } => {
            let (p, _) = read_plan(plan)?;
            let (config, stack) = stack(&s.stack).await?;
            same_cluster(&p, &stack)?;
            let schedules = Schedules::new(&config);
            let mut left = vec![];
            for phase in [Phase::Prepare, Phase::Recover] {
                let name = schedule::name(&stack.name, &p, phase);
                let deleted = schedules.delete(&name).await.map_err(refused)?;
                writeln!(
                    out,
                    "{name}: {}",
                    if deleted {
                        "cancelled"
                    } else {
                        "not scheduled (already run, or never scheduled)"
                    }
                )
                .map_err(io)?;
                if !deleted {
                    left.push(phase);
                }
            }
            if left == [Phase::Prepare] {
                writeln!(
                    out,
                    "Prepare has run: the cluster is prepared. Bring it back with `spillway event run recover {}` once the sale is over.",
                    plan.display()
                )
                .map_err(io)?;
            }
        }
        EventCommand::Run {
            phase,
            plan,
            stack: s,
            wait,
        } => {
            let (p, doc) = read_plan(plan)?;
            let (config, stack) = stack(&s.stack).await?;
            same_cluster(&p, &stack)?;
            let (output, word) = match phase {
                RunPhase::Prepare => ("PrepareStateMachineArn", "prepare"),
                RunPhase::Recover => ("RecoverStateMachineArn", "recover"),
            };
            let machine = stack.output(output).map_err(usage)?;
            let name = format!("{}-{word}-{}", event_id(&p), now().format("%Y%m%dt%H%M%S"));
            let input = serde_json::json!({ "plan": doc }).to_string();
            let arn = spillway_aws::schedule::start(&config, machine, &name, &input)
                .await
                .map_err(refused)?;
            writeln!(out, "started {arn}").map_err(io)?;
            if *wait {
                loop {
                    let (status, error, cause) = spillway_aws::schedule::execution(&config, &arn)
                        .await
                        .map_err(refused)?;
                    if status != "RUNNING" {
                        writeln!(out, "{word}: {status}").map_err(io)?;
                        if status != "SUCCEEDED" {
                            return Err(refused(format!(
                                "{word} {status}: {}: {}",
                                error.unwrap_or_default(),
                                cause.unwrap_or_default()
                            )));
                        }
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            }
        }
    }
    Ok(())
}

/// The schedules of this stack and cluster.
async fn ours(
    schedules: &Schedules,
    stack: &Stack,
    cluster: &str,
) -> Result<Vec<spillway_aws::schedule::Scheduled>, Failed> {
    let suffix = schedule::owner_suffix(&stack.name, cluster);
    Ok(schedules
        .list(schedule::PREFIX)
        .await
        .map_err(refused)?
        .into_iter()
        .filter(|s| s.name.ends_with(&suffix))
        .collect())
}

/// The plans already scheduled for the cluster (read back from their schedules' input).
async fn scheduled_plans(
    schedules: &Schedules,
    stack: &Stack,
    cluster: &str,
) -> Result<Vec<EventPlan>, Failed> {
    let mut plans = vec![];
    for s in ours(schedules, stack, cluster).await? {
        let Some(input) = &s.input else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(input) else {
            continue;
        };
        if let Ok(p) = plan::parse(&v["plan"].to_string()) {
            plans.push(p);
        }
    }
    Ok(plans)
}

/// The cluster's only Aurora Serverless v2 reader (`spillway::region::check`).
async fn only_serverless_reader(
    config: &aws_config::SdkConfig,
    cluster: &str,
) -> Result<String, Failed> {
    use spillway::metrics::topology::TopologySource;
    let rds = spillway_aws::rds::Rds::new(aws_sdk_rds::Client::new(config));
    let snapshot = rds
        .describe(&[cluster.to_string()])
        .await
        .map_err(|e| usage(format!("cluster {cluster}: {}", e.message)))?;
    let observed = spillway::region::check::ObservedCluster::from_snapshot(&snapshot, cluster)
        .ok_or_else(|| usage(format!("no cluster {cluster}")))?;
    spillway::region::check::only_serverless_reader(cluster, &observed).map_err(usage)
}

/// Plays Prepare then Recover on a model of the stack's cluster as it is now.
async fn dry_run(
    config: &aws_config::SdkConfig,
    stack: &Stack,
    p: &EventPlan,
) -> Result<((Played, Played), Limits), Failed> {
    let (key, view) = cluster_view(p, stack)?;
    let param = |k: &str| view.get(k).cloned().unwrap_or_default();
    let number = |k: &str, default: u32| param(k).parse().unwrap_or(default);
    let defaults = Limits::default();
    let limits = Limits {
        poll_seconds: number("PlannedEventPollSeconds", defaults.poll_seconds),
        drain_seconds: number("DrainSeconds", defaults.drain_seconds),
        record_ttl_seconds: number("RecordTtl", defaults.record_ttl_seconds),
        ..defaults
    };
    let events = spillway_aws::planned::PlannedEvents {
        rds: aws_sdk_rds::Client::new(config),
        autoscaling: aws_sdk_applicationautoscaling::Client::new(config),
        cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        scope: spillway_aws::planned::Scope {
            serverless_instance: match param("ServerlessInstanceIdentifier") {
                // Not named: the cluster's only db.serverless reader, as its check found it.
                s if s.is_empty() => only_serverless_reader(config, &p.cluster).await?,
                s => s,
            },
            // The custom endpoint Spillway created: <stack>-ro for a one-cluster stack,
            // <stack>-<key>-ro for a cluster of a Region stack (none with existing ones).
            endpoint: if key.is_empty() {
                param("ProvisionedEndpointHost")
                    .is_empty()
                    .then(|| format!("{}-ro", stack.name))
            } else {
                (param("CreateEndpoints") != "false").then(|| format!("{}-{key}-ro", stack.name))
            },
            autoscaling: param("EnableReplicaAutoScaling") == "true",
        },
    };
    let seen = events
        .observe(&p.cluster, p.writer_class.as_deref(), now())
        .await
        .map_err(usage)?;
    let mut model = Model::new(seen);
    let prepare = model.play(Phase::Prepare, p, &limits);
    let recover = if prepare.outcome.is_ok() {
        model.play(Phase::Recover, p, &limits)
    } else {
        Played {
            lines: vec![],
            seconds: 0,
            outcome: Err("not played: Prepare would stop first".into()),
        }
    };
    Ok(((prepare, recover), limits))
}

fn clock(seconds: i64) -> String {
    format!("T+{}:{:02}", seconds / 60, seconds % 60)
}

fn print_phase(out: &mut impl Write, name: &str, at: &str, played: &Played) -> std::io::Result<()> {
    writeln!(out, "\n{name} (scheduled at {at}):")?;
    for Line {
        at_seconds,
        step,
        action,
        waiting_for,
    } in &played.lines
    {
        let what = match (action, waiting_for) {
            (Some(a), _) => a.describe(),
            (None, Some(w)) => format!("wait: {w}"),
            (None, None) => String::new(),
        };
        writeln!(out, "  {:>8}  {step:<22} {what}", clock(*at_seconds))?;
    }
    match &played.outcome {
        Ok(()) => writeln!(
            out,
            "  {:>8}  done (about {} min)",
            clock(played.seconds),
            (played.seconds + 59) / 60
        ),
        Err(e) => writeln!(out, "  refused: {e}"),
    }
}
