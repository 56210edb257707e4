//! Date ranges of reports (/usage, /logs, exports): strict `YYYY-MM-DD` parsing, the
//! presets (today, this/last week, this/last month), and conversion to the unix hours
//! and milliseconds the rollups and logs are keyed by — all at the configured
//! `utc_offset`, which is a whole number of hours, so local days are exact sums of hours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::budget::local_midnight;
use super::DomainError;
use crate::config::UtcOffset;

/// An inclusive range of local calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// First day.
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
}

/// Named ranges offered by the pages and the export dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Today.
    Today,
    /// Monday of this week to today's week end (Sunday).
    ThisWeek,
    /// The whole previous week.
    LastWeek,
    /// The whole current month.
    ThisMonth,
    /// The whole previous month.
    LastMonth,
}

/// Parses a strict `YYYY-MM-DD` date; `field` names the parameter in the error.
pub fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, DomainError> {
    let text = text.trim();
    let shaped = text.len() == 10
        && text.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    let date = shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten();
    date.ok_or_else(|| {
        DomainError::invalid(
            field,
            format!("{field} must be a date like 2025-01-31 (YYYY-MM-DD), got `{text}`"),
        )
    })
}

/// Parses an optional row id (a filter); empty means none, anything else must be a
/// non-negative integer.
pub fn parse_id(field: &'static str, text: &str) -> Result<Option<i64>, DomainError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .map(Some)
        .ok_or_else(|| DomainError::invalid(field, format!("{field} must be a number")))
}

impl DateRange {
    /// Parses and checks `start_date` / `end_date`: both valid, start ≤ end, and at most
    /// `max_days` days long.
    pub fn parse(start: &str, end: &str, max_days: u32) -> Result<DateRange, DomainError> {
        let range = DateRange {
            start: parse_date("start_date", start)?,
            end: parse_date("end_date", end)?,
        };
        range.check(max_days)?;
        Ok(range)
    }

    /// Refuses a reversed range or one longer than `max_days` days.
    pub fn check(&self, max_days: u32) -> Result<(), DomainError> {
        if self.end < self.start {
            return Err(DomainError::invalid(
                "end_date",
                format!("end_date {} is before start_date {}", self.end, self.start),
            ));
        }
        if self.days() > i64::from(max_days) {
            return Err(DomainError::invalid(
                "end_date",
                format!(
                    "the range covers {} days; at most {max_days} are allowed",
                    self.days()
                ),
            ));
        }
        Ok(())
    }

    /// The named range around `now`.
    pub fn preset(preset: Preset, now: DateTime<Utc>, offset: UtcOffset) -> DateRange {
        let today = now.with_timezone(&offset.fixed()).date_naive();
        let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        let first = today.with_day(1).unwrap_or(today);
        let (start, end) = match preset {
            Preset::Today => (today, today),
            Preset::ThisWeek => (monday, monday + Duration::days(6)),
            Preset::LastWeek => (monday - Duration::days(7), monday - Duration::days(1)),
            Preset::ThisMonth => (first, next_month(first) - Duration::days(1)),
            Preset::LastMonth => {
                let last = first - Duration::days(1);
                (last.with_day(1).unwrap_or(last), last)
            }
        };
        DateRange { start, end }
    }

    /// Number of days, both ends included.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// Every day of the range, in order.
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> {
        let start = self.start;
        (0..self.days().max(0)).map(move |i| start + Duration::days(i))
    }

    /// `[from, to)` in unix milliseconds.
    pub fn ms(&self, offset: UtcOffset) -> (i64, i64) {
        let from = local_midnight(self.start, offset).timestamp_millis();
        let to = local_midnight(self.end + Duration::days(1), offset).timestamp_millis();
        (from, to)
    }

    /// `[from, to)` in unix hours (rollup keys).
    pub fn hours(&self, offset: UtcOffset) -> (i64, i64) {
        let (from, to) = self.ms(offset);
        (from.div_euclid(3_600_000), to.div_euclid(3_600_000))
    }
}

fn next_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(first)
}

/// The local date of a rollup day number (days since 1970-01-01 at the offset).
pub fn date_of_day(day: i64) -> NaiveDate {
    NaiveDate::default() + Duration::days(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(
            parse_date("start_date", "2025-01-31").unwrap(),
            d("2025-01-31")
        );
        for bad in [
            "2025-1-31",
            "2025-02-30",
            "31-01-2025",
            "",
            "2025-01-31'--",
            "２０２５-01-01",
        ] {
            assert!(parse_date("start_date", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_refuse_reversed_and_too_long() {
        assert!(DateRange::parse("2025-01-02", "2025-01-01", 400).is_err());
        assert!(DateRange::parse("2025-01-01", "2025-01-31", 30).is_err());
        let ok = DateRange::parse("2025-01-01", "2025-01-31", 31).unwrap();
        assert_eq!(ok.days(), 31);
        assert_eq!(ok.each_day().count(), 31);
    }

    #[test]
    fn presets_follow_the_calendar_at_the_offset() {
        let now = DateTime::parse_from_rfc3339("2025-03-05T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc); // Wednesday; already Thursday the 6th in Beijing
        let utc = UtcOffset::default();
        let bj = UtcOffset::parse("+08:00").unwrap();
        let r = |p, o| DateRange::preset(p, now, o);
        assert_eq!(r(Preset::Today, bj).start, d("2025-03-06"));
        assert_eq!(
            r(Preset::ThisWeek, utc),
            DateRange {
                start: d("2025-03-03"),
                end: d("2025-03-09")
            }
        );
        assert_eq!(
            r(Preset::LastWeek, utc),
            DateRange {
                start: d("2025-02-24"),
                end: d("2025-03-02")
            }
        );
        assert_eq!(
            r(Preset::ThisMonth, utc),
            DateRange {
                start: d("2025-03-01"),
                end: d("2025-03-31")
            }
        );
        assert_eq!(
            r(Preset::LastMonth, utc),
            DateRange {
                start: d("2025-02-01"),
                end: d("2025-02-28")
            }
        );
    }

    #[test]
    fn local_days_map_to_whole_hours() {
        let bj = UtcOffset::parse("+08:00").unwrap();
        let r = DateRange {
            start: d("2025-01-01"),
            end: d("2025-01-01"),
        };
        let (from, to) = r.hours(bj);
        assert_eq!(to - from, 24);
        assert_eq!(from * 3600, 1_735_660_800); // 2024-12-31T16:00:00Z
        assert_eq!(
            date_of_day((from * 3600 + 8 * 3600) / 86400),
            d("2025-01-01")
        );
    }
}
