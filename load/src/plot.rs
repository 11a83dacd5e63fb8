//! Latency percentile plots as SVG, drawn with [`plotters`] (any browser shows them).
//!
//! The x axis is the percentile on the usual HdrHistogram scale, log(1/(1-q)), so
//! the tail from p90 to p99.99 gets as much room as the body; the y axis is
//! latency on a log scale, so a 100 µs median and a 50 ms maximum are both
//! readable in one picture.

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// One line on the plot.
pub(crate) struct Series<'a> {
    pub(crate) label: String,
    pub(crate) hist: &'a Histogram<u64>,
}

const SIZE: (u32, u32) = (880, 480);
/// p99.99 sits at x = 4 (log10 of 1/(1 - 0.9999)).
const X_MAX: f64 = 4.0;
const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// The SVG text of a percentile plot of `series` (latencies in microseconds).
pub(crate) fn svg(title: &str, series: &[Series<'_>]) -> String {
    let mut out = String::new();
    if let Err(e) = draw(&mut out, title, series) {
        eprintln!("sockgate-load: plotting {title}: {e}");
    }
    out
}

fn draw(
    out: &mut String,
    title: &str,
    series: &[Series<'_>],
) -> Result<(), Box<dyn std::error::Error>> {
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(|s| curve(s.hist)).collect();
    let (y_min, y_max) = decades(&curves);
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .margin_right(32)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..X_MAX, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| micros(*y))
        .x_desc("percentile")
        .y_desc("latency")
        .light_line_style(WHITE)
        .draw()?;
    for (i, (s, pts)) in series.iter().zip(&curves).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let label = format!(
            "{}: p50 {} · p99 {} · p99.9 {} · max {}",
            s.label,
            micros(s.hist.value_at_quantile(0.5) as f64),
            micros(s.hist.value_at_quantile(0.99) as f64),
            micros(s.hist.value_at_quantile(0.999) as f64),
            micros(s.hist.max() as f64)
        );
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The y range: whole decades around every point (1 µs to 10 µs when empty).
fn decades(curves: &[Vec<(f64, f64)>]) -> (f64, f64) {
    let (lo, hi) = curves
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| {
            (lo.min(y), hi.max(y))
        });
    let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
    let y_min = 10f64.powf(lo.max(1.0).log10().floor());
    let y_max = 10f64.powf(hi.max(y_min * 10.0).log10().ceil());
    (y_min, y_max)
}

/// (x, latency µs) points from p0 to p99.99; latencies below 1 µs are drawn at 1 µs
/// (the log axis has no zero).
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=80)
        .map(|k| {
            let x = f64::from(k) / 20.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, (h.value_at_quantile(q) as f64).max(1.0))
        })
        .collect()
}

fn percentile_label(x: f64) -> String {
    match x.round() as i64 {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        3 => "99.9%".into(),
        _ => "99.99%".into(),
    }
}

fn micros(us: f64) -> String {
    let (value, unit) = if us >= 1_000_000.0 {
        (us / 1e6, "s")
    } else if us >= 1000.0 {
        (us / 1000.0, "ms")
    } else {
        return format!("{us:.0} µs");
    };
    let text = format!("{value:.2}");
    format!(
        "{} {unit}",
        text.trim_end_matches('0').trim_end_matches('.')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plot_names_its_series_and_their_percentiles() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in [100u64, 200, 300, 5_000] {
            h.record(v).unwrap();
        }
        let text = svg(
            "echo",
            &[Series {
                label: "sockgate".into(),
                hist: &h,
            }],
        );
        assert!(text.starts_with("<svg"), "{text:.80}");
        assert!(text.contains("echo"));
        assert!(text.contains("sockgate: p50 200 µs"), "legend with figures");
        assert!(text.contains("99.99%"), "percentile axis labels");
    }
}
