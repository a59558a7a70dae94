//! Durations as a scenario writes them: `"250ms"`, `"10s"`, `"1.5s"`, `"0s"`, `"1m"`. Pure.

use std::time::Duration;

/// The longest duration a scenario may write: an hour. A step waits at most this long, and a
/// larger number is a typo more often than a plan.
pub const MAX: Duration = Duration::from_secs(3600);

/// Why a duration is malformed, in the words of a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration")]
    Malformed(String),
    #[error("`{0}` is negative; a duration cannot be")]
    Negative(String),
    #[error("`{0}` is longer than an hour, the longest a scenario may wait")]
    TooLong(String),
}

/// What every duration error's hint says.
pub const HINT: &str =
    "write a number and a unit, ms, s or m, as a string: \"250ms\", \"10s\", \"1.5s\", \"1m\"";

/// Parses `text`: a non-negative integer or decimal number and a unit (`ms`, `s`, `m`).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError::Malformed(text.to_string());
    let t = text.trim();
    if t.starts_with('-') {
        return Err(DurationError::Negative(text.to_string()));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let per_unit_us: u128 = match unit {
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        _ => return Err(bad()),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if num.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    // Whole microseconds, exactly: no float rounding ("0.3s" is 300 ms, not 299.99...).
    let too_long = || DurationError::TooLong(text.to_string());
    let whole: u128 = whole.parse().map_err(|_| too_long())?;
    let mut us = whole.checked_mul(per_unit_us).ok_or_else(too_long)?;
    let mut scale = per_unit_us;
    for d in frac.bytes().take(12) {
        scale /= 10;
        us += u128::from(d - b'0') * scale;
    }
    let d = Duration::from_micros(u64::try_from(us).map_err(|_| too_long())?);
    if d > MAX {
        return Err(too_long());
    }
    Ok(d)
}

/// `d` as a report writes it: `1.32 s`, `250 ms`.
pub fn words(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_examples() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(parse("250ms"), Ok(ms(250)));
        assert_eq!(parse("10s"), Ok(ms(10_000)));
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("0s"), Ok(ms(0)));
        assert_eq!(parse("1m"), Ok(ms(60_000)));
        assert_eq!(parse("0.3s"), Ok(ms(300)));
    }

    #[test]
    fn malformed_ones() {
        for bad in [
            "", "s", "10", "10 s", "1.s", ".5s", "1e3ms", "10h", "1.2.3s", "ten s",
        ] {
            assert!(
                matches!(parse(bad), Err(DurationError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse("-1s"), Err(DurationError::Negative(_))));
        assert!(matches!(parse("61m"), Err(DurationError::TooLong(_))));
        assert!(matches!(
            parse("99999999999999999999999s"),
            Err(DurationError::TooLong(_))
        ));
    }
}
