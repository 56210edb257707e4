//! The one query the proxy's in-memory directory needs beyond the entity tables'
//! own `list` functions: a team's spend by its keys that have no budget of their own.

use rusqlite::{params, Connection};

use crate::money::Nanos;

/// Spend since `since_ms` of a team's keys that have no budget of their own.
pub fn team_pool_spend(conn: &Connection, team_id: i64, since_ms: i64) -> rusqlite::Result<Nanos> {
    conn.query_row(
        "SELECT COALESCE(SUM(u.spend), 0) FROM usage_hourly u
         WHERE u.team_id = ?1 AND u.hour >= ?2
           AND u.key_id IN (SELECT id FROM keys WHERE team_id = ?1 AND max_budget IS NULL)",
        params![team_id, super::rollups::hour_of_ms(since_ms)],
        |r| r.get::<_, i64>(0),
    )
    .map(Nanos)
}
