//! Route keys and route selection: which route a message goes to (WebSocket)
//! and which route a request goes to (`http`: the HTTP API).
//!
//! Pure and synchronous: no I/O, no knowledge of integrations (a [`RouteTable`] is
//! generic over what a route carries), so it is unit-tested, fuzzable and benched
//! on its own.

pub mod expr;
pub mod http;
pub mod mapping;
pub mod path;
pub mod query;
pub mod uri;

use std::collections::HashMap;

use serde_json::Value;

pub use expr::{ContextVar, Scope, Template};

/// The three predefined route keys.
pub const CONNECT: &str = "$connect";
/// Fires once after a connection ends.
pub const DISCONNECT: &str = "$disconnect";
/// Catches messages no custom route matches.
pub const DEFAULT: &str = "$default";

/// Whether `key` is a valid route key: a predefined key, or a custom one that
/// does not start with `$` (AWS reserves that prefix).
pub fn is_valid_route_key(key: &str) -> bool {
    matches!(key, CONNECT | DISCONNECT | DEFAULT) || (!key.is_empty() && !key.starts_with('$'))
}

/// Compiles a `route_selection_expression`: a template that reads only the
/// message (`$request.body…`), as AWS allows.
pub fn selection_expression(text: &str) -> Result<Template, String> {
    match Template::parse(text) {
        Ok(t) if t.vars().all(|v| matches!(v, expr::Var::Body(_))) => Ok(t),
        Ok(_) => Err("may only use $request.body… variables".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A message prepared for route selection: its text, and its JSON parse when the
/// selection expression needs one (parsed once, reused by integrations' templates).
#[derive(Debug)]
pub struct Message<'a> {
    /// The message text (base64 for binary messages passed on as base64).
    pub text: &'a str,
    /// The parsed message when it is valid JSON and someone needs it.
    pub json: Option<Value>,
}

impl<'a> Message<'a> {
    /// Wraps a message, parsing it as JSON only if `parse` is set.
    pub fn new(text: &'a str, parse: bool) -> Self {
        let json = if parse {
            serde_json::from_str(text).ok()
        } else {
            None
        };
        Message { text, json }
    }
}

/// The custom routes plus `$default`, and the expression that picks among them.
#[derive(Debug)]
pub struct RouteTable<R> {
    selection: Template,
    custom: HashMap<String, R>,
    default: Option<R>,
}

/// The outcome of route selection.
#[derive(Debug)]
pub enum Selected<'t, R> {
    /// A custom route whose key equals the evaluated expression, or `$default`.
    Route(&'t str, &'t R),
    /// No custom route matched and there is no `$default`: AWS answers "Forbidden".
    NoRoute,
}

// === impl RouteTable ===

impl<R> RouteTable<R> {
    /// Builds a table. `custom` must not contain predefined keys.
    pub fn new(selection: Template, custom: HashMap<String, R>, default: Option<R>) -> Self {
        debug_assert!(custom.keys().all(|k| !k.starts_with('$')));
        RouteTable {
            selection,
            custom,
            default,
        }
    }

    /// Whether selection needs the message parsed as JSON.
    pub fn needs_json(&self) -> bool {
        self.selection.needs_json() && !self.custom.is_empty()
    }

    /// The `$default` route, if any.
    pub fn default_route(&self) -> Option<&R> {
        self.default.as_ref()
    }

    /// The custom route keys.
    pub fn custom_keys(&self) -> impl Iterator<Item = &str> {
        self.custom.keys().map(String::as_str)
    }

    /// Picks the route for `msg`: exact, case-sensitive match on the evaluated
    /// expression, else `$default`, else [`Selected::NoRoute`].
    pub fn select(&self, msg: &Message<'_>) -> Selected<'_, R> {
        if !self.custom.is_empty() {
            let found = match self.selection.as_literal() {
                Some(key) => self.custom.get_key_value(key),
                None => {
                    let key = self.selection.render(&SelectionScope(msg));
                    self.custom.get_key_value(key.as_str())
                }
            };
            if let Some((key, route)) = found {
                return Selected::Route(key, route);
            }
        }
        match &self.default {
            Some(route) => Selected::Route(DEFAULT, route),
            None => Selected::NoRoute,
        }
    }
}

/// The view a selection expression has: the message only.
struct SelectionScope<'m, 'a>(&'m Message<'a>);

impl Scope for SelectionScope<'_, '_> {
    fn body_text(&self) -> Option<&str> {
        Some(self.0.text)
    }
    fn body_json(&self) -> Option<&Value> {
        self.0.json.as_ref()
    }
    fn context(&self, _var: ContextVar, _out: &mut String) {}
    fn stage_var(&self, _name: &str) -> Option<&str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(expr: &str, keys: &[&str], default: bool) -> RouteTable<&'static str> {
        let custom = keys.iter().map(|k| (k.to_string(), "custom")).collect();
        RouteTable::new(
            Template::parse(expr).unwrap(),
            custom,
            default.then_some("default"),
        )
    }

    fn pick<'t>(t: &'t RouteTable<&'static str>, text: &str) -> Option<&'t str> {
        let msg = Message::new(text, t.needs_json());
        match t.select(&msg) {
            Selected::Route(key, _) => Some(key),
            Selected::NoRoute => None,
        }
    }

    #[test]
    fn exact_match_then_default_then_forbidden() {
        let t = table("$request.body.action", &["echo", "Echo"], true);
        assert_eq!(pick(&t, r#"{"action":"echo"}"#), Some("echo"));
        assert_eq!(pick(&t, r#"{"action":"Echo"}"#), Some("Echo"));
        assert_eq!(pick(&t, r#"{"action":"ECHO"}"#), Some("$default"));
        assert_eq!(pick(&t, "not json"), Some("$default"));
        assert_eq!(pick(&t, r#"{"other":1}"#), Some("$default"));
        let t = table("$request.body.action", &["echo"], false);
        assert_eq!(pick(&t, r#"{"action":"nope"}"#), None);
        assert_eq!(pick(&t, "garbage"), None);
    }

    #[test]
    fn evaluated_predefined_keys_never_select_predefined_routes() {
        let t = table("$request.body.action", &["echo"], false);
        assert_eq!(pick(&t, r#"{"action":"$connect"}"#), None);
        assert_eq!(pick(&t, r#"{"action":"$default"}"#), None);
    }

    #[test]
    fn static_expression_routes_everything_to_one_key() {
        let t = table("echo", &["echo"], false);
        assert_eq!(pick(&t, "anything"), Some("echo"));
        assert!(!t.needs_json());
    }

    #[test]
    fn route_key_validity() {
        assert!(is_valid_route_key("$connect"));
        assert!(is_valid_route_key("sendmessage"));
        assert!(!is_valid_route_key("$custom"));
        assert!(!is_valid_route_key(""));
    }
}
