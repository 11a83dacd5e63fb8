//! A walker over a parsed TOML table that collects every problem it finds.
//!
//! serde's `deny_unknown_fields` stops at the first error; an operator fixing a
//! config wants all of them at once. [`Section`] hands out typed values by key,
//! remembers which keys were read, and on [`Section::finish`] reports every key
//! that nobody asked for as unknown — with the nearest key that was asked for as a
//! suggestion ("did you mean `max_connections`?"). Errors go into a shared
//! [`Errors`] list with their full key path (`routes."$connect".integration.timeout`).

use std::cell::RefCell;
use std::time::Duration;

use toml::{Table, Value};

use super::ConfigError;

/// The errors collected while reading one config.
#[derive(Debug, Default)]
pub(crate) struct Errors(RefCell<Vec<ConfigError>>);

impl Errors {
    pub(crate) fn push(&self, path: impl Into<String>, reason: impl Into<String>) {
        self.0.borrow_mut().push(ConfigError {
            path: path.into(),
            reason: reason.into(),
        });
    }

    pub(crate) fn into_vec(self) -> Vec<ConfigError> {
        self.0.into_inner()
    }
}

/// Joins a key onto a path, quoting keys that are not bare TOML keys.
pub fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// One table of the config, read key by key.
pub(crate) struct Section<'a> {
    table: Option<&'a Table>,
    path: String,
    /// Every key asked for, present or not: the valid keys, for suggestions.
    asked: Vec<String>,
    errors: &'a Errors,
}

// === impl Section ===

impl<'a> Section<'a> {
    pub(crate) fn root(table: &'a Table, errors: &'a Errors) -> Self {
        Section {
            table: Some(table),
            path: String::new(),
            asked: Vec::new(),
            errors,
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Whether the table was in the file.
    pub(crate) fn is_present(&self) -> bool {
        self.table.is_some()
    }

    /// Whether `key` is in the table (without reading it).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.table.is_some_and(|t| t.contains_key(key))
    }

    pub(crate) fn errors(&self) -> &'a Errors {
        self.errors
    }

    fn raw(&mut self, key: &str) -> Option<&'a Value> {
        self.asked.push(key.to_owned());
        self.table?.get(key)
    }

    /// Reports `key`, when present, as a key this table does not take, and
    /// why (rather than a bare "unknown key").
    pub(crate) fn refuse(&mut self, key: &str, why: &str) {
        if self.raw(key).is_some() {
            self.error(key, why);
        }
    }

    pub(crate) fn error(&self, key: &str, reason: impl Into<String>) {
        self.errors.push(join(&self.path, key), reason);
    }

    /// A sub-table. A missing key yields an empty section; a non-table value is an error.
    pub(crate) fn section(&mut self, key: &str) -> Section<'a> {
        let path = join(&self.path, key);
        let table = match self.raw(key) {
            Some(Value::Table(t)) => Some(t),
            Some(other) => {
                self.error(key, format!("expected a table, found {}", other.type_str()));
                None
            }
            None => None,
        };
        Section {
            table,
            path,
            asked: Vec::new(),
            errors: self.errors,
        }
    }

    /// Every entry of a sub-table whose keys are names chosen by the user
    /// (stages, routes), each as a section.
    pub(crate) fn entries(&mut self, key: &str) -> Vec<(String, Section<'a>)> {
        let path = join(&self.path, key);
        match self.raw(key) {
            Some(Value::Table(t)) => t
                .iter()
                .map(|(name, v)| {
                    let entry_path = join(&path, name);
                    let table = match v {
                        Value::Table(t) => Some(t),
                        other => {
                            self.errors.push(
                                entry_path.clone(),
                                format!("expected a table, found {}", other.type_str()),
                            );
                            None
                        }
                    };
                    let section = Section {
                        table,
                        path: entry_path,
                        asked: Vec::new(),
                        errors: self.errors,
                    };
                    (name.clone(), section)
                })
                .collect(),
            Some(other) => {
                self.error(key, format!("expected a table, found {}", other.type_str()));
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    pub(crate) fn string(&mut self, key: &str) -> Option<&'a str> {
        match self.raw(key)? {
            Value::String(s) => Some(s.as_str()),
            other => {
                self.error(
                    key,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.error(
                    key,
                    format!("expected true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A number (integer or float) within `min..=max`.
    pub(crate) fn number(&mut self, key: &str, min: f64, max: f64) -> Option<f64> {
        let n = match self.raw(key)? {
            Value::Integer(i) => *i as f64,
            Value::Float(f) => *f,
            other => {
                self.error(
                    key,
                    format!("expected a number, found {}", other.type_str()),
                );
                return None;
            }
        };
        if (min..=max).contains(&n) {
            Some(n)
        } else {
            self.error(key, format!("{n} is out of range ({min} to {max})"));
            None
        }
    }

    /// An integer within `min..=max`.
    pub(crate) fn int(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        match self.raw(key)? {
            Value::Integer(i) if (min..=max).contains(i) => Some(*i),
            Value::Integer(i) => {
                self.error(key, format!("{i} is out of range ({min} to {max})"));
                None
            }
            other => {
                self.error(
                    key,
                    format!("expected an integer, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A byte size: an integer, or a string such as "32KiB" or "1MiB".
    pub(crate) fn bytes(&mut self, key: &str, min: u64, max: u64) -> Option<u64> {
        let n = match self.raw(key)? {
            Value::Integer(i) if *i >= 0 => *i as u64,
            Value::String(s) => match parse_bytes(s) {
                Some(n) => n,
                None => {
                    self.error(
                        key,
                        format!("{s:?} is not a size (use e.g. 4096, \"32KiB\", \"1MiB\")"),
                    );
                    return None;
                }
            },
            other => {
                self.error(key, format!("expected a size, found {}", other.type_str()));
                return None;
            }
        };
        if (min..=max).contains(&n) {
            Some(n)
        } else {
            self.error(key, format!("{n} bytes is out of range ({min} to {max})"));
            None
        }
    }

    /// A duration such as "500ms", "29s", "10m" or "2h", within `min..=max`.
    /// With `allow_off`, "off" (or 0) yields `Some(None)`: the limit is switched off.
    pub(crate) fn duration(
        &mut self,
        key: &str,
        min: Duration,
        max: Duration,
        allow_off: bool,
    ) -> Option<Option<Duration>> {
        let value = self.raw(key)?;
        let parsed = match value {
            Value::String(s) if allow_off && s == "off" => return Some(None),
            Value::Integer(0) if allow_off => return Some(None),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        let Some(d) = parsed else {
            let hint = if allow_off { ", or \"off\"" } else { "" };
            let shown = match value {
                Value::String(s) => format!("{s:?}"),
                other => other.type_str().to_owned(),
            };
            self.error(
                key,
                format!(
                    "{shown} is not a duration (use e.g. \"500ms\", \"29s\", \"10m\", \"2h\"{hint})"
                ),
            );
            return None;
        };
        if d < min || d > max {
            self.error(
                key,
                format!(
                    "{} is out of range ({} to {})",
                    fmt_duration(d),
                    fmt_duration(min),
                    fmt_duration(max)
                ),
            );
            return None;
        }
        Some(Some(d))
    }

    /// A duration in `min..=max`, or `default` when the key is absent. An invalid
    /// value is reported (the config then fails as a whole) and yields `default`.
    pub(crate) fn duration_or(
        &mut self,
        key: &str,
        min: Duration,
        max: Duration,
        default: Duration,
    ) -> Duration {
        self.duration(key, min, max, false)
            .flatten()
            .unwrap_or(default)
    }

    /// A limit in `min..=max` that `"off"` (or 0) switches off (`None`), or
    /// `default` when the key is absent; an invalid value is reported.
    pub(crate) fn limit_or(
        &mut self,
        key: &str,
        min: Duration,
        max: Duration,
        default: Option<Duration>,
    ) -> Option<Duration> {
        self.duration(key, min, max, true).unwrap_or(default)
    }

    /// A list of strings.
    pub(crate) fn string_list(&mut self, key: &str) -> Vec<String> {
        match self.raw(key) {
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => self.error(
                            key,
                            format!("item {i}: expected a string, found {}", other.type_str()),
                        ),
                    }
                }
                out
            }
            Some(Value::String(s)) => vec![s.clone()],
            Some(other) => {
                self.error(
                    key,
                    format!("expected a list of strings, found {}", other.type_str()),
                );
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// A table of string values (stage variables).
    pub(crate) fn string_map(&mut self, key: &str) -> Vec<(String, String)> {
        let path = join(&self.path, key);
        match self.raw(key) {
            Some(Value::Table(t)) => t
                .iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k.clone(), s.clone())),
                    other => {
                        self.errors.push(
                            join(&path, k),
                            format!("expected a string, found {}", other.type_str()),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.error(key, format!("expected a table, found {}", other.type_str()));
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Every key of this table, each a string (a table whose keys are data,
    /// like a status code's mappings).
    pub(crate) fn strings(self) -> Vec<(String, String)> {
        let Some(table) = self.table else {
            return Vec::new();
        };
        table
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                other => {
                    self.errors.push(
                        join(&self.path, k),
                        format!("expected a string, found {}", other.type_str()),
                    );
                    None
                }
            })
            .collect()
    }

    /// Reports every key in this table that was never read, with the nearest
    /// valid key when one is close enough to be a typo.
    pub(crate) fn finish(self) {
        let Some(table) = self.table else { return };
        for key in table.keys() {
            if self.asked.contains(key) {
                continue;
            }
            let reason = match nearest(key, &self.asked) {
                Some(near) => format!("unknown key (did you mean `{near}`?)"),
                None => "unknown key".to_owned(),
            };
            self.errors.push(join(&self.path, key), reason);
        }
    }

    /// Ends a section whose other keys cannot be judged (its `type` was wrong or
    /// missing, so which keys are valid is unknown): reports nothing more.
    pub(crate) fn abandon(self) {}
}

/// The valid key closest to `key`, if it is close enough to be a typo: within a
/// third of its length in edits (at least one), or the same apart from case,
/// `-` versus `_`, or one word of a compound key.
fn nearest<'k>(key: &str, valid: &'k [String]) -> Option<&'k str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let key_n = norm(key);
    let budget = (key.chars().count() / 3).max(1);
    valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(&key_n, &norm(v)), v))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.as_str())
}

/// Parses "500ms", "29s", "10m", "2h" (one number, one unit).
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1_000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Formats a duration the way the config writes it.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}
