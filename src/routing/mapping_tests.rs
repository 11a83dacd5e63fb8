//! Parameter mapping keys and values against AWS's table.

use super::*;

struct Facts;

impl MapScope for Facts {
    fn write(&self, var: &MapVar, out: &mut String) {
        let v = match var {
            MapVar::RequestHeader(h) => format!("h:{h}"),
            MapVar::RequestQuery(q) => format!("q:{q}"),
            MapVar::RequestBody(p) => format!("b:{}", p.len()),
            MapVar::RequestPath => "/pets/1".into(),
            MapVar::PathParam(p) => format!("p:{p}"),
            MapVar::Context(c) => format!("c:{c}"),
            MapVar::StageVar(s) => format!("s:{s}"),
            MapVar::ResponseHeader(h) => format!("rh:{h}"),
            MapVar::ResponseBody(p) => format!("rb:{}", p.len()),
        };
        out.push_str(&v);
    }
}

fn render(value: &str, side: Side) -> String {
    parse_value(value, side).unwrap().render(&Facts)
}

#[test]
fn keys_name_an_action_and_a_place() {
    let m = parse(
        "overwrite:header.X-User",
        "$request.header.a",
        Side::Request,
    )
    .unwrap();
    assert_eq!(
        (m.action, m.target),
        (Action::Overwrite, Target::Header("x-user".into()))
    );
    let m = parse("append:querystring.Tag", "v", Side::Request).unwrap();
    assert_eq!(m.target, Target::Query("Tag".into()));
    let m = parse("remove:header.server", "", Side::Response).unwrap();
    assert_eq!(m.action, Action::Remove);
    assert_eq!(
        parse("overwrite:path", "/x/${request.path.id}", Side::Request)
            .unwrap()
            .target,
        Target::Path
    );
    assert_eq!(
        parse("overwrite:statuscode", "204", Side::Response)
            .unwrap()
            .target,
        Target::StatusCode
    );
    let bad = [
        ("header.x", Side::Request, "ACTION:WHERE"),
        ("replace:header.x", Side::Request, "not append"),
        ("append:path", Side::Request, "only be overwritten"),
        ("overwrite:statuscode", Side::Request, "requests map"),
        ("overwrite:querystring.x", Side::Response, "answers map"),
        ("overwrite:header.Authorization", Side::Request, "reserved"),
        (
            "overwrite:header.x-amzn-trace-id",
            Side::Response,
            "reserved",
        ),
        (
            "overwrite:header.access-control-allow-origin",
            Side::Response,
            "reserved",
        ),
        (
            "overwrite:header.bad header",
            Side::Request,
            "not a header name",
        ),
    ];
    for (key, side, why) in bad {
        let err = parse(key, "v", side).unwrap_err();
        assert!(err.contains(why), "{key}: {err}");
    }
    let err = parse("overwrite:statuscode", "700", Side::Response).unwrap_err();
    assert!(err.contains("not a status code"), "{err}");
}

#[test]
fn values_are_one_bare_variable_or_text_with_braced_ones() {
    assert_eq!(render("$request.header.X-Id", Side::Request), "h:x-id");
    assert_eq!(render("$request.querystring.Page", Side::Request), "q:Page");
    assert_eq!(render("$request.path", Side::Request), "/pets/1");
    assert_eq!(render("$request.path.id", Side::Request), "p:id");
    assert_eq!(render("$request.body", Side::Request), "b:0");
    assert_eq!(render("$request.body.a.b[0]", Side::Request), "b:3");
    assert_eq!(
        render("$context.authorizer.claims.sub", Side::Request),
        "c:authorizer.claims.sub"
    );
    assert_eq!(render("$stageVariables.v", Side::Request), "s:v");
    assert_eq!(
        render(
            "Bearer ${request.header.x}-${context.requestId}!",
            Side::Request
        ),
        "Bearer h:x-c:requestId!"
    );
    assert_eq!(render("static", Side::Request), "static");
    assert_eq!(render("$response.header.etag", Side::Response), "rh:etag");
    assert_eq!(render("${response.body.id}", Side::Response), "rb:1");
    for (value, side) in [
        ("$response.header.x", Side::Request),
        ("$request.nothing", Side::Request),
        ("$context.made.up", Side::Request),
        ("$context.authorizer.claims", Side::Request),
        ("${request.header.x", Side::Request),
        ("$request.body..x", Side::Request),
    ] {
        assert!(parse_value(value, side).is_err(), "{value}");
    }
}
