//! Business rules, independent of HTTP: pages, the management API and the CLI all
//! call these functions. Nothing here imports actix.

pub mod actor;
pub mod auth;
pub mod budget;
pub mod directory;
pub mod export;
pub mod input;
pub mod key_report;
pub mod keys;
pub mod lang;
pub mod logs;
pub mod price_table;
pub mod pricing;
pub mod reports;
pub mod reservations;
pub mod teams;
pub mod tokens;
pub mod usage;
pub mod users;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::db::DbError;

/// Why a domain operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input that breaks a rule; `field` names the form field / JSON param.
    #[error("{message}")]
    Validation {
        /// The offending field.
        field: &'static str,
        /// What is wrong, for the user.
        message: String,
    },
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It would clash with something that exists (duplicate name, still in use).
    #[error("{0}")]
    Conflict(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Not signed in / bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many attempts.
    #[error("{0}")]
    Throttled(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for DomainError {
    fn from(e: rusqlite::Error) -> Self {
        DomainError::Db(DbError::Sqlite(e))
    }
}

impl DomainError {
    /// Shorthand for a validation error.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
        DomainError::Validation {
            field,
            message: message.into(),
        }
    }
}

/// Opens a write transaction that takes the write lock at once, so checks made inside
/// it (names free, budget left, an admin remains) still hold when it commits.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}
