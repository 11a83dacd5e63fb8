//! Group keys: a named group of one stage, and what a send to it queued.

use std::fmt;
use std::sync::Arc;

/// Longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 128;

/// A group of one stage: `stage/group`, cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GroupKey(Arc<str>);

// === impl GroupKey ===

impl GroupKey {
    /// The key of `group` in `stage`, if `group` is a valid name: 1 to 128
    /// characters of letters, digits, `-`, `_`, `.` and `:`. (Stage names are
    /// validated by the config, and neither may contain `/`.)
    pub fn new(stage: &str, group: &str) -> Option<GroupKey> {
        let valid = !group.is_empty()
            && group.len() <= MAX_GROUP_NAME
            && group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        valid.then(|| GroupKey(format!("{stage}/{group}").into()))
    }

    /// The stage's name.
    pub fn stage(&self) -> &str {
        self.0.split_once('/').map_or("", |(s, _)| s)
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, g)| g)
    }

    /// `stage/group`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupKey({})", self.0)
    }
}

/// What a send queued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Members whose queue took the frame.
    pub queued: usize,
    /// Members skipped because their send queue was full (or they were closing).
    pub dropped: usize,
}

impl std::ops::AddAssign for Sent {
    fn add_assign(&mut self, other: Sent) {
        self.queued += other.queued;
        self.dropped += other.dropped;
    }
}
