//! Usage-plan quotas: at most `limit` requests per API key per period (a day,
//! a week or a month, in UTC), as AWS's usage plans count them.
//!
//! Periods start at 00:00 UTC: each day; each week on Sunday (AWS's `offset`
//! 0 for WEEK) or on the day `offset` names (0 = Sunday … 6 = Saturday); each
//! month on its first day. A counter belongs to its period: the first request
//! of the next one starts from zero. Node-local counters live in
//! [`Quotas`] (bounded like keyed buckets); cluster ones in Redis.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock;

pub use crate::config::{Period, Quota};

const DAY_MS: u64 = 86_400_000;

/// The start and end (epoch ms, UTC) of the period that contains `now_ms`.
pub fn bounds(period: Period, now_ms: u64) -> (u64, u64) {
    let day = now_ms / DAY_MS;
    match period {
        Period::Day => (day * DAY_MS, (day + 1) * DAY_MS),
        Period::Week(offset) => {
            // 1970-01-01 was a Thursday (weekday 4, Sunday = 0).
            let weekday = (day + 4) % 7;
            let back = (weekday + 7 - u64::from(offset % 7)) % 7;
            let start = day - back;
            (start * DAY_MS, (start + 7) * DAY_MS)
        }
        Period::Month => {
            let (y, m) = clock::year_month(now_ms);
            let start = clock::days_from_civil(y, m, 1);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let end = clock::days_from_civil(ny, nm, 1);
            (start as u64 * DAY_MS, end as u64 * DAY_MS)
        }
    }
}

/// Most counters kept on a node (one per API key of a plan per node: a few
/// dozen bytes each).
pub const MAX_COUNTERS: usize = 100_000;

/// Node-local quota counters, by `PLAN KEY`: (period start, used).
#[derive(Debug, Default)]
pub struct Quotas {
    counters: Mutex<HashMap<String, (u64, u64)>>,
}

impl Quotas {
    /// Counts one request of `key` at `now_ms`; false once the quota is used up.
    pub fn take(&self, key: &str, quota: &Quota, now_ms: u64) -> bool {
        let (start, _) = bounds(quota.period, now_ms);
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(key) && map.len() >= MAX_COUNTERS {
            // Keep only counters of a current period; still full: refuse.
            map.retain(|_, (s, _)| *s >= start);
            if map.len() >= MAX_COUNTERS {
                return false;
            }
        }
        let entry = map.entry(key.to_owned()).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        if entry.1 >= quota.limit {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Requests of `key` counted in the period containing `now_ms`.
    pub fn used(&self, key: &str, quota: &Quota, now_ms: u64) -> u64 {
        let (start, _) = bounds(quota.period, now_ms);
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(s, _)| *s == start)
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 (a Tuesday) 15:30 UTC.
    const NOW: u64 = 1_796_139_000_000;

    #[test]
    fn periods_start_at_midnight_utc() {
        let day = clock::days_from_civil(2026, 12, 1) as u64 * DAY_MS;
        assert_eq!(bounds(Period::Day, NOW), (day, day + DAY_MS));
        // The week from Sunday 2026-11-29; with offset 1, from Monday 11-30.
        let sunday = clock::days_from_civil(2026, 11, 29) as u64 * DAY_MS;
        assert_eq!(bounds(Period::Week(0), NOW), (sunday, sunday + 7 * DAY_MS));
        assert_eq!(bounds(Period::Week(1), NOW).0, sunday + DAY_MS);
        // December, and February of a leap year.
        let dec = clock::days_from_civil(2026, 12, 1) as u64 * DAY_MS;
        let jan = clock::days_from_civil(2027, 1, 1) as u64 * DAY_MS;
        assert_eq!(bounds(Period::Month, NOW), (dec, jan));
        let feb = clock::days_from_civil(2028, 2, 10) as u64 * DAY_MS;
        let (s, e) = bounds(Period::Month, feb);
        assert_eq!((e - s) / DAY_MS, 29);
    }

    #[test]
    fn a_quota_is_used_up_and_rolls_over_at_the_boundary() {
        let q = Quota {
            limit: 3,
            period: Period::Day,
        };
        let quotas = Quotas::default();
        let taken = (0..5).filter(|_| quotas.take("gold k", &q, NOW)).count();
        assert_eq!(taken, 3);
        assert_eq!(quotas.used("gold k", &q, NOW), 3);
        let (_, end) = bounds(Period::Day, NOW);
        assert!(!quotas.take("gold k", &q, end - 1), "still today");
        assert!(quotas.take("gold k", &q, end), "a new day");
        assert_eq!(quotas.used("gold k", &q, end), 1);
        assert!(quotas.take("other", &q, NOW), "keys count apart");
    }
}
