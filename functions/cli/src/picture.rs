//! `spillway simulate --picture`: the run as a timeline (PNG or SVG, by the file's extension)
//! and a sweep as a heat map, drawn with plotters.
//!
//! The font is compiled in (DejaVu Sans, `assets/`, its licence beside it) and registered with
//! plotters' ab_glyph renderer: no system font library is needed and the pictures come out the
//! same on every machine.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use spillway::simulation::alarm::AlarmState;
use spillway::simulation::cost::StrategyCost;
use spillway::simulation::scenario::{Outcome, Scenario, Second};
use spillway::simulation::sweep::{Knob, Point};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// The timeline's size in pixels (PNG) or user units (SVG).
const TIMELINE: (u32, u32) = (1400, 1500);
const HEAT_MAP: (u32, u32) = (1000, 760);

fn register_font() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font(FAMILY, style, FONT).is_err() {
                result = Err("the compiled-in font does not load".to_owned());
            }
        }
    });
    result
}

enum Format {
    Png,
    Svg,
}

fn format(path: &Path) -> Result<Format, String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(Format::Png),
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(Format::Svg),
        _ => Err("a picture is a .png or a .svg file".to_owned()),
    }
}

/// Draws on the backend the file's extension names, then writes the file.
macro_rules! on_backend {
    ($path:expr, $size:expr, |$root:ident| $body:expr) => {{
        register_font()?;
        match format($path)? {
            Format::Png => {
                let $root = BitMapBackend::new($path, $size).into_drawing_area();
                $body?;
                $root.present().map_err(|e| e.to_string())
            }
            Format::Svg => {
                let $root = SVGBackend::new($path, $size).into_drawing_area();
                $body?;
                $root.present().map_err(|e| e.to_string())
            }
        }
    }};
}

/// The run: CPU against the thresholds (with the baselines on the same axes), the serverless
/// weight and the share of connections that followed it, the serverless ACUs, the readers in
/// service, the alarms' states, and with `costs` every strategy's bill.
pub fn timeline(
    path: &Path,
    sc: &Scenario,
    outcome: &Outcome,
    costs: Option<&[StrategyCost]>,
) -> Result<(), String> {
    let size = if costs.is_some() {
        (TIMELINE.0, TIMELINE.1 + 300)
    } else {
        TIMELINE
    };
    on_backend!(path, size, |root| draw_timeline(&root, sc, outcome, costs))
}

/// A sweep: time above the high threshold for each point (the best over any further axes).
pub fn heat_map(path: &Path, axes: &[(Knob, Vec<f64>)], points: &[Point]) -> Result<(), String> {
    on_backend!(path, HEAT_MAP, |root| draw_heat_map(&root, axes, points))
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn minutes(s: &Second) -> f64 {
    f64::from(s.t) / 60.0
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sc: &Scenario,
    o: &Outcome,
    costs: Option<&[StrategyCost]>,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let (title, body) = root.split_vertically(50);
    let body = match costs {
        Some(costs) => {
            let height = body.dim_in_pixel().1;
            let (timeline, bill) = body.split_vertically(height - 300);
            draw_costs(&bill, costs)?;
            timeline
        }
        None => body,
    };
    let s = &o.spillway;
    let b = &o.baseline;
    title
        .titled(
            &format!(
                "Spillway what-if: peak CPU {:.0} % / {:.0} %, {} s / {} s above {:.0} % (with / auto scaling only)",
                s.peak_provisioned_cpu,
                b.peak_provisioned_cpu,
                s.seconds_above_high,
                b.seconds_above_high,
                sc.high.threshold
            ),
            (FAMILY, 22),
        )
        .map_err(err)?;
    let panels = body.split_evenly((5, 1));
    let end = o.timeline.last().map_or(1.0, |s| minutes(s) + 1.0 / 60.0);
    let spill = BLUE;
    let autoscaling = RED;
    let native = RGBColor(230, 140, 0);

    // 1. CPU against the thresholds.
    let mut cpu = chart(&panels[0], "provisioned-reader CPU %", end, 0.0..105.0)?;
    line(
        &mut cpu,
        &o.timeline,
        |s| s.provisioned_cpu,
        spill,
        "with Spillway",
    )?;
    line(
        &mut cpu,
        &o.baseline_timeline,
        |s| s.provisioned_cpu,
        autoscaling,
        "auto scaling only",
    )?;
    if !o.native_timeline.is_empty() {
        line(
            &mut cpu,
            &o.native_timeline,
            |s| s.provisioned_cpu,
            native,
            "native Aurora auto scaling (1-min CPU)",
        )?;
    }
    for (threshold, label) in [(sc.high.threshold, "high"), (sc.low.threshold, "low")] {
        cpu.draw_series(DashedLineSeries::new(
            [(0.0, threshold), (end, threshold)],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(err)?
        .label(format!("{label} threshold {threshold:.0} %"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    legend(&mut cpu)?;

    // 2. The serverless weight's share and the connections that followed it.
    let mut share = chart(&panels[1], "serverless share %", end, 0.0..100.0)?;
    line(
        &mut share,
        &o.timeline,
        |s| s.weight_share * 100.0,
        spill,
        "weight share (new resolutions)",
    )?;
    line(
        &mut share,
        &o.timeline,
        |s| s.pool_share * 100.0,
        GREEN,
        "traffic moved (effective share: pools, DNS caches, clients that ignore DNS)",
    )?;
    legend(&mut share)?;

    // 3. The serverless reader's capacity.
    let top = o
        .timeline
        .iter()
        .map(|s| s.serverless_acu)
        .fold(sc.serverless.min_acu, f64::max)
        * 1.1;
    let mut acu = chart(&panels[2], "serverless ACU", end, 0.0..top)?;
    line(&mut acu, &o.timeline, |s| s.serverless_acu, spill, "ACU")?;
    legend(&mut acu)?;

    // 4. Readers in service.
    let most = [&o.timeline, &o.baseline_timeline, &o.native_timeline]
        .iter()
        .flat_map(|t| t.iter())
        .map(|s| s.readers_in_service)
        .max()
        .unwrap_or(1);
    let mut readers = chart(
        &panels[3],
        "provisioned readers in service",
        end,
        0.0..f64::from(most) + 1.0,
    )?;
    let count = |s: &Second| f64::from(s.readers_in_service);
    line(&mut readers, &o.timeline, count, spill, "with Spillway")?;
    line(
        &mut readers,
        &o.baseline_timeline,
        count,
        autoscaling,
        "auto scaling only",
    )?;
    if !o.native_timeline.is_empty() {
        line(
            &mut readers,
            &o.native_timeline,
            count,
            native,
            "native Aurora auto scaling",
        )?;
    }
    legend(&mut readers)?;

    // 5. The alarms: a band per alarm, coloured by its state.
    let mut alarms = chart(&panels[4], "alarms (low | high)", end, 0.0..2.0)?;
    let colour = |state: AlarmState| match state {
        AlarmState::Alarm => RED.mix(0.8),
        AlarmState::Ok => GREEN.mix(0.35),
        AlarmState::InsufficientData => BLACK.mix(0.15),
    };
    for (row, pick) in [
        (1.0, (|s: &Second| s.high) as fn(&Second) -> AlarmState),
        (0.0, |s: &Second| s.low),
    ] {
        let spans = spans(&o.timeline, pick);
        alarms
            .draw_series(spans.into_iter().map(|(from, to, state)| {
                Rectangle::new([(from, row + 0.1), (to, row + 0.9)], colour(state).filled())
            }))
            .map_err(err)?;
    }
    for (label, state) in [
        ("ALARM", AlarmState::Alarm),
        ("OK", AlarmState::Ok),
        ("INSUFFICIENT_DATA", AlarmState::InsufficientData),
    ] {
        alarms
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 20, y + 5)], colour(state).filled())
            });
    }
    legend(&mut alarms)?;
    Ok(())
}

/// Each strategy's bill per month, as bars, with its time above the high threshold.
fn draw_costs<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    costs: &[StrategyCost],
) -> Result<(), String> {
    let most = costs.iter().map(|c| c.usd_per_month).fold(1.0, f64::max);
    let n = costs.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "cost per month (bars) and time above the high threshold",
            (FAMILY, 18),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..most * 1.6, 0.0..n)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("USD per month")
        .disable_y_axis()
        .disable_y_mesh()
        .label_style((FAMILY, 13))
        .draw()
        .map_err(err)?;
    for (i, c) in costs.iter().enumerate() {
        let y = n - i as f64 - 1.0;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.15), (c.usd_per_month, y + 0.85)],
                Palette99::pick(i).mix(0.8).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!(
                    "{}: ${:.0}/month, ${:.2}/event, {} s above",
                    c.strategy, c.usd_per_month, c.usd_per_event, c.seconds_above_high
                ),
                (c.usd_per_month + most * 0.02, y + 0.65),
                (FAMILY, 14).into_font(),
            )))
            .map_err(err)?;
    }
    Ok(())
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    end: f64,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, DB>, String> {
    let mut c = ChartBuilder::on(area)
        .caption(title, (FAMILY, 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..end, y)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("minutes")
        .label_style((FAMILY, 13))
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(err)?;
    Ok(c)
}

fn line<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    timeline: &[Second],
    value: impl Fn(&Second) -> f64,
    colour: RGBColor,
    label: &str,
) -> Result<(), String> {
    chart
        .draw_series(LineSeries::new(
            timeline.iter().map(|s| (minutes(s), value(s))),
            colour.stroke_width(2),
        ))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(err)
}

/// Runs of equal state: (from, to, state) in minutes.
fn spans(timeline: &[Second], pick: fn(&Second) -> AlarmState) -> Vec<(f64, f64, AlarmState)> {
    let mut out: Vec<(f64, f64, AlarmState)> = Vec::new();
    for s in timeline {
        let (from, to) = (minutes(s), minutes(s) + 1.0 / 60.0);
        match out.last_mut() {
            Some(last) if last.2 == pick(s) => last.1 = to,
            _ => out.push((from, to, pick(s))),
        }
    }
    out
}

fn draw_heat_map<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    axes: &[(Knob, Vec<f64>)],
    points: &[Point],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let (x_knob, xs) = axes.first().ok_or("a sweep has at least one axis")?;
    let (y_knob, ys) = match axes.get(1) {
        Some((k, v)) => (Some(*k), v.clone()),
        None => (None, vec![0.0]),
    };
    // The best point (least time above the threshold) for each cell, over any further axes.
    let cell = |x: f64, y: f64| {
        points
            .iter()
            .filter(|p| {
                value(p, *x_knob) == Some(x) && y_knob.is_none_or(|k| value(p, k) == Some(y))
            })
            .map(|p| p.summary.seconds_above_high)
            .min()
    };
    let worst = points
        .iter()
        .map(|p| p.summary.seconds_above_high)
        .max()
        .unwrap_or(1)
        .max(1);
    let further = if axes.len() > 2 {
        " (best over the other axes)"
    } else {
        ""
    };
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("seconds above the high threshold{further}"),
            (FAMILY, 22),
        )
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..xs.len() as f64 - 0.5, -0.5..ys.len() as f64 - 0.5)
        .map_err(err)?;
    let x_labels = xs.clone();
    let y_labels = ys.clone();
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(format!("{x_knob:?}"))
        .y_desc(y_knob.map_or(String::new(), |k| format!("{k:?}")))
        .x_labels(xs.len())
        .y_labels(ys.len())
        .x_label_formatter(&|v| label_at(&x_labels, *v))
        .y_label_formatter(&|v| label_at(&y_labels, *v))
        .label_style((FAMILY, 14))
        .draw()
        .map_err(err)?;
    for (i, x) in xs.iter().enumerate() {
        for (j, y) in ys.iter().enumerate() {
            let (x0, y0) = (i as f64 - 0.5, j as f64 - 0.5);
            let Some(secs) = cell(*x, *y) else { continue };
            let colour = ViridisRGB.get_color_normalized(secs as f32, 0.0, worst as f32);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                    colour.filled(),
                )))
                .map_err(err)?;
            let ink = if secs * 2 > worst { BLACK } else { WHITE };
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{secs} s"),
                    (x0 + 0.4, y0 + 0.55),
                    (FAMILY, 16).into_font().color(&ink),
                )))
                .map_err(err)?;
        }
    }
    Ok(())
}

fn value(p: &Point, knob: Knob) -> Option<f64> {
    p.values.iter().find(|(k, _)| *k == knob).map(|(_, v)| *v)
}

/// The label of the cell centred at `v` (cell `i` is centred at `i`).
fn label_at(values: &[f64], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() > 0.01 || i < 0.0 {
        return String::new();
    }
    values
        .get(i as usize)
        .map_or(String::new(), |x| format!("{x}"))
}
