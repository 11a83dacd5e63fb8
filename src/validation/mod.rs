//! Request validation as AWS does it: JSON Schema models (draft 4, AWS's, by
//! default; 2020-12, 2019-09, 7 and 6 when the schema's `$schema` says so),
//! compiled once when the config is compiled into a snapshot (and by
//! `snapshot::check`), and required request parameters.
//!
//! Bounded for hostile input: a body is parsed by `serde_json`, which refuses
//! nesting deeper than 128 levels; bodies are already capped in size (128 KiB
//! WebSocket messages, `[http] max_body_bytes`); `pattern` uses the `regex`
//! crate (linear time, no backtracking; a pattern that needs look-around is
//! a config error rather than a denial of service), with compiled patterns
//! capped at [`MAX_PATTERN_BYTES`]; schemas cannot fetch remote `$ref`s.
//!
//! What failed is reported as `instance path: keyword` — never the value —
//! so it can be logged, and sent to clients of routes that opt in.

use std::sync::Arc;

use jsonschema::{Draft, PatternOptions, Validator};
use serde_json::Value;

/// Largest compiled `pattern` regex (the `regex` crate's size limit).
pub const MAX_PATTERN_BYTES: usize = 1 << 20;
/// Most failures reported for one body: enough to fix a request, and what a
/// hostile body can make the log line and the `errors` list hold.
const MAX_REPORTED: usize = 10;

/// A compiled model.
#[derive(Clone)]
pub struct Model {
    name: String,
    schema: Value,
    validator: Arc<Validator>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Model {
    fn eq(&self, other: &Model) -> bool {
        self.name == other.name && self.schema == other.schema
    }
}

impl Model {
    /// Compiles `schema` (JSON text); the error says why it is not a model.
    pub fn compile(name: &str, schema: &str) -> Result<Model, String> {
        let schema: Value = serde_json::from_str(schema).map_err(|e| format!("not JSON: {e}"))?;
        Model::compile_value(name, &schema)
    }

    /// Compiles a schema already parsed as JSON.
    pub fn compile_value(name: &str, schema: &Value) -> Result<Model, String> {
        let schema = schema.clone();
        let draft = match schema.get("$schema").and_then(Value::as_str) {
            Some(s) if s.contains("2020-12") => Draft::Draft202012,
            Some(s) if s.contains("2019-09") => Draft::Draft201909,
            Some(s) if s.contains("draft-07") => Draft::Draft7,
            Some(s) if s.contains("draft-06") => Draft::Draft6,
            _ => Draft::Draft4,
        };
        let validator = jsonschema::options()
            .with_draft(draft)
            .with_pattern_options(PatternOptions::regex().size_limit(MAX_PATTERN_BYTES))
            .build(&schema)
            .map_err(|e| format!("not a valid schema: {e}"))?;
        Ok(Model {
            name: name.to_owned(),
            schema,
            validator: Arc::new(validator),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Validates a body; what failed, as `path: keyword`.
    pub fn check(&self, body: &[u8]) -> Result<(), Vec<String>> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            // The position, not the text.
            vec![format!(
                "body: not JSON (line {}, column {})",
                e.line(),
                e.column()
            )]
        })?;
        self.check_value(&value)
    }

    /// Validates a parsed body.
    pub fn check_value(&self, value: &Value) -> Result<(), Vec<String>> {
        let failures: Vec<String> = self
            .validator
            .iter_errors(value)
            .take(MAX_REPORTED)
            .map(|e| {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() {
                    "/".to_owned()
                } else {
                    path
                };
                format!("{at}: {}", e.kind().keyword())
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }
}

pub use crate::config::Param;

/// The required parameters that are absent or blank (AWS: `?q=` is missing),
/// sorted by name.
pub fn missing<'p>(
    required: &'p [Param],
    headers: &http::HeaderMap,
    mut query: impl FnMut(&str) -> Option<String>,
) -> Vec<&'p str> {
    let mut out: Vec<&str> = required
        .iter()
        .filter(|p| {
            let value = match p {
                Param::Header(n) => headers
                    .get(n.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                Param::Query(n) => query(n),
            };
            value.is_none_or(|v| v.trim().is_empty())
        })
        .map(Param::name)
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests;
