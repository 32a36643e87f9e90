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

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spillway-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

#[test]
fn simulate_draws_the_run_as_png_and_svg_and_refuses_other_formats() {
    let dir = scratch("pictures");
    let (png, svg) = (dir.join("run.png"), dir.join("run.svg"));
    let out = simulate(&[
        "--duration",
        "900",
        "--picture",
        png.to_str().expect("UTF-8 path"),
        "--picture",
        svg.to_str().expect("UTF-8 path"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let png_bytes = std::fs::read(&png).expect("the PNG was written");
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let svg_text = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(svg_text.starts_with("<svg"), "an SVG document");
    for label in [
        "provisioned-reader CPU",
        "auto scaling only",
        "native Aurora auto scaling",
        "high threshold",
        "serverless ACU",
        "readers in service",
        "alarms",
    ] {
        assert!(svg_text.contains(label), "the picture shows {label}");
    }
    let bad = simulate(&["--duration", "60", "--picture", "run.gif"]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("a .png or a .svg"),
        "{bad:?}"
    );
    let heat = dir.join("sweep.svg");
    let out = simulate(&[
        "--duration",
        "600",
        "--sweep",
        "weight-step=10,50",
        "--sweep",
        "alarm-cycle-seconds=10,60",
        "--picture",
        heat.to_str().expect("UTF-8 path"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let heat_text = std::fs::read_to_string(&heat).expect("the heat map was written");
    assert!(
        heat_text.contains("seconds above the high threshold") && heat_text.contains("WeightStep"),
        "a labelled heat map"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn simulate_takes_every_parameter_of_template_yaml_and_overrides_by_name() {
    // Every parameter of the template is either applied or known not to matter: a parameter
    // added to the template without a meaning for the simulator fails here.
    let template = repo().join("template.yaml");
    let out = simulate(&[
        "--template",
        template.to_str().expect("UTF-8 path"),
        "--parameter-overrides",
        "WeightStep=10 AlarmCycleSeconds=30 HighCpuThreshold=65",
        "--print-scenario",
    ]);
    assert!(out.status.success(), "{out:?}");
    let sc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a scenario");
    assert_eq!(sc["weight_step"], 10);
    assert_eq!(sc["loops"]["alarm_cycle"], 30);
    assert_eq!(sc["high"]["threshold"], 65.0);
    assert_eq!(
        sc["low"]["datapoints_to_alarm"], 15,
        "the template's default"
    );
    assert_eq!(
        sc["autoscaling"]["min_capacity"], 2,
        "MinReplicas 1 + the serverless reader"
    );
    let bad = simulate(&["--parameter-overrides", "WeightStepp=10"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("WeightStepp: not a parameter of template.yaml"),
        "{bad:?}"
    );
    // A deployed stack's parameters, as `aws cloudformation describe-stacks` prints them; the
    // overrides still win.
    let dir = scratch("scenario");
    let described = dir.join("stack.json");
    std::fs::write(
        &described,
        r#"{"Stacks": [{"StackName": "spillway", "Parameters": [
            {"ParameterKey": "ClusterIdentifier", "ParameterValue": "orders"},
            {"ParameterKey": "CooldownSeconds", "ParameterValue": "90"},
            {"ParameterKey": "WeightStep", "ParameterValue": "20"}]}]}"#,
    )
    .expect("written");
    let stack = simulate(&[
        "--stack-description",
        described.to_str().expect("UTF-8"),
        "--parameter-overrides",
        "WeightStep=40",
        "--print-scenario",
    ]);
    assert!(stack.status.success(), "{stack:?}");
    let from_stack: serde_json::Value = serde_json::from_slice(&stack.stdout).expect("JSON");
    assert_eq!(from_stack["loops"]["cooldown"], 90, "from the stack");
    assert_eq!(from_stack["weight_step"], 40, "the override wins");
    // A scenario file round-trips, and a wrong field is named.
    let file = dir.join("scenario.json");
    std::fs::write(&file, &out.stdout).expect("written");
    let again = simulate(&[
        "--scenario",
        file.to_str().expect("UTF-8"),
        "--print-scenario",
    ]);
    assert_eq!(again.stdout, out.stdout, "the same scenario");
    std::fs::write(&file, r#"{"weight_stepp": 3}"#).expect("written");
    let wrong = simulate(&["--scenario", file.to_str().expect("UTF-8")]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("unknown field `weight_stepp`"),
        "{wrong:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn simulate_and_alarms_read_the_recorded_spike_from_batches_or_emf() {
    let batches = events().join("spike/batches");
    let topology = events().join("spike/topology.json");
    let json = simulate(&[
        "--recorded",
        batches.to_str().expect("UTF-8"),
        "--topology",
        topology.to_str().expect("UTF-8"),
        "--json",
    ]);
    assert!(json.status.success(), "{json:?}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        v["timeline"].as_array().map(Vec::len),
        Some(360),
        "the recording's 6 minutes"
    );
    let shift = v["spillway"]["onset_to_first_shift"]
        .as_u64()
        .expect("the spill starts");
    assert!(
        (3..=15).contains(&shift),
        "first shift {shift} s after the onset (the direct trigger)"
    );
    // With the direct trigger off, the alarm path's tens of seconds
    let alarms_only = simulate(&[
        "--recorded",
        batches.to_str().expect("UTF-8"),
        "--topology",
        topology.to_str().expect("UTF-8"),
        "--parameter-overrides",
        "DirectTrigger=false",
        "--json",
    ]);
    assert!(alarms_only.status.success(), "{alarms_only:?}");
    let v: serde_json::Value = serde_json::from_slice(&alarms_only.stdout).expect("JSON");
    let alarm_shift = v["spillway"]["onset_to_first_shift"]
        .as_u64()
        .expect("the spill starts");
    assert!(
        (10..=60).contains(&alarm_shift) && alarm_shift > shift,
        "first shift {alarm_shift} s after the onset without the trigger, {shift} s with it"
    );
    // Both paths' latency over the delay grid, as JSON
    let latency = simulate(&["--latency", "--json"]);
    assert!(latency.status.success(), "{latency:?}");
    let l: serde_json::Value = serde_json::from_slice(&latency.stdout).expect("JSON");
    for path in ["direct", "alarm", "wake_up"] {
        assert_eq!(l[path]["runs"], 600, "{path}: {l}");
        assert_eq!(l[path]["never"], 0, "{path}: {l}");
    }
    assert!(
        l["direct"]["p50"].as_u64() < l["alarm"]["p50"].as_u64(),
        "{l}"
    );
    // Without --topology, batches cannot be told apart by role.
    let no_topology = simulate(&["--recorded", batches.to_str().expect("UTF-8")]);
    assert_eq!(no_topology.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_topology.stderr).contains("need --topology"));
    // The same spike as EMF lines (what the metrics function writes) gives the same alarms.
    let emf = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["replay", "--shift-to-now", "--topology"])
        .arg(&topology)
        .arg(&batches)
        .output()
        .expect("replay runs");
    assert!(emf.status.success(), "{emf:?}");
    let dir = scratch("alarms");
    let file = dir.join("emf.jsonl");
    std::fs::write(&file, &emf.stdout).expect("written");
    let alarms = |input: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_spillway"))
            .arg("alarms")
            .args(input)
            .arg("--json")
            .output()
            .expect("alarms runs");
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let states = |name: &str| -> Vec<(u64, String)> {
            v[name]
                .as_array()
                .expect("transitions")
                .iter()
                .map(|t| {
                    (
                        t["offset"].as_u64().expect("offset"),
                        t["state"].as_str().expect("state").to_owned(),
                    )
                })
                .collect()
        };
        (states("high"), states("low"))
    };
    let from_emf = alarms(&[file.as_os_str()]);
    let from_batches = alarms(&[
        batches.as_os_str(),
        std::ffi::OsStr::new("--topology"),
        topology.as_os_str(),
    ]);
    // Each replay moves the recording to its own now, so its seconds fall differently on the
    // clock's 10-s evaluation marks: the same transitions, up to one evaluation apart.
    let same = |a: &[(u64, String)], b: &[(u64, String)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.1 == y.1 && x.0.abs_diff(y.0) < 10)
    };
    assert!(
        same(&from_emf.0, &from_batches.0) && same(&from_emf.1, &from_batches.1),
        "{from_emf:?} vs {from_batches:?}"
    );
    let (high, low) = from_emf;
    // The sale starts at 60 s: the high alarm fires 20-30 s later and clears after the fall
    // at 180 s; the low alarm (15 of 18 periods) fires once the quiet tail is long enough.
    let states: Vec<&str> = high.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(states, ["OK", "ALARM", "OK"], "{high:?}");
    assert!((75..=100).contains(&high[1].0), "high ALARM at {high:?}");
    assert!((180..=220).contains(&high[2].0), "high OK at {high:?}");
    assert_eq!(
        low.last().map(|(_, s)| s.as_str()),
        Some("ALARM"),
        "{low:?}"
    );
    assert!((320..=360).contains(&low.last().expect("one").0), "{low:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn simulate_prices_every_strategy_and_refuses_a_bad_price_file() {
    let out = simulate(&["--duration", "900", "--cost", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = v["cost"]
        .as_array()
        .expect("a cost list")
        .iter()
        .map(|c| c["strategy"].as_str().expect("named"))
        .collect();
    assert_eq!(
        names,
        [
            "Spillway",
            "auto scaling only",
            "native Aurora auto scaling",
            "provisioned for the peak",
            "all-Serverless v2 readers"
        ]
    );
    assert!(v["timeline"].is_array(), "the run is still there");
    let dir = scratch("prices");
    let missing = dir.join("nope.json");
    let out = simulate(&[
        "--duration",
        "60",
        "--cost",
        "--prices",
        missing.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--prices"),
        "{out:?}"
    );
    let malformed = dir.join("prices.json");
    std::fs::write(&malformed, r#"{"currency": "USD"}"#).expect("written");
    let out = simulate(&[
        "--duration",
        "60",
        "--cost",
        "--prices",
        malformed.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing field"),
        "{out:?}"
    );
    let region = simulate(&["--duration", "60", "--cost", "--region", "mars-1"]);
    assert_eq!(region.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&region.stderr).contains("no prices for Region mars-1"));
    // A sweep ranked by cost under a constraint.
    let ranked = simulate(&[
        "--duration",
        "900",
        "--sweep",
        "em-interval=1,10,60",
        "--rank-by",
        "cost",
        "--max-above-high",
        "400",
        "--json",
    ]);
    assert!(ranked.status.success(), "{ranked:?}");
    let points: serde_json::Value = serde_json::from_slice(&ranked.stdout).expect("JSON");
    let first = &points[0];
    assert!(first["summary"]["seconds_above_high"].as_u64().expect("n") <= 400);
    assert!(first["cost"]["usd_per_month"].as_f64().is_some(), "{first}");
    std::fs::remove_dir_all(dir).ok();
}
