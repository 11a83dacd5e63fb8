//! The plot of a chaos run (`load/chaos.sh`): faults and outcomes over time,
//! drawn from the `chaos.json` the run wrote. Top: @connections POSTs per
//! second by answer, over shaded spans, one colour per kind of fault. Bottom:
//! each node's `/readyz` (green 200, red 503, blank: no answer).

use std::collections::BTreeMap;
use std::path::PathBuf;

use plotters::prelude::*;
use serde_json::Value;

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// The run's chaos.json.
    #[arg(long, default_value = "load/results/chaos/chaos.json")]
    input: PathBuf,
    /// Where to write the SVG.
    #[arg(long, default_value = "load/results/chaos/chaos.svg")]
    output: PathBuf,
}

const SIZE: (u32, u32) = (1100, 600);
const KIND_COLORS: [RGBColor; 7] = [
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x7f, 0x7f, 0x7f),
];
/// The answers drawn, and their colours.
const ANSWERS: [(&str, RGBColor); 4] = [
    ("200", RGBColor(0x2c, 0xa0, 0x2c)),
    ("503", RGBColor(0xd6, 0x27, 0x28)),
    ("410", RGBColor(0x1f, 0x77, 0xb4)),
    ("no answer", RGBColor(0x55, 0x55, 0x55)),
];

pub(crate) async fn run(a: Args) -> Result<crate::Outcome, String> {
    let text =
        std::fs::read_to_string(&a.input).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let mut svg = String::new();
    draw(&mut svg, &doc).map_err(|e| format!("plotting: {e}"))?;
    std::fs::write(&a.output, svg).map_err(|e| format!("{}: {e}", a.output.display()))?;
    Ok(crate::Outcome::without_latency(serde_json::json!({
        "scenario": "chaos-plot",
        "plot": a.output.display().to_string(),
        "violations": doc["violations"].as_array().map_or(0, Vec::len),
    })))
}

fn draw(out: &mut String, doc: &Value) -> Result<(), Box<dyn std::error::Error>> {
    let empty = Vec::new();
    let timeline = doc["timeline"].as_array().unwrap_or(&empty);
    let faults = doc["faults"].as_array().unwrap_or(&empty);
    let seconds = timeline.len().max(1) as f64;
    let nodes = doc["nodes"].as_u64().unwrap_or(0) as usize;
    let count = |row: &Value, k: &str| row[k].as_u64().unwrap_or(0) as f64;
    let top = timeline
        .iter()
        .flat_map(|row| ANSWERS.iter().map(move |(k, _)| count(row, k)))
        .fold(1.0f64, f64::max)
        // Headroom for the legend above the lines.
        * 1.7;
    let mut kinds: BTreeMap<&str, RGBColor> = BTreeMap::new();
    for f in faults {
        let n = kinds.len();
        kinds
            .entry(f["kind"].as_str().unwrap_or("?"))
            .or_insert(KIND_COLORS[n % KIND_COLORS.len()]);
    }

    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(SIZE.1 * 7 / 10);
    let title = format!(
        "chaos run, seed {}: {} faults, {} violations",
        doc["seed"],
        faults.len(),
        doc["violations"].as_array().map_or(0, Vec::len)
    );
    let mut chart = ChartBuilder::on(&upper)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..seconds, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("POSTs per second")
        .draw()?;
    for (kind, color) in &kinds {
        let spans: Vec<_> = faults
            .iter()
            .filter(|f| f["kind"].as_str() == Some(kind))
            .map(|f| {
                let (s, e) = (
                    f["start"].as_f64().unwrap_or(0.0),
                    f["end"].as_f64().unwrap_or(0.0),
                );
                Rectangle::new([(s, 0.0), (e, top)], color.mix(0.22).filled())
            })
            .collect();
        let c = *color;
        chart
            .draw_series(spans)?
            .label(format!("fault: {kind}"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.mix(0.4).filled())
            });
    }
    for (k, color) in ANSWERS {
        let points = timeline
            .iter()
            .enumerate()
            .map(|(t, row)| (t as f64 + 0.5, count(row, k)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(format!("answered {k}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;

    let mut ready = ChartBuilder::on(&lower)
        .margin(10)
        .x_label_area_size(20)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..seconds, -0.5..nodes.max(1) as f64 - 0.5)?;
    ready
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .y_labels(nodes.max(1))
        .y_label_formatter(&|y| format!("node{}", y.round() as usize + 1))
        .y_desc("/readyz")
        .draw()?;
    for node in 0..nodes {
        let cells = timeline.iter().enumerate().filter_map(|(t, row)| {
            let up = row["ready"][node].as_u64()?;
            let color = if up == 1 { ANSWERS[0].1 } else { ANSWERS[1].1 };
            let y = node as f64;
            Some(Rectangle::new(
                [(t as f64, y - 0.35), (t as f64 + 1.0, y + 0.35)],
                color.filled(),
            ))
        });
        ready.draw_series(cells)?;
    }
    root.present()?;
    Ok(())
}
