//! `spillway simulate --recorded`: a recorded load from EMF lines (`spillway replay`'s output,
//! or the metrics function's log) or from RDSOSMetrics batches, which go through the replay
//! pipeline first (offline, with `--topology`) so that the roles are the metrics function's.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use spillway::simulation::recorded::{self, Recording};

use crate::inputs;
use crate::replay::{Replay, pipeline, read_topology};

/// Whether a file's first line is an EMF line (not a subscription event or an export).
fn is_emf(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|v| v.get("_aws").is_some())
}

/// The recording in `paths` for `cluster`.
pub async fn read(
    paths: &[PathBuf],
    topology: Option<&Path>,
    cluster: Option<&str>,
) -> Result<Recording, String> {
    let files = inputs::expand(paths).map_err(|e| format!("--recorded: {e}"))?;
    let mut emf = String::new();
    let mut batches = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--recorded {}: {e}", path.display()))?;
        if is_emf(&text) {
            emf.push_str(&text);
            emf.push('\n');
        } else {
            batches.push(path.clone());
        }
    }
    if !batches.is_empty() && !emf.is_empty() {
        return Err(format!(
            "--recorded: give EMF lines or RDSOSMetrics batches, not both ({} is a batch)",
            batches[0].display()
        ));
    }
    // Batches: through the replay pipeline, moved in time so their samples are inside the
    // EMF window (a recording older than two weeks is otherwise dropped whole) by whole
    // minutes (so they fall on the clock's 10-s and 60-s marks as they did), and back.
    let mut moved_ms = 0;
    if !batches.is_empty() {
        let Some(topology) = topology else {
            return Err(format!(
                "--recorded {}: RDSOSMetrics batches need --topology FILE to tell the readers' \
                 roles (or give the EMF lines `spillway replay` writes)",
                batches[0].display()
            ));
        };
        let snapshot = read_topology(&topology.to_path_buf()).map_err(|e| e.to_string())?;
        let clusters = snapshot.clusters.iter().map(|c| c.id.clone()).collect();
        let mut p = pipeline(snapshot, clusters, vec!["available".to_owned()], "Spillway");
        let bar = ProgressBar::hidden();
        let mut replay = Replay::new(&batches, &bar, false, None);
        let shift = replay
            .shift_for_now()
            .map_err(|e| format!("--recorded: {e}"))?;
        moved_ms = shift - shift.rem_euclid(60_000);
        p.shift_ms = moved_ms;
        let mut out = Vec::new();
        replay
            .run_with(&mut p, &mut out)
            .await
            .map_err(|e| format!("--recorded: {e}"))?;
        emf = String::from_utf8_lossy(&out).into_owned();
    }
    let mut recording =
        recorded::from_emf(&emf, cluster).map_err(|e| format!("--recorded: {e}"))?;
    recording.start -= moved_ms / 1000;
    if recording.skipped_lines > 0 {
        eprintln!(
            "spillway simulate: --recorded: skipped {} line(s) that are not metrics EMF: {}",
            recording.skipped_lines,
            recording.problems.join("; ")
        );
    }
    if recording.saturated_seconds > 0 {
        eprintln!(
            "spillway simulate: --recorded: a reader was at 100 % for {} s of the recording; \
             the demand there is what it did, a floor of what was asked",
            recording.saturated_seconds
        );
    }
    Ok(recording)
}
