//! Every clock the gateway reads: the only module that may (clippy.toml bans
//! `Instant::now` and `SystemTime::now` everywhere else).
//!
//! - [`Instant`] and [`now`]: the monotonic clock for timers, deadlines and
//!   durations. It is tokio's, so a test that pauses time controls every timer.
//! - [`now_ms`]: wall-clock epoch milliseconds, for what backends and clients
//!   see (event times, `connectedAt`) and what is compared across machines
//!   (SigV4 dates, JWT `exp`, cross-node deadlines).
//!
//! The date strings AWS uses are formatted here too. The calendar conversion is
//! Howard Hinnant's days-from-civil algorithm, exact for every date after 1970.

use std::time::{SystemTime, UNIX_EPOCH};

pub use tokio::time::Instant;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The monotonic clock, now.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// Nanoseconds on the monotonic clock since the process first asked (what
/// throttling buckets count in: one `u64` per bucket).
pub fn mono_ns() -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(now);
    // Starts above zero, so a bucket's zero state is always in the past.
    now().saturating_duration_since(base).as_nanos() as u64 + 1_000_000_000
}

/// The wall clock, now (spans' times).
#[allow(clippy::disallowed_methods)]
pub fn system_now() -> SystemTime {
    SystemTime::now()
}

/// Milliseconds since the Unix epoch, now.
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    ms: u32,
}

fn civil(epoch_ms: u64) -> Civil {
    let secs = (epoch_ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        ms: (epoch_ms % 1000) as u32,
    }
}

/// The UTC year and month of an epoch-ms instant.
pub fn year_month(epoch_ms: u64) -> (i64, u32) {
    let c = civil(epoch_ms);
    (c.year, c.month)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of the
/// calendar arithmetic in `civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `requestTime` format: `19/Feb/2024:07:11:42 +0000`.
pub fn clf(epoch_ms: u64) -> String {
    let c = civil(epoch_ms);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[c.month as usize - 1],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// ISO 8601 with milliseconds: `2024-02-19T07:11:42.789Z` (GetConnection timestamps).
pub fn iso8601(epoch_ms: u64) -> String {
    let c = civil(epoch_ms);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.min, c.sec, c.ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2024-02-19T07:11:42.789Z, the connect time of a captured AWS event.
        assert_eq!(clf(1_708_326_702_789), "19/Feb/2024:07:11:42 +0000");
        assert_eq!(iso8601(1_708_326_702_789), "2024-02-19T07:11:42.789Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        // Leap day and year end.
        assert_eq!(iso8601(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(clf(1_735_689_599_000), "31/Dec/2024:23:59:59 +0000");
    }

    #[test]
    fn days_from_civil_inverts_civil() {
        for ms in [
            0,
            1_708_326_702_789u64,
            1_709_164_800_000,
            4_102_444_800_000,
        ] {
            let c = civil(ms);
            assert_eq!(
                days_from_civil(c.year, c.month, c.day),
                (ms / 86_400_000) as i64
            );
        }
    }
}
