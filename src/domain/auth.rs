//! Accounts and sign-in: roles, bcrypt passwords, login throttling, page sessions,
//! and the first-start admin. bcrypt is slow on purpose, so callers run these
//! functions off the async workers (`Db::run`).

use rusqlite::Connection;

use super::tokens::{random_base62, sha256_hex};
use super::DomainError;
use crate::db::{audit, now_ms, sessions, users};

/// bcrypt cost: ~50 ms per hash on a small server.
const BCRYPT_COST: u32 = 10;
/// Failed logins allowed per window: 5 for one username from one client address, 20
/// from one address whatever the username, 100 for one username from everywhere.
///
/// Counting per address is what keeps the admin from being locked out: wrong
/// passwords sent from elsewhere fill that address's counters, not the admin's own,
/// so the admin can still sign in from their machine. Only an attacker with 20 or
/// more addresses can fill the per-username total, and 100 guesses per 15 minutes
/// against bcrypt and 8-character passwords is no useful rate for guessing.
pub const ATTEMPT_LIMITS: sessions::AttemptLimits = sessions::AttemptLimits {
    per_user_and_client: 5,
    per_client: 20,
    per_user: 100,
};
/// The throttling window.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// What a user may do (LiteLLM's role names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 管理员: everything.
    ProxyAdmin,
    /// 普通用户: own keys, usage and logs.
    InternalUser,
    /// 只读用户: sees own data, changes nothing.
    InternalUserViewer,
}

impl Role {
    /// Parses the stored / API spelling.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "proxy_admin" => Some(Role::ProxyAdmin),
            "internal_user" => Some(Role::InternalUser),
            "internal_user_viewer" => Some(Role::InternalUserViewer),
            _ => None,
        }
    }

    /// The stored / API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProxyAdmin => "proxy_admin",
            Role::InternalUser => "internal_user",
            Role::InternalUserViewer => "internal_user_viewer",
        }
    }

    /// True for the admin role.
    pub fn is_admin(self) -> bool {
        self == Role::ProxyAdmin
    }
}

/// A signed-in page user.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// User id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// This session's form token.
    pub csrf_token: String,
}

/// A new session: the cookie value (shown to the browser once) and its CSRF token.
pub struct NewSession {
    /// Cookie value; only its hash is stored.
    pub token: String,
    /// Lifetime in seconds, for the cookie's Max-Age.
    pub max_age_s: i64,
}

/// Hashes a password with bcrypt.
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    bcrypt::hash(password, BCRYPT_COST)
        .map_err(|_| DomainError::invalid("password", "password cannot be hashed"))
}

/// Checks a password's length rules.
pub fn check_password_rules(password: &str) -> Result<(), DomainError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(DomainError::invalid(
            "password",
            format!("password must have at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.len() > 72 {
        return Err(DomainError::invalid(
            "password",
            "password must be at most 72 bytes",
        ));
    }
    Ok(())
}

/// Verifies credentials with throttling, and opens a session on success.
/// Unknown users and wrong passwords get the same message and both count as failures.
/// `client` is the address the attempt came from (see [`ATTEMPT_LIMITS`]).
pub fn login(
    conn: &Connection,
    username: &str,
    password: &str,
    client: &str,
    session_hours: u32,
) -> Result<(SessionUser, NewSession), DomainError> {
    let now = now_ms();
    sessions::prune(conn, now, FAILURE_WINDOW_MS)?;
    let since = now - FAILURE_WINDOW_MS;
    let Some(attempt) =
        sessions::claim_attempt(conn, username, client, since, now, ATTEMPT_LIMITS)?
    else {
        audit::record(conn, username, "login.throttled", username, client, now)?;
        return Err(DomainError::Throttled(
            "too many failed logins; try again in 15 minutes".into(),
        ));
    };
    let user = users::by_username(conn, username)?;
    let ok = match &user {
        Some(u) if !u.disabled => u
            .password_hash
            .as_deref()
            .is_some_and(|h| bcrypt::verify(password, h).unwrap_or(false)),
        _ => {
            // Same work for unknown users, so timing does not reveal who exists.
            let _ = bcrypt::verify(
                password,
                "$2b$10$CwTycUXWue0Thq9StjUM0uJ8TgsVT2pGq.FvcqImDpW0R.iVJT0Yi",
            );
            false
        }
    };
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            // The claimed attempt stays as the failure.
            audit::record(conn, username, "login.failed", username, client, now)?;
            return Err(DomainError::Unauthorized(
                "wrong username or password".into(),
            ));
        }
    };
    sessions::release_attempt(conn, attempt)?;
    // Only this address's failures: a success must not hand an attacker elsewhere
    // fresh guesses.
    sessions::clear_failures_from(conn, username, client)?;
    let token = random_base62(40);
    let csrf_token = random_base62(32);
    let max_age_s = i64::from(session_hours.max(1)) * 3600;
    sessions::insert(
        conn,
        &sha256_hex(&token),
        user.id,
        &csrf_token,
        now,
        now + max_age_s * 1000,
    )?;
    let session_user = SessionUser {
        id: user.id,
        username: user.username,
        role: user.role,
        csrf_token,
    };
    Ok((session_user, NewSession { token, max_age_s }))
}

/// The user behind a session cookie, if the session is live and the user enabled.
pub fn session_user(conn: &Connection, token: &str) -> Result<Option<SessionUser>, DomainError> {
    let Some(session) = sessions::live(conn, &sha256_hex(token), now_ms())? else {
        return Ok(None);
    };
    let Some(user) = users::by_id(conn, session.user_id)? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    Ok(Some(SessionUser {
        id: user.id,
        username: user.username,
        role: user.role,
        csrf_token: session.csrf_token,
    }))
}

/// Ends the session behind a cookie.
pub fn logout(conn: &Connection, token: &str) -> Result<(), DomainError> {
    sessions::delete(conn, &sha256_hex(token))?;
    Ok(())
}

/// Creates an admin (CLI `admin create`). Refuses an existing username.
pub fn create_admin(
    conn: &Connection,
    username: &str,
    password: &str,
    actor: &str,
) -> Result<i64, DomainError> {
    let username = username.trim();
    if username.is_empty() {
        return Err(DomainError::invalid(
            "username",
            "username must not be empty",
        ));
    }
    check_password_rules(password)?;
    if users::by_username(conn, username)?.is_some() {
        return Err(DomainError::Conflict(format!(
            "user {username} already exists"
        )));
    }
    let hash = hash_password(password)?;
    let now = now_ms();
    let id = users::insert(
        conn,
        &users::NewUser {
            username,
            role: Role::ProxyAdmin,
            password_hash: Some(&hash),
            max_budget: None,
            budget_duration: None,
        },
        now,
    )?;
    audit::record(conn, actor, "user.create", username, "proxy_admin", now)?;
    Ok(id)
}

/// Sets a new password (CLI `admin reset-password`) and ends the user's sessions.
pub fn reset_password(
    conn: &Connection,
    username: &str,
    password: &str,
    actor: &str,
) -> Result<(), DomainError> {
    check_password_rules(password)?;
    let user = users::by_username(conn, username)?
        .ok_or_else(|| DomainError::NotFound(format!("no user named {username}")))?;
    let now = now_ms();
    users::set_password(conn, user.id, &hash_password(password)?, now)?;
    sessions::delete_for_user(conn, user.id)?;
    sessions::clear_failures(conn, username)?;
    audit::record(conn, actor, "user.reset_password", username, "", now)?;
    Ok(())
}

/// First start: when no user exists, creates the configured admin. Returns the
/// generated password when none was given, so the caller can print it once.
pub fn bootstrap_admin(
    conn: &Connection,
    username: &str,
    password: Option<&str>,
) -> Result<Option<String>, DomainError> {
    if users::count(conn)? > 0 {
        return Ok(None);
    }
    let generated = password.is_none().then(|| random_base62(20));
    let password = password.or(generated.as_deref()).unwrap_or_default();
    create_admin(conn, username, password, "first-start")?;
    Ok(generated)
}
