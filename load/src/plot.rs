//! Latency percentile plots as SVG (no dependencies; any browser shows them).
//!
//! The x axis is the percentile on the usual HdrHistogram scale, log(1/(1-q)), so
//! the tail from p90 to p99.99 gets as much room as the body; the y axis is
//! latency on a log scale, so a 100 µs median and a 50 ms maximum are both
//! readable in one picture.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// One line on the plot.
pub(crate) struct Series<'a> {
    pub(crate) label: String,
    pub(crate) hist: &'a Histogram<u64>,
}

const W: f64 = 880.0;
const H: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// p99.99 sits at x = 4 (log10 of 1/(1 - 0.9999)).
const X_MAX: f64 = 4.0;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// The SVG text of a percentile plot of `series` (latencies in microseconds).
pub(crate) fn svg(title: &str, series: &[Series<'_>]) -> String {
    let points: Vec<Vec<(f64, f64)>> = series.iter().map(|s| curve(s.hist)).collect();
    let (lo, hi) = points
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| {
            (lo.min(y), hi.max(y))
        });
    let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
    let y_min = 10f64.powf(lo.max(1.0).log10().floor());
    let y_max = 10f64.powf(hi.max(y_min * 10.0).log10().ceil());
    let px = |x: f64| LEFT + x / X_MAX * (W - LEFT - RIGHT);
    let py = |y: f64| {
        let t = (y.max(y_min).log10() - y_min.log10()) / (y_max.log10() - y_min.log10());
        H - BOTTOM - t * (H - TOP - BOTTOM)
    };

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        out,
        r#"<rect width="{W}" height="{H}" fill="white"/><text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
        (W - RIGHT + LEFT) / 2.0,
        escape(title)
    );
    // Grid: percentiles across, decades of latency up.
    for (x, label) in [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
    ] {
        let _ = write!(
            out,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{label}</text>"##,
            px(x),
            TOP,
            H - BOTTOM,
            H - BOTTOM + 18.0
        );
    }
    let mut decade = y_min;
    while decade <= y_max * 1.0001 {
        let y = py(decade);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            micros(decade)
        );
        decade *= 10.0;
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text><text x="18" y="{}" transform="rotate(-90 18 {})" text-anchor="middle">latency</text>"#,
        (W - RIGHT + LEFT) / 2.0,
        H - 16.0,
        (H - BOTTOM + TOP) / 2.0,
        (H - BOTTOM + TOP) / 2.0
    );
    for (i, (s, pts)) in series.iter().zip(&points).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        let ly = TOP + 56.0 * i as f64;
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{ly}" x2="{1}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{2}" y="{3}">{4}</text>"#,
            W - RIGHT + 15.0,
            W - RIGHT + 35.0,
            W - RIGHT + 40.0,
            ly + 4.0,
            escape(&s.label)
        );
        let stats = [
            format!(
                "p50 {} · p99 {}",
                micros(s.hist.value_at_quantile(0.5) as f64),
                micros(s.hist.value_at_quantile(0.99) as f64)
            ),
            format!(
                "p99.9 {} · max {}",
                micros(s.hist.value_at_quantile(0.999) as f64),
                micros(s.hist.max() as f64)
            ),
        ];
        for (j, line) in stats.iter().enumerate() {
            let _ = write!(
                out,
                r##"<text x="{}" y="{}" fill="#555" font-size="11">{line}</text>"##,
                W - RIGHT + 15.0,
                ly + 18.0 + 14.0 * j as f64,
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// (x, latency µs) points from p0 to p99.99.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=80)
        .map(|k| {
            let x = f64::from(k) / 20.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64)
        })
        .collect()
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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
