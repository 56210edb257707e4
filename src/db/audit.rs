//! The `audit_log` table: who did what to which entity, and when.

use rusqlite::{params, Connection};

/// One audit entry.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// Time, unix ms.
    pub at: i64,
    /// Who acted (username, `master_key`, `cli`).
    pub actor: String,
    /// What was done (`team.create`, `login.failed` …).
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Extra detail, never secrets.
    pub detail: String,
}

/// Appends an entry.
pub fn record(
    conn: &Connection,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now, actor, action, target, detail],
    )?;
    Ok(())
}

/// The newest `limit` entries.
pub fn recent(conn: &Connection, limit: i64) -> rusqlite::Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare(
        "SELECT at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(AuditRow {
            at: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            target: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    rows.collect()
}
