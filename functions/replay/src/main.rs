//! `spillway-replay`: feeds recorded RDSOSMetrics log batches through the same pipeline as the
//! metrics Lambda and prints the EMF lines on stdout; a summary and progress go to stderr.

mod inputs;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spillway::config;
use spillway::pipeline::{Emitted, Pipeline, PipelineError, Report};
use spillway::subscription::LogBatch;
use spillway::topology::{CacheSettings, RdsSnapshot, Role, TopologyCache, TopologySource};
use spillway_aws::rds::Rds;

/// Replay recorded RDSOSMetrics log batches through Spillway's metrics pipeline.
///
/// INPUT is a subscription event file (as in events/), a JSON-lines file of them, a directory of
/// either (walked recursively), or a CloudWatch Logs export (the JSON output of
/// `aws logs filter-log-events --log-group-name RDSOSMetrics`).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
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

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spillway-replay: {e}");
            ExitCode::from(2)
        }
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

    let mut replay = Replay {
        files: &files,
        bar: &bar,
        shift_to_now: args.shift_to_now,
        publish: sdk
            .as_ref()
            .filter(|_| args.publish)
            .map(|s| (aws_sdk_cloudwatch::Client::new(s), args.namespace.clone())),
        pending: Vec::new(),
        published: (0, 0),
        unavailable_batches: 0,
    };
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

fn pipeline<S>(
    source: S,
    clusters: Vec<String>,
    statuses: Vec<String>,
    namespace: &str,
) -> Pipeline<S> {
    Pipeline {
        source,
        cache: TopologyCache::new(CacheSettings::default(), clusters, statuses),
        namespace: namespace.to_owned(),
        shift_ms: 0,
    }
}

fn read_topology(path: &PathBuf) -> Result<RdsSnapshot, ReplayError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReplayError::Topology {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ReplayError::Topology {
        path: path.clone(),
        detail: format!("not a topology snapshot: {e}"),
    })
}

struct Replay<'a> {
    files: &'a [PathBuf],
    bar: &'a ProgressBar,
    shift_to_now: bool,
    publish: Option<(aws_sdk_cloudwatch::Client, String)>,
    pending: Vec<Emitted>,
    /// (data points, requests)
    published: (u64, u64),
    unavailable_batches: u64,
}

impl Replay<'_> {
    async fn run_with<S: TopologySource>(
        &mut self,
        pipeline: &mut Pipeline<S>,
        out: &mut impl Write,
    ) -> Result<Report, ReplayError> {
        let mut report = Report::default();
        if self.shift_to_now {
            pipeline.shift_ms = self.shift_for_now()?;
        }
        for path in self.files {
            let text = std::fs::read_to_string(path).map_err(|source| inputs::InputError::Io {
                path: path.clone(),
                source,
            })?;
            self.bar.inc(text.len() as u64);
            for item in inputs::parse(&text) {
                let batch = match item {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(file = %path.display(), reason = e.reason(), "{e}");
                        report.reject(e.reason());
                        continue;
                    }
                };
                self.process(pipeline, &batch, path, out, &mut report)
                    .await?;
            }
        }
        self.flush_publish(true).await?;
        Ok(report)
    }

    async fn process<S: TopologySource>(
        &mut self,
        pipeline: &mut Pipeline<S>,
        batch: &LogBatch,
        path: &std::path::Path,
        out: &mut impl Write,
        report: &mut Report,
    ) -> Result<(), ReplayError> {
        let publishing = self.publish.is_some();
        let pending = &mut self.pending;
        let result = pipeline
            .process(batch, Instant::now(), now_ms(), out, report, |e| {
                if publishing {
                    pending.push(e);
                }
            })
            .await;
        match result {
            Ok(()) => {}
            Err(PipelineError::Topology(e)) => {
                tracing::error!(file = %path.display(), error = %e, "no trustworthy topology; batch not replayed");
                self.unavailable_batches += 1;
            }
            Err(PipelineError::Output(e)) => return Err(e.into()),
        }
        self.flush_publish(false).await
    }

    async fn flush_publish(&mut self, all: bool) -> Result<(), ReplayError> {
        let Some((client, namespace)) = &self.publish else {
            return Ok(());
        };
        if self.pending.is_empty()
            || (!all && self.pending.len() < 10 * spillway_aws::cloudwatch::BATCH)
        {
            return Ok(());
        }
        let requests = spillway_aws::cloudwatch::publish(client, namespace, &self.pending).await?;
        self.published.0 += self.pending.len() as u64;
        self.published.1 += requests;
        self.pending.clear();
        Ok(())
    }

    /// The offset that moves the newest sample of the recording to now (a first pass).
    fn shift_for_now(&self) -> Result<i64, ReplayError> {
        let mut newest = None::<i64>;
        for path in self.files {
            let text = std::fs::read_to_string(path).map_err(|source| inputs::InputError::Io {
                path: path.clone(),
                source,
            })?;
            // Quietly: the replay pass that follows logs each rejected document once.
            for batch in inputs::parse(&text).into_iter().flatten() {
                if batch.kind() != Some(spillway::subscription::MessageType::Data) {
                    continue;
                }
                for event in &batch.log_events {
                    let times = spillway::em::parse_message(&event.message)
                        .into_iter()
                        .flatten()
                        .map(|s| s.timestamp_ms);
                    newest = times.chain(newest).max();
                }
            }
        }
        Ok(newest.map_or(0, |n| now_ms() - n))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn progress_bar(total_bytes: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} replaying [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Logs go to stderr through the progress bar, so a log line never tears the bar.
fn init_logs(bar: &ProgressBar, verbose: bool) {
    let bar = bar.clone();
    let level = if verbose { "info" } else { "error" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(move || BarWriter(bar.clone()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

struct BarWriter(ProgressBar);

impl Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn print_summary(
    report: &Report,
    replay: &Replay<'_>,
    rds_calls: Option<u64>,
    files: usize,
    secs: f64,
) {
    let join = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    eprintln!(
        "replayed {files} files: {} batches, {} log events in {secs:.2} s",
        report.batches, report.events
    );
    eprintln!(
        "emitted:  {} samples ({})",
        report.emitted_total(),
        join(
            Role::ALL
                .iter()
                .map(|r| format!(
                    "{} {}",
                    r.as_str(),
                    report.emitted.get(r).copied().unwrap_or(0)
                ))
                .collect()
        )
    );
    eprintln!(
        "rejected: {}",
        join(
            report
                .rejected
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect()
        )
    );
    eprintln!(
        "skipped:  {}",
        join(
            report
                .skipped
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect()
        )
    );
    match rds_calls {
        Some(n) => {
            eprintln!("RDS calls: {n} (DescribeDBClusters + DescribeDBInstances, pages included)")
        }
        None => eprintln!("RDS calls: 0 (topology from file)"),
    }
    if replay.publish.is_some() {
        eprintln!(
            "published: {} data points in {} PutMetricData requests",
            replay.published.0, replay.published.1
        );
    }
    if replay.unavailable_batches > 0 {
        eprintln!(
            "NOT replayed: {} batches had no trustworthy topology (see the errors above)",
            replay.unavailable_batches
        );
    }
}
