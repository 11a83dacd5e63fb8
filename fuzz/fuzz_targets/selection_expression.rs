//! Route selection: parse any expression, then select a route for any message
//! with it (the expression comes from config, the message from clients).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use sockgate::routing::{Message, RouteTable, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // First line: the expression; the rest: a message.
    let (expr, message) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(template) = Template::parse(expr) else {
        return;
    };
    let routes: HashMap<String, u8> = [("a".to_owned(), 1), ("b/c".to_owned(), 2)].into();
    let table = RouteTable::new(template, routes, Some(0));
    let parsed = Message::new(message, table.needs_json());
    let _ = table.select(&parsed);
});
