//! The one canonical form of a request path: built once, before the stage and
//! the route are chosen, and then the only path anything reads — routing,
//! authorizers, `$context.path`, the events' `rawPath`/`path`/`pathParameters`
//! and the request a backend gets. A route's authorizer therefore covers
//! everything that reaches a backend through that route.
//!
//! The path is split on literal `/` only, and each segment is percent-decoded
//! exactly once. Then, in the manner of nginx and Envoy (`normalize_path`,
//! `merge_slashes`), with each choice's reason:
//! - **dot segments** (`.`, `..`, literal or encoded as `%2e`) are resolved as
//!   RFC 3986 §5.2.4 does; a path that climbs above the root is refused: no
//!   backend could mean anything safe by it;
//! - **repeated slashes** are merged (`/a//b` is `/a/b`), as nginx's
//!   `merge_slashes` does by default: a backend that merges them would
//!   otherwise see a path no route was matched against. A trailing slash is
//!   kept (`/pets/` is not `/pets`);
//! - **`%2F`, `\` and `%5C` are refused**: an encoded slash is a separator to
//!   some backends (nginx decodes it, then resolves `..`) and data to others,
//!   and `\` is a separator on Windows servers. No form of them can be made to
//!   mean one thing to every backend, so none is accepted — as Apache
//!   (`AllowEncodedSlashes Off`) and Tomcat refuse `%2F` by default;
//! - **control characters** (decoded bytes below 0x20 and 0x7F), **malformed
//!   escapes** (`%` without two hex digits) and **decoded bytes that are not
//!   UTF-8** are refused: parameters are text, and a NUL cuts a path short in
//!   C backends;
//! - each segment is written back encoded in one way: unreserved characters
//!   and `!$&'()*+,=:@` as they are, every other byte `%XX` in upper case. So
//!   `/%70ets` is `/pets`, and `;` is always `%3B` (Tomcat and Jetty read
//!   `/admin;x/` as `/admin/`).
//!
//! Decoding the canonical form once gives every segment exactly, because no
//! decoded segment holds a `/`; so `/` in a decoded path is always a separator,
//! and a segment filled into a backend URI ([`SEGMENT`]) can never become a
//! separator or a dot segment, whether the backend decodes it or not.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// What a path segment is written with: every byte but unreserved characters
/// and `!$&'()*+,=:@` is percent-encoded (`;` included, see the module docs).
pub const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Why a path was refused (each is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not in origin form (`/…`).
    NotAbsolute,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// `%2F`: an encoded slash.
    EncodedSlash,
    /// `\` or `%5C`.
    Backslash,
    /// A control character, raw or decoded.
    Control,
    /// Decoded bytes that are not UTF-8.
    NotUtf8,
    /// `..` above the root.
    AboveRoot,
    /// A value that would be a whole `.` or `..` segment.
    DotSegment,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path does not start with /",
            PathError::BadEscape => "a % is not followed by two hex digits",
            PathError::EncodedSlash => "the path has an encoded slash (%2F)",
            PathError::Backslash => "the path has a backslash",
            PathError::Control => "the path has a control character",
            PathError::NotUtf8 => "the path does not decode to UTF-8",
            PathError::AboveRoot => "the path climbs above the root",
            PathError::DotSegment => "a value would be a dot segment",
        })
    }
}

/// The bytes a canonical segment holds as they are: [`SEGMENT`]'s complement,
/// as a table (`AsciiSet` does not say what it holds).
const KEPT: [bool; 256] = {
    let mut t = [false; 256];
    let extra = b"-._~!$&'()*+,=:@";
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
};

/// Whether `b` is written as it is in a canonical segment.
fn kept(b: u8) -> bool {
    KEPT[b as usize]
}

/// The canonical form of `raw` (a request target's path, without its query):
/// borrowed when `raw` already is canonical, as nearly every path is.
pub fn canonical(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_canonical(raw.as_bytes()) {
        return Ok(Cow::Borrowed(raw));
    }
    rebuild(raw).map(Cow::Owned)
}

/// One pass over the bytes: only kept characters, no empty segment but a
/// trailing one, and no `.` or `..` segment.
fn is_canonical(path: &[u8]) -> bool {
    let mut seg_start = 1;
    for i in 1..=path.len() {
        let end = i == path.len();
        if end || path[i] == b'/' {
            let seg = &path[seg_start..i];
            if matches!(seg, b"." | b"..") || (seg.is_empty() && !end) {
                return false;
            }
            seg_start = i + 1;
        } else if !kept(path[i]) {
            return false;
        }
    }
    true
}

/// The slow path: decode, check and resolve each segment, then write back.
fn rebuild(raw: &str) -> Result<String, PathError> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut trailing = false;
    let raws: Vec<&str> = raw[1..].split('/').collect();
    for (i, seg) in raws.iter().enumerate() {
        let last = i + 1 == raws.len();
        let decoded = decode(seg)?;
        match decoded.as_slice() {
            b"" | b"." => trailing = last,
            b".." => {
                out.pop().ok_or(PathError::AboveRoot)?;
                trailing = last;
            }
            _ => {
                trailing = false;
                out.push(decoded);
            }
        }
    }
    let mut path = String::with_capacity(raw.len() + 8);
    for seg in &out {
        path.push('/');
        path.extend(percent_encoding::percent_encode(seg, SEGMENT));
    }
    if trailing || out.is_empty() {
        path.push('/');
    }
    Ok(path)
}

/// One segment, percent-decoded once and checked.
fn decode(seg: &str) -> Result<Vec<u8>, PathError> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
                let hex = std::str::from_utf8(hex).map_err(|_| PathError::BadEscape)?;
                i += 2;
                let b = u8::from_str_radix(hex, 16).map_err(|_| PathError::BadEscape)?;
                if b == b'/' {
                    return Err(PathError::EncodedSlash);
                }
                b
            }
            b => b,
        };
        if b == b'\\' {
            return Err(PathError::Backslash);
        }
        if b < 0x20 || b == 0x7f {
            return Err(PathError::Control);
        }
        out.push(b);
        i += 1;
    }
    std::str::from_utf8(&out).map_err(|_| PathError::NotUtf8)?;
    Ok(out)
}

/// A decoded value that will fill one path segment, or a part of one, in a
/// backend URI: refused if it holds `/` or `\` (it could add segments) or a
/// control character, or is `.` or `..` (a dot segment once filled in).
pub fn check_segment_value(value: &str) -> Result<(), PathError> {
    if value.contains('/') {
        return Err(PathError::EncodedSlash);
    }
    if value.contains('\\') {
        return Err(PathError::Backslash);
    }
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(PathError::Control);
    }
    if matches!(value, "." | "..") {
        return Err(PathError::DotSegment);
    }
    Ok(())
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
