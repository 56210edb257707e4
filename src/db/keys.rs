//! The `keys` table: virtual API keys, stored only as the SHA-256 of the secret
//! (`token`), with their budget, model list, expiry and block flag. Also the
//! allocation sums behind a team's or a user's remaining budget.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::rollups::hour_of_ms;
use crate::money::Nanos;

/// A stored key.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// Row id (used in usage rollups).
    pub id: i64,
    /// SHA-256 hex of the secret (LiteLLM's `token`).
    pub token: String,
    /// Display name.
    pub alias: String,
    /// Last four characters of the secret, for the masked form.
    pub last4: String,
    /// Owning user.
    pub user_id: Option<i64>,
    /// Team row id.
    pub team_id: Option<i64>,
    /// Budget per period.
    pub max_budget: Option<Nanos>,
    /// Stored period or none.
    pub budget_duration: Option<String>,
    /// Allowed models as JSON array text; `[]` = all.
    pub models: String,
    /// Expiry, unix ms; `None` = never.
    pub expires_at: Option<i64>,
    /// Blocked keys are refused.
    pub blocked: bool,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last proxied request, unix ms.
    pub last_used_at: Option<i64>,
    /// Requests per minute allowed.
    pub rpm: Option<i64>,
    /// Tokens per minute allowed.
    pub tpm: Option<i64>,
}

const COLUMNS: &str = "id, token, alias, last4, user_id, team_id, max_budget, budget_duration, \
                       models, expires_at, blocked, created_at, last_used_at, rpm, tpm";

fn from_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        id: r.get(0)?,
        token: r.get(1)?,
        alias: r.get(2)?,
        last4: r.get(3)?,
        user_id: r.get(4)?,
        team_id: r.get(5)?,
        max_budget: r.get::<_, Option<i64>>(6)?.map(Nanos),
        budget_duration: r.get(7)?,
        models: r.get(8)?,
        expires_at: r.get(9)?,
        blocked: r.get(10)?,
        created_at: r.get(11)?,
        last_used_at: r.get(12)?,
        rpm: r.get(13)?,
        tpm: r.get(14)?,
    })
}

/// The settable fields of a key (the secret is set apart).
pub struct KeyFields<'a> {
    /// Display name.
    pub alias: &'a str,
    /// Owning user.
    pub user_id: Option<i64>,
    /// Team row id.
    pub team_id: Option<i64>,
    /// Budget per period.
    pub max_budget: Option<Nanos>,
    /// Stored period.
    pub budget_duration: Option<&'a str>,
    /// JSON array text.
    pub models: &'a str,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
}

/// Inserts a key whose secret hashes to `token` and returns its row id.
pub fn insert(
    conn: &Connection,
    token: &str,
    last4: &str,
    k: &KeyFields<'_>,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO keys (token, alias, last4, user_id, team_id, max_budget, budget_duration,
                           models, expires_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            token,
            k.alias,
            last4,
            k.user_id,
            k.team_id,
            k.max_budget.map(|n| n.0),
            k.budget_duration,
            k.models,
            k.expires_at,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Replaces a key's settable fields.
pub fn update(conn: &Connection, id: i64, k: &KeyFields<'_>, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE keys SET alias = ?1, user_id = ?2, team_id = ?3, max_budget = ?4,
                budget_duration = ?5, models = ?6, expires_at = ?7, updated_at = ?8
         WHERE id = ?9",
        params![
            k.alias,
            k.user_id,
            k.team_id,
            k.max_budget.map(|n| n.0),
            k.budget_duration,
            k.models,
            k.expires_at,
            now,
            id
        ],
    )
}

/// Replaces the secret (regenerate): the old one stops matching at once.
pub fn set_token(
    conn: &Connection,
    id: i64,
    token: &str,
    last4: &str,
    now: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE keys SET token = ?1, last4 = ?2, updated_at = ?3 WHERE id = ?4",
        params![token, last4, now, id],
    )
}

/// Blocks or unblocks a key.
pub fn set_blocked(conn: &Connection, id: i64, blocked: bool, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE keys SET blocked = ?1, updated_at = ?2 WHERE id = ?3",
        params![blocked, now, id],
    )
}

/// Deletes a key.
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM keys WHERE id = ?1", [id])
}

/// The key whose secret hashes to `token`.
pub fn by_token(conn: &Connection, token: &str) -> rusqlite::Result<Option<KeyRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM keys WHERE token = ?1"),
        [token],
        from_row,
    )
    .optional()
}

/// The key with this alias.
pub fn by_alias(conn: &Connection, alias: &str) -> rusqlite::Result<Option<KeyRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM keys WHERE alias = ?1"),
        [alias],
        from_row,
    )
    .optional()
}

/// Every key, newest first.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<KeyRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM keys ORDER BY id DESC"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.collect()
}

/// A user's keys, newest first.
pub fn of_user(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<KeyRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM keys WHERE user_id = ?1 ORDER BY id DESC"
    ))?;
    let rows = stmt.query_map([user_id], from_row)?;
    rows.collect()
}

/// A team's keys, newest first.
pub fn of_team(conn: &Connection, team: i64) -> rusqlite::Result<Vec<KeyRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM keys WHERE team_id = ?1 ORDER BY id DESC"
    ))?;
    let rows = stmt.query_map([team], from_row)?;
    rows.collect()
}

/// Number of keys.
pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM keys", [], |r| r.get(0))
}

/// Whose keys an allocation sums over.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// Keys with this `team_id`.
    Team(i64),
    /// Keys with this `user_id`.
    User(i64),
}

/// What is committed out of an owner's budget: the budgets of its keys that have one,
/// plus what its keys without one spent since `since_ms`. Key `except` is left out
/// (the key being edited). Returns (allocated budgets, unbudgeted spend).
pub fn committed(
    conn: &Connection,
    owner: Owner,
    since_ms: i64,
    except: Option<i64>,
) -> rusqlite::Result<(Nanos, Nanos)> {
    let (budgets_sql, spend_sql, id) = match owner {
        Owner::Team(id) => (
            "SELECT COALESCE(SUM(max_budget), 0) FROM keys WHERE team_id = ?1 AND id != ?2",
            "SELECT COALESCE(SUM(u.spend), 0) FROM usage_hourly u JOIN keys k ON k.id = u.key_id
             WHERE k.team_id = ?1 AND k.id != ?2 AND k.max_budget IS NULL AND u.hour >= ?3",
            id,
        ),
        Owner::User(id) => (
            "SELECT COALESCE(SUM(max_budget), 0) FROM keys WHERE user_id = ?1 AND id != ?2",
            "SELECT COALESCE(SUM(u.spend), 0) FROM usage_hourly u JOIN keys k ON k.id = u.key_id
             WHERE k.user_id = ?1 AND k.id != ?2 AND k.max_budget IS NULL AND u.hour >= ?3",
            id,
        ),
    };
    let except = except.unwrap_or(0);
    let budgets: i64 = conn.query_row(budgets_sql, params![id, except], |r| r.get(0))?;
    let spend: i64 = conn.query_row(spend_sql, params![id, except, hour_of_ms(since_ms)], |r| {
        r.get(0)
    })?;
    Ok((Nanos(budgets), Nanos(spend)))
}
