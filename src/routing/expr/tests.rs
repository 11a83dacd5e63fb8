use serde_json::{Value, json};

use super::*;

struct Msg {
    text: String,
    json: Option<Value>,
}

impl Msg {
    fn new(text: &str) -> Msg {
        Msg {
            text: text.to_owned(),
            json: serde_json::from_str(text).ok(),
        }
    }
}

impl Scope for Msg {
    fn body_text(&self) -> Option<&str> {
        Some(&self.text)
    }
    fn body_json(&self) -> Option<&Value> {
        self.json.as_ref()
    }
    fn context(&self, var: ContextVar, out: &mut String) {
        if var == ContextVar::ConnectionId {
            out.push_str("CONN=");
        }
    }
    fn stage_var(&self, name: &str) -> Option<&str> {
        (name == "backend").then_some("http://127.0.0.1:3000")
    }
}

fn eval(expr: &str, msg: &str) -> String {
    Template::parse(expr).unwrap().render(&Msg::new(msg))
}

const DOC_MSG: &str = r#"{"service":"chat","action":"join","data":{"room":"room1234"}}"#;

/// The evaluation table from AWS's developer guide, row by row.
#[test]
fn aws_documented_table() {
    assert_eq!(eval("$request.body.action", DOC_MSG), "join");
    assert_eq!(eval("${request.body.action}", DOC_MSG), "join");
    assert_eq!(
        eval("${request.body.service}/${request.body.action}", DOC_MSG),
        "chat/join"
    );
    assert_eq!(
        eval(
            "${request.body.action}-${request.body.invalidPath}",
            DOC_MSG
        ),
        "join-"
    );
    assert_eq!(eval("action", DOC_MSG), "action");
    assert_eq!(eval("\\$default", DOC_MSG), "$default");
}

#[test]
fn nested_paths_and_brackets() {
    let msg = r#"{"service":{"do":"echo"},"list":["a","b"],"odd key":{"x":1}}"#;
    assert_eq!(eval("$request.body.service.do", msg), "echo");
    assert_eq!(eval("${request.body.list[1]}", msg), "b");
    assert_eq!(eval("${request.body['odd key'].x}", msg), "1");
    assert_eq!(eval("${request.body.list[7]}", msg), "");
    assert_eq!(eval("${request.body.service.do.deeper}", msg), "");
}

#[test]
fn stringification_of_non_strings() {
    let msg = r#"{"n":1.5,"t":true,"z":null,"arr":["item1","item2"],"o":{"k":"v"},"i":42}"#;
    assert_eq!(eval("$request.body.n", msg), "1.5");
    assert_eq!(eval("$request.body.i", msg), "42");
    assert_eq!(eval("$request.body.t", msg), "true");
    assert_eq!(eval("$request.body.z", msg), "");
    assert_eq!(eval("$request.body.arr", msg), "[item1, item2]");
    assert_eq!(eval("$request.body.o", msg), r#"{"k":"v"}"#);
}

#[test]
fn non_json_and_non_object_bodies_yield_empty() {
    assert_eq!(eval("$request.body.action", "hello"), "");
    assert_eq!(eval("$request.body.action", "[1,2]"), "");
    assert_eq!(eval("$request.body.action", "\"just a string\""), "");
    assert_eq!(eval("$request.body.action", ""), "");
}

#[test]
fn whole_body_context_and_stage_variables() {
    assert_eq!(eval("echo: ${request.body}", "hi there"), "echo: hi there");
    assert_eq!(eval("id=${context.connectionId}", "x"), "id=CONN=");
    assert_eq!(
        eval("${stageVariables.backend}/connect", "x"),
        "http://127.0.0.1:3000/connect"
    );
    assert_eq!(eval("${stageVariables.missing}/x", "x"), "/x");
}

#[test]
fn unbraced_variable_stops_at_non_identifier() {
    assert_eq!(eval("$request.body.action-suffix", DOC_MSG), "join-suffix");
    assert_eq!(
        eval("pre $request.body.service post", DOC_MSG),
        "pre chat post"
    );
}

#[test]
fn literal_and_needs_json() {
    let t = Template::parse("static").unwrap();
    assert_eq!(t.as_literal(), Some("static"));
    assert!(!t.needs_json());
    assert!(Template::parse("$request.body.a").unwrap().needs_json());
    assert!(!Template::parse("${request.body}").unwrap().needs_json());
    assert_eq!(Template::parse("").unwrap().as_literal(), Some(""));
}

#[test]
fn parse_errors() {
    assert!(matches!(
        Template::parse("${request.body.action"),
        Err(ParseError::Unclosed(0))
    ));
    assert!(matches!(
        Template::parse("$default"),
        Err(ParseError::UnknownVar(_))
    ));
    assert!(matches!(
        Template::parse("$"),
        Err(ParseError::UnknownVar(_))
    ));
    assert!(matches!(
        Template::parse("${request.bodyx}"),
        Err(ParseError::UnknownVar(_))
    ));
    assert!(matches!(
        Template::parse("${request.body..a}"),
        Err(ParseError::BadPath(..))
    ));
    assert!(matches!(
        Template::parse("${request.body[?(@.a)]}"),
        Err(ParseError::BadPath(..))
    ));
    assert!(matches!(
        Template::parse("${request.body[x]}"),
        Err(ParseError::BadPath(..))
    ));
    assert!(matches!(
        Template::parse("${request.body.}"),
        Err(ParseError::BadPath(..))
    ));
    assert!(matches!(
        Template::parse("${context.nope}"),
        Err(ParseError::UnknownVar(_))
    ));
}

#[test]
fn unicode_literals_survive() {
    assert_eq!(eval("héllo→${request.body.a}", r#"{"a":"ü"}"#), "héllo→ü");
    let _ = json!(null);
}
