//! The `usage_hourly` table: per-hour sums of the request log by key, user, team and
//! model, written by the ledger in the same transaction as the log rows. Usage pages,
//! exports and period spend read these instead of scanning the log.
//!
//! Reports read [`daily_cells`]: one row per local day × key × user × team × model, from
//! which the domain builds every total, breakdown and export row, so they all agree.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Reads a row into `cell`, reusing its model string's allocation.
fn read_cell(r: &Row<'_>, cell: &mut DailyCell) -> rusqlite::Result<()> {
    cell.day = r.get(0)?;
    cell.key_id = r.get(1)?;
    cell.user_id = r.get(2)?;
    cell.team_id = r.get(3)?;
    cell.model.clear();
    cell.model.push_str(r.get_ref(4)?.as_str()?);
    cell.sums = Sums {
        requests: r.get(5)?,
        successes: r.get(6)?,
        failures: r.get(7)?,
        prompt_tokens: r.get(8)?,
        completion_tokens: r.get(9)?,
        spend: Nanos(r.get(10)?),
    };
    Ok(())
}

/// The offset `usage_daily` was built at, if it was.
fn daily_offset(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM app_secrets WHERE name = 'daily_offset_s'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()))
}

/// Local day number (days since 1970-01-01 at `offset_s`) of a unix hour.
pub fn day_of_hour(hour: i64, offset_s: i64) -> i64 {
    (hour * 3600 + offset_s).div_euclid(86_400)
}

/// The upsert that adds one batch's sums to a rollup table (`usage_hourly` by `hour`,
/// `usage_daily` by `day`).
pub fn upsert_sql(table: &str, period: &str) -> String {
    format!(
        "INSERT INTO {table} ({period}, key_id, user_id, team_id, model, requests, successes, failures,
            prompt_tokens, completion_tokens, spend)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT ({period}, key_id, user_id, team_id, model) DO UPDATE SET
            requests = requests + excluded.requests, successes = successes + excluded.successes,
            failures = failures + excluded.failures, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
            completion_tokens = completion_tokens + excluded.completion_tokens, spend = spend + excluded.spend"
    )
}

/// Makes `usage_daily` agree with `usage_hourly` at `offset_s`: rebuilt when the
/// offset changed since it was built or the two disagree (rows written by an older
/// version or by hand). Returns whether it rebuilt. Run at start, before the ledger.
pub fn sync_daily(conn: &mut Connection, offset_s: i64) -> rusqlite::Result<bool> {
    let sums = |table: &str| -> rusqlite::Result<(i64, i64)> {
        conn.query_row(
            &format!("SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(spend), 0) FROM {table}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    };
    if daily_offset(conn)? == Some(offset_s) && sums("usage_hourly")? == sums("usage_daily")? {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM usage_daily", [])?;
    tx.execute(
        "INSERT INTO usage_daily (day, key_id, user_id, team_id, model, requests, successes, failures,
            prompt_tokens, completion_tokens, spend)
         SELECT (hour * 3600 + ?1) / 86400, key_id, user_id, team_id, model, SUM(requests), SUM(successes),
            SUM(failures), SUM(prompt_tokens), SUM(completion_tokens), SUM(spend)
         FROM usage_hourly GROUP BY 1, key_id, user_id, team_id, model",
        [offset_s],
    )?;
    tx.execute(
        "INSERT INTO app_secrets (name, value) VALUES ('daily_offset_s', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [offset_s.to_string()],
    )?;
    tx.commit()?;
    Ok(true)
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
    let mut cells = Vec::new();
    for_each_daily_cell(conn, from_hour, to_hour, offset_s, filter, |c| {
        cells.push(c.clone())
    })?;
    Ok(cells)
}

/// Like [`daily_cells`], handing each cell to `f` as it is read: a month of a thousand
/// keys is summed without building (and allocating) every cell.
pub fn for_each_daily_cell(
    conn: &Connection,
    from_hour: i64,
    to_hour: i64,
    offset_s: i64,
    filter: &RollupFilter,
    mut f: impl FnMut(&DailyCell),
) -> rusqlite::Result<()> {
    // Whole local days read the daily table (kept at the configured offset); any other
    // range sums the hours. Only constant fragments are appended; values are bound.
    let whole_days =
        (from_hour * 3600 + offset_s) % 86_400 == 0 && (to_hour * 3600 + offset_s) % 86_400 == 0;
    let from_daily = whole_days && daily_offset(conn)? == Some(offset_s);
    let (mut sql, mut values) = if from_daily {
        (
            String::from(
                "SELECT day, key_id, user_id, team_id, model, requests, successes, failures, \
                 prompt_tokens, completion_tokens, spend FROM usage_daily WHERE day >= ?1 AND day < ?2",
            ),
            vec![Value::Integer(day_of_hour(from_hour, offset_s)), Value::Integer(day_of_hour(to_hour, offset_s))],
        )
    } else {
        (
            String::from(
                "SELECT (hour * 3600 + ?1) / 86400 AS day, key_id, user_id, team_id, model, \
                 SUM(requests), SUM(successes), SUM(failures), SUM(prompt_tokens), \
                 SUM(completion_tokens), SUM(spend) \
                 FROM usage_hourly WHERE hour >= ?2 AND hour < ?3",
            ),
            vec![
                Value::Integer(offset_s),
                Value::Integer(from_hour),
                Value::Integer(to_hour),
            ],
        )
    };
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
    sql.push_str(if from_daily {
        " ORDER BY day"
    } else {
        " GROUP BY day, key_id, user_id, team_id, model ORDER BY day"
    });
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let mut cell = DailyCell::default();
    while let Some(row) = rows.next()? {
        read_cell(row, &mut cell)?;
        f(&cell);
    }
    Ok(())
}

#[cfg(test)]
mod daily_tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        // 12:00 and 20:00 UTC of day 20600: one day in UTC, two days in Beijing (+08:00).
        for hour in [20_600_i64 * 24 + 12, 20_600 * 24 + 20] {
            conn.execute(
                "INSERT INTO usage_hourly (hour, key_id, user_id, team_id, model, requests, successes, spend)
                 VALUES (?1, 1, 0, 0, 'm', 1, 1, 10)",
                [hour],
            )
            .unwrap();
        }
        conn
    }

    fn days(conn: &Connection) -> Vec<(i64, i64)> {
        let mut stmt = conn
            .prepare("SELECT day, requests FROM usage_daily ORDER BY day")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn daily_rollups_follow_the_offset_and_rebuild_only_when_needed() {
        let mut conn = db();
        assert!(sync_daily(&mut conn, 0).unwrap());
        assert_eq!(days(&conn), vec![(20_600, 2)]);
        assert!(!sync_daily(&mut conn, 0).unwrap(), "in sync: nothing to do");
        assert!(sync_daily(&mut conn, 8 * 3600).unwrap());
        assert_eq!(days(&conn), vec![(20_600, 1), (20_601, 1)]);
        let cells = daily_cells(
            &conn,
            20_600 * 24 - 8,
            20_602 * 24 - 8,
            8 * 3600,
            &RollupFilter::default(),
        )
        .unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!(cells.iter().map(|c| c.sums.requests).sum::<i64>(), 2);
    }
}
