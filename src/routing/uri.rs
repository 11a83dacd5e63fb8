//! Integration URIs with path parameters: `http://backend/pets/{id}` or
//! `http://backend/files/{proxy}` for an `http_proxy` HTTP route, each `{name}`
//! filled with the request's value for the route's parameter of that name.
//!
//! A value is percent-encoded for the URI (a greedy value keeps its `/`), so a
//! decoded `%2F` or `?` in a parameter can never change which path or query the
//! backend sees.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// What a path segment value may carry unencoded (RFC 3986 `pchar` minus a few
/// characters backends often treat specially).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The same, but `/` passes: a greedy value spans segments.
const GREEDY: &AsciiSet = &SEGMENT.remove(b'/');

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Param(String),
}

/// A parsed integration URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Parses `text`; every `{name}` must be one of `params` (the route key's
    /// parameters, the greedy one included).
    pub fn parse(text: &str, params: &[&str]) -> Result<UriTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("{text:?}: `{{` without `}}`"))?;
            let name = &rest[open + 1..open + close];
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
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            parts.push(Part::Param(name.to_owned()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        let template = UriTemplate { parts };
        // Checked with sample values: the result must be an http:// URL.
        let sample: Vec<(&str, String)> = params.iter().map(|p| (*p, "x".to_owned())).collect();
        let uri: http::Uri = template
            .render(&sample, None)
            .parse()
            .map_err(|_| format!("{text:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!("{text:?} is not an http:// URL"));
        }
        Ok(template)
    }

    /// The URI for one request: parameters filled in (`greedy` names the one
    /// whose value keeps its slashes).
    pub fn render(&self, values: &[(&str, String)], greedy: Option<&str>) -> String {
        // Room for the usual URI and a query string after it: no regrowth.
        let mut out = String::with_capacity(256);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Param(name) => {
                    let value = values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                    let set = if greedy == Some(name.as_str()) {
                        GREEDY
                    } else {
                        SEGMENT
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
        assert!(
            UriTemplate::parse("https://b/x", &[])
                .unwrap_err()
                .contains("http://")
        );
        assert!(UriTemplate::parse("not a url", &[]).is_err());
        assert!(UriTemplate::parse("http://b/plain?x=1", &[]).is_ok());
    }
}
