//! rpm/tpm limits of keys and teams (LiteLLM's `rpm_limit` / `tpm_limit`).

use rusqlite::{params, Connection};

/// Which table the limits belong to.
#[derive(Debug, Clone, Copy)]
pub enum LimitOwner {
    /// `keys.id`
    Key(i64),
    /// `teams.id`
    Team(i64),
}

/// Sets the fields given (`Some(None)` clears a limit, `None` leaves it).
pub fn set(
    conn: &Connection,
    owner: LimitOwner,
    rpm: Option<Option<i64>>,
    tpm: Option<Option<i64>>,
) -> rusqlite::Result<()> {
    let (table, id) = match owner {
        LimitOwner::Key(id) => ("keys", id),
        LimitOwner::Team(id) => ("teams", id),
    };
    // Table names cannot be bound; both come from the match above, never from input.
    if let Some(rpm) = rpm {
        conn.execute(
            &format!("UPDATE {table} SET rpm = ?1 WHERE id = ?2"),
            params![rpm, id],
        )?;
    }
    if let Some(tpm) = tpm {
        conn.execute(
            &format!("UPDATE {table} SET tpm = ?1 WHERE id = ?2"),
            params![tpm, id],
        )?;
    }
    Ok(())
}
