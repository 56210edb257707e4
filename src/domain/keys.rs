//! Virtual keys: generate (`sk-` + 40 base62 characters from the OS CSPRNG, only the
//! SHA-256 stored, the secret returned once), edit, block, regenerate, delete, and the
//! allocation rule: a key's budget must fit in its team's remaining budget (and, for
//! self-service by an internal_user, in the user's own unallocated budget).

mod rules;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use super::actor::Actor;
use super::budget::BudgetPeriod;
use super::tokens::{random_base62, sha256_hex};
use super::{input, write_tx, DomainError};
use crate::config::Config;
use crate::db::keys::{self as store, KeyRow};
use crate::db::rollups::{spend_since, SpendOf};
use crate::db::{audit, now_ms};
use crate::money::Nanos;
use rules::{
    check_allocation, ensure_alias_free, ensure_may_change, ensure_may_see, expires_at,
    resolve_owner, Checked, Owner,
};
pub use rules::{owner_choices, parse_duration, OwnerChoices};

/// Random characters after `sk-`.
pub const SECRET_CHARS: usize = 40;

/// When a key stops working.
#[derive(Debug, Clone, Default)]
pub enum Expiry {
    /// 永久.
    #[default]
    Never,
    /// A LiteLLM duration from now: `30d`, `12h`, `90m`, `1mo` …
    Duration(String),
    /// Valid through this local date (`YYYY-MM-DD`).
    Date(String),
}

/// A new key as typed.
#[derive(Debug, Clone, Default)]
pub struct KeyInput {
    /// 密钥别名 / `key_alias`.
    pub alias: String,
    /// 关联用户: a username.
    pub user: Option<String>,
    /// 关联分组: a public team id.
    pub team_id: Option<String>,
    /// 预算限制 in USD; empty = none.
    pub max_budget: Option<String>,
    /// Budget period.
    pub budget_duration: Option<String>,
    /// 模型选择; empty = all.
    pub models: Vec<String>,
    /// 有效期.
    pub expiry: Expiry,
}

/// Changes to a key; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    /// New alias.
    pub alias: Option<String>,
    /// New budget (`Some(None)` removes it).
    pub max_budget: Option<Option<String>>,
    /// New period.
    pub budget_duration: Option<Option<String>>,
    /// New model list (empty = all).
    pub models: Option<Vec<String>>,
    /// New expiry.
    pub expiry: Option<Expiry>,
}

/// A key with the figures pages and `/key/info` show. Never holds the secret.
#[derive(Debug, Clone)]
pub struct KeyView {
    /// Row id.
    pub id: i64,
    /// SHA-256 of the secret (LiteLLM's `token`).
    pub token: String,
    /// Alias.
    pub alias: String,
    /// `sk-…abcd`.
    pub masked: String,
    /// Owner's username.
    pub user: Option<String>,
    /// Team's public id.
    pub team_id: Option<String>,
    /// Team's name.
    pub team_alias: Option<String>,
    /// Budget per period.
    pub max_budget: Option<Nanos>,
    /// Budget period.
    pub period: BudgetPeriod,
    /// Spent this period.
    pub spend: Nanos,
    /// Budget minus spend; `None` without a budget.
    pub remaining: Option<Nanos>,
    /// When the period resets.
    pub reset_at: Option<DateTime<Utc>>,
    /// Allowed models; empty = all.
    pub models: Vec<String>,
    /// Expiry; `None` = never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Past its expiry.
    pub expired: bool,
    /// Blocked.
    pub blocked: bool,
    /// Last proxied request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A freshly generated secret, to be shown once, with its key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The full `sk-…` secret. Never stored, logged or shown again.
    pub secret: String,
    /// The key.
    pub view: KeyView,
}

/// A new random secret.
/// What is left of a team's or user's budget after the budgets of its keys and the
/// period's spend of its keys without one (key `except` left out); `None` without a
/// budget. Both the team pool and a user's self-service allocation are counted so.
pub(crate) fn uncommitted_budget(
    conn: &Connection,
    config: &Config,
    owner: store::Owner,
    budget: Option<Nanos>,
    budget_duration: Option<&str>,
    except: Option<i64>,
) -> Result<Option<Nanos>, DomainError> {
    let Some(budget) = budget else {
        return Ok(None);
    };
    let period = BudgetPeriod::parse(budget_duration).unwrap_or(BudgetPeriod::Lifetime);
    let since = period
        .start(Utc::now(), config.server.utc_offset)
        .timestamp_millis();
    let (allocated, spent) = store::committed(conn, owner, since, except)?;
    Ok(Some(budget.saturating_sub(allocated).saturating_sub(spent)))
}

pub fn new_secret() -> String {
    format!("sk-{}", random_base62(SECRET_CHARS))
}

/// The stored hash (`token`) of a secret.
pub fn token_of(secret: &str) -> String {
    sha256_hex(secret)
}

/// The masked form `sk-…abcd` of a key ending in `last4`.
pub fn mask(last4: &str) -> String {
    format!("sk-…{last4}")
}

/// The key presented as `Authorization: Bearer sk-…` (the proxy's lookup).
pub fn by_secret(conn: &Connection, secret: &str) -> Result<Option<KeyRow>, DomainError> {
    Ok(store::by_token(conn, &token_of(secret))?)
}

/// The key named by its secret (`sk-…`) or its token (hash), or "not found".
pub fn find(conn: &Connection, actor: &Actor, key: &str) -> Result<KeyRow, DomainError> {
    let key = key.trim();
    let row = if key.starts_with("sk-") {
        store::by_token(conn, &token_of(key))?
    } else {
        store::by_token(conn, &key.to_ascii_lowercase())?
    };
    row.ok_or_else(|| {
        DomainError::NotFound(actor.msg(
            "密钥不存在".into(),
            "no such key (give the sk- key or its token)".into(),
        ))
    })
}

/// Keys the actor may see: all for admins, their own for everyone else.
pub fn list(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
) -> Result<Vec<KeyView>, DomainError> {
    let rows = match (actor.is_admin(), actor.user_id) {
        (true, _) => store::list(conn)?,
        (false, Some(me)) => store::of_user(conn, me)?,
        (false, None) => Vec::new(),
    };
    rows.into_iter().map(|k| view(conn, config, k)).collect()
}

/// One key the actor may see.
pub fn info(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
    key: &str,
) -> Result<KeyView, DomainError> {
    let row = find(conn, actor, key)?;
    ensure_may_see(actor, &row)?;
    view(conn, config, row)
}

/// Generates a key and returns its secret once.
pub fn generate(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    input: KeyInput,
) -> Result<NewKey, DomainError> {
    actor.require_writer()?;
    let tx = write_tx(conn)?;
    let owner = resolve_owner(&tx, actor, input.user.as_deref(), input.team_id.as_deref())?;
    let fields = Checked::new(actor, config, &input, owner.team.as_ref())?;
    let expires_at = expires_at(actor, config, &input.expiry)?;
    ensure_alias_free(&tx, actor, &fields.alias, None)?;
    check_allocation(&tx, actor, config, &owner, fields.max_budget, None)?;
    let secret = new_secret();
    let last4 = secret[secret.len() - 4..].to_string();
    let now = now_ms();
    let row = fields.as_row(&owner, expires_at);
    store::insert(&tx, &token_of(&secret), &last4, &row, now)?;
    audit::record(
        &tx,
        &actor.name,
        "key.create",
        &fields.alias,
        &mask(&last4),
        now,
    )?;
    let key = find(&tx, actor, &secret)?;
    let view = view(&tx, config, key)?;
    tx.commit()?;
    Ok(NewKey { secret, view })
}

/// Changes a key's alias, budget, models or expiry (admins only).
pub fn update(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    key: &str,
    patch: KeyPatch,
) -> Result<KeyView, DomainError> {
    actor.require_admin()?;
    let tx = write_tx(conn)?;
    let row = find(&tx, actor, key)?;
    let owner = Owner::of(&tx, &row)?;
    let expires = match &patch.expiry {
        Some(e) => expires_at(actor, config, e)?,
        None => row.expires_at,
    };
    let fields = Checked::new(actor, config, &merged(&row, patch), owner.team.as_ref())?;
    ensure_alias_free(&tx, actor, &fields.alias, Some(row.id))?;
    check_allocation(&tx, actor, config, &owner, fields.max_budget, Some(row.id))?;
    let now = now_ms();
    store::update(&tx, row.id, &fields.as_row(&owner, expires), now)?;
    audit::record(
        &tx,
        &actor.name,
        "key.update",
        &fields.alias,
        &mask(&row.last4),
        now,
    )?;
    let view = view(&tx, config, find(&tx, actor, &row.token)?)?;
    tx.commit()?;
    Ok(view)
}

/// The key's settings with `patch` applied, as if typed anew.
fn merged(row: &KeyRow, patch: KeyPatch) -> KeyInput {
    KeyInput {
        alias: patch.alias.unwrap_or_else(|| row.alias.clone()),
        max_budget: patch
            .max_budget
            .unwrap_or_else(|| row.max_budget.map(|b| b.format_usd(4))),
        budget_duration: patch
            .budget_duration
            .unwrap_or_else(|| row.budget_duration.clone()),
        models: patch
            .models
            .unwrap_or_else(|| input::models_from_json(&row.models)),
        ..KeyInput::default()
    }
}

/// Blocks or unblocks a key (admins only); effective on the next request.
pub fn set_blocked(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    key: &str,
    blocked: bool,
) -> Result<KeyView, DomainError> {
    actor.require_admin()?;
    let tx = write_tx(conn)?;
    let row = find(&tx, actor, key)?;
    let now = now_ms();
    store::set_blocked(&tx, row.id, blocked, now)?;
    let action = if blocked { "key.block" } else { "key.unblock" };
    audit::record(&tx, &actor.name, action, &row.alias, &mask(&row.last4), now)?;
    let view = view(&tx, config, find(&tx, actor, &row.token)?)?;
    tx.commit()?;
    Ok(view)
}

/// A new secret for a key, same settings; the old secret stops working at once.
/// Admins, or the key's owner unless read-only.
pub fn regenerate(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    key: &str,
) -> Result<NewKey, DomainError> {
    let tx = write_tx(conn)?;
    let row = find(&tx, actor, key)?;
    ensure_may_change(actor, &row)?;
    let secret = new_secret();
    let last4 = secret[secret.len() - 4..].to_string();
    let now = now_ms();
    store::set_token(&tx, row.id, &token_of(&secret), &last4, now)?;
    let detail = format!("{} -> {}", mask(&row.last4), mask(&last4));
    audit::record(&tx, &actor.name, "key.regenerate", &row.alias, &detail, now)?;
    let view = view(&tx, config, find(&tx, actor, &secret)?)?;
    tx.commit()?;
    Ok(NewKey { secret, view })
}

/// Deletes keys, all or none. Admins, or the keys' owner unless read-only.
pub fn delete(conn: &mut Connection, actor: &Actor, keys: &[String]) -> Result<(), DomainError> {
    if keys.is_empty() {
        let m = actor.msg("请指定要删除的密钥".into(), "keys must not be empty".into());
        return Err(DomainError::invalid("keys", m));
    }
    let tx = write_tx(conn)?;
    let now = now_ms();
    for key in keys {
        let row = find(&tx, actor, key)?;
        ensure_may_change(actor, &row)?;
        store::delete(&tx, row.id)?;
        audit::record(
            &tx,
            &actor.name,
            "key.delete",
            &row.alias,
            &mask(&row.last4),
            now,
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The figures of one key.
pub fn view(conn: &Connection, config: &Config, k: KeyRow) -> Result<KeyView, DomainError> {
    let period =
        BudgetPeriod::parse(k.budget_duration.as_deref()).unwrap_or(BudgetPeriod::Lifetime);
    let now = Utc::now();
    let since = period
        .start(now, config.server.utc_offset)
        .timestamp_millis();
    let spend = spend_since(conn, SpendOf::Key, k.id, since)?;
    let Owner { user, team } = Owner::of(conn, &k)?;
    let expires_at = k.expires_at.and_then(at_ms);
    Ok(KeyView {
        masked: mask(&k.last4),
        user: user.map(|u| u.username),
        team_id: team.as_ref().map(|t| t.team_id.clone()),
        team_alias: team.map(|t| t.alias),
        remaining: k.max_budget.map(|b| b.saturating_sub(spend)),
        reset_at: period.reset_at(now, config.server.utc_offset),
        models: input::models_from_json(&k.models),
        expired: expires_at.is_some_and(|e| e <= now),
        expires_at,
        last_used_at: k.last_used_at.and_then(at_ms),
        created_at: at_ms(k.created_at).unwrap_or_default(),
        id: k.id,
        token: k.token,
        alias: k.alias,
        max_budget: k.max_budget,
        blocked: k.blocked,
        period,
        spend,
    })
}

fn at_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_masked() {
        let s = new_secret();
        assert!(s.starts_with("sk-") && s.len() == 3 + SECRET_CHARS);
        assert_ne!(s, new_secret());
        assert_eq!(token_of(&s).len(), 64);
        assert_eq!(mask("abcd"), "sk-…abcd");
    }
}
