//! `spillway`: the operator's command, one subcommand per task, the way `aws` and `sam` work.
//!
//! - `spillway replay`: feeds recorded RDSOSMetrics log batches through the same pipeline as the
//!   metrics Lambda and prints the EMF lines on stdout; a summary and progress go to stderr;
//! - `spillway simulate`: a what-if run of a spike, with and without Spillway;
//! - `spillway alarms`: when the alarms would have fired on a recording;
//! - `spillway check`: the preflight check of a deployed stack;
//! - `spillway event`: an announced sale's plan: check, dry-run, schedule, list, cancel, run.

mod alarms;
mod check;
mod event;
mod inputs;
mod recorded;
mod replay;
mod simulate;
mod template;
mod terminal;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use spillway::config;
use spillway_aws::rds::Rds;

use replay::{Replay, pipeline, read_topology};
use terminal::{init_logs, print_summary, progress_bar};

/// Spillway's operator command.
#[derive(Debug, Parser)]
#[command(name = "spillway", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay recorded RDSOSMetrics log batches through Spillway's metrics pipeline.
    ///
    /// INPUT is a subscription event file (as in events/), a JSON-lines file of them, a
    /// directory of either (walked recursively), or a CloudWatch Logs export (the JSON output of
    /// `aws logs filter-log-events --log-group-name RDSOSMetrics`).
    Replay(Args),
    /// Simulate a spike against a configuration, with and without Spillway.
    Simulate(Box<simulate::SimulateArgs>),
    /// When the high and low alarms would have fired on a recording, as CloudWatch evaluates
    /// them.
    Alarms(alarms::AlarmsArgs),
    /// Check a deployed stack before the sale: each rule pass, warning or failure, with the
    /// fix.
    Check(check::CheckArgs),
    /// Prepare the cluster for an announced sale and bring it back afterwards: check a plan,
    /// dry-run it, schedule it, list or cancel the schedules, or run a phase now.
    Event(event::EventArgs),
}

/// The arguments of `spillway replay`.
#[derive(Debug, clap::Args)]
struct Args {
    /// Files or directories to replay, in order.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Clusters to watch, comma-separated. Default: every cluster of --topology; required with
    /// live RDS.
    #[arg(long, env = "CLUSTER_IDENTIFIERS", value_delimiter = ',')]
    clusters: Vec<String>,

    /// A topology snapshot (JSON, see README) for a fully offline replay; without it the
    /// topology comes live from the RDS API (honouring AWS_ENDPOINT_URL).
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,

    /// The CloudWatch namespace of the metrics.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = "Spillway")]
    namespace: String,

    /// Instance statuses that count as available, comma-separated.
    #[arg(long, env = "AVAILABLE_STATUSES", default_value = "available")]
    available_statuses: String,

    /// Move the recording in time so that its newest sample is stamped now (recordings older
    /// than 14 days are otherwise outside CloudWatch's window and dropped).
    #[arg(long)]
    shift_to_now: bool,

    /// Also send the metrics to CloudWatch with PutMetricData (backfill).
    #[arg(long)]
    publish: bool,

    /// Write the EMF lines to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Print rejected documents and skipped instances as they happen (always counted).
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error(transparent)]
    Input(#[from] inputs::InputError),
    #[error("--topology {path}: {detail}")]
    Topology { path: PathBuf, detail: String },
    #[error(
        "no clusters to watch: give --clusters (or CLUSTER_IDENTIFIERS) when the topology comes from RDS"
    )]
    NoClusters,
    #[error("{path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing EMF failed: {0}")]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Publish(#[from] spillway_aws::cloudwatch::PublishError),
}

impl ReplayError {
    /// 2: the command line or the input is wrong (fix it and run again); 3: writing the result
    /// failed (the EMF output or PutMetricData), after the input was read.
    fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) | Self::Topology { .. } | Self::NoClusters => 2,
            Self::Output { .. } | Self::Write(_) | Self::Publish(_) => 3,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Replay(args) => match run(args).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("spillway replay: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        Command::Simulate(args) => simulate::run(&args).await,
        Command::Alarms(args) => alarms::run(&args).await,
        Command::Check(args) => check::run(&args).await,
        Command::Event(args) => event::run(&args).await,
    }
}

async fn run(args: Args) -> Result<ExitCode, ReplayError> {
    let files = inputs::expand(&args.inputs)?;
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(total_bytes);
    init_logs(&bar, args.verbose);

    let sdk = if args.publish || args.topology.is_none() {
        Some(spillway_aws::sdk_config().await)
    } else {
        None
    };
    let statuses = config::list(Some(&args.available_statuses));
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(
                std::fs::File::create(path).map_err(|source| ReplayError::Output {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(out);

    let mut replay = Replay::new(
        &files,
        &bar,
        args.shift_to_now,
        sdk.as_ref()
            .filter(|_| args.publish)
            .map(|s| (aws_sdk_cloudwatch::Client::new(s), args.namespace.clone())),
    );
    let started = Instant::now();
    let (report, rds_calls) = match &args.topology {
        Some(path) => {
            let snapshot = read_topology(path)?;
            let clusters = if args.clusters.is_empty() {
                snapshot.clusters.iter().map(|c| c.id.clone()).collect()
            } else {
                args.clusters.clone()
            };
            let mut p = pipeline(snapshot, clusters, statuses, &args.namespace);
            (replay.run_with(&mut p, &mut out).await?, None)
        }
        None => {
            if args.clusters.is_empty() {
                return Err(ReplayError::NoClusters);
            }
            let rds = Rds::new(aws_sdk_rds::Client::new(
                sdk.as_ref().expect("loaded for live RDS"),
            ));
            let mut p = pipeline(rds, args.clusters.clone(), statuses, &args.namespace);
            let report = replay.run_with(&mut p, &mut out).await?;
            (report, Some(p.source.calls()))
        }
    };
    out.flush()?;
    bar.finish_and_clear();
    print_summary(
        &report,
        &replay,
        rds_calls,
        files.len(),
        started.elapsed().as_secs_f64(),
    );
    Ok(if replay.unavailable_batches > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
