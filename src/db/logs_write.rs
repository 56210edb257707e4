//! Ledger writes: one request's log row and its bodies, and a batch's hourly rollup
//! sums, executed inside the ledger thread's batch transaction.

use std::collections::HashMap;

use rusqlite::{params, Transaction};

use super::rollups::hour_of_ms;

/// One finished request, as stored.
#[derive(Debug, Clone, Default)]
pub struct LogRecord {
    pub request_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub key_id: i64,
    pub user_id: i64,
    pub team_id: i64,
    pub model: String,
    pub provider: String,
    pub deployment: i64,
    pub success: bool,
    pub http_status: u16,
    pub error: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// nano-USD
    pub cost: i64,
    pub stream: bool,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// Writes log rows (and their bodies) inside one batch transaction; the statements
/// are prepared once per batch, not looked up in the statement cache per row.
pub struct LogInserter<'t> {
    tx: &'t Transaction<'t>,
    row: rusqlite::CachedStatement<'t>,
}

impl<'t> LogInserter<'t> {
    /// Prepares the row insert for this transaction.
    pub fn new(tx: &'t Transaction<'t>) -> rusqlite::Result<LogInserter<'t>> {
        let row = tx.prepare_cached(
            "INSERT INTO request_logs (request_id, start_ms, end_ms, key_id, user_id, team_id, model, provider,
                deployment, success, http_status, error, prompt_tokens, completion_tokens, cached_tokens, cost, stream)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?;
        Ok(LogInserter { tx, row })
    }

    /// Writes the row and the bodies of one request (its rollup goes through [`Rollups`]).
    pub fn insert(&mut self, r: &LogRecord) -> rusqlite::Result<()> {
        self.row.execute(params![
            r.request_id,
            r.start_ms,
            r.end_ms,
            r.key_id,
            r.user_id,
            r.team_id,
            r.model,
            r.provider,
            r.deployment,
            r.success,
            r.http_status,
            r.error,
            r.prompt_tokens as i64,
            r.completion_tokens as i64,
            r.cached_tokens as i64,
            r.cost,
            r.stream
        ])?;
        if r.request_body.is_some() || r.response_body.is_some() {
            let id = self.tx.last_insert_rowid();
            self.tx
                .prepare_cached(
                    "INSERT INTO request_bodies (log_id, request, response) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![id, r.request_body, r.response_body])?;
        }
        Ok(())
    }
}

/// The `usage_hourly` primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RollupKey {
    hour: i64,
    key_id: i64,
    user_id: i64,
    team_id: i64,
    model: String,
}

#[derive(Debug, Clone, Copy, Default)]
struct RollupSums {
    requests: i64,
    successes: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    spend: i64,
}

/// The rollup sums of one batch, summed in memory so a batch issues one upsert per
/// (hour, key, user, team, model) instead of one per request.
#[derive(Debug, Default)]
pub struct Rollups {
    sums: HashMap<RollupKey, RollupSums>,
}

impl Rollups {
    /// Counts one request.
    pub fn add(&mut self, r: &LogRecord) {
        let key = RollupKey {
            hour: hour_of_ms(r.start_ms),
            key_id: r.key_id,
            user_id: r.user_id,
            team_id: r.team_id,
            model: r.model.clone(),
        };
        let s = self.sums.entry(key).or_default();
        s.requests += 1;
        s.successes += i64::from(r.success);
        s.prompt_tokens += r.prompt_tokens as i64;
        s.completion_tokens += r.completion_tokens as i64;
        s.spend += r.cost;
    }

    /// Adds the sums to `usage_hourly` and to `usage_daily` (days at `offset_s`).
    pub fn write(&self, tx: &Transaction<'_>, offset_s: i64) -> rusqlite::Result<()> {
        self.upsert(tx, "usage_hourly", "hour", |hour| hour)?;
        self.upsert(tx, "usage_daily", "day", |hour| {
            super::rollups::day_of_hour(hour, offset_s)
        })
    }

    /// Adds the sums to one rollup table, keyed by `period_of(hour)`.
    fn upsert(
        &self,
        tx: &Transaction<'_>,
        table: &str,
        period: &str,
        period_of: impl Fn(i64) -> i64,
    ) -> rusqlite::Result<()> {
        let mut stmt = tx.prepare_cached(&super::rollups::upsert_sql(table, period))?;
        for (k, s) in &self.sums {
            stmt.execute(params![
                period_of(k.hour),
                k.key_id,
                k.user_id,
                k.team_id,
                k.model,
                s.requests,
                s.successes,
                s.requests - s.successes,
                s.prompt_tokens,
                s.completion_tokens,
                s.spend
            ])?;
        }
        Ok(())
    }
}

/// Marks a key as used at `at_ms`.
pub fn touch_key(tx: &Transaction<'_>, key_id: i64, at_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2) WHERE id = ?1",
    )?
    .execute(params![key_id, at_ms])?;
    Ok(())
}

/// Deletes log rows (and their bodies) that started before `before_ms`, at most
/// `limit` per call so the writer never holds a long transaction. Rollups are kept.
pub fn prune(conn: &rusqlite::Connection, before_ms: i64, limit: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM request_logs WHERE id IN
            (SELECT id FROM request_logs WHERE start_ms < ?1 ORDER BY start_ms LIMIT ?2)",
        params![before_ms, limit],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_drops_old_rows_and_bodies_but_keeps_rollups() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let mut rollups = Rollups::default();
        for (id, start) in [("old", 1_000), ("new", 10_000_000)] {
            let r = LogRecord {
                request_id: id.into(),
                start_ms: start,
                end_ms: start,
                model: "m".into(),
                success: true,
                http_status: 200,
                cost: 5,
                request_body: Some("{}".into()),
                ..LogRecord::default()
            };
            LogInserter::new(&tx).unwrap().insert(&r).unwrap();
            rollups.add(&r);
        }
        rollups.write(&tx, 0).unwrap();
        tx.commit().unwrap();
        assert_eq!(prune(&conn, 5_000, 100).unwrap(), 1);
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM request_logs"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM request_bodies"), 1);
        assert_eq!(count("SELECT SUM(spend) FROM usage_hourly"), 10);
    }
}
