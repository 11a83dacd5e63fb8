//! `[functions.NAME]`: Lambda functions sockgate hosts itself. Their workers
//! are processes sockgate starts — an unchanged Lambda runtime interface
//! client (`python3 -m awslambdaric app.handler`, `npx aws-lambda-ric
//! index.handler`, a `lambda_runtime` binary) — that poll sockgate's Runtime
//! API for invocations. A route or authorizer names one with `function =
//! "NAME"` (see `functions` for the host).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::net::Cidr;
use super::reader::{Section, join};

/// Where a hosted function's workers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workers {
    /// sockgate starts `concurrency` of them (`command`), each with its own
    /// Runtime API address on loopback.
    Started,
    /// They are started elsewhere (a container, another host) and poll the
    /// function's Runtime API at `listen`, from `allowed_sources` only.
    External {
        /// Where the Runtime API listens (their `AWS_LAMBDA_RUNTIME_API`).
        listen: SocketAddr,
        /// The addresses a worker may connect from.
        allowed_sources: Vec<Cidr>,
    },
}

/// One hosted function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// Its name (`AWS_LAMBDA_FUNCTION_NAME`; what routes name).
    pub name: String,
    /// Started by sockgate, or elsewhere.
    pub workers: Workers,
    /// The worker's command and arguments (no shell).
    pub command: Vec<String>,
    /// Where workers run (`LAMBDA_TASK_ROOT`), made absolute.
    pub working_dir: PathBuf,
    /// `_HANDLER`, for clients that read it (`aws-lambda-ric`).
    pub handler: Option<String>,
    /// Extra environment, after AWS's.
    pub environment: Vec<(String, String)>,
    /// Workers, each running one invocation at a time (AWS's concurrency).
    pub concurrency: usize,
    /// How long one invocation may run before its worker is killed.
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB (reported, not enforced).
    pub memory_size: u32,
    /// Invocations that may wait while every worker is busy; beyond, the
    /// caller gets Lambda's throttle answer.
    pub queue: usize,
}

/// Whether `function = "NAME"` names one of `functions` (hosted here; any
/// other name is AWS Lambda's): for routes and request authorizers alike.
pub fn hosts(functions: &[FunctionConfig], name: &str) -> bool {
    functions.iter().any(|f| f.name == name)
}

/// AWS's limits: 900 s per invocation; 128 MB to 10,240 MB of memory.
const MAX_TIMEOUT: Duration = Duration::from_secs(900);
/// A node runs at most this many workers of one function: each is a process.
const MAX_CONCURRENCY: i64 = 256;
/// Queued invocations per function: each holds its event (up to 6 MB).
const MAX_QUEUE: i64 = 10_000;

/// `[functions.*]`.
pub(super) fn read_functions(entries: Vec<(String, Section<'_>)>) -> Vec<FunctionConfig> {
    let mut out = Vec::new();
    for (name, mut s) in entries {
        let path = s.path().to_owned();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            s.errors().push(
                path.clone(),
                "function names are 1-64 letters, digits, - or _ (AWS's rule)",
            );
        }
        let workers = read_workers(&mut s);
        let command = s.string_list("command");
        if workers == Workers::Started && command.first().is_none_or(String::is_empty) {
            s.errors().push(
                join(&path, "command"),
                "required: the worker's program and arguments, e.g. [\"python3\", \"-m\", \"awslambdaric\", \"app.handler\"]",
            );
        }
        let working_dir = s.string("working_dir").map_or_else(
            || std::env::current_dir().unwrap_or_default(),
            |d| absolute(PathBuf::from(d)),
        );
        if !working_dir.is_dir() {
            let why = format!("{} is not a directory", working_dir.display());
            s.errors().push(join(&path, "working_dir"), why);
        }
        let handler = s.string("handler").map(str::to_owned);
        let environment = s.string_map("environment");
        for (key, _) in &environment {
            let reserved = key.starts_with("AWS_LAMBDA_") || key == "_HANDLER";
            if key.is_empty() || key.contains('=') || key.contains('\0') || reserved {
                let why =
                    "not a variable a function may set (AWS_LAMBDA_* and _HANDLER are the host's)";
                s.errors().push(join(&join(&path, "environment"), key), why);
            }
        }
        let concurrency = s.int("concurrency", 1, MAX_CONCURRENCY).unwrap_or(1) as usize;
        let secs = Duration::from_secs;
        let timeout = s.duration_or("timeout", Duration::from_millis(100), MAX_TIMEOUT, secs(3));
        let memory_size = s.int("memory_size", 128, 10_240).unwrap_or(128) as u32;
        let queue = s.int("queue", 0, MAX_QUEUE).unwrap_or(100) as usize;
        s.finish();
        out.push(FunctionConfig {
            name,
            workers,
            command,
            working_dir,
            handler,
            environment,
            concurrency,
            timeout,
            memory_size,
            queue,
        });
    }
    out
}

/// `workers`, and for external ones `listen` and `allowed_sources`
/// (default: loopback only).
fn read_workers(s: &mut Section<'_>) -> Workers {
    let path = s.path().to_owned();
    match s.string("workers") {
        None | Some("started") => Workers::Started,
        Some("external") => {
            let listen = s
                .string("listen")
                .and_then(|l| l.parse::<SocketAddr>().ok());
            if listen.is_none() {
                let why =
                    "required with workers = \"external\": the Runtime API's address, host:port";
                s.errors().push(join(&path, "listen"), why);
            }
            let mut allowed_sources = Vec::new();
            for text in s.string_list("allowed_sources") {
                match Cidr::parse(&text) {
                    Some(c) => allowed_sources.push(c),
                    None => {
                        let why = format!("{text:?} is not an address or CIDR");
                        s.errors().push(join(&path, "allowed_sources"), why);
                    }
                }
            }
            if allowed_sources.is_empty() {
                // Anyone who can poll `next` reads the events: loopback only
                // unless the operator names who else may.
                allowed_sources = ["127.0.0.0/8", "::1"]
                    .iter()
                    .filter_map(|c| Cidr::parse(c))
                    .collect();
            }
            Workers::External {
                listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
                allowed_sources,
            }
        }
        Some(other) => {
            let why = format!("{other:?} is not \"started\" or \"external\"");
            s.errors().push(join(&path, "workers"), why);
            Workers::Started
        }
    }
}

/// `dir` from the current directory, when relative.
fn absolute(dir: PathBuf) -> PathBuf {
    match dir.is_absolute() {
        true => dir,
        false => std::env::current_dir().unwrap_or_default().join(dir),
    }
}
