//! HTTP API routes: route keys (`"GET /pets/{id}"`, `"ANY /api/{proxy+}"`,
//! `"$default"`) and the router that picks one for a request's method and path,
//! with AWS HTTP APIs' precedence.
//!
//! Precedence, in order (AWS's, plus the rules AWS leaves open, marked *ours*):
//! 1. a route whose whole path matches, compared segment by segment from the
//!    left, a static segment before a `{param}` (*ours*: left to right when two
//!    routes differ in where their parameters are); at the path found, the
//!    request's method, else `ANY` — so `ANY` serves only the methods the path
//!    does not define;
//! 2. a greedy route (`{proxy+}`, last segment only) with the method or `ANY`,
//!    the one with the longest matching prefix first (*ours*);
//! 3. `$default`.
//!
//! Also *ours*, each tested: paths are case-sensitive; a trailing slash is part
//! of the path (`/pets/` is not `/pets`, and AWS rejects route keys ending in
//! `/`), so it can match only a greedy route or `$default`; a greedy variable
//! needs at least one character (`/pets/{proxy+}` does not match `/pets`); `HEAD`
//! is matched as written (a `GET` route does not serve it; `ANY` does); a method
//! outside AWS's list (`TRACE`, `CONNECT`, WebDAV's) matches no route, not even
//! `$default`. Static segments are compared after percent-decoding, and
//! parameter values are handed out decoded (the raw path stays the caller's).
//!
//! Lookup walks a trie of path segments. Each node has one path from the root,
//! so a lookup visits each node at most once: the cost is bounded by the size of
//! the table, never exponential, whatever the request's path. Hand-written
//! rather than `matchit` (axum's router) because AWS's order differs from it:
//! `matchit` commits to the static branch before looking at the method, and
//! ranks a greedy route on a static prefix above an exact match through a
//! parameter (`ANY /a/{proxy+}` over `GET /{p}/c` for `/a/c`); AWS does neither.

use std::collections::HashMap;
use std::fmt;

use fnv::FnvBuildHasher;
use percent_encoding::percent_decode_str;
use smallvec::SmallVec;

/// The route key that catches requests no other route matches.
pub const DEFAULT: &str = "$default";

/// The methods AWS HTTP APIs route, plus `ANY`.
pub const METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

/// Why a route key is not valid. Shown to the operator by `check` and reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not `METHOD /path` nor `$default`.
    Shape,
    /// A method outside [`METHODS`] and `ANY`.
    Method(String),
    /// A path segment that is empty or ends in `/`.
    EmptySegment,
    /// `{` or `}` inside a static segment, or an empty or malformed `{…}`.
    BadParam(String),
    /// `{x+}` anywhere but the last segment.
    GreedyNotLast,
    /// Two parameters with one name.
    DuplicateParam(String),
    /// Another route has the same method and path shape.
    Conflict(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Shape => {
                f.write_str("a route key is `METHOD /path` (e.g. `GET /pets/{id}`) or `$default`")
            }
            KeyError::Method(m) => {
                let upper = m.to_ascii_uppercase();
                if upper == "ANY" || METHODS.contains(&upper.as_str()) {
                    // AWS's route keys take methods in upper case only.
                    return write!(f, "methods are upper case: write `{upper}`, not `{m}`");
                }
                write!(
                    f,
                    "unknown method `{m}` (use ANY or one of {})",
                    METHODS.join(", ")
                )
            }
            KeyError::EmptySegment => {
                f.write_str("the path has an empty segment or ends in `/` (AWS rejects both)")
            }
            KeyError::BadParam(s) => write!(
                f,
                "`{s}`: a parameter is a whole segment, `{{name}}` or `{{name+}}`"
            ),
            KeyError::GreedyNotLast => f.write_str("a greedy parameter `{name+}` must be last"),
            KeyError::DuplicateParam(p) => write!(f, "parameter `{{{p}}}` appears twice"),
            KeyError::Conflict(other) => write!(f, "matches the same requests as `{other}`"),
        }
    }
}

/// One segment of a route key's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
}

/// A parsed route key other than `$default`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    /// `None` for `ANY`; otherwise an index into [`METHODS`].
    method: Option<usize>,
    segments: Vec<Segment>,
    greedy: Option<String>,
}

fn method_index(method: &str) -> Option<usize> {
    METHODS.iter().position(|m| *m == method)
}

/// Checks a route key; `Ok` for `$default` too.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key == DEFAULT {
        return Ok(());
    }
    parse_key(key).map(drop)
}

/// The parameter names of a route key, in path order (the greedy one last,
/// and named by [`greedy_param`]); none for `$default` or an invalid key.
pub fn key_params(key: &str) -> Vec<String> {
    let Ok(parsed) = parse_key(key) else {
        return Vec::new();
    };
    let mut names: Vec<String> = parsed
        .segments
        .into_iter()
        .filter_map(|s| match s {
            Segment::Param(p) => Some(p),
            Segment::Static(_) => None,
        })
        .collect();
    names.extend(parsed.greedy);
    names
}

/// The name of a route key's greedy parameter, if it has one.
pub fn greedy_param(key: &str) -> Option<String> {
    parse_key(key).ok()?.greedy
}

fn parse_key(key: &str) -> Result<Key, KeyError> {
    let (method, path) = key.split_once(' ').ok_or(KeyError::Shape)?;
    let method = match method {
        "ANY" => None,
        m => Some(method_index(m).ok_or_else(|| KeyError::Method(m.to_owned()))?),
    };
    let rest = path.strip_prefix('/').ok_or(KeyError::Shape)?;
    let mut parsed = Key {
        method,
        segments: Vec::new(),
        greedy: None,
    };
    if rest.is_empty() {
        return Ok(parsed);
    }
    let mut names: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        if parsed.greedy.is_some() {
            return Err(KeyError::GreedyNotLast);
        }
        if seg.is_empty() {
            return Err(KeyError::EmptySegment);
        }
        let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            if seg.contains(['{', '}', ' ']) {
                return Err(KeyError::BadParam(seg.to_owned()));
            }
            parsed.segments.push(Segment::Static(seg.to_owned()));
            continue;
        };
        let (name, greedy) = match inner.strip_suffix('+') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if name.is_empty() || !name.chars().all(valid) {
            return Err(KeyError::BadParam(seg.to_owned()));
        }
        if names.contains(&name) {
            return Err(KeyError::DuplicateParam(name.to_owned()));
        }
        names.push(name);
        if greedy {
            parsed.greedy = Some(name.to_owned());
        } else {
            parsed.segments.push(Segment::Param(name.to_owned()));
        }
    }
    Ok(parsed)
}

/// A route as stored: its key as written, what it carries, and the names of its
/// parameters in path order (the greedy one last).
#[derive(Debug)]
struct Entry<R> {
    key: String,
    route: R,
    params: Vec<String>,
}

/// The routes ending at one place: by method, and `ANY`.
#[derive(Debug)]
struct Methods<R> {
    by_method: [Option<Entry<R>>; METHODS.len()],
    any: Option<Entry<R>>,
}

impl<R> Default for Methods<R> {
    fn default() -> Self {
        Methods {
            by_method: Default::default(),
            any: None,
        }
    }
}

impl<R> Methods<R> {
    fn slot(&mut self, method: Option<usize>) -> &mut Option<Entry<R>> {
        match method {
            Some(i) => &mut self.by_method[i],
            None => &mut self.any,
        }
    }

    fn pick(&self, method: usize) -> Option<&Entry<R>> {
        self.by_method[method].as_ref().or(self.any.as_ref())
    }
}

#[derive(Debug)]
struct Node<R> {
    /// FNV, not SipHash: the keys are the config's, so a client cannot
    /// choose colliding ones, and SipHash was the larger part of a lookup.
    statics: HashMap<String, Node<R>, FnvBuildHasher>,
    param: Option<Box<Node<R>>>,
    exact: Methods<R>,
    greedy: Methods<R>,
}

impl<R> Default for Node<R> {
    fn default() -> Self {
        Node {
            statics: HashMap::default(),
            param: None,
            exact: Methods::default(),
            greedy: Methods::default(),
        }
    }
}

/// The HTTP routes of an API, ready for lookups.
#[derive(Debug)]
pub struct HttpRouter<R> {
    root: Node<R>,
    default: Option<Entry<R>>,
    len: usize,
}

/// The route a request matched.
#[derive(Debug, PartialEq, Eq)]
pub struct Matched<'r, R> {
    /// The route key as configured (`"GET /pets/{id}"`): the event's `routeKey`.
    pub key: &'r str,
    /// What the route carries.
    pub route: &'r R,
    /// Path parameters, percent-decoded, in path order.
    pub params: Vec<(&'r str, String)>,
}

// === impl HttpRouter ===

impl<R> Default for HttpRouter<R> {
    /// A router with no routes: every request is unmatched.
    fn default() -> Self {
        HttpRouter {
            root: Node::default(),
            default: None,
            len: 0,
        }
    }
}

impl<R> HttpRouter<R> {
    /// Builds the router; every invalid or conflicting key is reported.
    pub fn new(
        routes: impl IntoIterator<Item = (String, R)>,
    ) -> Result<Self, Vec<(String, KeyError)>> {
        let mut router = HttpRouter::default();
        let mut errors = Vec::new();
        for (key, route) in routes {
            if let Err(e) = router.insert(key.clone(), route) {
                errors.push((key, e));
            }
        }
        if errors.is_empty() {
            Ok(router)
        } else {
            Err(errors)
        }
    }

    fn insert(&mut self, key: String, route: R) -> Result<(), KeyError> {
        if key == DEFAULT {
            if self.default.is_some() {
                return Err(KeyError::Conflict(DEFAULT.to_owned()));
            }
            self.default = Some(Entry {
                key,
                route,
                params: Vec::new(),
            });
            self.len += 1;
            return Ok(());
        }
        let parsed = parse_key(&key)?;
        let mut node = &mut self.root;
        let mut params = Vec::new();
        for seg in parsed.segments {
            node = match seg {
                Segment::Static(s) => node.statics.entry(s).or_default(),
                Segment::Param(p) => {
                    params.push(p);
                    node.param.get_or_insert_with(Box::default).as_mut()
                }
            };
        }
        let methods = match parsed.greedy {
            Some(g) => {
                params.push(g);
                &mut node.greedy
            }
            None => &mut node.exact,
        };
        let slot = methods.slot(parsed.method);
        if let Some(other) = slot {
            return Err(KeyError::Conflict(other.key.clone()));
        }
        *slot = Some(Entry { key, route, params });
        self.len += 1;
        Ok(())
    }

    /// How many routes, `$default` included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no routes at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The route for `method` and `path` (the path after the stage, starting
    /// with `/`, without its query string), or `None`: AWS answers 404.
    pub fn find<'r>(&'r self, method: &str, path: &str) -> Option<Matched<'r, R>> {
        let method = method_index(method)?;
        let rest = path.strip_prefix('/')?;
        // On the stack for paths of up to 8 segments: no allocation per lookup.
        let segs: SmallVec<[&str; 8]> = if rest.is_empty() {
            SmallVec::new()
        } else {
            rest.split('/').collect()
        };
        let mut values = Vec::new();
        if let Some(e) = exact(&self.root, &segs, method, &mut values) {
            return Some(matched(e, values));
        }
        values.clear();
        if let Some(e) = greedy(&self.root, rest, &segs, method, &mut values) {
            return Some(matched(e, values));
        }
        self.default.as_ref().map(|e| matched(e, Vec::new()))
    }
}

fn matched<'r, R>(e: &'r Entry<R>, values: Vec<&str>) -> Matched<'r, R> {
    let params = e
        .params
        .iter()
        .map(String::as_str)
        .zip(values.into_iter().map(decode))
        .collect();
    Matched {
        key: &e.key,
        route: &e.route,
        params,
    }
}

/// Percent-decodes a path value; a value that does not decode to UTF-8 is kept
/// as sent.
fn decode(raw: &str) -> String {
    percent_decode_str(raw)
        .decode_utf8()
        .map_or_else(|_| raw.to_owned(), |s| s.into_owned())
}

fn static_child<'n, R>(node: &'n Node<R>, seg: &str) -> Option<&'n Node<R>> {
    if node.statics.is_empty() {
        return None;
    }
    if seg.contains('%') {
        node.statics.get(decode(seg).as_str())
    } else {
        node.statics.get(seg)
    }
}

/// Step 1: a whole-path match, static before parameter at each segment.
fn exact<'r, 'p, R>(
    node: &'r Node<R>,
    segs: &[&'p str],
    method: usize,
    values: &mut Vec<&'p str>,
) -> Option<&'r Entry<R>> {
    let Some((seg, tail)) = segs.split_first() else {
        return node.exact.pick(method);
    };
    if let Some(e) = static_child(node, seg).and_then(|c| exact(c, tail, method, values)) {
        return Some(e);
    }
    let child = node.param.as_deref().filter(|_| !seg.is_empty())?;
    values.push(*seg);
    let found = exact(child, tail, method, values);
    if found.is_none() {
        values.pop();
    }
    found
}

/// Step 2: a greedy route; deeper prefixes first, static before parameter.
/// `rest` is the raw path from the current segment on.
fn greedy<'r, 'p, R>(
    node: &'r Node<R>,
    rest: &'p str,
    segs: &[&'p str],
    method: usize,
    values: &mut Vec<&'p str>,
) -> Option<&'r Entry<R>> {
    if let Some((seg, tail)) = segs.split_first() {
        // The raw path after this segment and its slash.
        let after = rest.get(seg.len() + 1..).unwrap_or("");
        if let Some(e) =
            static_child(node, seg).and_then(|c| greedy(c, after, tail, method, values))
        {
            return Some(e);
        }
        if let Some(child) = node.param.as_deref().filter(|_| !seg.is_empty()) {
            values.push(*seg);
            if let Some(e) = greedy(child, after, tail, method, values) {
                return Some(e);
            }
            values.pop();
        }
    }
    if rest.is_empty() {
        return None;
    }
    let e = node.greedy.pick(method)?;
    values.push(rest);
    Some(e)
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
