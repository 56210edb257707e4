//! Storage: one SQLite file in WAL mode behind an r2d2 pool. SQL lives only under
//! `db/`; nothing here knows about HTTP. Async code reaches the database only through
//! [`Db::run`], which moves the work onto actix's blocking thread pool.

pub mod audit;
pub mod checkpoint;
pub mod keys;
pub mod limits;
pub mod logs;
pub mod logs_write;
pub mod migrations;
pub mod names;
pub mod rollups;
pub mod sessions;
pub mod teams;
pub mod users;

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

/// A pool of SQLite connections.
pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No connection could be taken from the pool.
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    /// The blocking task was cancelled or panicked.
    #[error("database task failed")]
    Blocking,
    /// The file could not be opened or migrated.
    #[error("{0}")]
    Open(String),
    /// The ledger writer has stopped (the server is shutting down).
    #[error("the ledger writer has stopped")]
    LedgerStopped,
}

impl DbError {
    /// The database cannot take the work right now (busy, locked, full, read-only, or
    /// no connection free): a 503 to retry, not a bug. Read from SQLite's result
    /// codes, never from message text.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::DiskFull
                    | ErrorCode::ReadOnly
                    | ErrorCode::CannotOpen
                    | ErrorCode::SystemIoFailure
            ),
            DbError::Pool(_) | DbError::LedgerStopped => true,
            DbError::Sqlite(_) | DbError::Blocking | DbError::Open(_) => false,
        }
    }
}

/// Handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

/// Applies the pragmas every connection needs. No connection checkpoints on commit:
/// [`checkpoint::Checkpointer`] does it off the commit path.
fn init_connection(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
         PRAGMA wal_autocheckpoint = 0;",
    )
}

impl Db {
    /// Opens (creating if needed) the database at `path`, switches it to WAL and applies
    /// migrations. Refuses files that are not SQLite and schemas newer than this binary.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let display = path.display().to_string();
        let mut conn = Connection::open(path)
            .map_err(|e| DbError::Open(format!("cannot open database {display}: {e}")))?;
        init_connection(&mut conn).map_err(|e| describe_open_error(&display, e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| describe_open_error(&display, e))?;
        if mode != "wal" {
            return Err(DbError::Open(format!(
                "database {display}: cannot switch to WAL mode (got {mode}); is the folder writable?"
            )));
        }
        migrations::apply(&mut conn).map_err(|e| match e {
            DbError::Sqlite(e) => describe_open_error(&display, e),
            DbError::Open(msg) => DbError::Open(format!("database {display}: {msg}")),
            other => other,
        })?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(init_connection);
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok(Db { pool })
    }

    /// A pooled connection, for blocking contexts (CLI, the ledger thread).
    pub fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, DbError> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` with a connection on the blocking pool, never on an async worker.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|_| E::from(DbError::Blocking))?
    }

    /// Readiness probe: a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok::<_, DbError>(())
        })
        .await
    }

    /// Consistent online copy of the database into `out` (`VACUUM INTO`).
    pub fn backup_to(&self, out: &Path) -> Result<(), DbError> {
        let conn = self.conn()?;
        let path = out
            .to_str()
            .ok_or_else(|| DbError::Open(format!("{} is not a UTF-8 path", out.display())))?;
        // One read transaction copies a consistent snapshot: in WAL mode writers go on
        // beside it, and nothing restarts the copy when they write (the page-by-page
        // backup API starts over on every write and could run forever under traffic).
        conn.execute("VACUUM INTO ?1", [path])
            .map_err(|e| DbError::Open(format!("cannot write {}: {e}", out.display())))?;
        Ok(())
    }
}

fn describe_open_error(display: &str, e: rusqlite::Error) -> DbError {
    let text = e.to_string();
    let hint = if text.contains("not a database") {
        "the file is not a SQLite database"
    } else if text.contains("readonly")
        || text.contains("read-only")
        || text.contains("unable to open")
    {
        "the file or its folder is not writable"
    } else {
        "SQLite error"
    };
    DbError::Open(format!("cannot use database {display}: {hint} ({text})"))
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
