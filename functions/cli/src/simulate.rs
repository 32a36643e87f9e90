//! `spillway simulate`: one what-if run of a synthetic spike against a configuration, with the
//! auto-scaling-only baseline on the same spike (`spillway::simulation::scenario`). Prints the
//! summary as a table, or the whole run as JSON with `--json`.
//!
//! First version: the synthetic spike and the main knobs; pictures, sweeps, recorded load and
//! parameters from a deployed stack are still to come (issue 9).

use std::io::Write;
use std::process::ExitCode;

use spillway::simulation::scenario::{self, Scenario, Summary};
use spillway::simulation::sweep::{self, Knob, Point};

/// The arguments of `spillway simulate` (defaults: the template's parameters and the
/// simulator's, README "The simulator").
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Provisioned readers in service at the start.
    #[arg(long, default_value_t = 2)]
    readers: u32,
    /// Demand at rest, in reader-percent (100 = one reader at 100 % CPU).
    #[arg(long, default_value_t = 90.0)]
    baseline: f64,
    /// The spike's peak, as a multiple of the baseline.
    #[arg(long, default_value_t = 2.4)]
    multiplier: f64,
    /// Seconds of the run before the spike starts.
    #[arg(long, default_value_t = 60)]
    onset: u32,
    /// Seconds from the onset to the peak.
    #[arg(long, default_value_t = 10)]
    ramp: u32,
    /// Seconds at the peak.
    #[arg(long, default_value_t = 900)]
    hold: u32,
    /// Seconds of the run.
    #[arg(long, default_value_t = 1800)]
    duration: u32,
    /// Seconds a new replica needs to come up.
    #[arg(long, default_value_t = 420)]
    boot_seconds: u32,
    /// Sample time to alarm visibility, seconds.
    #[arg(long, default_value_t = 6)]
    metric_delay: u32,
    /// The high alarm's threshold (HighCpuThreshold).
    #[arg(long, default_value_t = 70.0)]
    high_cpu_threshold: f64,
    /// WeightStep.
    #[arg(long, default_value_t = 25)]
    weight_step: u16,
    /// AlarmCycleSeconds.
    #[arg(long, default_value_t = 20)]
    alarm_cycle_seconds: u32,
    /// The clients' pool maximum connection lifetime, seconds.
    #[arg(long, default_value_t = 120)]
    max_lifetime: u32,
    /// Sweep a parameter over values, e.g. `--sweep weight-step=10,25,50`; repeat it for a
    /// grid. Prints the points ranked by time above the high threshold. Names: weight-step,
    /// alarm-cycle-seconds, high-cpu-threshold, max-serverless-weight, metric-delay,
    /// max-lifetime.
    #[arg(long, value_name = "NAME=V1,V2,...")]
    sweep: Vec<String>,
    /// Print the whole run (both timelines), or the sweep's points, as JSON.
    #[arg(long)]
    json: bool,
}

/// `NAME=V1,V2,...` into a sweep axis, or the reason it is not one.
fn axis(text: &str) -> Result<(Knob, Vec<f64>), String> {
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| format!("--sweep {text}: expected NAME=V1,V2,..."))?;
    let knob = Knob::parse(name).ok_or_else(|| {
        format!(
            "--sweep {text}: unknown parameter `{name}` (one of {})",
            Knob::NAMES.join(", ")
        )
    })?;
    let values = values
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("--sweep {text}: `{v}` is not a number"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((knob, values))
}

pub fn run(args: &SimulateArgs) -> ExitCode {
    let defaults = Scenario::default();
    let mut sc = Scenario {
        readers: args.readers,
        duration: args.duration,
        boot_seconds: args.boot_seconds,
        metric_delay: args.metric_delay,
        weight_step: args.weight_step,
        ..defaults
    };
    sc.spike.baseline = args.baseline;
    sc.spike.multiplier = args.multiplier;
    sc.spike.onset = args.onset;
    sc.spike.ramp = args.ramp;
    sc.spike.hold = args.hold;
    sc.high.threshold = args.high_cpu_threshold;
    sc.loops.alarm_cycle = args.alarm_cycle_seconds;
    sc.clients.max_lifetime = args.max_lifetime;
    if !args.sweep.is_empty() {
        return run_sweep(&sc, args);
    }
    let outcome = match scenario::run(&sc) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("spillway simulate: {e}");
            return ExitCode::from(2);
        }
    };
    emit(args.json, &outcome, |out| {
        print_table(out, &outcome.spillway, &outcome.baseline)
    })
}

fn print_table(out: &mut impl Write, with: &Summary, without: &Summary) -> std::io::Result<()> {
    let secs = |v: Option<u32>| v.map_or("never".to_owned(), |s| format!("{s} s"));
    writeln!(
        out,
        "{:<40} {:>14} {:>18}",
        "", "with Spillway", "auto scaling only"
    )?;
    writeln!(
        out,
        "{:<40} {:>14} {:>18}",
        "onset to the first weight change",
        secs(with.onset_to_first_shift),
        secs(without.onset_to_first_shift)
    )?;
    writeln!(
        out,
        "{:<40} {:>12.1} % {:>16.1} %",
        "peak provisioned-reader CPU", with.peak_provisioned_cpu, without.peak_provisioned_cpu
    )?;
    writeln!(
        out,
        "{:<40} {:>12} s {:>16} s",
        "time above the high threshold", with.seconds_above_high, without.seconds_above_high
    )?;
    writeln!(
        out,
        "{:<40} {:>14} {:>18}",
        "onset to the first added replica",
        secs(with.onset_to_replicas),
        secs(without.onset_to_replicas)
    )?;
    writeln!(
        out,
        "{:<40} {:>12.1} % {:>16.1} %",
        "largest share of connections moved",
        with.max_pool_share * 100.0,
        without.max_pool_share * 100.0
    )
}

fn run_sweep(sc: &Scenario, args: &SimulateArgs) -> ExitCode {
    let axes = match args
        .sweep
        .iter()
        .map(|a| axis(a))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(axes) => axes,
        Err(e) => {
            eprintln!("spillway simulate: {e}");
            return ExitCode::from(2);
        }
    };
    let points = match sweep::sweep(sc, &axes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("spillway simulate: a point of the sweep is not a valid policy: {e}");
            return ExitCode::from(2);
        }
    };
    emit(args.json, &points, |out| print_points(out, &points))
}

/// Writes `value` as JSON (`--json`) or through `table`, and maps the outcome to the exit
/// status: 3 when stdout fails, except for a reader that stopped early (`| head`).
fn emit(
    json: bool,
    value: &impl serde::Serialize,
    table: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        table(&mut out)
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spillway simulate: writing the result failed: {e}");
            ExitCode::from(3)
        }
    }
}

fn print_points(out: &mut impl Write, points: &[Point]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<4} {:<48} {:>12} {:>12} {:>8}",
        "rank", "parameters", "above high", "first shift", "moved"
    )?;
    for (i, p) in points.iter().enumerate() {
        let params = p
            .values
            .iter()
            .map(|(k, v)| format!("{k:?}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let first = p
            .summary
            .onset_to_first_shift
            .map_or("never".to_owned(), |s| format!("{s} s"));
        writeln!(
            out,
            "{:<4} {:<48} {:>10} s {:>12} {:>6.1} %",
            i + 1,
            params,
            p.summary.seconds_above_high,
            first,
            p.summary.max_pool_share * 100.0
        )?;
    }
    Ok(())
}
