//! Field values in the text log format, quoted where they would be
//! ambiguous: a value with a space, a quote, an `=` or nothing at all is
//! written as a quoted, escaped string (`reason="exit status: 1"`), so each
//! `key=value` pair of a line can be split apart again. The message and
//! plain values are written as they are.

use std::cell::RefCell;
use std::fmt;

use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

/// The fields formatter of the text format.
pub(super) fn fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(write_field).delimited(" ")
}

thread_local! {
    /// A value's text, before it is known whether it needs quotes: one
    /// buffer per thread, so a line (one per connection, at least) costs no
    /// allocation per field.
    static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// What the buffer keeps between lines; a longer value's is freed.
const KEPT_BYTES: usize = 4096;

fn write_field(
    w: &mut Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn fmt::Debug,
) -> fmt::Result {
    if field.name() == "message" {
        return write!(w, "{value:?}");
    }
    TEXT.with(|cell| match cell.try_borrow_mut() {
        Ok(mut text) => {
            let written = write_value(w, field, value, &mut text);
            text.clear();
            if text.capacity() > KEPT_BYTES {
                text.shrink_to(KEPT_BYTES);
            }
            written
        }
        // A value whose formatting logs (the buffer is in use): its own.
        Err(_) => write_value(w, field, value, &mut String::new()),
    })
}

fn write_value(
    w: &mut Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn fmt::Debug,
    text: &mut String,
) -> fmt::Result {
    fmt::Write::write_fmt(text, format_args!("{value:?}"))?;
    write!(w, "{}=", field.name())?;
    match needs_quotes(text) {
        true => write!(w, "{text:?}"),
        false => w.write_str(text),
    }
}

/// Whether `text` must be quoted to stay one value. A Debug-formatted
/// string arrives quoted already (`"a b"`), and is left alone.
fn needs_quotes(text: &str) -> bool {
    let quoted = text.len() >= 2 && text.starts_with('"') && text.ends_with('"');
    !quoted
        && (text.is_empty()
            || text
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control()))
}

#[cfg(test)]
mod tests {
    use super::needs_quotes;

    #[test]
    fn values_that_would_split_are_quoted() {
        for text in [
            "exit status: 1",
            "",
            "a=b",
            "say \"hi\"",
            "tab\there",
            "line\nbreak",
        ] {
            assert!(needs_quotes(text), "{text:?}");
        }
        for text in ["127.0.0.1:8080", "node-1", "\"already quoted\"", "42"] {
            assert!(!needs_quotes(text), "{text:?}");
        }
    }
}
