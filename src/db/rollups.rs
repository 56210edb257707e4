//! The `usage_hourly` table: per-hour sums of the request log by key, user, team and
//! model, written by the ledger in the same transaction as the log rows. Usage pages,
//! exports and period spend read these instead of scanning the log.

use rusqlite::{params, Connection};

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
