//! `spillway simulate`: one what-if run of a synthetic spike against a configuration, with the
//! auto-scaling-only baseline on the same spike (`spillway::simulation::scenario`). Prints the
//! summary as a table, or the whole run as JSON with `--json`.
//!
//! The load is a synthetic spike or a recording (`--recorded`); the parameters come from the
//! defaults, a scenario file, a template's defaults and `--parameter-overrides`; `--picture`
//! draws the run or the sweep.

use std::io::Write;
use std::process::ExitCode;

use std::path::PathBuf;

use spillway::simulation::clients::PoolAges;
use spillway::simulation::cost::{self, PriceBook, StrategyCost};
use spillway::simulation::latency;
use spillway::simulation::load::{Load, Recorded};
use spillway::simulation::scenario::{self, Scenario, Summary};
use spillway::simulation::sweep::{self, Knob, Point, Rank};

use spillway::simulation::parameters;

use spillway_cli::picture;

use crate::{recorded, template};

/// The arguments of `spillway simulate`. Every setting starts from the default scenario (the
/// template's parameters and the simulator's own, README "The simulator") or from
/// `--scenario FILE`; a flag given on the command line overrides it.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Start from this scenario (JSON, as `--print-scenario` writes it) instead of the default.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    #[command(flatten)]
    params: ParameterArgs,
    /// Replay a recorded load instead of the synthetic spike: the EMF lines `spillway replay`
    /// writes, or RDSOSMetrics batches (files or directories, as `spillway replay` reads them;
    /// they need --topology). The provisioned readers' CPU becomes the demand.
    #[arg(long, value_name = "INPUT", num_args = 1..)]
    recorded: Vec<PathBuf>,
    /// The topology snapshot for recorded RDSOSMetrics batches (as `spillway replay --topology`).
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// The cluster of the recording to simulate (default: the only one in it).
    #[arg(long)]
    cluster: Option<String>,
    /// Provisioned readers in service at the start [default: 2; recorded: the recording's].
    #[arg(long)]
    readers: Option<u32>,
    /// Demand at rest, in reader-percent (100 = one reader at 100 % CPU) [default: 90].
    #[arg(long)]
    baseline: Option<f64>,
    /// The spike's peak, as a multiple of the baseline [default: 2.4].
    #[arg(long)]
    multiplier: Option<f64>,
    /// Seconds of the run before the spike starts [default: 60; recorded: the first second
    /// above the high threshold].
    #[arg(long)]
    onset: Option<u32>,
    /// Seconds from the onset to the peak [default: 10].
    #[arg(long)]
    ramp: Option<u32>,
    /// Seconds at the peak [default: 900].
    #[arg(long)]
    hold: Option<u32>,
    /// Seconds of the run [default: 1800; recorded: the recording's length].
    #[arg(long)]
    duration: Option<u32>,
    /// Seconds a new replica needs to come up [default: 420].
    #[arg(long)]
    boot_seconds: Option<u32>,
    /// Sample time to alarm visibility, seconds [default: 6].
    #[arg(long)]
    metric_delay: Option<u32>,
    /// The high alarm's threshold (HighCpuThreshold) [default: 70].
    #[arg(long)]
    high_cpu_threshold: Option<f64>,
    /// WeightStep [default: 25].
    #[arg(long)]
    weight_step: Option<u16>,
    /// AlarmCycleSeconds [default: 20].
    #[arg(long)]
    alarm_cycle_seconds: Option<u32>,
    /// The clients' pool maximum connection lifetime, seconds [default: 120; HikariCP: 1800].
    #[arg(long)]
    max_lifetime: Option<u32>,
    /// The clients' DNS cache, seconds [default: 5; the JVM's: 30].
    #[arg(long)]
    dns_cache: Option<u32>,
    /// The pools' connection ages when the run starts: `spread` over the lifetime, or
    /// `together` (opened at the start) [default: spread].
    #[arg(long, value_enum)]
    pool_ages: Option<Ages>,
    /// Fraction of the connections that are new each second for other reasons (scale-out,
    /// short-lived clients), 0–1 [default: 0].
    #[arg(long)]
    churn_per_second: Option<f64>,
    /// Fraction of the traffic from clients that ignore DNS weights (RDS Proxy, ProxySQL, the
    /// AWS Advanced JDBC Wrapper's read/write splitting), 0–1 [default: 0].
    #[arg(long)]
    ignore_dns: Option<f64>,
    /// Sweep a parameter over values, e.g. `--sweep weight-step=10,25,50`; repeat it for a
    /// grid. Prints the points ranked by time above the high threshold. Names: weight-step,
    /// alarm-cycle-seconds, high-cpu-threshold, max-serverless-weight, metric-delay,
    /// max-lifetime, dns-cache, ignore-dns, em-interval. Priced with --cost or
    /// --rank-by cost.
    #[arg(long, value_name = "NAME=V1,V2,...")]
    sweep: Vec<String>,
    /// Enhanced Monitoring's interval, seconds (1, 5, 10, 15, 30, 60) [default: 1].
    #[arg(long)]
    em_interval: Option<u32>,
    /// Price every strategy on the same load (Spillway, auto scaling only, native Aurora auto
    /// scaling, provisioned for the peak, all-Serverless v2 readers): a table, a picture
    /// panel, and `cost` in the JSON.
    #[arg(long)]
    cost: bool,
    /// The price file (JSON, as `functions/spillway/src/simulation/prices.json`) [default: the
    /// bundled us-east-1 prices].
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// The Region of the price file to use [default: the file's `default_region`].
    #[arg(long)]
    region: Option<String>,
    /// Events like this one per month [default: 4].
    #[arg(long)]
    events_per_month: Option<f64>,
    /// The provisioned readers' instance class (priced from the price file) [default:
    /// db.r6g.large].
    #[arg(long)]
    instance_class: Option<String>,
    /// A floor under the spill reader's capacity at rest, ACU, from features that hold it
    /// above its minimum (e.g. 2 with Performance Insights; README "What it costs") [default: 0].
    #[arg(long)]
    spill_floor_acu: Option<f64>,
    /// Rank a sweep by `time` above the high threshold, or by `cost` per month [default: time].
    #[arg(long, value_enum, default_value_t = RankBy::Time)]
    rank_by: RankBy,
    /// With `--rank-by cost`: the points with at most this many seconds above the threshold
    /// come first, cheapest first.
    #[arg(long, value_name = "SECONDS")]
    max_above_high: Option<u32>,
    /// Draw the run (a timeline) or the sweep (a heat map) into FILE: `.png` or `.svg`.
    /// Repeatable, e.g. `--picture run.png --picture run.svg`.
    #[arg(long, value_name = "FILE")]
    picture: Vec<PathBuf>,
    /// Print the whole run (every timeline), or the sweep's points, as JSON.
    #[arg(long)]
    json: bool,
    /// Print the scenario these flags make, as JSON (for `--scenario`), and run nothing.
    #[arg(long)]
    print_scenario: bool,
    /// Onset → first weight change over a grid of the delays AWS does not document (sample →
    /// metrics function 1–8 s, EMF extraction 1–10 s, a start → the first round 0–2 s, the
    /// onset's phase against the alarm's 10-s evaluation), for the direct trigger and for the
    /// alarm path: percentiles of the grid's runs.
    #[arg(long)]
    latency: bool,
}

/// Where a run's template parameters come from (shared by `simulate` and `alarms`), applied in
/// this order.
#[derive(Debug, clap::Args)]
pub struct ParameterArgs {
    /// Take the template's parameters from this file's `Default:`s (e.g. template.yaml) — what
    /// a deployment with no overrides would run.
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Take a deployed stack's parameters from the JSON `aws cloudformation describe-stacks
    /// --stack-name NAME` prints (a file, or `-` for stdin).
    #[arg(long, value_name = "FILE")]
    stack_description: Option<PathBuf>,
    /// Override template parameters, as `sam deploy --parameter-overrides` takes them
    /// (`WeightStep=10 AlarmCycleSeconds=30`). Repeatable; applied last.
    #[arg(long, value_name = "NAME=VALUE", num_args = 1..)]
    parameter_overrides: Vec<String>,
}

/// `--rank-by`.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum RankBy {
    Time,
    Cost,
}

/// `--pool-ages`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Ages {
    Spread,
    Together,
}

/// The scenario the flags describe, or the reason there is none.
async fn scenario(args: &SimulateArgs) -> Result<Scenario, String> {
    let mut sc = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--scenario {}: {e}", path.display()))?;
            serde_json::from_str::<Scenario>(&text)
                .map_err(|e| format!("--scenario {}: {e}", path.display()))?
        }
        None => Scenario::default(),
    };
    apply_parameters(&mut sc, &args.params)?;
    if !args.recorded.is_empty() {
        let recording = recorded::read(
            &args.recorded,
            args.topology.as_deref(),
            args.cluster.as_deref(),
        )
        .await?;
        let onset = args
            .onset
            .unwrap_or_else(|| recording.first_above(sc.high.threshold));
        sc.readers = recording.readers;
        sc.duration = recording.demand.len() as u32;
        sc.load = Load::Recorded(Recorded {
            demand: recording.demand,
            onset,
        });
    }
    if let Some(spike) = sc.spike_mut() {
        set(&mut spike.baseline, args.baseline);
        set(&mut spike.multiplier, args.multiplier);
        set(&mut spike.onset, args.onset);
        set(&mut spike.ramp, args.ramp);
        set(&mut spike.hold, args.hold);
    } else if args.baseline.is_some()
        || args.multiplier.is_some()
        || args.ramp.is_some()
        || args.hold.is_some()
    {
        return Err(
            "--baseline, --multiplier, --ramp and --hold shape the synthetic spike; a recorded \
             load has its own"
                .to_owned(),
        );
    }
    set(&mut sc.readers, args.readers);
    set(&mut sc.duration, args.duration);
    set(&mut sc.boot_seconds, args.boot_seconds);
    set(&mut sc.metric_delay, args.metric_delay);
    set(&mut sc.high.threshold, args.high_cpu_threshold);
    set(&mut sc.weight_step, args.weight_step);
    set(&mut sc.loops.alarm_cycle, args.alarm_cycle_seconds);
    set(&mut sc.clients.max_lifetime, args.max_lifetime);
    set(&mut sc.clients.dns_cache, args.dns_cache);
    set(
        &mut sc.clients.ages,
        args.pool_ages.map(|a| match a {
            Ages::Spread => PoolAges::Spread,
            Ages::Together => PoolAges::Together,
        }),
    );
    for (name, value) in [
        ("--churn-per-second", args.churn_per_second),
        ("--ignore-dns", args.ignore_dns),
    ] {
        if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            return Err(format!("{name}: a fraction, 0 to 1"));
        }
    }
    set(&mut sc.clients.churn_per_second, args.churn_per_second);
    set(&mut sc.clients.ignore_dns, args.ignore_dns);
    set(&mut sc.em_interval, args.em_interval);
    if sc.em_interval == 0 {
        return Err("--em-interval: at least 1 second".to_owned());
    }
    set(&mut sc.cost.events_per_month, args.events_per_month);
    set(&mut sc.cost.instance_class, args.instance_class.clone());
    set(&mut sc.cost.spill_floor_acu, args.spill_floor_acu);
    if sc.duration == 0 {
        return Err("--duration: a run needs at least one second".to_owned());
    }
    Ok(sc)
}

/// A template's defaults (`--template`), a deployed stack's parameters
/// (`--stack-description`), then `--parameter-overrides`, applied to `sc` in that order.
pub fn apply_parameters(sc: &mut Scenario, params: &ParameterArgs) -> Result<(), String> {
    let (template, stack, overrides) = (
        params.template.as_ref(),
        params.stack_description.as_ref(),
        &params.parameter_overrides,
    );
    if let Some(path) = template {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--template {}: {e}", path.display()))?;
        let defaults =
            template::defaults(&text).map_err(|e| format!("--template {}: {e}", path.display()))?;
        parameters::apply(sc, &defaults)
            .map_err(|e| format!("--template {}: {e}", path.display()))?;
    }
    if let Some(path) = stack {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        }
        .map_err(|e| format!("--stack-description {}: {e}", path.display()))?;
        let described = parameters::from_stack_description(&text)
            .map_err(|e| format!("--stack-description {}: {e}", path.display()))?;
        parameters::apply(sc, &described)
            .map_err(|e| format!("--stack-description {}: {e}", path.display()))?;
    }
    let overrides = parameters::parse_overrides(overrides)
        .map_err(|e| format!("--parameter-overrides: {e}"))?;
    parameters::apply(sc, &overrides).map_err(|e| format!("--parameter-overrides: {e}"))
}

/// The price file (`--prices`, or the bundled one).
fn price_book(args: &SimulateArgs) -> Result<PriceBook, String> {
    match &args.prices {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--prices {}: {e}", path.display()))?;
            PriceBook::parse(&text).map_err(|e| format!("--prices {}: {e}", path.display()))
        }
        None => Ok(PriceBook::bundled()),
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
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

pub async fn run(args: &SimulateArgs) -> ExitCode {
    let sc = match scenario(args).await {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("spillway simulate: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_scenario {
        return emit(true, &sc, |_| Ok(()));
    }
    if !args.sweep.is_empty() {
        return run_sweep(&sc, args);
    }
    if args.latency {
        return run_latency(&sc, args);
    }
    let outcome = match scenario::run(&sc) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("spillway simulate: {e}");
            return ExitCode::from(2);
        }
    };
    let costs = if args.cost {
        match price_book(args).and_then(|book| {
            cost::compare(&sc, &outcome, &book, args.region.as_deref()).map_err(|e| e.to_string())
        }) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("spillway simulate: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    for path in &args.picture {
        if let Err(e) = picture::timeline(path, &sc, &outcome, costs.as_deref()) {
            eprintln!("spillway simulate: {}: {e}", path.display());
            return ExitCode::from(3);
        }
        eprintln!("spillway simulate: wrote {}", path.display());
    }
    let report = Report {
        outcome: &outcome,
        cost: costs.as_deref(),
    };
    emit(args.json, &report, |out| {
        print_table(
            out,
            &outcome.spillway,
            &outcome.baseline,
            outcome.native.as_ref(),
        )?;
        match &costs {
            Some(c) => print_costs(out, c, &sc),
            None => Ok(()),
        }
    })
}

/// `--json`: the run, and the bills when priced.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    outcome: &'a scenario::Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<&'a [StrategyCost]>,
}

fn print_costs(out: &mut impl Write, costs: &[StrategyCost], sc: &Scenario) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>11} {:>11}",
        "", "ACU-h", "inst-h", "Spillway $", "$/event", "$/month", "above high"
    )?;
    for c in costs {
        writeln!(
            out,
            "{:<28} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>11.2} {:>9} s",
            c.strategy,
            c.acu_hours,
            c.instance_hours,
            c.running_usd,
            c.usd_per_event,
            c.usd_per_month,
            c.seconds_above_high
        )?;
    }
    writeln!(
        out,
        "(one event = this {}-s run; a month = 730 h at rest + {} events; readers {}, the writer left out)",
        sc.duration, sc.cost.events_per_month, sc.cost.instance_class
    )
}

fn print_table(
    out: &mut impl Write,
    with: &Summary,
    without: &Summary,
    native: Option<&Summary>,
) -> std::io::Result<()> {
    let secs = |v: Option<u32>| v.map_or("never".to_owned(), |s| format!("{s} s"));
    let columns: Vec<&Summary> = [Some(with), Some(without), native]
        .into_iter()
        .flatten()
        .collect();
    let heads = ["with Spillway", "auto scaling only", "native Aurora AS"];
    let row = |out: &mut dyn Write, label: &str, cell: &dyn Fn(&Summary) -> String| {
        write!(out, "{label:<36}")?;
        for s in &columns {
            write!(out, " {:>18}", cell(s))?;
        }
        writeln!(out)
    };
    write!(out, "{:<36}", "")?;
    for head in &heads[..columns.len()] {
        write!(out, " {head:>18}")?;
    }
    writeln!(out)?;
    row(out, "onset to the first weight change", &|s| {
        secs(s.onset_to_first_shift)
    })?;
    row(out, "peak provisioned-reader CPU", &|s| {
        format!("{:.1} %", s.peak_provisioned_cpu)
    })?;
    row(out, "time above the high threshold", &|s| {
        format!("{} s", s.seconds_above_high)
    })?;
    row(out, "onset to the first added replica", &|s| {
        secs(s.onset_to_replicas)
    })?;
    row(out, "largest weight share", &|s| {
        format!("{:.1} %", s.max_weight_share * 100.0)
    })?;
    row(out, "largest share of traffic moved", &|s| {
        format!("{:.1} %", s.max_pool_share * 100.0)
    })?;
    row(out, "traffic within 10 % of the top weight", &|s| {
        s.seconds_to_follow
            .map_or("never".to_owned(), |t| format!("{t} s after"))
    })
}

fn run_latency(sc: &Scenario, args: &SimulateArgs) -> ExitCode {
    let ranges = latency::DelayRanges::default();
    let report = match latency::onset_to_first_shift(sc, &ranges) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("spillway simulate: {e}");
            return ExitCode::from(2);
        }
    };
    emit(args.json, &report, |out| {
        writeln!(
            out,
            "onset to first weight change, seconds, over {} runs (delivery {:?} s, EMF \
             extraction {:?} s, start {:?} s, onset phase {} values)",
            report.direct.runs,
            ranges.delivery,
            ranges.extraction,
            ranges.start,
            match sc.load {
                Load::Spike(_) => ranges.onset_shift.len(),
                Load::Recorded(_) => 1,
            }
        )?;
        writeln!(
            out,
            "{:<16} {:>5} {:>5} {:>5} {:>5} {:>6}",
            "", "min", "p50", "p95", "max", "never"
        )?;
        for (name, p) in [
            ("direct trigger", report.direct),
            ("alarm path", report.alarm),
        ] {
            writeln!(
                out,
                "{:<16} {:>5} {:>5} {:>5} {:>5} {:>6}",
                name, p.min, p.p50, p.p95, p.max, p.never
            )?;
        }
        Ok(())
    })
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
    let rank = match args.rank_by {
        RankBy::Time => Rank::TimeAboveHigh,
        RankBy::Cost => Rank::Cost {
            max_above_high: args.max_above_high,
        },
    };
    let book = if args.cost || args.rank_by == RankBy::Cost {
        match price_book(args) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("spillway simulate: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let prices = book.as_ref().map(|b| (b, args.region.as_deref()));
    let points = match sweep::sweep(sc, &axes, rank, prices) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("spillway simulate: {e}");
            return ExitCode::from(2);
        }
    };
    for path in &args.picture {
        if let Err(e) = picture::heat_map(path, &axes, &points) {
            eprintln!("spillway simulate: {}: {e}", path.display());
            return ExitCode::from(3);
        }
        eprintln!("spillway simulate: wrote {}", path.display());
    }
    emit(args.json, &points, |out| print_points(out, &points))
}

/// Writes `value` as JSON (`--json`) or through `table`, and maps the outcome to the exit
/// status: 3 when stdout fails, except for a reader that stopped early (`| head`).
pub fn emit(
    json: bool,
    value: &impl serde::Serialize,
    table: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> ExitCode {
    match write(json, value, table) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// As [`emit`], for a caller with its own exit status on success: `Err` holds the failure's.
pub fn write(
    json: bool,
    value: &impl serde::Serialize,
    table: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> Result<(), ExitCode> {
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        table(&mut out)
    };
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            eprintln!("spillway: writing the result failed: {e}");
            Err(ExitCode::from(3))
        }
    }
}

fn print_points(out: &mut impl Write, points: &[Point]) -> std::io::Result<()> {
    let priced = points.iter().any(|p| p.cost.is_some());
    writeln!(
        out,
        "{:<4} {:<48} {:>12} {:>12} {:>8}{}",
        "rank",
        "parameters",
        "above high",
        "first shift",
        "moved",
        if priced { "    $/month" } else { "" }
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
        let usd = p
            .cost
            .as_ref()
            .map_or(String::new(), |c| format!(" {:>10.2}", c.usd_per_month));
        writeln!(
            out,
            "{:<4} {:<48} {:>10} s {:>12} {:>6.1} %{}",
            i + 1,
            params,
            p.summary.seconds_above_high,
            first,
            p.summary.max_pool_share * 100.0,
            usd
        )?;
    }
    Ok(())
}
