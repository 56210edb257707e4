//! How pages print money, counts and times (templates never format).

use chrono::{TimeZone, Utc};

use crate::config::UtcOffset;
use crate::money::Nanos;

/// `$12.34` from one dollar up, `$0.001235` below (single requests cost fractions of a cent).
pub fn usd(n: Nanos) -> String {
    let decimals = if n.0.abs() >= crate::money::NANOS_PER_USD {
        2
    } else {
        6
    };
    format!("${}", n.format_usd(decimals))
}

/// Short USD for chart labels: 6 decimals at most, trailing zeros dropped (`$0.0025`, `$10`).
pub fn usd_short(n: Nanos) -> String {
    let text = n.format_usd(6);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("${text}")
}

/// `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// `2025-01-31 14:05:09.123` at the configured offset.
pub fn datetime(ms: i64, offset: UtcOffset) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| {
            t.with_timezone(&offset.fixed())
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_default()
}

/// `1.234 s` or `850 ms`.
pub fn latency(ms: i64) -> String {
    if ms >= 1000 {
        format!("{:.3} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// A query string from pairs, percent-encoding every value; empty values are left out.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (a path segment or
/// query value).
pub fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_for_people() {
        assert_eq!(usd(Nanos(1_234_567)), "$0.001235");
        assert_eq!(usd(Nanos(12_345_000_000)), "$12.35");
        assert_eq!(usd_short(Nanos(2_500_000)), "$0.0025");
        assert_eq!(usd_short(Nanos(10_000_000_000)), "$10");
        assert_eq!(usd_short(Nanos(0)), "$0");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(count(-1000), "-1,000");
        let bj = UtcOffset::parse("+08:00").unwrap();
        assert_eq!(datetime(0, bj), "1970-01-01 08:00:00.000");
        assert_eq!(latency(850), "850 ms");
        assert_eq!(latency(1234), "1.234 s");
        assert_eq!(
            query(&[("view", "week"), ("model", "a&b c"), ("key_id", "")]),
            "?view=week&model=a%26b%20c"
        );
        assert_eq!(query(&[("x", "")]), "");
    }
}
