//! `SOCKGATE_*` environment overrides for what operators set per host.
//!
//! Overrides are applied to the parsed TOML table before validation, so a bad value
//! is reported like any other (with the variable's name added). The environment is
//! read through [`EnvSource`] so tests pass a map and never touch the process env.

use std::collections::HashMap;

use toml::Value;

use super::ConfigError;
use super::reader::Errors;

/// Where override values come from.
pub trait EnvSource {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

enum Kind {
    Str,
    Int,
    /// Comma-separated strings.
    List,
}

/// Every override: variable, section, key, and how to read the value.
const OVERRIDES: &[(&str, &str, &str, Kind)] = &[
    ("SOCKGATE_LISTEN", "server", "listen", Kind::Str),
    (
        "SOCKGATE_MANAGEMENT_LISTEN",
        "server",
        "management_listen",
        Kind::Str,
    ),
    (
        "SOCKGATE_METRICS_LISTEN",
        "server",
        "metrics_listen",
        Kind::Str,
    ),
    ("SOCKGATE_NODE_ID", "server", "node_id", Kind::Str),
    (
        "SOCKGATE_MAX_CONNECTIONS",
        "server",
        "max_connections",
        Kind::Int,
    ),
    ("SOCKGATE_DOMAIN_NAME", "api", "domain_name", Kind::Str),
    ("SOCKGATE_REDIS_URL", "cluster", "redis_url", Kind::Str),
    (
        "SOCKGATE_REDIS_CLUSTER",
        "cluster",
        "redis_cluster",
        Kind::List,
    ),
];

/// Applies overrides; returns (key path, variable) for each one applied.
pub(super) fn apply(
    table: &mut toml::Table,
    env: &dyn EnvSource,
    errors: &Errors,
) -> Vec<(String, &'static str)> {
    let mut applied = Vec::new();
    for (var, section, key, kind) in OVERRIDES {
        let Some(raw) = env.get(var) else { continue };
        let value = match kind {
            Kind::Str => Value::String(raw),
            Kind::List => Value::Array(
                raw.split(',')
                    .map(|s| Value::String(s.trim().to_owned()))
                    .collect(),
            ),
            Kind::Int => match raw.trim().parse::<i64>() {
                Ok(n) => Value::Integer(n),
                Err(_) => {
                    errors.push(*var, format!("{raw:?} is not an integer"));
                    continue;
                }
            },
        };
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| Value::Table(Default::default()));
        if let Value::Table(t) = entry {
            t.insert(key.to_string(), value);
            applied.push((format!("{section}.{key}"), *var));
        }
    }
    applied
}

/// Names the variable behind errors on overridden keys.
pub(super) fn annotate(errors: &mut [ConfigError], origins: &[(String, &'static str)]) {
    for e in errors {
        if let Some((_, var)) = origins.iter().find(|(path, _)| *path == e.path) {
            e.path = format!("{} (from {var})", e.path);
        }
    }
}

/// A secret: the value itself, or `env:NAME` to read it from the environment
/// (so config files need not hold secrets). `None` (reported against `key` of
/// `s`) if the variable is unset or empty.
pub(crate) fn secret(
    s: &super::reader::Section<'_>,
    key: &str,
    value: &str,
    env: &dyn EnvSource,
) -> Option<String> {
    match value.strip_prefix("env:") {
        Some(var) => match env.get(var) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                s.error(key, format!("environment variable {var} is not set"));
                None
            }
        },
        None => Some(value.to_owned()),
    }
}
