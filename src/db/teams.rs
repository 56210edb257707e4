//! The `teams` and `team_members` tables: teams (分组) with a budget and a model list,
//! and which users belong to them.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::money::Nanos;

/// A stored team.
#[derive(Debug, Clone)]
pub struct TeamRow {
    /// Row id (used in usage rollups and key rows).
    pub id: i64,
    /// Public id (LiteLLM's `team_id`).
    pub team_id: String,
    /// Display name, unique.
    pub alias: String,
    /// Budget per period.
    pub max_budget: Option<Nanos>,
    /// Stored period (`daily`, `weekly`, `monthly`) or none.
    pub budget_duration: Option<String>,
    /// Allowed models as JSON array text; `[]` = all.
    pub models: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Requests per minute allowed across the team's keys.
    pub rpm: Option<i64>,
    /// Tokens per minute allowed across the team's keys.
    pub tpm: Option<i64>,
}

const COLUMNS: &str =
    "id, team_id, alias, max_budget, budget_duration, models, created_at, rpm, tpm";

fn from_row(r: &Row<'_>) -> rusqlite::Result<TeamRow> {
    Ok(TeamRow {
        id: r.get(0)?,
        team_id: r.get(1)?,
        alias: r.get(2)?,
        max_budget: r.get::<_, Option<i64>>(3)?.map(Nanos),
        budget_duration: r.get(4)?,
        models: r.get(5)?,
        created_at: r.get(6)?,
        rpm: r.get(7)?,
        tpm: r.get(8)?,
    })
}

/// The settable fields of a team.
pub struct TeamFields<'a> {
    /// Display name.
    pub alias: &'a str,
    /// Budget per period.
    pub max_budget: Option<Nanos>,
    /// Stored period.
    pub budget_duration: Option<&'a str>,
    /// JSON array text.
    pub models: &'a str,
}

/// Inserts a team with public id `team_id` and returns its row id.
pub fn insert(
    conn: &Connection,
    team_id: &str,
    t: &TeamFields<'_>,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO teams (team_id, alias, max_budget, budget_duration, models, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![team_id, t.alias, t.max_budget.map(|n| n.0), t.budget_duration, t.models, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Replaces a team's settable fields.
pub fn update(conn: &Connection, id: i64, t: &TeamFields<'_>, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE teams SET alias = ?1, max_budget = ?2, budget_duration = ?3, models = ?4, updated_at = ?5
         WHERE id = ?6",
        params![t.alias, t.max_budget.map(|n| n.0), t.budget_duration, t.models, now, id],
    )
}

/// Deletes a team (memberships go with it).
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM teams WHERE id = ?1", [id])
}

/// The team with this public id.
pub fn by_team_id(conn: &Connection, team_id: &str) -> rusqlite::Result<Option<TeamRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM teams WHERE team_id = ?1"),
        [team_id],
        from_row,
    )
    .optional()
}

/// The team with this row id.
pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<TeamRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM teams WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// The team with this display name.
pub fn by_alias(conn: &Connection, alias: &str) -> rusqlite::Result<Option<TeamRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM teams WHERE alias = ?1"),
        [alias],
        from_row,
    )
    .optional()
}

/// Every team, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<TeamRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM teams ORDER BY alias"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.collect()
}

/// The teams a user belongs to, by name.
pub fn of_user(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<TeamRow>> {
    let mut stmt = conn.prepare(
        "SELECT t.id, t.team_id, t.alias, t.max_budget, t.budget_duration, t.models, t.created_at, t.rpm, t.tpm
         FROM teams t JOIN team_members m ON m.team_id = t.id
         WHERE m.user_id = ?1 ORDER BY t.alias",
    )?;
    let rows = stmt.query_map([user_id], from_row)?;
    rows.collect()
}

/// Usernames of a team's members, sorted.
pub fn member_names(conn: &Connection, team: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT u.username FROM users u JOIN team_members m ON m.user_id = u.id
         WHERE m.team_id = ?1 ORDER BY u.username",
    )?;
    let rows = stmt.query_map([team], |r| r.get(0))?;
    rows.collect()
}

/// Makes `user` a member of exactly `teams`.
pub fn set_memberships(conn: &Connection, user: i64, teams: &[i64]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM team_members WHERE user_id = ?1", [user])?;
    for team in teams {
        conn.execute(
            "INSERT INTO team_members (team_id, user_id) VALUES (?1, ?2)",
            params![team, user],
        )?;
    }
    Ok(())
}

/// True when `user` belongs to `team`.
pub fn is_member(conn: &Connection, team: i64, user: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM team_members WHERE team_id = ?1 AND user_id = ?2)",
        params![team, user],
        |r| r.get(0),
    )
}

/// Number of teams.
pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM teams", [], |r| r.get(0))
}
