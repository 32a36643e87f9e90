//! `spillway replay` as a user runs it, offline (topology from a file): no emulator needed.

use std::path::Path;
use std::process::Command;

fn events() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// The stderr lines of one offline replay of `file` with `-v`, plus `extra` flags.
fn rejection_lines(file: &str, extra: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("replay")
        .arg("--topology")
        .arg(events().join("spike/topology.json"))
        .arg("-v")
        .args(extra)
        .arg(events().join(file))
        .output()
        .expect("the replay command runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr)
        .expect("UTF-8")
        .lines()
        .filter(|l| l.contains("rejected an Enhanced Monitoring document"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn when_shifting_to_now_each_rejected_document_is_logged_once() {
    // GIVEN a batch with bad documents between good ones
    let plain = rejection_lines("metrics-corrupt-documents.json", &[]);
    assert!(!plain.is_empty(), "the sample event has rejected documents");
    // WHEN it is replayed with --shift-to-now (which reads the recording twice)
    let shifted = rejection_lines("metrics-corrupt-documents.json", &["--shift-to-now"]);
    // THEN each rejection is logged once, as without it
    assert_eq!(
        shifted.len(),
        plain.len(),
        "one line per rejected document:\n{}",
        shifted.join("\n")
    );
}

fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("spillway simulate runs")
}

#[test]
fn simulate_prints_both_runs_and_json_for_scripts() {
    let table = simulate(&[]);
    assert!(table.status.success(), "{table:?}");
    let text = String::from_utf8(table.stdout).expect("UTF-8");
    assert!(
        text.contains("with Spillway") && text.contains("auto scaling only"),
        "{text}"
    );
    let json = simulate(&["--json", "--duration", "600"]);
    assert!(json.status.success(), "{json:?}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(v["timeline"].as_array().map(Vec::len), Some(600));
    assert!(
        v["spillway"]["onset_to_first_shift"].as_u64().is_some(),
        "the spill starts: {}",
        v["spillway"]
    );
    assert!(
        v["baseline"]["onset_to_first_shift"].is_null(),
        "the baseline never shifts"
    );
}

#[test]
fn simulate_refuses_an_unsafe_policy_with_exit_2() {
    let out = simulate(&["--weight-step", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("step must be 1 to 255"),
        "{out:?}"
    );
}

#[test]
fn simulate_sweeps_a_grid_ranked_and_names_an_unknown_parameter() {
    let out = simulate(&[
        "--duration",
        "600",
        "--sweep",
        "weight-step=10,50",
        "--sweep",
        "alarm-cycle-seconds=10,60",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let points: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let above: Vec<u64> = points
        .as_array()
        .expect("an array of points")
        .iter()
        .map(|p| {
            p["summary"]["seconds_above_high"]
                .as_u64()
                .expect("a number")
        })
        .collect();
    assert_eq!(above.len(), 4, "2 × 2 points");
    assert!(above.windows(2).all(|w| w[0] <= w[1]), "ranked: {above:?}");
    let bad = simulate(&["--sweep", "nope=1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown parameter `nope`"),
        "{bad:?}"
    );
}
