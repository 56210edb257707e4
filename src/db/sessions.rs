//! The `sessions` and `login_failures` tables: page sessions (token stored hashed)
//! and the failed-login record used for throttling.

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

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

/// How many failed logins each counter allows within the window.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimits {
    /// Per username from one client address.
    pub per_user_and_client: i64,
    /// Per client address, whatever the username.
    pub per_client: i64,
    /// Per username from all addresses together.
    pub per_user: i64,
}

/// Claims one login attempt for `username` from `client`, or `None` when a counter is
/// full. The claim is written as a failure before the password is checked, in one
/// immediate transaction with the counting, so parallel attempts cannot all pass the
/// count first; a successful login gives its claim back with [`release_attempt`].
pub fn claim_attempt(
    conn: &Connection,
    username: &str,
    client: &str,
    since: i64,
    now: i64,
    limits: AttemptLimits,
) -> rusqlite::Result<Option<i64>> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let count = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<i64> {
        tx.query_row(sql, args, |r| r.get(0))
    };
    let pair = count(
        "SELECT COUNT(*) FROM login_failures WHERE username = ?1 AND client = ?2 AND at > ?3",
        &[&username, &client, &since],
    )?;
    let from_client = count(
        "SELECT COUNT(*) FROM login_failures WHERE client = ?1 AND at > ?2",
        &[&client, &since],
    )?;
    let for_user = count(
        "SELECT COUNT(*) FROM login_failures WHERE username = ?1 AND at > ?2",
        &[&username, &since],
    )?;
    if pair >= limits.per_user_and_client
        || from_client >= limits.per_client
        || for_user >= limits.per_user
    {
        return Ok(None);
    }
    tx.execute(
        "INSERT INTO login_failures (username, client, at) VALUES (?1, ?2, ?3)",
        params![username, client, now],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(Some(id))
}

/// Gives back the attempt claimed by a login that succeeded.
pub fn release_attempt(conn: &Connection, attempt: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM login_failures WHERE rowid = ?1", [attempt])?;
    Ok(())
}

/// Forgets failures after a successful login.
pub fn clear_failures(conn: &Connection, username: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM login_failures WHERE username = ?1", [username])?;
    Ok(())
}

/// Forgets the failures of `username` from one client address.
pub fn clear_failures_from(
    conn: &Connection,
    username: &str,
    client: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM login_failures WHERE username = ?1 AND client = ?2",
        [username, client],
    )?;
    Ok(())
}
