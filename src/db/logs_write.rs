//! Ledger writes: one request's log row and its bodies, and a batch's hourly rollup
//! sums, executed inside the ledger thread's batch transaction.

use std::collections::HashMap;
use std::sync::LazyLock;

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
    /// The door: `acompletion`, `anthropic_messages`, … (LiteLLM's `call_type`).
    pub call_type: &'static str,
    /// The client's `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// The name the client sent, when it was an alias of `model`.
    pub requested_model: Option<String>,
    /// The budget charge this record settles (`Budgets::settle`; 0: none). Not stored:
    /// the ledger reports it back once the row is written.
    pub charge: u64,
}

/// The columns of a log row, in the order [`bind_row`] binds them.
const COLUMNS: &str = "request_id, start_ms, end_ms, key_id, user_id, team_id, model, provider, \
    deployment, success, http_status, error, prompt_tokens, completion_tokens, cached_tokens, cost, stream, \
    call_type, user_agent, requested_model";
const COLUMN_COUNT: usize = 20;
/// Rows per multi-row insert. Each execution of an insert opens cursors on the table
/// and on each of its indexes and closes them at the end; one statement for many rows
/// does that once for all of them.
const ROWS_PER_INSERT: usize = 32;

fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLUMN_COUNT].join(", "));
    format!(
        "INSERT INTO request_logs ({COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// The one-row and the multi-row insert, written once.
static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));
static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));

/// Binds `r` to the parameters after `offset`.
fn bind_row(
    stmt: &mut rusqlite::CachedStatement<'_>,
    offset: usize,
    r: &LogRecord,
) -> rusqlite::Result<()> {
    let mut at = offset;
    let mut bind = |value: &dyn rusqlite::ToSql| {
        at += 1;
        stmt.raw_bind_parameter(at, value)
    };
    bind(&r.request_id)?;
    bind(&r.start_ms)?;
    bind(&r.end_ms)?;
    bind(&r.key_id)?;
    bind(&r.user_id)?;
    bind(&r.team_id)?;
    bind(&r.model)?;
    bind(&r.provider)?;
    bind(&r.deployment)?;
    bind(&r.success)?;
    bind(&r.http_status)?;
    bind(&r.error)?;
    bind(&(r.prompt_tokens as i64))?;
    bind(&(r.completion_tokens as i64))?;
    bind(&(r.cached_tokens as i64))?;
    bind(&r.cost)?;
    bind(&r.stream)?;
    bind(&if r.call_type.is_empty() {
        "acompletion"
    } else {
        r.call_type
    })?;
    bind(&r.user_agent)?;
    bind(&r.requested_model)
}

/// Writes log rows (and their bodies) inside one batch transaction.
pub struct LogInserter<'t> {
    tx: &'t Transaction<'t>,
}

impl<'t> LogInserter<'t> {
    /// An inserter for this transaction.
    pub fn new(tx: &'t Transaction<'t>) -> LogInserter<'t> {
        LogInserter { tx }
    }

    /// Writes the rows and bodies of `records` in order (their rollups go through
    /// [`Rollups`]). Runs of rows without bodies go [`ROWS_PER_INSERT`] to a statement.
    pub fn insert_all(&mut self, records: &[LogRecord]) -> rusqlite::Result<()> {
        let mut rest = records;
        while let Some(first) = rest.first() {
            let run = rest
                .iter()
                .take(ROWS_PER_INSERT)
                .take_while(|r| r.request_body.is_none() && r.response_body.is_none())
                .count();
            if run == ROWS_PER_INSERT {
                let mut stmt = self.tx.prepare_cached(&INSERT_MANY)?;
                for (i, r) in rest[..run].iter().enumerate() {
                    bind_row(&mut stmt, i * COLUMN_COUNT, r)?;
                }
                stmt.raw_execute()?;
                rest = &rest[run..];
            } else {
                self.insert(first)?;
                rest = &rest[1..];
            }
        }
        Ok(())
    }

    /// Writes the row and the bodies of one request.
    pub fn insert(&mut self, r: &LogRecord) -> rusqlite::Result<()> {
        let mut stmt = self.tx.prepare_cached(&INSERT_ONE)?;
        bind_row(&mut stmt, 0, r)?;
        stmt.raw_execute()?;
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
    fn a_batch_is_written_in_order_with_every_column_and_its_bodies() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        // Two full multi-row runs, a row with a body between them, and a short tail.
        let records: Vec<LogRecord> = (0..75)
            .map(|i| LogRecord {
                request_id: format!("req_{i:03}"),
                start_ms: 1_000 + i,
                end_ms: 2_000 + i,
                key_id: i % 3,
                user_id: i % 5,
                team_id: i % 7,
                model: format!("m{i}"),
                provider: "openai".into(),
                deployment: i % 2,
                success: i % 4 != 0,
                http_status: if i % 4 == 0 { 502 } else { 200 },
                error: (i % 4 == 0).then(|| format!("e{i}")),
                prompt_tokens: i as u64,
                completion_tokens: 2 * i as u64,
                cached_tokens: 3 * i as u64,
                cost: 10 * i,
                stream: i % 2 == 1,
                request_body: (i == 40).then(|| "{\"q\":1}".into()),
                response_body: (i == 40).then(|| "answer".into()),
                call_type: if i % 2 == 0 {
                    "acompletion"
                } else {
                    "anthropic_messages"
                },
                user_agent: Some(format!("ua/{i}")),
                requested_model: (i == 3).then(|| "alias-3".into()),
                charge: 0,
            })
            .collect();
        LogInserter::new(&tx).insert_all(&records).unwrap();
        tx.commit().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT request_id, start_ms, end_ms, key_id, user_id, team_id, model, provider,
                    deployment, success, http_status, error, prompt_tokens, completion_tokens,
                    cached_tokens, cost, stream, call_type, user_agent, requested_model
                 FROM request_logs ORDER BY id",
            )
            .unwrap();
        let stored: Vec<LogRecord> = stmt
            .query_map([], |row| {
                Ok(LogRecord {
                    request_id: row.get(0)?,
                    start_ms: row.get(1)?,
                    end_ms: row.get(2)?,
                    key_id: row.get(3)?,
                    user_id: row.get(4)?,
                    team_id: row.get(5)?,
                    model: row.get(6)?,
                    provider: row.get(7)?,
                    deployment: row.get(8)?,
                    success: row.get(9)?,
                    http_status: row.get(10)?,
                    error: row.get(11)?,
                    prompt_tokens: row.get::<_, i64>(12)? as u64,
                    completion_tokens: row.get::<_, i64>(13)? as u64,
                    cached_tokens: row.get::<_, i64>(14)? as u64,
                    cost: row.get(15)?,
                    stream: row.get(16)?,
                    call_type: match row.get::<_, String>(17)?.as_str() {
                        "anthropic_messages" => "anthropic_messages",
                        "acompletion" => "acompletion",
                        _ => "other",
                    },
                    user_agent: row.get(18)?,
                    requested_model: row.get(19)?,
                    ..LogRecord::default()
                })
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(stored.len(), records.len());
        for (got, want) in stored.iter().zip(&records) {
            let want = LogRecord {
                request_body: None,
                response_body: None,
                ..want.clone()
            };
            assert_eq!(format!("{got:?}"), format!("{want:?}"));
        }
        let (request, body_of): (String, String) = conn
            .query_row(
                "SELECT b.request, l.request_id FROM request_bodies b
                 JOIN request_logs l ON l.id = b.log_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (request.as_str(), body_of.as_str()),
            ("{\"q\":1}", "req_040")
        );
    }

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
            LogInserter::new(&tx).insert(&r).unwrap();
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
