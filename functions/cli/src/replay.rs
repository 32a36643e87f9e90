//! One replay: every batch of every input file through the metrics pipeline, with the optional
//! PutMetricData backfill buffered alongside.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indicatif::ProgressBar;
use spillway::metrics::pipeline::{Emitted, Pipeline, PipelineError, Report};
use spillway::metrics::subscription::LogBatch;
use spillway::metrics::topology::{CacheSettings, RdsSnapshot, TopologyCache, TopologySource};

use crate::ReplayError;
use crate::inputs;

pub fn pipeline<S>(
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

pub fn read_topology(path: &PathBuf) -> Result<RdsSnapshot, ReplayError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReplayError::Topology {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ReplayError::Topology {
        path: path.clone(),
        detail: format!("not a topology snapshot: {e}"),
    })
}

pub struct Replay<'a> {
    files: &'a [PathBuf],
    bar: &'a ProgressBar,
    shift_to_now: bool,
    pub publish: Option<(aws_sdk_cloudwatch::Client, String)>,
    pending: Vec<Emitted>,
    /// (data points, requests)
    pub published: (u64, u64),
    pub unavailable_batches: u64,
}

impl<'a> Replay<'a> {
    pub fn new(
        files: &'a [PathBuf],
        bar: &'a ProgressBar,
        shift_to_now: bool,
        publish: Option<(aws_sdk_cloudwatch::Client, String)>,
    ) -> Self {
        Self {
            files,
            bar,
            shift_to_now,
            publish,
            pending: Vec::new(),
            published: (0, 0),
            unavailable_batches: 0,
        }
    }

    pub async fn run_with<S: TopologySource>(
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
    pub fn shift_for_now(&self) -> Result<i64, ReplayError> {
        let mut newest = None::<i64>;
        for path in self.files {
            let text = std::fs::read_to_string(path).map_err(|source| inputs::InputError::Io {
                path: path.clone(),
                source,
            })?;
            // Quietly: the replay pass that follows logs each rejected document once.
            for batch in inputs::parse(&text).into_iter().flatten() {
                if batch.kind() != Some(spillway::metrics::subscription::MessageType::Data) {
                    continue;
                }
                for event in &batch.log_events {
                    let times = spillway::metrics::em::parse_message(&event.message)
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
