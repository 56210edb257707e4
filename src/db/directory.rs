//! Reads the entity tables whole for the proxy's in-memory directory (keys, users,
//! teams), and the period spend used to seed its budget counters.

use rusqlite::{params, Connection, Row};

use crate::money::Nanos;

/// A key as the proxy needs it.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: i64,
    pub token: String,
    pub alias: String,
    pub last4: String,
    pub user_id: Option<i64>,
    pub team_id: Option<i64>,
    pub max_budget: Option<Nanos>,
    pub budget_duration: Option<String>,
    pub models: String,
    pub expires_at: Option<i64>,
    pub blocked: bool,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
}

/// A user as the proxy needs it.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub max_budget: Option<Nanos>,
    pub budget_duration: Option<String>,
    pub disabled: bool,
}

/// A team as the proxy needs it.
#[derive(Debug, Clone)]
pub struct TeamRecord {
    pub id: i64,
    pub team_id: String,
    pub alias: String,
    pub max_budget: Option<Nanos>,
    pub budget_duration: Option<String>,
    pub models: String,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
}

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
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
        rpm: r.get(11)?,
        tpm: r.get(12)?,
    })
}

/// Every key.
pub fn keys(conn: &Connection) -> rusqlite::Result<Vec<KeyRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, token, alias, last4, user_id, team_id, max_budget, budget_duration, models,
                expires_at, blocked, rpm, tpm FROM keys",
    )?;
    let rows = stmt.query_map([], key_from_row)?;
    rows.collect()
}

/// Every user.
pub fn users(conn: &Connection) -> rusqlite::Result<Vec<UserRecord>> {
    let mut stmt =
        conn.prepare("SELECT id, username, max_budget, budget_duration, disabled FROM users")?;
    let rows = stmt.query_map([], |r| {
        Ok(UserRecord {
            id: r.get(0)?,
            username: r.get(1)?,
            max_budget: r.get::<_, Option<i64>>(2)?.map(Nanos),
            budget_duration: r.get(3)?,
            disabled: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// Every team.
pub fn teams(conn: &Connection) -> rusqlite::Result<Vec<TeamRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, team_id, alias, max_budget, budget_duration, models, rpm, tpm FROM teams",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(TeamRecord {
            id: r.get(0)?,
            team_id: r.get(1)?,
            alias: r.get(2)?,
            max_budget: r.get::<_, Option<i64>>(3)?.map(Nanos),
            budget_duration: r.get(4)?,
            models: r.get(5)?,
            rpm: r.get(6)?,
            tpm: r.get(7)?,
        })
    })?;
    rows.collect()
}

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
