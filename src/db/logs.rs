//! Reading the `request_logs` table (the ledger writes it): newest-first pages by
//! `(start_ms, id)` keyset, one entry by request id, stored bodies, and the secret that
//! signs page cursors. Rows come back with the names of their key, user and team.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};

use crate::money::Nanos;

/// Which log rows to list; `None` = any. Times are unix ms, `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this key.
    pub key_id: Option<i64>,
    /// Only this user.
    pub user_id: Option<i64>,
    /// Only this team.
    pub team_id: Option<i64>,
    /// Only this client-facing model.
    pub model: Option<String>,
    /// Only successes (`true`) or failures (`false`).
    pub success: Option<bool>,
    /// Started at or after.
    pub from_ms: Option<i64>,
    /// Started before.
    pub to_ms: Option<i64>,
}

/// A position in the newest-first order: rows strictly older than this come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// `start_ms` of the last row shown.
    pub start_ms: i64,
    /// `id` of the last row shown.
    pub id: i64,
}

/// One request, with the names of its key, user and team when they still exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// Row id.
    pub id: i64,
    /// `x-request-id`.
    pub request_id: String,
    /// Start, unix ms.
    pub start_ms: i64,
    /// End, unix ms.
    pub end_ms: i64,
    /// Key (0 = none, e.g. an unknown key).
    pub key_id: i64,
    /// User (0 = none).
    pub user_id: i64,
    /// Team (0 = none).
    pub team_id: i64,
    /// Client-facing model name.
    pub model: String,
    /// Provider that served it.
    pub provider: String,
    /// Index of the deployment (-1 = none).
    pub deployment: i64,
    /// Success?
    pub success: bool,
    /// HTTP status returned to the client.
    pub http_status: i64,
    /// Error message, if failed.
    pub error: Option<String>,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cached prompt tokens.
    pub cached_tokens: i64,
    /// Cost charged.
    pub cost: Nanos,
    /// Streamed?
    pub stream: bool,
    /// The key's alias.
    pub key_alias: Option<String>,
    /// The key's hash (LiteLLM's `token`).
    pub key_token: Option<String>,
    /// The user's username.
    pub username: Option<String>,
    /// The team's public id.
    pub team_public_id: Option<String>,
    /// The team's alias.
    pub team_alias: Option<String>,
}

const SELECT: &str = "SELECT l.id, l.request_id, l.start_ms, l.end_ms, l.key_id, l.user_id, \
     l.team_id, l.model, l.provider, l.deployment, l.success, l.http_status, l.error, \
     l.prompt_tokens, l.completion_tokens, l.cached_tokens, l.cost, l.stream, \
     k.alias, k.token, u.username, t.team_id, t.alias \
     FROM request_logs l \
     LEFT JOIN keys k ON k.id = l.key_id \
     LEFT JOIN users u ON u.id = l.user_id \
     LEFT JOIN teams t ON t.id = l.team_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<LogRow> {
    Ok(LogRow {
        id: r.get(0)?,
        request_id: r.get(1)?,
        start_ms: r.get(2)?,
        end_ms: r.get(3)?,
        key_id: r.get(4)?,
        user_id: r.get(5)?,
        team_id: r.get(6)?,
        model: r.get(7)?,
        provider: r.get(8)?,
        deployment: r.get(9)?,
        success: r.get(10)?,
        http_status: r.get(11)?,
        error: r.get(12)?,
        prompt_tokens: r.get(13)?,
        completion_tokens: r.get(14)?,
        cached_tokens: r.get(15)?,
        cost: Nanos(r.get(16)?),
        stream: r.get(17)?,
        key_alias: r.get(18)?,
        key_token: r.get(19)?,
        username: r.get(20)?,
        team_public_id: r.get(21)?,
        team_alias: r.get(22)?,
    })
}

/// `SELECT … WHERE` for `filter`, with its bound values. Only constant fragments are
/// appended; every value is a bound parameter.
fn conditions(filter: &LogFilter) -> (String, Vec<Value>) {
    let mut sql = String::from(SELECT);
    sql.push_str(" WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    let ids = [
        (filter.key_id, " AND l.key_id = ?"),
        (filter.user_id, " AND l.user_id = ?"),
        (filter.team_id, " AND l.team_id = ?"),
        (filter.from_ms, " AND l.start_ms >= ?"),
        (filter.to_ms, " AND l.start_ms < ?"),
        (filter.success.map(i64::from), " AND l.success = ?"),
    ];
    for (value, fragment) in ids {
        if let Some(v) = value {
            sql.push_str(fragment);
            values.push(Value::Integer(v));
        }
    }
    if let Some(model) = &filter.model {
        sql.push_str(" AND l.model = ?");
        values.push(Value::Text(model.clone()));
    }
    (sql, values)
}

/// Up to `limit` rows matching `filter`, newest first (by start, then id), strictly
/// after `after`. Keyset pagination: page 1000 costs what page 1 costs.
pub fn page(
    conn: &Connection,
    filter: &LogFilter,
    after: Option<LogPosition>,
    limit: u32,
) -> rusqlite::Result<Vec<LogRow>> {
    let (mut sql, mut values) = conditions(filter);
    let mut add = |fragment: &str, value: Value| {
        sql.push_str(fragment);
        values.push(value);
    };
    if let Some(pos) = after {
        // `start_ms <= ?` gives the index a range; the OR only breaks ties.
        add(" AND l.start_ms <= ?", Value::Integer(pos.start_ms));
        add(" AND (l.start_ms < ?", Value::Integer(pos.start_ms));
        add(" OR l.id < ?)", Value::Integer(pos.id));
    }
    add(
        " ORDER BY l.start_ms DESC, l.id DESC LIMIT ?",
        Value::Integer(i64::from(limit)),
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), from_row)?;
    rows.collect()
}

/// The row with this request id.
pub fn by_request_id(conn: &Connection, request_id: &str) -> rusqlite::Result<Option<LogRow>> {
    let mut sql = String::from(SELECT);
    sql.push_str(" WHERE l.request_id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([request_id], from_row)
        .optional()
}

/// Stored request and response bodies of log row `log_id` (only with `store_bodies`).
pub fn bodies(
    conn: &Connection,
    log_id: i64,
) -> rusqlite::Result<Option<(Option<String>, Option<String>)>> {
    conn.prepare_cached("SELECT request, response FROM request_bodies WHERE log_id = ?1")?
        .query_row([log_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// The secret that signs log page cursors (created by migration 2).
pub fn cursor_secret(conn: &Connection) -> rusqlite::Result<String> {
    conn.prepare_cached("SELECT value FROM app_secrets WHERE name = 'log_cursor'")?
        .query_row([], |r| r.get(0))
}
