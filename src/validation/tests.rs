//! Models and parameters against AWS's rules, and hostile schemas and bodies.

use super::*;

const PET: &str = r#"{"type":"object","required":["name"],
    "properties":{"name":{"type":"string","minLength":1},"age":{"type":"integer","minimum":0}}}"#;

#[test]
fn a_draft_4_model_reports_paths_and_keywords_never_values() {
    let m = Model::compile("Pet", PET).unwrap();
    assert!(m.check(br#"{"name":"rex","age":3}"#).is_ok());
    let errs = m.check(br#"{"age":-1,"secret":"hunter2"}"#).unwrap_err();
    assert!(errs.contains(&"/: required".to_owned()), "{errs:?}");
    assert!(errs.contains(&"/age: minimum".to_owned()), "{errs:?}");
    assert!(
        errs.iter()
            .all(|e| !e.contains("hunter2") && !e.contains("-1"))
    );
    let not_json = m.check(b"{nope").unwrap_err();
    assert!(not_json[0].starts_with("body: not JSON"), "{not_json:?}");
    // Draft 4's exclusiveMinimum is a boolean; 2020-12's a number.
    let d4 = Model::compile("D4", r#"{"minimum":5,"exclusiveMinimum":true}"#).unwrap();
    assert!(d4.check(b"5").is_err());
    let d2020 =
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","exclusiveMinimum":5}"#;
    let m2020 = Model::compile("D2020", d2020).unwrap();
    assert!(m2020.check(b"5").is_err() && m2020.check(b"6").is_ok());
}

#[test]
fn bad_schemas_are_refused_when_they_load() {
    assert!(
        Model::compile("x", "{not json")
            .unwrap_err()
            .starts_with("not JSON")
    );
    assert!(Model::compile("x", r#"{"type":"nonsense"}"#).is_err());
    // Look-around would need a backtracking engine: refused, not run.
    assert!(Model::compile("x", r#"{"pattern":"(?=a)b"}"#).is_err());
    // A remote $ref is never fetched.
    assert!(Model::compile("x", r#"{"$ref":"http://127.0.0.1:9/schema.json"}"#).is_err());
}

#[test]
fn hostile_bodies_and_patterns_stay_bounded() {
    // 10,000 levels of nesting: refused by the parser, not recursed into.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let any = Model::compile("any", "{}").unwrap();
    assert!(any.check(deep.as_bytes()).is_err());
    // The classic catastrophic pattern on a long near-match: linear here.
    let evil = Model::compile("evil", r#"{"type":"string","pattern":"^(a+)+$"}"#).unwrap();
    let body = format!("\"{}b\"", "a".repeat(100_000));
    assert!(evil.check(body.as_bytes()).is_err());
    // A large array is validated item by item; reports are capped.
    let ints = Model::compile("ints", r#"{"type":"array","items":{"type":"integer"}}"#).unwrap();
    let many = format!("[{}]", vec!["\"x\""; 100_000].join(","));
    assert_eq!(ints.check(many.as_bytes()).unwrap_err().len(), 10);
}

#[test]
fn required_parameters_are_missing_when_absent_or_blank() {
    let required: Vec<Param> = ["querystring.q1", "header.X-Id", "querystring.a"]
        .iter()
        .map(|p| Param::parse(p).unwrap())
        .collect();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-id", http::HeaderValue::from_static("7"));
    let query = |n: &str| match n {
        "q1" => Some(String::new()),
        _ => None,
    };
    assert_eq!(missing(&required, &headers, query), ["a", "q1"]);
    assert_eq!(Param::parse("path.x"), None);
}
