//! `access_log_format`: an access line written from a template, in the
//! spirit of API Gateway's `accessLogSettings.format` — any text (CLF, JSON,
//! CSV) with `$context.*` variables, e.g.
//! `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","status":"$context.status"}`.
//!
//! The template is compiled once, when the configuration generation is built
//! (`snapshot::check` reports an unknown variable with the list of known
//! ones). A value that is not known for a line is `-`, as on AWS. Every value
//! is escaped as in a JSON string (`"`, `\` and control characters), so no
//! value can end a quoted field or start a new line in any of those formats.
//! The variables are the access line's own fields: ids, the client's
//! address, route keys as configured, statuses, times and fixed error texts;
//! none holds a payload, a header or query value, or a token.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A compiled template (cheap to clone).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessFormat {
    parts: std::sync::Arc<[Part]>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A `$context` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `requestId`, `extendedRequestId`.
    RequestId,
    /// `identity.sourceIp`.
    SourceIp,
    /// `httpMethod`.
    HttpMethod,
    /// `routeKey`.
    RouteKey,
    /// `status`.
    Status,
    /// `responseLength`.
    ResponseLength,
    /// `integrationLatency`, `integration.latency` (ms).
    IntegrationLatency,
    /// `integrationErrorMessage`, `integration.error`.
    IntegrationError,
    /// `xrayTraceId`.
    XrayTraceId,
    /// `eventType`.
    EventType,
    /// `connectionId`.
    ConnectionId,
    /// `stage`.
    Stage,
    /// `error.message`.
    ErrorMessage,
    /// `error.messageString`: the message in quotes (for a JSON template's
    /// value without its own).
    ErrorMessageString,
    /// `requestTime`: CLF, when the line is written.
    RequestTime,
    /// `requestTimeEpoch`: epoch ms, when the line is written.
    RequestTimeEpoch,
    /// `disconnectStatusCode`.
    DisconnectStatusCode,
    /// `disconnectReason`.
    DisconnectReason,
}

/// Every name, longest first where one is the start of another.
const VARS: [(&str, Var); 21] = [
    ("requestId", Var::RequestId),
    ("extendedRequestId", Var::RequestId),
    ("identity.sourceIp", Var::SourceIp),
    ("httpMethod", Var::HttpMethod),
    ("routeKey", Var::RouteKey),
    ("status", Var::Status),
    ("responseLength", Var::ResponseLength),
    ("integrationLatency", Var::IntegrationLatency),
    ("integration.latency", Var::IntegrationLatency),
    ("integrationErrorMessage", Var::IntegrationError),
    ("integration.error", Var::IntegrationError),
    ("xrayTraceId", Var::XrayTraceId),
    ("eventType", Var::EventType),
    ("connectionId", Var::ConnectionId),
    ("stage", Var::Stage),
    ("error.messageString", Var::ErrorMessageString),
    ("error.message", Var::ErrorMessage),
    ("requestTimeEpoch", Var::RequestTimeEpoch),
    ("requestTime", Var::RequestTime),
    ("disconnectStatusCode", Var::DisconnectStatusCode),
    ("disconnectReason", Var::DisconnectReason),
];

/// Longest template: a line's shape, not a place for data.
const MAX_TEMPLATE: usize = 4096;

const PREFIX: &str = "$context.";

/// A line's values, by variable (`None`: not known for this line).
pub trait Values {
    /// The value of `var`.
    fn value(&self, var: Var) -> Option<Cow<'_, str>>;
}

impl AccessFormat {
    /// Compiles `template`; an unknown `$context` variable is an error that
    /// names it and the known ones.
    pub fn parse(template: &str) -> Result<AccessFormat, String> {
        if template.is_empty() || template.len() > MAX_TEMPLATE {
            return Err(format!("must be 1 to {MAX_TEMPLATE} characters"));
        }
        if template.contains(['\n', '\r']) {
            return Err("must be one line (each access line is one)".into());
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(at) = rest.find(PREFIX) {
            text.push_str(&rest[..at]);
            let after = &rest[at + PREFIX.len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(after.len());
            // A sentence's full stop after a variable is not part of it.
            let name = after[..end].trim_end_matches('.');
            let Some((_, var)) = VARS.iter().find(|(n, _)| *n == name) else {
                let known: Vec<&str> = VARS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown variable $context.{name} (known: $context.{})",
                    known.join(", $context.")
                ));
            };
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Var(*var));
            rest = &after[name.len()..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(AccessFormat {
            parts: parts.into(),
        })
    }

    /// The line for `values`.
    pub fn render(&self, values: &dyn Values) -> String {
        let mut line = String::with_capacity(256);
        for part in self.parts.iter() {
            match part {
                Part::Text(t) => line.push_str(t),
                Part::Var(v) => match values.value(*v) {
                    Some(value) if *v == Var::ErrorMessageString => {
                        line.push('"');
                        escape(&mut line, &value);
                        line.push('"');
                    }
                    Some(value) => escape(&mut line, &value),
                    None => line.push('-'),
                },
            }
        }
        line
    }
}

/// Appends `value` escaped as in a JSON string, without the quotes.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Line;

    impl Values for Line {
        fn value(&self, var: Var) -> Option<Cow<'_, str>> {
            match var {
                Var::RequestId => Some("r1".into()),
                Var::Status => Some("200".into()),
                Var::RouteKey => Some("say \"hi\"\n".into()),
                _ => None,
            }
        }
    }

    #[test]
    fn a_template_is_text_and_variables_with_values_escaped() {
        let f = AccessFormat::parse(
            r#"{"requestId":"$context.requestId","status":$context.status,"route":"$context.routeKey","ip":"$context.identity.sourceIp"}"#,
        )
        .unwrap();
        assert_eq!(
            f.render(&Line),
            r#"{"requestId":"r1","status":200,"route":"say \"hi\"\u000a","ip":"-"}"#
        );
        let clf = AccessFormat::parse("$context.requestId [$context.requestTime] $context.status.")
            .unwrap();
        assert_eq!(clf.render(&Line), "r1 [-] 200.");
        assert_eq!(
            *AccessFormat::parse("$context.error.messageString")
                .unwrap()
                .parts,
            [Part::Var(Var::ErrorMessageString)]
        );
        assert_eq!(
            AccessFormat::parse("cost: $5").unwrap().render(&Line),
            "cost: $5"
        );
    }

    #[test]
    fn unknown_variables_and_odd_templates_are_refused() {
        let e = AccessFormat::parse("$context.identity.userAgent").unwrap_err();
        assert!(
            e.contains("unknown variable $context.identity.userAgent"),
            "{e}"
        );
        assert!(e.contains("$context.requestId"), "{e}");
        assert!(AccessFormat::parse("").is_err());
        assert!(AccessFormat::parse("a\nb").is_err());
        assert!(AccessFormat::parse(&"x".repeat(MAX_TEMPLATE + 1)).is_err());
    }
}
