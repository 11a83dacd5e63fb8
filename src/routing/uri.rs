//! Integration URIs with path parameters: `http://backend/pets/{id}` or
//! `http://backend/files/{proxy}` for an `http_proxy` HTTP route, each `{name}`
//! filled with the request's value for the route's parameter of that name.
//!
//! The authority is the operator's: a parameter in the scheme, host or port
//! is refused when the config loads (a client would choose which host and
//! port the gateway connects to), and so is userinfo; stage variables there
//! are the operator's text, and the host they make is checked
//! (`authority::valid_authority`). A value in the path is encoded as one canonical
//! segment (`routing::path`; a greedy value keeps the `/` between its
//! segments), a value in the query as one query component, so a parameter can
//! never add a segment, a dot segment or a query parameter, nor leave the
//! path prefix the template fixes.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::path::SEGMENT;
use crate::authority::valid_authority;

/// A greedy value spans segments: its `/` pass (it has no other kind).
const GREEDY: &AsciiSet = &SEGMENT.remove(b'/');

/// A value in the query string: everything but unreserved characters is
/// encoded, `&`, `=`, `+`, `;` and `%` included, so it stays one value.
pub const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A parameter: its name, and whether it sits in the query string.
    Param(String, bool),
}

/// A parsed integration URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
    /// The URI parsed once, when it has no parameters (a WebSocket route's
    /// is sent as it is, for every message).
    fixed: Option<http::Uri>,
}

/// `text` after its `http://` or `https://`.
fn strip_scheme(text: &str) -> &str {
    text.strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .unwrap_or(text)
}

impl UriTemplate {
    /// Parses `text` (stage variables already in it); every `{name}` must be
    /// one of `params` (the route key's parameters, the greedy one included),
    /// and none may be in the scheme, host or port.
    pub fn parse(text: &str, params: &[&str]) -> Result<UriTemplate, String> {
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))
            .ok_or_else(|| format!("{text:?} is not an http:// or https:// URL"))?;
        let path_at = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..path_at];
        if authority.contains(['{', '}']) {
            return Err(format!(
                "{text:?}: a route parameter cannot choose the backend's host or port \
                 (a client would pick where the gateway connects); use a stage variable"
            ));
        }
        if !valid_authority(authority) {
            return Err(format!(
                "{text:?}: {authority:?} is not host[:port] (no userinfo, no encoding)"
            ));
        }
        if text.contains('#') {
            return Err(format!("{text:?}: a backend URI has no fragment"));
        }
        let query_at = text.find('?').unwrap_or(text.len());
        let path = &text[text.len() - rest.len() + path_at..query_at];
        if path.split('/').any(|s| matches!(s, "." | "..")) {
            return Err(format!("{text:?}: the path has a dot segment"));
        }
        let mut parts = Vec::new();
        let mut at = 0;
        while let Some(open) = text[at..].find('{').map(|i| i + at) {
            let close = text[open..]
                .find('}')
                .ok_or_else(|| format!("{text:?}: `{{` without `}}`"))?
                + open;
            let name = &text[open + 1..close];
            if !params.contains(&name) {
                let known = if params.is_empty() {
                    "the route has no parameters".to_owned()
                } else {
                    format!("the route's are {{{}}}", params.join("}, {"))
                };
                return Err(format!(
                    "{{{name}}} is not a parameter of the route ({known})"
                ));
            }
            if open > at {
                parts.push(Part::Text(text[at..open].to_owned()));
            }
            parts.push(Part::Param(name.to_owned(), open > query_at));
            at = close + 1;
        }
        if at < text.len() {
            parts.push(Part::Text(text[at..].to_owned()));
        }
        let mut template = UriTemplate { parts, fixed: None };
        // Checked with sample values: the result must be an http:// URL.
        let sample: Vec<(&str, String)> = params.iter().map(|p| (*p, "x".to_owned())).collect();
        let uri: http::Uri = template
            .render(&sample, None)
            .parse()
            .map_err(|_| format!("{text:?} is not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!("{text:?} is not an http:// or https:// URL"));
        }
        if let [Part::Text(_)] = template.parts.as_slice() {
            template.fixed = Some(uri);
        }
        Ok(template)
    }

    /// The whole URI, when it has no parameters (a WebSocket route's).
    pub fn as_fixed(&self) -> Option<&http::Uri> {
        self.fixed.as_ref()
    }

    /// The backend's `host[:port]` (fixed: no parameter may be in it).
    pub fn authority(&self) -> &str {
        let Some(Part::Text(first)) = self.parts.first() else {
            return "";
        };
        let rest = strip_scheme(first);
        &rest[..rest.find(['/', '?']).unwrap_or(rest.len())]
    }

    /// The path the template fixes: its text before the first parameter, up
    /// to its last `/` (`/store/` for `http://b/store/{p}`); every filled URI's
    /// path starts with it.
    pub fn static_prefix(&self) -> &str {
        let Some(Part::Text(first)) = self.parts.first() else {
            return "";
        };
        let rest = strip_scheme(first);
        let Some(at) = rest.find('/') else {
            return "";
        };
        let path = &rest[at..];
        let path = &path[..path.find('?').unwrap_or(path.len())];
        if self.parts.len() == 1 {
            return path;
        }
        &path[..path.rfind('/').map_or(0, |i| i + 1)]
    }

    /// The URI for one request: parameters (decoded values) filled in
    /// (`greedy` names the one whose value keeps its slashes).
    pub fn render(&self, values: &[(&str, String)], greedy: Option<&str>) -> String {
        // Room for the usual URI and a query string after it: no regrowth.
        let mut out = String::with_capacity(256);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Param(name, in_query) => {
                    let value = values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                    let set = match (in_query, greedy == Some(name.as_str())) {
                        (true, _) => QUERY_VALUE,
                        (false, true) => GREEDY,
                        (false, false) => SEGMENT,
                    };
                    out.extend(utf8_percent_encode(value.map_or("", String::as_str), set));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_without_parameters_is_fixed() {
        let t = UriTemplate::parse("http://b:1/ws?x=1", &[]).unwrap();
        assert_eq!(
            t.as_fixed().map(ToString::to_string).as_deref(),
            Some("http://b:1/ws?x=1")
        );
        let t = UriTemplate::parse("http://b/{id}", &["id"]).unwrap();
        assert_eq!(t.as_fixed(), None);
    }

    #[test]
    fn parameters_are_filled_in_encoded() {
        let t =
            UriTemplate::parse("http://b:3000/pets/{id}/files/{proxy}", &["id", "proxy"]).unwrap();
        let values = [("id", "a b/c?".to_owned()), ("proxy", "x/y z".to_owned())];
        assert_eq!(
            t.render(&values, Some("proxy")),
            "http://b:3000/pets/a%20b%2Fc%3F/files/x/y%20z"
        );
    }

    #[test]
    fn unknown_parameters_and_bad_urls_are_refused() {
        let e = UriTemplate::parse("http://b/{nope}", &["id"]).unwrap_err();
        assert_eq!(
            e,
            "{nope} is not a parameter of the route (the route's are {id})"
        );
        assert!(UriTemplate::parse("http://b/{id", &["id"]).is_err());
        assert!(UriTemplate::parse("https://b/x", &[]).is_ok());
        assert!(
            UriTemplate::parse("ftp://b/x", &[])
                .unwrap_err()
                .contains("http://")
        );
        assert!(UriTemplate::parse("not a url", &[]).is_err());
        assert!(UriTemplate::parse("http://b/plain?x=1", &[]).is_ok());
    }

    #[test]
    fn no_parameter_may_choose_the_host_or_port() {
        for text in [
            "http://svc-{t}/x",
            "http://{t}/x",
            "http://b:{t}/x",
            "http://{t}",
            "http://b{t}?q",
        ] {
            let e = UriTemplate::parse(text, &["t"]).unwrap_err();
            assert!(e.contains("host or port"), "{text}: {e}");
        }
        for text in [
            "http://user@b/x",
            "http://b:0/x",
            "http://b:99999/x",
            "http://b%2e/x",
            "http://b:/x",
            "http:///x",
            "http://[::1/x",
        ] {
            assert!(UriTemplate::parse(text, &[]).is_err(), "{text}");
        }
        for text in ["http://b/x#f", "http://b/../x", "http://b/a/./{t}"] {
            assert!(UriTemplate::parse(text, &["t"]).is_err(), "{text}");
        }
        assert!(UriTemplate::parse("http://[::1]:8080/x/{t}", &["t"]).is_ok());
        assert!(UriTemplate::parse("http://svc_1.internal:80/{t}", &["t"]).is_ok());
    }

    #[test]
    fn a_query_value_stays_one_value() {
        let t = UriTemplate::parse("http://b/x/{id}?id={id}&k=v", &["id"]).unwrap();
        let values = [("id", "1&admin=true;a+b%".to_owned())];
        assert_eq!(
            t.render(&values, None),
            "http://b/x/1&admin=true%3Ba+b%25?id=1%26admin%3Dtrue%3Ba%2Bb%25&k=v"
        );
    }

    #[test]
    fn the_static_prefix_is_the_path_before_the_first_parameter() {
        let cases = [
            ("http://b/store/{p}", "/store/"),
            ("http://b/store/x{p}/y", "/store/"),
            ("http://b/{p}", "/"),
            ("http://b/fixed?q={p}", "/"),
            ("http://b/fixed", "/fixed"),
            ("http://b", ""),
        ];
        for (text, prefix) in cases {
            let t = UriTemplate::parse(text, &["p"]).unwrap();
            assert_eq!(t.static_prefix(), prefix, "{text}");
            assert_eq!(t.authority(), "b", "{text}");
        }
    }
}
