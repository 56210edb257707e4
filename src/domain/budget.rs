//! Budget periods on calendar boundaries at the configured `utc_offset`: when the
//! current period began and when it resets. Spend in a period is whatever was charged
//! since it began; nothing is deleted to reset it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use crate::config::UtcOffset;

/// How often a budget starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetPeriod {
    /// Every day at 00:00.
    Daily,
    /// Every Monday at 00:00.
    Weekly,
    /// The 1st of every month at 00:00.
    Monthly,
    /// Never: a lifetime budget.
    Lifetime,
}

impl BudgetPeriod {
    /// Parses LiteLLM's `budget_duration` spellings; `None`/empty = lifetime.
    pub fn parse(text: Option<&str>) -> Result<BudgetPeriod, String> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(BudgetPeriod::Lifetime);
        };
        match text.to_ascii_lowercase().as_str() {
            "1d" | "24h" | "daily" | "day" => Ok(BudgetPeriod::Daily),
            "7d" | "1w" | "weekly" | "week" => Ok(BudgetPeriod::Weekly),
            "30d" | "1mo" | "monthly" | "month" => Ok(BudgetPeriod::Monthly),
            "none" | "never" | "lifetime" => Ok(BudgetPeriod::Lifetime),
            other => Err(format!(
                "budget_duration `{other}` is not one of 1d, 7d, 30d, 1mo, daily, weekly, monthly or null"
            )),
        }
    }

    /// The stored spelling (`daily`, `weekly`, `monthly`) or `None` for lifetime.
    pub fn as_stored(self) -> Option<&'static str> {
        match self {
            BudgetPeriod::Daily => Some("daily"),
            BudgetPeriod::Weekly => Some("weekly"),
            BudgetPeriod::Monthly => Some("monthly"),
            BudgetPeriod::Lifetime => None,
        }
    }

    /// When the period containing `now` began (UTC). Lifetime: the epoch.
    pub fn start(self, now: DateTime<Utc>, offset: UtcOffset) -> DateTime<Utc> {
        let local = now.with_timezone(&offset.fixed()).date_naive();
        let day = match self {
            BudgetPeriod::Daily => local,
            BudgetPeriod::Weekly => {
                local - Duration::days(i64::from(local.weekday().num_days_from_monday()))
            }
            BudgetPeriod::Monthly => local.with_day(1).unwrap_or(local),
            BudgetPeriod::Lifetime => return DateTime::<Utc>::UNIX_EPOCH,
        };
        local_midnight(day, offset)
    }

    /// When the period containing `now` ends and the next begins; `None` for lifetime.
    pub fn reset_at(self, now: DateTime<Utc>, offset: UtcOffset) -> Option<DateTime<Utc>> {
        let start = self
            .start(now, offset)
            .with_timezone(&offset.fixed())
            .date_naive();
        let next = match self {
            BudgetPeriod::Daily => start + Duration::days(1),
            BudgetPeriod::Weekly => start + Duration::days(7),
            BudgetPeriod::Monthly => {
                let (y, m) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1)?
            }
            BudgetPeriod::Lifetime => return None,
        };
        Some(local_midnight(next, offset))
    }
}

/// 00:00 of `day` at `offset`, in UTC.
pub fn local_midnight(day: NaiveDate, offset: UtcOffset) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    offset
        .fixed()
        .from_local_datetime(&naive)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_litellm_durations() {
        assert_eq!(BudgetPeriod::parse(Some("30d")), Ok(BudgetPeriod::Monthly));
        assert_eq!(BudgetPeriod::parse(Some("1mo")), Ok(BudgetPeriod::Monthly));
        assert_eq!(
            BudgetPeriod::parse(Some("weekly")),
            Ok(BudgetPeriod::Weekly)
        );
        assert_eq!(BudgetPeriod::parse(Some("1d")), Ok(BudgetPeriod::Daily));
        assert_eq!(BudgetPeriod::parse(None), Ok(BudgetPeriod::Lifetime));
        assert!(BudgetPeriod::parse(Some("fortnight")).is_err());
    }

    #[test]
    fn periods_start_on_calendar_boundaries_at_the_offset() {
        let utc = UtcOffset::default();
        let now = at("2026-11-26T21:53:00Z"); // a Thursday
        assert_eq!(
            BudgetPeriod::Daily.start(now, utc),
            at("2026-11-26T00:00:00Z")
        );
        assert_eq!(
            BudgetPeriod::Weekly.start(now, utc),
            at("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            BudgetPeriod::Monthly.start(now, utc),
            at("2026-11-01T00:00:00Z")
        );
        assert_eq!(
            BudgetPeriod::Monthly.reset_at(now, utc),
            Some(at("2026-12-01T00:00:00Z"))
        );
        let beijing = UtcOffset::parse("+08:00").unwrap();
        // 21:53 UTC is already the 27th in Beijing.
        assert_eq!(
            BudgetPeriod::Daily.start(now, beijing),
            at("2026-11-26T16:00:00Z")
        );
        let dec = at("2026-12-31T20:00:00Z");
        assert_eq!(
            BudgetPeriod::Monthly.reset_at(dec, beijing),
            Some(at("2027-01-31T16:00:00Z"))
        );
        assert_eq!(BudgetPeriod::Lifetime.reset_at(now, utc), None);
    }
}
