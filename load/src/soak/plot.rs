//! The soak's time series as one SVG: a panel per judged series with its
//! fitted line (after the warm-up), and the echo p99 per sample window.

use plotters::prelude::*;

use super::analysis::{SERIES, Sample, Verdict};

const SIZE: (u32, u32) = (900, 1100);
const BLUE: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const RED: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// The SVG text of the soak's series.
pub(crate) fn svg(samples: &[Sample], verdicts: &[Verdict], warmup_secs: u64) -> String {
    let mut out = String::new();
    if let Err(e) = draw(&mut out, samples, verdicts, warmup_secs) {
        eprintln!("sockgate-load: plotting the soak: {e}");
    }
    out
}

fn draw(
    out: &mut String,
    samples: &[Sample],
    verdicts: &[Verdict],
    warmup_secs: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((SERIES.len() + 1, 1));
    let minutes = |t: f64| t / 60.0;
    let t_max = samples.last().map_or(1.0, |s| minutes(s.t_secs)).max(1.0);
    for (i, ((name, unit, value, _), verdict)) in SERIES.iter().zip(verdicts).enumerate() {
        let ys: Vec<f64> = samples.iter().map(value).collect();
        let y_max = ys.iter().copied().fold(0.0, f64::max).max(1.0) * 1.15;
        let title = format!(
            "{name}{}: mean {:.1}, drift over the run {:+.2} (allowed ±{:.2}) — {}",
            if unit.is_empty() {
                String::new()
            } else {
                format!(" ({unit})")
            },
            verdict.mean,
            verdict.drift,
            verdict.allowed,
            if verdict.flat { "flat" } else { "NOT FLAT" }
        );
        let mut chart = ChartBuilder::on(&panels[i])
            .caption(title, ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("minutes")
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(LineSeries::new(
            samples.iter().map(|s| (minutes(s.t_secs), value(s))),
            BLUE.stroke_width(2),
        ))?;
        let from = warmup_secs as f64;
        let to = samples.last().map_or(from, |s| s.t_secs);
        let line = |t: f64| verdict.intercept + verdict.slope * t;
        chart.draw_series(LineSeries::new(
            [(minutes(from), line(from)), (minutes(to), line(to))],
            RED.stroke_width(1),
        ))?;
    }
    let p99: Vec<f64> = samples.iter().map(|s| s.echo_p99_us / 1000.0).collect();
    let y_max = p99.iter().copied().fold(0.0, f64::max).max(1.0) * 1.15;
    let mut chart = ChartBuilder::on(&panels[SERIES.len()])
        .caption(
            "echo round trip p99 per sample window (ms)",
            ("sans-serif", 14),
        )
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .light_line_style(WHITE)
        .draw()?;
    chart.draw_series(LineSeries::new(
        samples
            .iter()
            .map(|s| (minutes(s.t_secs), s.echo_p99_us / 1000.0)),
        BLUE.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}
