//! `compare`: every case under `load/cases/` against the bare baseline server and
//! against sockgate, minutes apart on the same machine, each sockgate figure as a
//! ratio to the bare one.
//!
//! A case is a directory with `case.toml` (the scenario, its arguments, the
//! headline metrics and their targets) and `gateway.toml` (the sockgate config
//! the case runs). For each case the bare server runs first, then sockgate; each
//! is started fresh on fixed loopback ports and killed afterwards. Results go to
//! `<out>/results.jsonl` (every JSON line), `<out>/<case>.svg` (both latency
//! curves) and `<out>/comparison.md` (machine, versions, conditions, figures,
//! ratios, targets).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use serde_json::Value;

use crate::{Cli, Outcome, plot, stats};
use servers::{BARE_HTTP, BARE_WS, GW_MGMT, GW_PUBLIC, NGINX, Server, Which};

mod servers;

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// Directory of cases.
    #[arg(long, default_value = "load/cases")]
    cases: PathBuf,
    /// Where results, plots and the table are written [default: load/results, or
    /// load/results/partial with --only].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only these cases (comma-separated names).
    #[arg(long)]
    only: Option<String>,
    /// The sockgate binary.
    #[arg(long, default_value = "target/release/sockgate")]
    sockgate: PathBuf,
    /// The baseline binary.
    #[arg(long, default_value = "target/release/sockgate-bare")]
    bare: PathBuf,
    /// Pause between runs, so one run's sockets in TIME_WAIT and freed memory
    /// do not weigh on the next.
    #[arg(long, default_value_t = 5)]
    pause_secs: u64,
}

impl Args {
    /// `--out`, or its default: a partial run (`--only`) never writes over the
    /// committed table.
    fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            PathBuf::from(if self.only.is_some() {
                "load/results/partial"
            } else {
                "load/results"
            })
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    scenario: String,
    title: String,
    #[serde(default)]
    notes: String,
    /// Arguments for both runs, as on the command line without the dashes.
    #[serde(default)]
    args: toml::Table,
    #[serde(default)]
    bare: Side,
    #[serde(default)]
    sockgate: Side,
    #[serde(default)]
    metric: Vec<Metric>,
    /// The baseline server: the bare WebSocket server (default), `nginx`
    /// (run with the case's `nginx.conf`), or `sockgate` itself (another of
    /// its routes, chosen by `bare.args`).
    #[serde(default)]
    baseline: Option<String>,
    /// What the baseline is called in tables and plots, when not the default.
    #[serde(default)]
    baseline_label: Option<String>,
    /// A process the case's routes call (a backend), started in the case's
    /// directory before both runs and stopped after them.
    #[serde(default)]
    helper: Option<Helper>,
}

/// A case's helper process.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Helper {
    /// Its program and arguments.
    pub(crate) command: Vec<String>,
    /// The address it serves on: the runs start once it accepts.
    pub(crate) listen: String,
}

impl Case {
    fn nginx(&self) -> bool {
        self.baseline.as_deref() == Some("nginx")
    }

    /// The server the baseline side runs against.
    fn baseline_server(&self) -> Which {
        if self.baseline.as_deref() == Some("sockgate") {
            Which::Sockgate
        } else {
            Which::Bare
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Side {
    #[serde(default)]
    args: toml::Table,
    /// The sockgate config this side runs, in the case's directory, when
    /// not `gateway.toml` (a case comparing sockgate with itself, configured
    /// two ways).
    #[serde(default)]
    config: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metric {
    name: String,
    /// JSON pointer into the scenario's result line.
    pointer: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    target: Option<Target>,
}

/// A target from the issue: on sockgate's figure, its ratio to bare, or the difference.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Target {
    AtMost(f64),
    AtLeast(f64),
    RatioAtMost(f64),
    RatioAtLeast(f64),
    DiffAtMost(f64),
}

pub(crate) async fn run(a: Args) -> Result<(), String> {
    let out = a.out_dir();
    let only: Option<Vec<String>> = a
        .only
        .as_ref()
        .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect());
    let mut names: Vec<String> = std::fs::read_dir(&a.cases)
        .map_err(|e| format!("{}: {e}", a.cases.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("case.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| only.as_ref().is_none_or(|o| o.contains(n)))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err("no cases to run".into());
    }
    for bin in [&a.sockgate, &a.bare] {
        if !bin.is_file() {
            return Err(format!(
                "{} not found: build with `cargo build --release --workspace`",
                bin.display()
            ));
        }
    }
    std::fs::create_dir_all(out.join("logs")).map_err(|e| e.to_string())?;

    let mut jsonl = String::new();
    let mut summary = String::new();
    let mut details = String::new();
    for name in &names {
        let dir = a.cases.join(name);
        let text = std::fs::read_to_string(dir.join("case.toml")).map_err(|e| e.to_string())?;
        let case: Case = toml::from_str(&text).map_err(|e| format!("{name}/case.toml: {e}"))?;
        eprintln!("== {name}: {}", case.title);
        let helper = match &case.helper {
            Some(h) => {
                let log = out.join("logs").join(format!("{name}-helper.log"));
                Some(Server::helper(&dir, h, &log).await?)
            }
            None => None,
        };
        let bare = run_side(&a, name, &dir, &case, Which::Bare).await?;
        tokio::time::sleep(Duration::from_secs(a.pause_secs)).await;
        let gw = run_side(&a, name, &dir, &case, Which::Sockgate).await?;
        drop(helper);
        tokio::time::sleep(Duration::from_secs(a.pause_secs)).await;
        for (which, r) in [("bare", &bare), ("sockgate", &gw)] {
            let mut line = r.outcome.json.clone();
            line["case"] = Value::from(name.as_str());
            line["server"] = Value::from(which);
            line["server_cpu_seconds"] = Value::from(r.cpu_seconds);
            line["server_cpu_user_seconds"] = Value::from(r.cpu_user);
            line["server_cpu_system_seconds"] = Value::from(r.cpu_system);
            let _ = writeln!(jsonl, "{line}");
        }
        if let (Some(hb), Some(hg)) = (&bare.outcome.latency, &gw.outcome.latency) {
            let series = [
                plot::Series {
                    label: bare_label(&case).into(),
                    hist: hb,
                },
                plot::Series {
                    label: "sockgate".into(),
                    hist: hg,
                },
            ];
            let svg = plot::svg(&case.title, &series);
            std::fs::write(out.join(format!("{name}.svg")), svg).map_err(|e| e.to_string())?;
        }
        write_case(&mut summary, &mut details, name, &case, &bare, &gw);
    }
    std::fs::write(out.join("results.jsonl"), jsonl).map_err(|e| e.to_string())?;
    let doc = format!("{}{summary}\n{details}", header(&a, &names));
    std::fs::write(out.join("comparison.md"), doc).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", out.join("comparison.md").display());
    Ok(())
}

struct SideResult {
    outcome: Outcome,
    cpu_seconds: f64,
    /// Of which user and system time.
    cpu_user: f64,
    cpu_system: f64,
    argv: Vec<String>,
}

fn bare_label(case: &Case) -> &str {
    if let Some(label) = &case.baseline_label {
        label
    } else if case.scenario == "proxy" {
        "backend called directly"
    } else if case.nginx() {
        "nginx"
    } else {
        "bare tokio-tungstenite"
    }
}

async fn run_side(
    a: &Args,
    name: &str,
    dir: &Path,
    case: &Case,
    which: Which,
) -> Result<SideResult, String> {
    let direct = which == Which::Bare && case.scenario == "proxy";
    let log = a.out_dir().join("logs").join(format!(
        "{name}-{}.log",
        if which == Which::Bare {
            "bare"
        } else {
            "sockgate"
        }
    ));
    // Which server this side talks to (the baseline may be sockgate itself).
    let serving = match which {
        Which::Bare => case.baseline_server(),
        Which::Sockgate => Which::Sockgate,
    };
    let mut server = if direct {
        None
    } else {
        let side = match which {
            Which::Bare => &case.bare,
            Which::Sockgate => &case.sockgate,
        };
        let config = dir.join(side.config.as_deref().unwrap_or("gateway.toml"));
        Some(Server::start(a, dir, &config, serving, case.nginx(), &log).await?)
    };
    let (ws, mgmt) = match serving {
        Which::Bare if case.nginx() => (NGINX, BARE_HTTP),
        Which::Bare => (BARE_WS, BARE_HTTP),
        Which::Sockgate => (GW_PUBLIC, GW_MGMT),
    };
    let mut argv = vec!["sockgate-load".to_owned(), case.scenario.clone()];
    flags(&mut argv, &case.args);
    flags(
        &mut argv,
        match which {
            Which::Bare => &case.bare.args,
            Which::Sockgate => &case.sockgate.args,
        },
    );
    if matches!(case.scenario.as_str(), "http" | "wrk") {
        let target = match serving {
            Which::Bare => NGINX,
            Which::Sockgate => GW_PUBLIC,
        };
        argv.extend(["--target".into(), target.into()]);
    } else {
        argv.extend(["--url".into(), format!("ws://{ws}/dev")]);
    }
    if matches!(case.scenario.as_str(), "push" | "broadcast") {
        argv.extend(["--management".into(), format!("http://{mgmt}/dev")]);
    }
    if case.scenario == "hold" {
        let pid = server.as_ref().map_or(0, |s| s.child.id());
        argv.extend(["--pid".into(), pid.to_string()]);
    }
    if direct {
        argv.push("--direct".into());
    }
    let cli = Cli::try_parse_from(&argv).map_err(|e| format!("{name}: {e}"))?;
    let cpu_before = server.as_ref().map(|s| stats::tree_cpu_split(s.child.id()));
    let outcome = crate::run(cli.scenario).await;
    let (cpu_user, cpu_system) = match (server.as_ref(), cpu_before) {
        (Some(s), Some(Ok((u0, s0)))) => {
            stats::tree_cpu_split(s.child.id()).map_or((0.0, 0.0), |(u1, s1)| (u1 - u0, s1 - s0))
        }
        _ => (0.0, 0.0),
    };
    let cpu_seconds = cpu_user + cpu_system;
    if let Some(s) = server.as_mut() {
        s.stop();
    }
    let outcome = outcome.map_err(|e| {
        format!(
            "{name} ({}): {e}",
            if which == Which::Bare {
                "bare"
            } else {
                "sockgate"
            }
        )
    })?;
    eprintln!("{}", outcome.json);
    Ok(SideResult {
        outcome,
        cpu_seconds,
        cpu_user,
        cpu_system,
        argv,
    })
}

/// CPU per request in µs (user, system), for a run that reports its rate,
/// its measured seconds and its warm-up (the CPU counts both).
fn per_request(r: &SideResult) -> Option<(f64, f64)> {
    let j = &r.outcome.json;
    let rate = j["requests_per_sec"].as_f64()?;
    let secs = j["seconds"].as_f64()? + j["warmup_seconds"].as_f64()?;
    let requests = rate * secs;
    (requests > 0.0).then(|| (r.cpu_user / requests * 1e6, r.cpu_system / requests * 1e6))
}

fn flags(argv: &mut Vec<String>, table: &toml::Table) {
    for (k, v) in table {
        match v {
            toml::Value::Boolean(true) => argv.push(format!("--{k}")),
            toml::Value::Boolean(false) => {}
            toml::Value::String(s) => argv.extend([format!("--{k}"), s.clone()]),
            other => argv.extend([format!("--{k}"), other.to_string()]),
        }
    }
}

fn header(a: &Args, names: &[String]) -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let cmd = |c: &str, args: &[&str]| {
        Command::new(c)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    // The results directory itself is rewritten by every run: it does not count.
    let dirty = if cmd(
        "git",
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!load/results",
        ],
    )
    .is_empty()
    {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let mut s = String::new();
    let _ = writeln!(s, "# sockgate vs a bare tokio-tungstenite server\n");
    let _ = writeln!(
        s,
        "Written by `load/compare.sh` ({}). Each case ran against the bare baseline server \
         (`load/src/bare.rs`) and then against sockgate, {} s apart, on the same machine; \
         the load client shared that machine with the server under test, over loopback.\n",
        names.join(", "),
        a.pause_secs
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(
        s,
        "| date | {} |",
        cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        s,
        "| machine | {cpu}, {} cores, {:.1} GiB |",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_kib as f64 / 1048576.0
    );
    let _ = writeln!(
        s,
        "| kernel | Linux {} |",
        read("/proc/sys/kernel/osrelease").trim()
    );
    let _ = writeln!(
        s,
        "| open-file limit | {} |",
        cmd("sh", &["-c", "ulimit -n"])
    );
    let _ = writeln!(s, "| toolchain | {} |", cmd("rustc", &["--version"]));
    let _ = writeln!(
        s,
        "| sockgate | commit {}{dirty}, release profile (thin LTO) |",
        cmd("git", &["rev-parse", "--short", "HEAD"])
    );
    let _ = writeln!(
        s,
        "| baseline | tokio-tungstenite 0.30, 4 KiB read buffers, one task per connection |\n"
    );
    let _ = writeln!(s, "## Targets\n");
    let _ = writeln!(
        s,
        "| case | metric | bare | sockgate | ratio | target | met |\n|---|---|---|---|---|---|---|"
    );
    s
}

fn write_case(
    summary: &mut String,
    details: &mut String,
    name: &str,
    case: &Case,
    bare: &SideResult,
    gw: &SideResult,
) {
    let _ = writeln!(details, "## {name}: {}\n", case.title);
    if !case.notes.is_empty() {
        let _ = writeln!(details, "{}\n", case.notes.trim());
    }
    let config = |side: &Side| side.config.clone().unwrap_or_else(|| "gateway.toml".into());
    let with = |side: &Side| {
        let c = config(side);
        format!(" with [`{c}`](../cases/{name}/{c})")
    };
    let bare_config = if case.baseline.as_deref() == Some("sockgate") {
        with(&case.bare)
    } else {
        String::new()
    };
    let _ = writeln!(
        details,
        "- bare: `{}`{bare_config}",
        bare.argv[1..].join(" ")
    );
    let _ = writeln!(
        details,
        "- sockgate: `{}`{}",
        gw.argv[1..].join(" "),
        with(&case.sockgate)
    );
    let _ = writeln!(
        details,
        "- server CPU during the run: bare {:.2} s (user {:.2}, system {:.2}), sockgate {:.2} s (user {:.2}, system {:.2})",
        bare.cpu_seconds,
        bare.cpu_user,
        bare.cpu_system,
        gw.cpu_seconds,
        gw.cpu_user,
        gw.cpu_system
    );
    if let (Some(b), Some(g)) = (per_request(bare), per_request(gw)) {
        let _ = writeln!(
            details,
            "- server CPU per request: bare user {:.1} µs, system {:.1} µs; sockgate user {:.1} µs, system {:.1} µs",
            b.0, b.1, g.0, g.1
        );
    }
    if bare.outcome.latency.is_some() && gw.outcome.latency.is_some() {
        let _ = writeln!(details, "- latency plot: [{name}.svg]({name}.svg)");
    }
    let _ = writeln!(
        details,
        "\n| metric | bare | sockgate | sockgate / bare |\n|---|---|---|---|"
    );
    for m in &case.metric {
        let b = bare
            .outcome
            .json
            .pointer(&m.pointer)
            .and_then(Value::as_f64);
        let g = gw.outcome.json.pointer(&m.pointer).and_then(Value::as_f64);
        let ratio = match (b, g) {
            (Some(b), Some(g)) if b != 0.0 => format!("{:.2}", g / b),
            _ => "–".into(),
        };
        let fmt = |v: Option<f64>| {
            v.map_or("–".to_owned(), |v| {
                format!("{} {}", number(v), m.unit).trim().to_owned()
            })
        };
        let _ = writeln!(
            details,
            "| {} | {} | {} | {ratio} |",
            m.name,
            fmt(b),
            fmt(g)
        );
        if let Some(t) = &m.target {
            let (text, met) = judge(t, b, g, &m.unit);
            let _ = writeln!(
                summary,
                "| {name} | {} | {} | {} | {ratio} | {text} | {} |",
                m.name,
                fmt(b),
                fmt(g),
                if met { "yes" } else { "**no**" }
            );
        }
    }
    let _ = writeln!(details);
}

fn judge(t: &Target, b: Option<f64>, g: Option<f64>, unit: &str) -> (String, bool) {
    let g0 = g.unwrap_or(f64::NAN);
    let r = match (b, g) {
        (Some(b), Some(g)) if b != 0.0 => g / b,
        _ => f64::NAN,
    };
    match *t {
        Target::AtMost(x) => (
            format!("≤ {} {unit}", number(x)).trim_end().to_owned(),
            g0 <= x,
        ),
        Target::AtLeast(x) => (
            format!("≥ {} {unit}", number(x)).trim_end().to_owned(),
            g0 >= x,
        ),
        Target::RatioAtMost(x) => (format!("ratio ≤ {x}"), r <= x),
        Target::RatioAtLeast(x) => (format!("ratio ≥ {x}"), r >= x),
        Target::DiffAtMost(x) => {
            let d = g0 - b.unwrap_or(f64::NAN);
            (
                format!(
                    "sockgate − bare ≤ {} {unit} (here {})",
                    number(x),
                    number(d)
                ),
                d <= x,
            )
        }
    }
}

/// A figure with thousands separators and sensible precision.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let digits = if v.abs() >= 100.0 || v.fract() == 0.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}
