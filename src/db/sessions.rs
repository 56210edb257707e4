//! The `sessions` and `login_failures` tables: page sessions (token stored hashed)
//! and the failed-login record used for throttling.

use rusqlite::{params, Connection, OptionalExtension};

/// A live session joined with its user.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The user's id.
    pub user_id: i64,
    /// The form token tied to this session.
    pub csrf_token: String,
    /// Expiry, unix ms.
    pub expires_at: i64,
}

/// Stores a new session.
pub fn insert(
    conn: &Connection,
    token_hash: &str,
    user_id: i64,
    csrf_token: &str,
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_hash, user_id, csrf_token, now, expires_at],
    )?;
    Ok(())
}

/// The session with this token hash, if it has not expired.
pub fn live(conn: &Connection, token_hash: &str, now: i64) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        "SELECT user_id, csrf_token, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
        params![token_hash, now],
        |r| {
            Ok(SessionRow {
                user_id: r.get(0)?,
                csrf_token: r.get(1)?,
                expires_at: r.get(2)?,
            })
        },
    )
    .optional()
}

/// Ends a session.
pub fn delete(conn: &Connection, token_hash: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}

/// Ends every session of a user (password reset, disable, delete).
pub fn delete_for_user(conn: &Connection, user_id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
    Ok(())
}

/// Drops expired sessions and old login failures.
pub fn prune(conn: &Connection, now: i64, failure_window_ms: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
    conn.execute(
        "DELETE FROM login_failures WHERE at <= ?1",
        [now - failure_window_ms],
    )?;
    Ok(())
}

/// Records a failed login for `username`.
pub fn record_failure(conn: &Connection, username: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO login_failures (username, at) VALUES (?1, ?2)",
        params![username, now],
    )?;
    Ok(())
}

/// Failed logins for `username` since `since`.
pub fn failures_since(conn: &Connection, username: &str, since: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM login_failures WHERE username = ?1 AND at > ?2",
        params![username, since],
        |r| r.get(0),
    )
}

/// Forgets failures after a successful login.
pub fn clear_failures(conn: &Connection, username: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM login_failures WHERE username = ?1", [username])?;
    Ok(())
}
