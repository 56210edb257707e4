//! Users: create (with role, team, personal budget and an optional first password),
//! edit, disable/enable, delete (their keys go with them). The last enabled admin can
//! be neither deleted, disabled nor demoted.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::actor::Actor;
use super::auth::{check_password_rules, hash_password, Role};
use super::budget::BudgetPeriod;
use super::keys::{self, KeyView};
use super::{input, teams, write_tx, DomainError};
use crate::config::Config;
use crate::db::rollups::{spend_since, SpendOf};
use crate::db::users::{self as store, NewUser, UserRow};
use crate::db::{audit, now_ms, sessions};
use crate::money::Nanos;

/// A new user as typed.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    /// 用户名 / `user_id`.
    pub username: String,
    /// 用户角色: `internal_user`, `proxy_admin` or `internal_user_viewer`.
    pub role: String,
    /// 所属分组: a public team id.
    pub team_id: Option<String>,
    /// 个人预算 in USD; empty = none.
    pub max_budget: Option<String>,
    /// Budget period.
    pub budget_duration: Option<String>,
    /// 初始密码; empty = the user cannot log in yet.
    pub password: Option<String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New role.
    pub role: Option<String>,
    /// New single team (`Some(None)` = no team).
    pub team_id: Option<Option<String>>,
    /// New budget (`Some(None)` removes it).
    pub max_budget: Option<Option<String>>,
    /// New period.
    pub budget_duration: Option<Option<String>>,
    /// New password (empty = unchanged).
    pub password: Option<String>,
}

/// A team a user belongs to.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Public id.
    pub team_id: String,
    /// Name.
    pub alias: String,
}

/// A user with the figures pages and `/user/info` show.
#[derive(Debug, Clone)]
pub struct UserView {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Disabled users cannot log in and their keys are refused.
    pub disabled: bool,
    /// Has a password.
    pub can_login: bool,
    /// Personal budget per period.
    pub max_budget: Option<Nanos>,
    /// Budget period.
    pub period: BudgetPeriod,
    /// Spent this period (all their keys).
    pub spend: Nanos,
    /// Budget minus spend; `None` without a budget.
    pub remaining: Option<Nanos>,
    /// When the period resets.
    pub reset_at: Option<DateTime<Utc>>,
    /// Teams.
    pub teams: Vec<Membership>,
    /// Keys.
    pub keys: Vec<KeyView>,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// The user named `username`, or "not found".
pub fn find(conn: &Connection, actor: &Actor, username: &str) -> Result<UserRow, DomainError> {
    store::by_username(conn, username.trim())?.ok_or_else(|| {
        DomainError::NotFound(actor.msg(
            format!("用户「{username}」不存在"),
            format!("no user with user_id `{username}`"),
        ))
    })
}

/// Every user (admins only).
pub fn list(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
) -> Result<Vec<UserView>, DomainError> {
    actor.require_admin()?;
    store::list(conn)?
        .into_iter()
        .map(|u| view(conn, config, u))
        .collect()
}

/// One user: admins see anyone, others only themselves.
pub fn info(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
    username: &str,
) -> Result<UserView, DomainError> {
    let user = find(conn, actor, username)?;
    if !actor.is_admin() && actor.user_id != Some(user.id) {
        actor.require_admin()?;
    }
    view(conn, config, user)
}

/// Creates a user (admins only).
pub fn create(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    input: UserInput,
) -> Result<UserView, DomainError> {
    actor.require_admin()?;
    let username = input::username(actor.lang, &input.username)?;
    let role = input::role(actor.lang, &input.role)?;
    let max_budget = input::budget(actor.lang, input.max_budget.as_deref())?;
    let period = input::period(actor.lang, input.budget_duration.as_deref())?;
    let hash = password_hash(input.password.as_deref())?;
    let tx = write_tx(conn)?;
    ensure_username_free(&tx, actor, &username)?;
    let team = team_of(&tx, actor, input.team_id.as_deref())?;
    let now = now_ms();
    let new = NewUser {
        username: &username,
        role,
        password_hash: hash.as_deref(),
        max_budget,
        budget_duration: period.as_stored(),
    };
    let id = store::insert(&tx, &new, now)?;
    crate::db::teams::set_memberships(&tx, id, &team.into_iter().collect::<Vec<_>>())?;
    audit::record(
        &tx,
        &actor.name,
        "user.create",
        &username,
        role.as_str(),
        now,
    )?;
    let view = view(&tx, config, find(&tx, actor, &username)?)?;
    tx.commit()?;
    Ok(view)
}

/// Changes a user's role, team, budget or password (admins only).
pub fn update(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    username: &str,
    patch: UserPatch,
) -> Result<UserView, DomainError> {
    actor.require_admin()?;
    let hash = password_hash(patch.password.as_deref())?;
    let tx = write_tx(conn)?;
    let user = find(&tx, actor, username)?;
    let (role, max_budget, period) = patched(actor, &user, &patch)?;
    if let Some(team_id) = &patch.team_id {
        let team = team_of(&tx, actor, team_id.as_deref())?;
        crate::db::teams::set_memberships(&tx, user.id, &team.into_iter().collect::<Vec<_>>())?;
    }
    let now = now_ms();
    store::update(&tx, user.id, role, max_budget, period.as_stored(), now)?;
    if let Some(hash) = hash {
        store::set_password(&tx, user.id, &hash, now)?;
        sessions::delete_for_user(&tx, user.id)?;
    }
    ensure_an_admin_remains(&tx, actor)?;
    audit::record(
        &tx,
        &actor.name,
        "user.update",
        &user.username,
        role.as_str(),
        now,
    )?;
    let view = view(&tx, config, find(&tx, actor, username)?)?;
    tx.commit()?;
    Ok(view)
}

/// Disables (ends their sessions; their keys are refused) or enables a user.
pub fn set_disabled(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    username: &str,
    disabled: bool,
) -> Result<UserView, DomainError> {
    actor.require_admin()?;
    let tx = write_tx(conn)?;
    let user = find(&tx, actor, username)?;
    let now = now_ms();
    store::set_disabled(&tx, user.id, disabled, now)?;
    if disabled {
        sessions::delete_for_user(&tx, user.id)?;
    }
    ensure_an_admin_remains(&tx, actor)?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit::record(&tx, &actor.name, action, &user.username, "", now)?;
    let view = view(&tx, config, user)?;
    tx.commit()?;
    Ok(view)
}

/// Deletes users and their keys (admins only), all or none.
pub fn delete(
    conn: &mut Connection,
    actor: &Actor,
    usernames: &[String],
) -> Result<(), DomainError> {
    actor.require_admin()?;
    if usernames.is_empty() {
        let m = actor.msg(
            "请指定要删除的用户".into(),
            "user_ids must not be empty".into(),
        );
        return Err(DomainError::invalid("user_ids", m));
    }
    let tx = write_tx(conn)?;
    let now = now_ms();
    for name in usernames {
        let user = find(&tx, actor, name)?;
        let keys = crate::db::keys::of_user(&tx, user.id)?.len();
        store::delete(&tx, user.id)?;
        audit::record(
            &tx,
            &actor.name,
            "user.delete",
            &user.username,
            &format!("keys={keys}"),
            now,
        )?;
    }
    ensure_an_admin_remains(&tx, actor)?;
    tx.commit()?;
    Ok(())
}

/// The figures of one user.
pub fn view(conn: &Connection, config: &Config, user: UserRow) -> Result<UserView, DomainError> {
    let period =
        BudgetPeriod::parse(user.budget_duration.as_deref()).unwrap_or(BudgetPeriod::Lifetime);
    let now = Utc::now();
    let since = period
        .start(now, config.server.utc_offset)
        .timestamp_millis();
    let spend = spend_since(conn, SpendOf::User, user.id, since)?;
    let teams = crate::db::teams::of_user(conn, user.id)?
        .into_iter()
        .map(|t| Membership {
            team_id: t.team_id,
            alias: t.alias,
        })
        .collect();
    let keys = crate::db::keys::of_user(conn, user.id)?
        .into_iter()
        .map(|k| keys::view(conn, config, k))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UserView {
        remaining: user.max_budget.map(|b| b.saturating_sub(spend)),
        reset_at: period.reset_at(now, config.server.utc_offset),
        can_login: user.password_hash.is_some(),
        id: user.id,
        username: user.username,
        role: user.role,
        disabled: user.disabled,
        max_budget: user.max_budget,
        period,
        spend,
        teams,
        keys,
        created_at: user.created_at,
    })
}

fn ensure_username_free(
    conn: &Connection,
    actor: &Actor,
    username: &str,
) -> Result<(), DomainError> {
    if store::by_username(conn, username)?.is_none() {
        return Ok(());
    }
    Err(DomainError::Conflict(actor.msg(
        format!("用户名「{username}」已存在"),
        format!("a user named `{username}` already exists"),
    )))
}

/// Role, budget and period after `patch`.
fn patched(
    actor: &Actor,
    user: &UserRow,
    patch: &UserPatch,
) -> Result<(Role, Option<Nanos>, BudgetPeriod), DomainError> {
    let role = match &patch.role {
        Some(r) => input::role(actor.lang, r)?,
        None => user.role,
    };
    let max_budget = match &patch.max_budget {
        Some(b) => input::budget(actor.lang, b.as_deref())?,
        None => user.max_budget,
    };
    let period = match &patch.budget_duration {
        Some(d) => input::period(actor.lang, d.as_deref())?,
        None => {
            BudgetPeriod::parse(user.budget_duration.as_deref()).unwrap_or(BudgetPeriod::Lifetime)
        }
    };
    Ok((role, max_budget, period))
}

fn password_hash(password: Option<&str>) -> Result<Option<String>, DomainError> {
    match password.filter(|p| !p.is_empty()) {
        Some(p) => {
            check_password_rules(p)?;
            Ok(Some(hash_password(p)?))
        }
        None => Ok(None),
    }
}

fn team_of(
    conn: &Connection,
    actor: &Actor,
    team_id: Option<&str>,
) -> Result<Option<i64>, DomainError> {
    match team_id.map(str::trim).filter(|t| !t.is_empty()) {
        Some(id) => Ok(Some(teams::find(conn, actor, id)?.id)),
        None => Ok(None),
    }
}

fn ensure_an_admin_remains(conn: &Connection, actor: &Actor) -> Result<(), DomainError> {
    if store::count_active_admins(conn)? > 0 {
        return Ok(());
    }
    Err(DomainError::Conflict(actor.msg(
        "不能删除、停用或降级最后一个管理员".into(),
        "refused: this would leave no enabled admin (proxy_admin)".into(),
    )))
}
