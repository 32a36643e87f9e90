//! What a person at the terminal sees: the progress bar, the log lines (through the bar, so they
//! never tear it) and the closing summary, all on stderr (stdout carries the EMF lines).

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spillway::metrics::pipeline::Report;
use spillway::metrics::topology::Role;

use crate::replay::Replay;

pub fn progress_bar(total_bytes: u64) -> ProgressBar {
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
pub fn init_logs(bar: &ProgressBar, verbose: bool) {
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

pub fn print_summary(
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
