//! Reads the Prometheus text exposition back into numbers: the dashboard's
//! figures come from the very text `/metrics` serves, so the two cannot
//! disagree. Only what the exporter writes is understood: `name{labels} value`
//! lines, label values with `\\`, `\"` and `\n` escapes; comments and blank
//! lines are skipped, and a line that does not parse is skipped too (a figure
//! missing from a plot, never a failed sample).

/// One series: its metric name, its labels in the order written, its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

impl Series {
    /// The value of label `key`, or "" when the series has none.
    pub(crate) fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Every series of `text`, in order.
pub(crate) fn parse(text: &str) -> Vec<Series> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Series> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Series {
        name,
        labels,
        value,
    })
}

/// `k="v",k2="v2"}` → the pairs and what follows the `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches(',');
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_owned();
        let mut chars = s[eq + 1..].char_indices();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        let mut escaped = false;
        let end = loop {
            let (i, c) = chars.next()?;
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break i,
                (true, 'n') => {
                    value.push('\n');
                    escaped = false;
                }
                (true, c) | (false, c) => {
                    value.push(c);
                    escaped = false;
                }
            }
        };
        labels.push((key, value));
        s = &s[eq + 1 + end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_what_the_exporter_writes() {
        let text = "# HELP x y\n# TYPE x counter\nx 3\n\n\
            sockgate_messages_total{stage=\"dev\",route=\"a \\\"b\\\" \\\\ c\",direction=\"in\"} 12\n\
            h_bucket{le=\"+Inf\"} 4\nbad{x=1} 2\ng -1.5\n";
        let s = parse(text);
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!((s[0].name.as_str(), s[0].value), ("x", 3.0));
        assert_eq!(s[1].label("route"), "a \"b\" \\ c");
        assert_eq!(s[1].label("direction"), "in");
        assert_eq!(s[1].label("missing"), "");
        assert_eq!(s[2].label("le"), "+Inf");
        assert_eq!(s[3].value, -1.5);
    }

    #[test]
    fn a_route_key_with_braces_and_commas_survives() {
        let s = parse("m{route=\"GET /{id},x=}\",stage=\"p\"} 1\n");
        assert_eq!(s[0].label("route"), "GET /{id},x=}");
        assert_eq!(s[0].label("stage"), "p");
    }
}
