//! Display names of keys, users and teams for reports: aliases, usernames and the
//! public ids the management API uses. Read-only; the entity tables are owned by their
//! own modules.

use std::collections::HashMap;

use rusqlite::Connection;

/// A key as reports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName {
    /// `key_alias`.
    pub alias: String,
    /// SHA-256 of the secret (LiteLLM's `token`).
    pub token: String,
    /// Owner (0 = none).
    pub user_id: i64,
}

/// A team as reports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName {
    /// `team_alias`.
    pub alias: String,
    /// Public `team_id`.
    pub team_id: String,
}

/// Every key, user and team by row id.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Keys by row id.
    pub keys: HashMap<i64, KeyName>,
    /// Usernames by row id.
    pub users: HashMap<i64, String>,
    /// Teams by row id.
    pub teams: HashMap<i64, TeamName>,
}

/// Loads the names of every key, user and team.
pub fn load(conn: &Connection) -> rusqlite::Result<Directory> {
    let mut dir = Directory::default();
    let mut stmt = conn.prepare_cached("SELECT id, alias, token, user_id FROM keys")?;
    let keys = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            KeyName {
                alias: r.get(1)?,
                token: r.get(2)?,
                user_id: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            },
        ))
    })?;
    for key in keys {
        let (id, name) = key?;
        dir.keys.insert(id, name);
    }
    let mut stmt = conn.prepare_cached("SELECT id, username FROM users")?;
    for user in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))? {
        let (id, name) = user?;
        dir.users.insert(id, name);
    }
    let mut stmt = conn.prepare_cached("SELECT id, alias, team_id FROM teams")?;
    let teams = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            TeamName {
                alias: r.get(1)?,
                team_id: r.get(2)?,
            },
        ))
    })?;
    for team in teams {
        let (id, name) = team?;
        dir.teams.insert(id, name);
    }
    Ok(dir)
}
