//! Versioned schema migrations: an ordered list of SQL steps, each applied in its own
//! transaction with the version recorded in `schema_version`. A database whose version
//! is newer than this binary knows is refused rather than guessed at.
//!
//! Money columns are integer nano-USD. Times are unix milliseconds (UTC) unless named
//! `hour` (unix hour = seconds / 3600). Id 0 in log/rollup columns means "none", so the
//! rollup primary key works (SQLite treats NULLs as distinct in unique constraints).

use rusqlite::Connection;

use super::DbError;

/// The migrations, in order. Never edit one that has shipped: append a new step.
const MIGRATIONS: &[&str] = &[
    // 1: the whole initial schema.
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        role          TEXT NOT NULL CHECK (role IN ('proxy_admin','internal_user','internal_user_viewer')),
        password_hash TEXT,
        max_budget    INTEGER,
        budget_duration TEXT,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE teams (
        id            INTEGER PRIMARY KEY,
        team_id       TEXT NOT NULL UNIQUE,
        alias         TEXT NOT NULL UNIQUE,
        max_budget    INTEGER,
        budget_duration TEXT,
        models        TEXT NOT NULL DEFAULT '[]',
        rpm           INTEGER,
        tpm           INTEGER,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE team_members (
        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (team_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX team_members_user ON team_members(user_id);
    CREATE TABLE keys (
        id            INTEGER PRIMARY KEY,
        token         TEXT NOT NULL UNIQUE,
        alias         TEXT NOT NULL,
        last4         TEXT NOT NULL,
        user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
        team_id       INTEGER REFERENCES teams(id),
        max_budget    INTEGER,
        budget_duration TEXT,
        models        TEXT NOT NULL DEFAULT '[]',
        expires_at    INTEGER,
        blocked       INTEGER NOT NULL DEFAULT 0,
        rpm           INTEGER,
        tpm           INTEGER,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        last_used_at  INTEGER
    );
    CREATE INDEX keys_user ON keys(user_id);
    CREATE INDEX keys_team ON keys(team_id);
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE login_failures (
        username TEXT NOT NULL,
        at       INTEGER NOT NULL
    );
    CREATE INDEX login_failures_user ON login_failures(username, at);
    CREATE TABLE request_logs (
        id                INTEGER PRIMARY KEY,
        request_id        TEXT NOT NULL,
        start_ms          INTEGER NOT NULL,
        end_ms            INTEGER NOT NULL,
        key_id            INTEGER NOT NULL DEFAULT 0,
        user_id           INTEGER NOT NULL DEFAULT 0,
        team_id           INTEGER NOT NULL DEFAULT 0,
        model             TEXT NOT NULL,
        provider          TEXT NOT NULL DEFAULT '',
        deployment        INTEGER NOT NULL DEFAULT -1,
        success           INTEGER NOT NULL,
        http_status       INTEGER NOT NULL,
        error             TEXT,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens     INTEGER NOT NULL DEFAULT 0,
        cost              INTEGER NOT NULL DEFAULT 0,
        stream            INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX request_logs_request_id ON request_logs(request_id);
    CREATE INDEX request_logs_start ON request_logs(start_ms);
    CREATE TABLE request_bodies (
        log_id   INTEGER PRIMARY KEY REFERENCES request_logs(id) ON DELETE CASCADE,
        request  TEXT,
        response TEXT
    );
    CREATE TABLE usage_hourly (
        hour              INTEGER NOT NULL,
        key_id            INTEGER NOT NULL,
        user_id           INTEGER NOT NULL,
        team_id           INTEGER NOT NULL,
        model             TEXT NOT NULL,
        requests          INTEGER NOT NULL DEFAULT 0,
        successes         INTEGER NOT NULL DEFAULT 0,
        failures          INTEGER NOT NULL DEFAULT 0,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        spend             INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (hour, key_id, user_id, team_id, model)
    ) WITHOUT ROWID;
    CREATE TABLE audit_log (
        id     INTEGER PRIMARY KEY,
        at     INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    "#,
    // 2: request-log browsing (issue 5). Per-entity indexes let /logs and /spend/logs
    // page newest-first by (start_ms, id) without scanning other entities' rows (the
    // rowid is implicitly the last index column); the secret signs page cursors.
    r#"
    CREATE INDEX request_logs_user_start ON request_logs(user_id, start_ms);
    CREATE INDEX request_logs_key_start ON request_logs(key_id, start_ms);
    CREATE INDEX request_logs_team_start ON request_logs(team_id, start_ms);
    CREATE TABLE app_secrets (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO app_secrets (name, value) VALUES ('log_cursor', lower(hex(randomblob(32))));
    "#,
    // 3: daily rollups at the configured utc_offset, so month views and exports read
    // ~24x fewer rows; rebuilt from usage_hourly when the offset changes
    // (`rollups::sync_daily`).
    r#"
    CREATE TABLE usage_daily (
        day               INTEGER NOT NULL,
        key_id            INTEGER NOT NULL,
        user_id           INTEGER NOT NULL,
        team_id           INTEGER NOT NULL,
        model             TEXT NOT NULL,
        requests          INTEGER NOT NULL DEFAULT 0,
        successes         INTEGER NOT NULL DEFAULT 0,
        failures          INTEGER NOT NULL DEFAULT 0,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        spend             INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, key_id, user_id, team_id, model)
    ) WITHOUT ROWID;
    "#,
    // 4: which door a request came through (LiteLLM's `call_type`), the client's
    // User-Agent, and the model name the client sent when it was an alias.
    r#"
    ALTER TABLE request_logs ADD COLUMN call_type TEXT NOT NULL DEFAULT 'acompletion';
    ALTER TABLE request_logs ADD COLUMN user_agent TEXT;
    ALTER TABLE request_logs ADD COLUMN requested_model TEXT;
    "#,
    // 5: failed logins counted per client address too (login throttling that an
    // attacker elsewhere cannot turn into a lockout).
    r#"
    ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
    CREATE INDEX login_failures_client ON login_failures(client, at);
    "#,
];

/// The schema version this binary writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`LATEST`], one transaction per step.
pub fn apply(conn: &mut Connection) -> Result<(), DbError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current = current_version(conn)?;
    if current > LATEST {
        return Err(DbError::Open(format!(
            "schema version {current} is newer than this tollgate understands ({LATEST}); \
             upgrade tollgate or restore a backup"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [i as i64 + 1],
        )?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    Ok(())
}

/// The recorded schema version (0 for a new database).
pub fn current_version(conn: &Connection) -> Result<i64, DbError> {
    let v: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0))
}
