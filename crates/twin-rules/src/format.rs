//! How values are written for people: numbers, money, dates.

use cel_interpreter::Value;
use time::{Date, Month};

/// `2026-03-14`.
pub(crate) fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// Reads `YYYY-MM-DD` (exactly that form, a real date).
pub(crate) fn parse_iso(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return None;
    }
    let year: i32 = s[0..4].parse().ok()?;
    let month: u8 = s[5..7].parse().ok()?;
    let day: u8 = s[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// `14 March 1958`.
pub(crate) fn long_date(d: Date) -> String {
    format!("{} {} {}", d.day(), d.month(), d.year())
}

/// Digits grouped by threes with commas: `12570` → `12,570`.
fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A whole number: grouped from 10,000 up (so years and ages stay as they are).
pub(crate) fn int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let body = if digits.len() > 4 {
        group(&digits)
    } else {
        digits
    };
    if n < 0 { format!("-{body}") } else { body }
}

/// A number with at most two decimals, trailing zeros dropped: `218.15`, `12,570`,
/// `180.5`. `None` when not finite.
pub(crate) fn number(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let fixed = format!("{:.2}", x.abs());
    let (whole, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let frac = frac.trim_end_matches('0');
    let whole = if whole.len() > 4 {
        group(whole)
    } else {
        whole.to_owned()
    };
    let sign = if x < 0.0 && fixed != "0.00" { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    })
}

/// Money in pounds, always two decimals, grouped: `£1,234.56`, `-£5.00`. `None` when
/// not finite.
pub(crate) fn money(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let fixed = format!("{:.2}", x.abs());
    let (whole, frac) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    let sign = if x < 0.0 && fixed != "0.00" { "-" } else { "" };
    Some(format!("{sign}£{}.{frac}", group(whole)))
}

/// Longest text shown from one value.
const MAX_SHOWN: usize = 200;

/// A CEL value in an explanation. `None` when it cannot be shown sensibly (a non-finite
/// number, a function).
pub(crate) fn value(v: &Value) -> Option<String> {
    let s = match v {
        Value::Int(n) => int(*n),
        Value::UInt(n) => int(i64::try_from(*n).unwrap_or(i64::MAX)),
        Value::Float(x) => number(*x)?,
        Value::String(s) => s.chars().take(MAX_SHOWN).collect(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Null => "none".to_owned(),
        Value::List(items) => {
            let mut parts: Vec<String> = Vec::new();
            for item in items.iter().take(10) {
                parts.push(match item {
                    Value::List(_) | Value::Map(_) => "…".to_owned(),
                    other => value(other)?,
                });
            }
            if items.len() > 10 {
                parts.push("…".to_owned());
            }
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join(", ")
            }
        }
        Value::Map(_) => "(details)".to_owned(),
        Value::Bytes(_) | Value::Function(..) => return None,
    };
    Some(s.chars().take(MAX_SHOWN).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_money_and_dates_read_naturally() {
        assert_eq!(int(67), "67");
        assert_eq!(int(2031), "2031");
        assert_eq!(int(12570), "12,570");
        assert_eq!(int(-1234567), "-1,234,567");
        assert_eq!(number(218.15).unwrap(), "218.15");
        assert_eq!(number(180.5).unwrap(), "180.5");
        assert_eq!(number(12570.0).unwrap(), "12,570");
        assert_eq!(number(-0.001).unwrap(), "0");
        assert!(number(f64::INFINITY).is_none());
        assert_eq!(money(180.0).unwrap(), "£180.00");
        assert_eq!(money(1234.567).unwrap(), "£1,234.57");
        assert_eq!(money(-5.0).unwrap(), "-£5.00");
        assert_eq!(money(0.0).unwrap(), "£0.00");
        assert!(money(f64::NAN).is_none());
        let d = parse_iso("1958-03-14").unwrap();
        assert_eq!(long_date(d), "14 March 1958");
        assert_eq!(iso(d), "1958-03-14");
        for bad in [
            "1958-02-30",
            "1958-3-14",
            "19580314",
            "1958-03-14T00",
            "abcd-ef-gh",
            "£958-03-14",
        ] {
            assert!(parse_iso(bad).is_none(), "{bad}");
        }
    }
}
