//! The `usage_hourly` table: per-hour sums of the request log by key, user, team and
//! model, written by the ledger in the same transaction as the log rows. Usage pages,
//! exports and period spend read these instead of scanning the log.
//!
//! Reports read [`daily_cells`]: one row per local day × key × user × team × model, from
//! which the domain builds every total, breakdown and export row, so they all agree.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, Row};

use crate::money::Nanos;

/// Which entity column to sum over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendOf {
    /// `key_id`
    Key,
    /// `user_id`
    User,
    /// `team_id`
    Team,
}

/// Unix hour (seconds / 3600) of a unix-ms time.
pub fn hour_of_ms(ms: i64) -> i64 {
    ms.div_euclid(3_600_000)
}

/// What `entity` spent from `since_ms` on (a period start is always a whole hour).
pub fn spend_since(
    conn: &Connection,
    of: SpendOf,
    id: i64,
    since_ms: i64,
) -> rusqlite::Result<Nanos> {
    let sql = match of {
        SpendOf::Key => {
            "SELECT COALESCE(SUM(spend), 0) FROM usage_hourly WHERE key_id = ?1 AND hour >= ?2"
        }
        SpendOf::User => {
            "SELECT COALESCE(SUM(spend), 0) FROM usage_hourly WHERE user_id = ?1 AND hour >= ?2"
        }
        SpendOf::Team => {
            "SELECT COALESCE(SUM(spend), 0) FROM usage_hourly WHERE team_id = ?1 AND hour >= ?2"
        }
    };
    conn.query_row(sql, params![id, hour_of_ms(since_ms)], |r| {
        r.get::<_, i64>(0)
    })
    .map(Nanos)
}

/// Request counts, tokens and spend summed over some rollup rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sums {
    /// Requests (successes + failures).
    pub requests: i64,
    /// Successful requests.
    pub successes: i64,
    /// Failed or refused requests.
    pub failures: i64,
    /// Prompt (input) tokens.
    pub prompt_tokens: i64,
    /// Completion (output) tokens.
    pub completion_tokens: i64,
    /// Spend.
    pub spend: Nanos,
}

impl Sums {
    /// Adds `other` into `self` (saturating: sums never wrap).
    pub fn add(&mut self, other: &Sums) {
        self.requests = self.requests.saturating_add(other.requests);
        self.successes = self.successes.saturating_add(other.successes);
        self.failures = self.failures.saturating_add(other.failures);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(other.completion_tokens);
        self.spend = self.spend.saturating_add(other.spend);
    }

    /// Prompt + completion tokens.
    pub fn total_tokens(&self) -> i64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// Which rollup rows a report covers; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupFilter {
    /// Only this key.
    pub key_id: Option<i64>,
    /// Only this user.
    pub user_id: Option<i64>,
    /// Only this team.
    pub team_id: Option<i64>,
    /// Only this client-facing model name.
    pub model: Option<String>,
}

/// One local day of one key × user × team × model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCell {
    /// Days since 1970-01-01 at the report's offset.
    pub day: i64,
    /// Key (0 = none).
    pub key_id: i64,
    /// User (0 = none).
    pub user_id: i64,
    /// Team (0 = none).
    pub team_id: i64,
    /// Client-facing model name.
    pub model: String,
    /// The sums.
    pub sums: Sums,
}

fn cell_from_row(r: &Row<'_>) -> rusqlite::Result<DailyCell> {
    Ok(DailyCell {
        day: r.get(0)?,
        key_id: r.get(1)?,
        user_id: r.get(2)?,
        team_id: r.get(3)?,
        model: r.get(4)?,
        sums: Sums {
            requests: r.get(5)?,
            successes: r.get(6)?,
            failures: r.get(7)?,
            prompt_tokens: r.get(8)?,
            completion_tokens: r.get(9)?,
            spend: Nanos(r.get(10)?),
        },
    })
}

/// Sums of the hours `[from_hour, to_hour)` per local day (`offset_s` east of UTC, a
/// whole number of hours) × key × user × team × model, ordered by day.
pub fn daily_cells(
    conn: &Connection,
    from_hour: i64,
    to_hour: i64,
    offset_s: i64,
    filter: &RollupFilter,
) -> rusqlite::Result<Vec<DailyCell>> {
    // Only constant fragments are appended; every value is a bound parameter.
    let mut sql = String::from(
        "SELECT (hour * 3600 + ?1) / 86400 AS day, key_id, user_id, team_id, model, \
         SUM(requests), SUM(successes), SUM(failures), SUM(prompt_tokens), \
         SUM(completion_tokens), SUM(spend) \
         FROM usage_hourly WHERE hour >= ?2 AND hour < ?3",
    );
    let mut values = vec![
        Value::Integer(offset_s),
        Value::Integer(from_hour),
        Value::Integer(to_hour),
    ];
    let ids = [
        (filter.key_id, " AND key_id = ?"),
        (filter.user_id, " AND user_id = ?"),
        (filter.team_id, " AND team_id = ?"),
    ];
    for (id, fragment) in ids {
        if let Some(id) = id {
            sql.push_str(fragment);
            values.push(Value::Integer(id));
        }
    }
    if let Some(model) = &filter.model {
        sql.push_str(" AND model = ?");
        values.push(Value::Text(model.clone()));
    }
    sql.push_str(" GROUP BY day, key_id, user_id, team_id, model ORDER BY day");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), cell_from_row)?;
    rows.collect()
}
