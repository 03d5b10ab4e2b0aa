//! Wall-clock time as it crosses processes: milliseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, for request timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ms` (since the Unix epoch) as RFC 3339 in UTC with milliseconds,
/// `2026-12-07T22:41:03.127Z`: axon's one timestamp format.
pub fn rfc3339(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (rest / 3600, (rest / 60) % 60, rest % 60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Reads an RFC 3339 time (`2026-12-07T22:41:03Z`, `2026-12-07T23:41:03.5+01:00`,
/// `t` or a space for `T`, `z` for `Z`) as ms since the Unix epoch; `None` if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || ![b'T', b't', b' '].contains(&b[10]) {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) || !(1..=12).contains(&mo) {
        return None;
    }
    if !(1..=days_in_month(y, mo)).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let (milli, zone) = fraction(&text[19..])?;
    let offset = zone_offset(zone)?;
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    u64::try_from(secs * 1000 + milli).ok()
}

/// The optional `.fff...` after the seconds, as ms, and what follows it.
fn fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(digits) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let milli = digits[..n.min(3)].parse::<i64>().ok()? * 10_i64.pow(3 - n.min(3) as u32);
    Some((milli, &digits[n..]))
}

/// `Z` or `±HH:MM` as seconds east of UTC.
fn zone_offset(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let b = zone.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let (h, m): (i64, i64) = (zone[1..3].parse().ok()?, zone[4..6].parse().ok()?);
    (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of `days` since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_683_263_127), "2026-12-07T22:41:03.127Z");
        assert_eq!(rfc3339(951_782_400_007), "2000-02-29T00:00:00.007Z");
    }

    #[test]
    fn rfc3339_reads_back_with_fractions_and_offsets() {
        for ms in [0, 7, 951_782_400_007, 1_796_683_263_127] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        let at = Some(1_796_683_263_000);
        assert_eq!(parse_rfc3339("2026-12-07T22:41:03Z"), at);
        assert_eq!(parse_rfc3339("2026-12-07 23:41:03+01:00"), at);
        assert_eq!(parse_rfc3339("2026-12-07t20:11:03-02:30"), at);
        assert_eq!(
            parse_rfc3339("2026-12-07T22:41:03.5z"),
            Some(1_796_683_263_500)
        );
        for bad in [
            "2026-12-07",
            "2026-13-07T22:41:03Z",
            "2026-02-30T22:41:03Z",
            "2026-12-07T22:41:03",
            "2026-12-07T22:41:03.Z",
            "2026-12-07T22:41:03+0100",
            "yesterday at noon, say",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
