//! Speed of the what-if simulator, against its budgets and a floor measured in the same run.
//!
//! `cargo bench -p spillway-cli --bench simulate [-- --check]`
//!
//! Measured (median of several rounds):
//! - floor: one pass over a day at 1-second resolution doing only what any such model must —
//!   the load of each second and a record of it (no alarms, loops, pools or auto scaling);
//! - a simulated day (86,400 s) with Spillway and both baselines, priced with the other two
//!   strategies (`--cost`), the clients' model included, then its timeline drawn as a PNG;
//! - a 100-point sweep (10 × 10: WeightStep × AlarmCycleSeconds) of the default 30-minute
//!   scenario, each point priced, as `spillway simulate --sweep --cost` runs it.
//!
//! Budgets (issue 9): the day with its picture under 1 s, the sweep under 10 s on this 2-core
//! machine. The run prints each figure with its ratio to the floor, so that a slower machine
//! shows up as a slower floor rather than as a regression; `--check` exits 1 when a budget is
//! missed.

use std::hint::black_box;
use std::time::Instant;

use spillway::simulation::cost::{self, PriceBook};
use spillway::simulation::scenario::{self, Scenario};
use spillway::simulation::sweep::{self, Knob, Rank};

const ROUNDS: usize = 5;
const DAY: u32 = 86_400;

fn median(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[ROUNDS / 2]
}

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let day = Scenario {
        duration: DAY,
        ..Scenario::default()
    };
    let book = PriceBook::bundled();
    let picture = std::env::temp_dir().join(format!("spillway-bench-{}.png", std::process::id()));

    let floor = median(|| {
        let seconds: Vec<(u32, f64)> = (0..DAY).map(|t| (t, day.load.demand(t))).collect();
        black_box(seconds);
    });
    let simulated = median(|| {
        let outcome = scenario::run(black_box(&day)).expect("a valid policy");
        let costs = cost::compare(&day, &outcome, &book, None).expect("priced");
        spillway_cli::picture::timeline(&picture, &day, &outcome, Some(&costs))
            .expect("the picture");
    });
    let tens = || (1..=10).map(|i| f64::from(i) * 10.0).collect::<Vec<_>>();
    let axes = [
        (Knob::WeightStep, tens()),
        (Knob::AlarmCycleSeconds, tens()),
    ];
    let base = Scenario::default();
    let swept = median(|| {
        let points = sweep::sweep(
            black_box(&base),
            &axes,
            Rank::TimeAboveHigh,
            Some((&book, None)),
        )
        .expect("valid policies");
        assert_eq!(points.len(), 100);
        black_box(points);
    });
    std::fs::remove_file(&picture).ok();

    println!(
        "{:<48} {:>9} {:>8} {:>9}",
        "", "seconds", "budget", "x floor"
    );
    println!(
        "{:<48} {:>9.4} {:>8} {:>9}",
        "floor: a day's load, second by second", floor, "", "1"
    );
    println!(
        "{:<48} {:>9.3} {:>8} {:>9.0}",
        "a simulated day (5 strategies, priced) + its PNG",
        simulated,
        "1 s",
        simulated / floor
    );
    println!(
        "{:<48} {:>9.3} {:>8} {:>9.0}",
        "a 100-point priced sweep of the 30-minute scenario",
        swept,
        "10 s",
        swept / floor
    );
    let mut failed = false;
    if simulated >= 1.0 {
        eprintln!("FAIL: a simulated day with its picture took {simulated:.2} s (budget 1 s)");
        failed = true;
    }
    if swept >= 10.0 {
        eprintln!("FAIL: a 100-point sweep took {swept:.2} s (budget 10 s)");
        failed = true;
    }
    if check && failed {
        std::process::exit(1);
    }
}
