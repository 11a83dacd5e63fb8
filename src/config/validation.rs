//! `[models.NAME]` and the routes' validation settings: which model a
//! WebSocket message or an HTTP body must match, and which HTTP parameters
//! must be present (checked by `validation`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::reader::{Errors, Section};

/// A WebSocket route's models (AWS's `ModelSelectionExpression` and
/// `RequestModels`).
#[derive(Debug, Clone, PartialEq)]
pub struct WsValidation {
    /// Picks the model key (a template, as written); without one, the
    /// `$default` model.
    pub selection: Option<String>,
    /// Model key → model name.
    pub models: Vec<(String, String)>,
    /// Send what failed to the client too.
    pub detailed: bool,
}

/// An HTTP route's checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpValidation {
    /// The body's model.
    pub model: Option<String>,
    /// Parameters that must be present and non-blank.
    pub required: Vec<Param>,
    /// Send what failed to the client too.
    pub detailed: bool,
}

/// `[models.*]`, each a JSON Schema as JSON (compiled, and so checked as a
/// schema, when the config is compiled: `snapshot::check`).
pub(super) fn read_models(entries: Vec<(String, Section<'_>)>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (name, mut s) in entries {
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            s.errors().push(
                s.path().to_owned(),
                "model names are letters and digits (AWS's rule)",
            );
        }
        match s.string("schema").map(serde_json::from_str::<Value>) {
            Some(Ok(m)) => {
                out.insert(name, m);
            }
            Some(Err(e)) => s.error("schema", format!("not JSON: {e}")),
            None => s.error("schema", "missing: the model's JSON Schema, as JSON text"),
        }
        s.finish();
    }
    out
}

/// A WebSocket route's `model_selection_expression`, `request_models`,
/// `detailed_errors`; `None` when it validates nothing.
pub(super) fn read_ws(s: &mut Section<'_>) -> Option<WsValidation> {
    let models = s.string_map("request_models");
    // Compiled, and so checked, by `snapshot::check`.
    let selection = s.string("model_selection_expression").map(str::to_owned);
    let detailed = s.bool("detailed_errors").unwrap_or(false);
    (!models.is_empty()).then_some(WsValidation {
        selection,
        models,
        detailed,
    })
}

/// An HTTP route's `request_model`, `required_parameters`, `detailed_errors`.
pub(super) fn read_http(s: &mut Section<'_>) -> HttpValidation {
    let mut required = Vec::new();
    for p in s.string_list("required_parameters") {
        match Param::parse(&p) {
            Some(p) => required.push(p),
            None => s.error(
                "required_parameters",
                format!("{p:?}: use querystring.NAME or header.NAME"),
            ),
        }
    }
    HttpValidation {
        model: s.string("request_model").map(str::to_owned),
        required,
        detailed: s.bool("detailed_errors").unwrap_or(false),
    }
}

/// Every model a route names exists.
pub(super) fn check_names(
    models: &BTreeMap<String, Value>,
    named: impl Iterator<Item = (String, String)>,
    errors: &Errors,
) -> bool {
    let mut ok = true;
    for (at, name) in named {
        if !models.contains_key(&name) {
            errors.push(at, format!("no [models.{name}] is defined"));
            ok = false;
        }
    }
    ok
}

/// A required request parameter of an HTTP route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// `querystring.NAME` (case-sensitive).
    Query(String),
    /// `header.NAME` (case-insensitive).
    Header(String),
}

impl Param {
    /// Parses `querystring.NAME` or `header.NAME`.
    pub fn parse(s: &str) -> Option<Param> {
        if let Some(n) = s.strip_prefix("querystring.").filter(|n| !n.is_empty()) {
            return Some(Param::Query(n.to_owned()));
        }
        let n = s.strip_prefix("header.").filter(|n| !n.is_empty())?;
        http::HeaderName::from_bytes(n.as_bytes()).ok()?;
        Some(Param::Header(n.to_ascii_lowercase()))
    }

    /// Its name, as AWS lists it.
    pub fn name(&self) -> &str {
        match self {
            Param::Query(n) | Param::Header(n) => n,
        }
    }
}
