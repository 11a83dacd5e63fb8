//! A request's query string, read the one way every reader of it uses —
//! events' `queryStringParameters`, mapping's `$request.querystring.X`,
//! authorizers' identity sources, required parameters, `$connect` events:
//! split on `&`, each name and value percent-decoded exactly once, and `+`
//! read as a space. That is how AWS decodes them and how the frameworks
//! behind a Lambda handler parse `rawQueryString` (HTML form encoding), so
//! an app sees one value whichever it reads. Bytes that do not decode to
//! UTF-8 become U+FFFD.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// One name or value, decoded.
pub fn decode(raw: &str) -> String {
    let plus_free: Cow<'_, [u8]> = if raw.contains('+') {
        Cow::Owned(
            raw.bytes()
                .map(|b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw.as_bytes())
    };
    percent_decode(&plus_free).decode_utf8_lossy().into_owned()
}

/// The decoded `(name, value)` pairs, in order (a pair without `=` has an
/// empty value; empty pairs are skipped).
pub fn pairs(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

/// The first value of parameter `name` (compared after decoding), decoded.
pub fn first(raw: &str, name: &str) -> Option<String> {
    raw.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

/// Parameters grouped by name in first-seen order, each with all its values.
pub fn grouped(raw: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in pairs(raw) {
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some((_, vs)) => vs.push(v),
            None => out.push((k, vec![v])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_decoded_once_with_plus_as_space() {
        let got: Vec<_> = pairs("a=b+c&q=%2B1&x=%2541&k+1=v%20w&&flag&e=").collect();
        let want = [
            ("a", "b c"),
            ("q", "+1"),
            ("x", "%41"),
            ("k 1", "v w"),
            ("flag", ""),
            ("e", ""),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
        assert_eq!(first("a=1&b=R%00y", "b").as_deref(), Some("R\0y"));
        assert_eq!(first("a=%ff", "a").as_deref(), Some("\u{fffd}"));
        assert_eq!(
            grouped("c=1&d=2&c=3"),
            [
                ("c".to_owned(), vec!["1".to_owned(), "3".to_owned()]),
                ("d".to_owned(), vec!["2".to_owned()])
            ]
        );
    }
}
