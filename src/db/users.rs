//! The `users` table: accounts that log in to the pages and own keys.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::auth::Role;
use crate::money::Nanos;

/// A stored user.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Row id.
    pub id: i64,
    /// Login name (LiteLLM's `user_id`).
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// bcrypt hash; `None` = cannot log in.
    pub password_hash: Option<String>,
    /// Personal budget per period.
    pub max_budget: Option<Nanos>,
    /// Budget period (`daily`, `weekly`, `monthly`) or none.
    pub budget_duration: Option<String>,
    /// Disabled users cannot log in and their keys are refused.
    pub disabled: bool,
    /// Creation time, unix ms.
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, username, role, password_hash, max_budget, budget_duration, disabled, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = r.get(2)?;
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::InternalUserViewer),
        password_hash: r.get(3)?,
        max_budget: r.get::<_, Option<i64>>(4)?.map(Nanos),
        budget_duration: r.get(5)?,
        disabled: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// Fields of a new user.
pub struct NewUser<'a> {
    /// Login name.
    pub username: &'a str,
    /// Role.
    pub role: Role,
    /// bcrypt hash or none.
    pub password_hash: Option<&'a str>,
    /// Personal budget.
    pub max_budget: Option<Nanos>,
    /// Budget period.
    pub budget_duration: Option<&'a str>,
}

/// Inserts a user and returns its id.
pub fn insert(conn: &Connection, user: &NewUser<'_>, now: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO users (username, role, password_hash, max_budget, budget_duration, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            user.username,
            user.role.as_str(),
            user.password_hash,
            user.max_budget.map(|n| n.0),
            user.budget_duration,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The user with this login name.
pub fn by_username(conn: &Connection, username: &str) -> rusqlite::Result<Option<UserRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
        [username],
        from_row,
    )
    .optional()
}

/// The user with this id.
pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<UserRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// Every user, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<UserRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.collect()
}

/// Number of users.
pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
}

/// Replaces a user's password hash.
pub fn set_password(conn: &Connection, id: i64, hash: &str, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3",
        params![hash, now, id],
    )
}

/// Replaces a user's role and budget.
pub fn update(
    conn: &Connection,
    id: i64,
    role: Role,
    max_budget: Option<Nanos>,
    budget_duration: Option<&str>,
    now: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE users SET role = ?1, max_budget = ?2, budget_duration = ?3, updated_at = ?4
         WHERE id = ?5",
        params![
            role.as_str(),
            max_budget.map(|n| n.0),
            budget_duration,
            now,
            id
        ],
    )
}

/// Disables or enables a user.
pub fn set_disabled(
    conn: &Connection,
    id: i64,
    disabled: bool,
    now: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE users SET disabled = ?1, updated_at = ?2 WHERE id = ?3",
        params![disabled, now, id],
    )
}

/// Deletes a user; their keys, sessions and memberships go with them.
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM users WHERE id = ?1", [id])
}

/// Number of enabled admins.
pub fn count_active_admins(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'proxy_admin' AND disabled = 0",
        [],
        |r| r.get(0),
    )
}
