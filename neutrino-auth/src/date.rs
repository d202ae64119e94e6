//! Dates as Better Auth stores them in SQLite: ISO-8601 text in UTC with
//! millisecond precision and a `Z`, exactly what JavaScript's `toISOString()`
//! writes (`2026-01-02T03:04:05.678Z`).
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use neutrino::auth::date;
//! let t = UNIX_EPOCH + Duration::from_millis(1_767_323_045_678);
//! assert_eq!(date::format(t), "2026-01-02T03:04:05.678Z");
//! assert_eq!(date::parse("2026-01-02T03:04:05.678Z"), Some(t));
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use neutrino_core::clock::millis_since_epoch;
use neutrino_core::sql::{Row, Value};

use crate::error::{AuthError, Result};

/// Formats `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds truncated).
/// Times before 1970 are written as the epoch, after 9999 as the end of 9999.
pub fn format(t: SystemTime) -> String {
    format_millis(millis_since_epoch(t))
}

/// Serializes a date as [`format`] writes it (serde `serialize_with`).
pub(crate) fn serialize<S: serde::Serializer>(
    t: &SystemTime,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

/// Serializes an optional date as [`format`] writes it, or `null`.
pub(crate) fn serialize_opt<S: serde::Serializer>(
    t: &Option<SystemTime>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format(*t)),
        None => s.serialize_none(),
    }
}

/// The largest instant the format can hold: 9999-12-31T23:59:59.999Z.
const MAX_MILLIS: i64 = 253_402_300_799_999;

/// Formats milliseconds since the Unix epoch, clamped to years 1970–9999.
pub fn format_millis(ms: i64) -> String {
    let ms = ms.clamp(0, MAX_MILLIS);
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` (what `toISOString()` and
/// other ISO-8601 writers produce); fractions beyond milliseconds are truncated.
/// Returns `None` for anything else, including dates before 1970.
pub fn parse(s: &str) -> Option<SystemTime> {
    parse_millis(s).map(|ms| UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs()))
}

/// Like [`parse`], in milliseconds since the Unix epoch.
pub fn parse_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
        return None;
    }
    if sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let oh = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let om = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if oh > 23 || om > 59 {
                return None;
            }
            let total = oh * 60 + om;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let ms = ((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + millis;
    (ms >= 0).then_some(ms)
}

/// The stored date in column `i` of `r`; a malformed one is a decode
/// error naming `what` (e.g. `"session.expiresAt"`).
pub(crate) fn column(r: &Row, i: usize, what: &'static str) -> Result<SystemTime> {
    match r.value(i)? {
        // Parsed where it lies, not copied first.
        Value::Text(s) => stored(s, what),
        // Not text: the type error `get` gives.
        _ => stored(&r.get::<String>(i)?, what),
    }
}

/// A stored date; a malformed one is a decode error naming `what`.
pub(crate) fn stored(s: &str, what: &'static str) -> Result<SystemTime> {
    parse(s).ok_or_else(|| AuthError::corrupt(what))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_millis(MAX_MILLIS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_millis(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_millis("2000-02-29T00:00:00.000Z"),
            Some(951_782_400_000)
        );
        assert_eq!(
            parse_millis("2000-02-29T01:00:00+01:00"),
            Some(951_782_400_000)
        );
        assert_eq!(
            parse_millis("2000-02-29T00:00:00.1234567Z"),
            Some(951_782_400_123)
        );
        assert_eq!(
            parse_millis("2000-02-29T00:00:00.5Z"),
            Some(951_782_400_500)
        );
    }

    #[test]
    fn rejects_what_is_not_an_iso_instant() {
        for s in [
            "",
            "2001-02-29T00:00:00.000Z",
            "2000-13-01T00:00:00.000Z",
            "2000-01-01 00:00:00.000Z",
            "2000-01-01T24:00:00.000Z",
            "2000-01-01T00:00:00.Z",
            "2000-01-01T00:00:00.000",
            "2000-01-01T00:00:00.000+1:00",
            "1969-12-31T23:59:59.999Z",
            "２000-01-01T00:00:00.000Z",
        ] {
            assert_eq!(parse_millis(s), None, "{s}");
        }
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_gives_back_the_same_millisecond(ms in 0i64..=MAX_MILLIS) {
            let s = format_millis(ms);
            prop_assert_eq!(s.len(), 24);
            prop_assert_eq!(parse_millis(&s), Some(ms));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = parse_millis(&s);
        }
    }
}
