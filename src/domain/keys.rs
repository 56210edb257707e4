//! Virtual keys: generate (`sk-` + 40 base62 characters from the OS CSPRNG, only the
//! SHA-256 stored, the secret returned once), edit, block, regenerate, delete, and the
//! allocation rule: a key's budget must fit in its team's remaining budget (and, for
//! self-service by an internal_user, in the user's own unallocated budget).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::Connection;

use super::actor::Actor;
use super::budget::{local_midnight, BudgetPeriod};
use super::tokens::{random_base62, sha256_hex};
use super::{input, teams, users, write_tx, DomainError};
use crate::config::Config;
use crate::db::keys::{self as store, KeyFields, KeyRow};
use crate::db::rollups::{spend_since, SpendOf};
use crate::db::teams::TeamRow;
use crate::db::users::UserRow;
use crate::db::{audit, now_ms};
use crate::money::Nanos;

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

/// Who and which teams the actor may generate keys for.
#[derive(Debug, Clone, Default)]
pub struct OwnerChoices {
    /// Usernames (admins: everyone; others: themselves).
    pub users: Vec<String>,
    /// (public team id, name) pairs (admins: every team; others: their teams).
    pub teams: Vec<(String, String)>,
}

/// The users and teams the actor may pick in the 生成密钥 form.
pub fn owner_choices(conn: &Connection, actor: &Actor) -> Result<OwnerChoices, DomainError> {
    let pair = |t: TeamRow| (t.team_id, t.alias);
    if actor.is_admin() {
        let users = crate::db::users::list(conn)?;
        return Ok(OwnerChoices {
            users: users.into_iter().map(|u| u.username).collect(),
            teams: crate::db::teams::list(conn)?
                .into_iter()
                .map(pair)
                .collect(),
        });
    }
    let Some(me) = actor.user_id else {
        return Ok(OwnerChoices::default());
    };
    Ok(OwnerChoices {
        users: vec![actor.name.clone()],
        teams: crate::db::teams::of_user(conn, me)?
            .into_iter()
            .map(pair)
            .collect(),
    })
}

/// A new random secret.
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
    let input = KeyInput {
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
    };
    let fields = Checked::new(actor, config, &input, owner.team.as_ref())?;
    let expires = match &patch.expiry {
        Some(e) => expires_at(actor, config, e)?,
        None => row.expires_at,
    };
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
    let user = match k.user_id {
        Some(id) => crate::db::users::by_id(conn, id)?.map(|u| u.username),
        None => None,
    };
    let team = match k.team_id {
        Some(id) => crate::db::teams::by_id(conn, id)?,
        None => None,
    };
    let expires_at = k
        .expires_at
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    Ok(KeyView {
        masked: mask(&k.last4),
        user,
        team_id: team.as_ref().map(|t| t.team_id.clone()),
        team_alias: team.map(|t| t.alias),
        remaining: k.max_budget.map(|b| b.saturating_sub(spend)),
        reset_at: period.reset_at(now, config.server.utc_offset),
        models: input::models_from_json(&k.models),
        expired: expires_at.is_some_and(|e| e <= now),
        expires_at,
        last_used_at: k
            .last_used_at
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        created_at: Utc
            .timestamp_millis_opt(k.created_at)
            .single()
            .unwrap_or_default(),
        id: k.id,
        token: k.token,
        alias: k.alias,
        max_budget: k.max_budget,
        blocked: k.blocked,
        period,
        spend,
    })
}

/// Parses a LiteLLM duration (`30s`, `15m`, `12h`, `7d`, `2w`, `1mo`) into milliseconds;
/// empty, `null` or `never` means no expiry.
pub fn parse_duration(actor: &Actor, text: &str) -> Result<Option<i64>, DomainError> {
    let text = text.trim().to_ascii_lowercase();
    if text.is_empty() || text == "null" || text == "never" {
        return Ok(None);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "mo" => 30 * 86_400_000,
        _ => 0,
    };
    let n: i64 = digits.parse().unwrap_or(0);
    match n.checked_mul(unit_ms) {
        Some(ms) if ms > 0 && n <= 100_000 => Ok(Some(ms)),
        _ => Err(DomainError::invalid(
            "duration",
            actor.msg(
                format!("有效期「{text}」无效（例如 30d、12h、7d，留空为永久）"),
                format!("duration `{text}` is not like 30d, 12h or 7d (null = never expires)"),
            ),
        )),
    }
}

fn expires_at(actor: &Actor, config: &Config, expiry: &Expiry) -> Result<Option<i64>, DomainError> {
    match expiry {
        Expiry::Never => Ok(None),
        Expiry::Duration(text) => Ok(parse_duration(actor, text)?.map(|ms| now_ms() + ms)),
        Expiry::Date(text) => {
            let offset = config.server.utc_offset;
            let today = Utc::now().with_timezone(&offset.fixed()).date_naive();
            match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                Ok(day) if day >= today => {
                    let end = day.succ_opt().unwrap_or(day);
                    Ok(Some(local_midnight(end, offset).timestamp_millis()))
                }
                _ => Err(DomainError::invalid(
                    "expires",
                    actor.msg(
                        format!("到期日期「{text}」无效，请选择今天或以后的日期"),
                        format!("expiry date `{text}` must be today or later (YYYY-MM-DD)"),
                    ),
                )),
            }
        }
    }
}

/// The user and team a key is charged to.
struct Owner {
    user: Option<UserRow>,
    team: Option<TeamRow>,
}

impl Owner {
    fn of(conn: &Connection, key: &KeyRow) -> Result<Owner, DomainError> {
        let user = match key.user_id {
            Some(id) => crate::db::users::by_id(conn, id)?,
            None => None,
        };
        let team = match key.team_id {
            Some(id) => crate::db::teams::by_id(conn, id)?,
            None => None,
        };
        Ok(Owner { user, team })
    }
}

fn resolve_owner(
    conn: &Connection,
    actor: &Actor,
    user: Option<&str>,
    team_id: Option<&str>,
) -> Result<Owner, DomainError> {
    let user = match user.map(str::trim).filter(|u| !u.is_empty()) {
        Some(name) => Some(users::find(conn, actor, name)?),
        None => None,
    };
    let team = match team_id.map(str::trim).filter(|t| !t.is_empty()) {
        Some(id) => Some(teams::find(conn, actor, id)?),
        None => None,
    };
    if !actor.is_admin() {
        return self_service_owner(conn, actor, user, team);
    }
    if let (Some(u), Some(t)) = (&user, &team) {
        if !crate::db::teams::is_member(conn, t.id, u.id)? {
            return Err(DomainError::invalid(
                "team_id",
                actor.msg(
                    format!("用户 {} 不属于分组 {}", u.username, t.alias),
                    format!(
                        "user `{}` is not a member of team `{}`",
                        u.username, t.alias
                    ),
                ),
            ));
        }
    }
    Ok(Owner { user, team })
}

/// An internal_user generates keys only for themselves, in one of their teams.
fn self_service_owner(
    conn: &Connection,
    actor: &Actor,
    user: Option<UserRow>,
    team: Option<TeamRow>,
) -> Result<Owner, DomainError> {
    let forbidden = |zh: &str, en: &str| DomainError::Forbidden(actor.msg(zh.into(), en.into()));
    let me = actor
        .user_id
        .and_then(|id| crate::db::users::by_id(conn, id).ok().flatten())
        .ok_or_else(|| forbidden("未登录", "not signed in"))?;
    if user.is_some_and(|u| u.id != me.id) {
        return Err(forbidden(
            "普通用户只能为自己生成密钥",
            "you may only generate keys for yourself",
        ));
    }
    let mine = crate::db::teams::of_user(conn, me.id)?;
    let team = match team {
        Some(t) if mine.iter().any(|m| m.id == t.id) => Some(t),
        Some(_) => {
            return Err(forbidden(
                "你不属于该分组",
                "you are not a member of that team",
            ))
        }
        None if mine.len() <= 1 => mine.into_iter().next(),
        None => {
            let m = actor.msg(
                "请选择关联分组".into(),
                "team_id is required: you belong to several teams".into(),
            );
            return Err(DomainError::invalid("team_id", m));
        }
    };
    Ok(Owner {
        user: Some(me),
        team,
    })
}

/// Refuses a budget over the team's remaining budget, and for self-service also over
/// the user's unallocated budget. The message says how much is left.
fn check_allocation(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
    owner: &Owner,
    budget: Option<Nanos>,
    except: Option<i64>,
) -> Result<(), DomainError> {
    let Some(budget) = budget else {
        return Ok(());
    };
    if let Some(team) = &owner.team {
        if let Some(left) = teams::remaining(conn, config, team, except)? {
            if budget > left {
                let left = left.max(Nanos::ZERO);
                return Err(DomainError::invalid(
                    "max_budget",
                    actor.msg(
                        format!("分组 {} 剩余预算 {left} USD，不足以分配 {budget} USD", team.alias),
                        format!("team {} has {left} USD of budget left, not enough to allocate {budget} USD", team.alias),
                    ),
                ));
            }
        }
    }
    match (&owner.user, actor.is_admin()) {
        (Some(user), false) => match users::unallocated(conn, config, user, except)? {
            Some(left) if budget > left => {
                let left = left.max(Nanos::ZERO);
                Err(DomainError::invalid(
                    "max_budget",
                    actor.msg(
                        format!("用户 {} 剩余个人预算 {left} USD，不足以分配 {budget} USD", user.username),
                        format!("user {} has {left} USD of personal budget left, not enough to allocate {budget} USD", user.username),
                    ),
                ))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn ensure_may_see(actor: &Actor, key: &KeyRow) -> Result<(), DomainError> {
    if actor.is_admin() || (actor.user_id.is_some() && key.user_id == actor.user_id) {
        return Ok(());
    }
    Err(DomainError::Forbidden(actor.msg(
        "只能查看自己的密钥".into(),
        "you may only see your own keys".into(),
    )))
}

fn ensure_may_change(actor: &Actor, key: &KeyRow) -> Result<(), DomainError> {
    actor.require_writer()?;
    ensure_may_see(actor, key)
}

fn ensure_alias_free(
    conn: &Connection,
    actor: &Actor,
    alias: &str,
    except: Option<i64>,
) -> Result<(), DomainError> {
    match store::by_alias(conn, alias)? {
        Some(k) if Some(k.id) != except => Err(DomainError::Conflict(actor.msg(
            format!("密钥别名「{alias}」已存在"),
            format!("a key with key_alias `{alias}` already exists"),
        ))),
        _ => Ok(()),
    }
}

/// Validated key settings.
struct Checked {
    alias: String,
    max_budget: Option<Nanos>,
    period: BudgetPeriod,
    models_json: String,
}

impl Checked {
    fn new(
        actor: &Actor,
        config: &Config,
        input: &KeyInput,
        team: Option<&TeamRow>,
    ) -> Result<Checked, DomainError> {
        let alias = input::name(
            actor.lang,
            "key_alias",
            ("密钥别名", "key_alias"),
            &input.alias,
        )?;
        let max_budget = input::budget(actor.lang, input.max_budget.as_deref())?;
        let period = input::period(actor.lang, input.budget_duration.as_deref())?;
        let models = input::models(actor.lang, config, &input.models)?;
        if let Some(team) = team {
            let allowed = input::models_from_json(&team.models);
            if let Some(m) = models
                .iter()
                .find(|m| !allowed.is_empty() && !allowed.contains(m))
            {
                return Err(DomainError::invalid(
                    "models",
                    actor.msg(
                        format!("模型「{m}」不在分组 {} 允许的模型中", team.alias),
                        format!("model `{m}` is not allowed for team {}", team.alias),
                    ),
                ));
            }
        }
        Ok(Checked {
            alias,
            max_budget,
            period,
            models_json: input::models_to_json(&models),
        })
    }

    fn as_row<'a>(&'a self, owner: &Owner, expires_at: Option<i64>) -> KeyFields<'a> {
        KeyFields {
            alias: &self.alias,
            user_id: owner.user.as_ref().map(|u| u.id),
            team_id: owner.team.as_ref().map(|t| t.id),
            max_budget: self.max_budget,
            budget_duration: self.period.as_stored(),
            models: &self.models_json,
            expires_at,
        }
    }
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

    #[test]
    fn durations_follow_litellm() {
        let a = Actor::master_key();
        assert_eq!(parse_duration(&a, "30d").unwrap(), Some(30 * 86_400_000));
        assert_eq!(parse_duration(&a, "12h").unwrap(), Some(12 * 3_600_000));
        assert_eq!(parse_duration(&a, "").unwrap(), None);
        for bad in ["0d", "d", "30x", "-1d", "12"] {
            assert!(parse_duration(&a, bad).is_err(), "{bad}");
        }
    }
}
