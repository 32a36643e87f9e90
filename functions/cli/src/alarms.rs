//! `spillway alarms`: when the high and low alarms would have fired on a recording, evaluated
//! as CloudWatch evaluates them (`spillway::simulation::alarm`), with the template's (or a
//! deployed stack's) alarm parameters. The demo uses it to send the alarm events at the moments
//! AWS would, from the EMF the deployed metrics function wrote.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use spillway::simulation::alarm::AlarmState;
use spillway::simulation::scenario::Scenario;

use crate::{recorded, simulate};

/// The arguments of `spillway alarms`.
#[derive(Debug, clap::Args)]
pub struct AlarmsArgs {
    /// The recording: EMF lines (`spillway replay`'s output, the metrics function's log), or
    /// RDSOSMetrics batches with --topology.
    #[arg(required = true, value_name = "INPUT")]
    recorded: Vec<PathBuf>,
    /// The topology snapshot for RDSOSMetrics batches.
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// The cluster of the recording (default: the only one in it).
    #[arg(long)]
    cluster: Option<String>,
    #[command(flatten)]
    params: simulate::ParameterArgs,
    /// Sample time to alarm visibility, seconds [default: 6].
    #[arg(long)]
    metric_delay: Option<u32>,
    /// Print the transitions as JSON.
    #[arg(long)]
    json: bool,
}

/// One change of an alarm's state.
#[derive(Debug, Serialize)]
struct Transition {
    /// Seconds from the recording's first sample.
    offset: i64,
    /// The evaluation's time, Unix epoch seconds.
    at: i64,
    state: AlarmState,
}

#[derive(Debug, Serialize)]
struct Report {
    cluster: String,
    /// The first sample's second, Unix epoch.
    start: i64,
    seconds: usize,
    high: Vec<Transition>,
    low: Vec<Transition>,
}

pub async fn run(args: &AlarmsArgs) -> ExitCode {
    match report(args).await {
        Ok(r) => simulate::emit(args.json, &r, |out| print(out, &r)),
        Err(e) => {
            eprintln!("spillway alarms: {e}");
            ExitCode::from(2)
        }
    }
}

async fn report(args: &AlarmsArgs) -> Result<Report, String> {
    let mut sc = Scenario::default();
    simulate::apply_parameters(&mut sc, &args.params)?;
    let delay = args.metric_delay.unwrap_or(sc.metric_delay);
    let recording = recorded::read(
        &args.recorded,
        args.topology.as_deref(),
        args.cluster.as_deref(),
    )
    .await?;
    let period = i64::from(sc.alarm_period);
    let listed = |rule| {
        recording
            .alarm_transitions(rule, period, delay)
            .into_iter()
            .map(|(at, state)| Transition {
                offset: at - recording.start,
                at,
                state,
            })
            .collect()
    };
    Ok(Report {
        cluster: recording.cluster.clone(),
        start: recording.start,
        seconds: recording.demand.len(),
        high: listed(&sc.high),
        low: listed(&sc.low),
    })
}

fn print(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "cluster {}: {} s recorded from {}",
        r.cluster,
        r.seconds,
        iso(r.start)
    )?;
    for (name, transitions) in [("high", &r.high), ("low", &r.low)] {
        for t in transitions {
            writeln!(
                out,
                "{name:<5} +{:>4} s  {}  {}",
                t.offset,
                iso(t.at),
                t.state.as_str()
            )?;
        }
    }
    Ok(())
}

fn iso(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0).map_or_else(
        || epoch.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}
