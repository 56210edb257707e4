//! The rules a key must satisfy, shared by generate and update: who it may belong to
//! (admins choose anyone; an internal_user only themselves, in one of their teams),
//! whether its budget fits what its team (and, for self-service, its user) has left,
//! which models it may name, and when it expires.

use chrono::{NaiveDate, Utc};
use rusqlite::Connection;

use super::{Expiry, KeyInput};
use crate::config::Config;
use crate::db::keys::{self as store, KeyFields, KeyRow};
use crate::db::now_ms;
use crate::db::teams::TeamRow;
use crate::db::users::UserRow;
use crate::domain::actor::Actor;
use crate::domain::budget::{local_midnight, BudgetPeriod};
use crate::domain::{input, teams, users, DomainError};
use crate::money::Nanos;

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

pub(super) fn expires_at(
    actor: &Actor,
    config: &Config,
    expiry: &Expiry,
) -> Result<Option<i64>, DomainError> {
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
pub(super) struct Owner {
    pub(super) user: Option<UserRow>,
    pub(super) team: Option<TeamRow>,
}

impl Owner {
    pub(super) fn of(conn: &Connection, key: &KeyRow) -> Result<Owner, DomainError> {
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

pub(super) fn resolve_owner(
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
pub(super) fn self_service_owner(
    conn: &Connection,
    actor: &Actor,
    user: Option<UserRow>,
    team: Option<TeamRow>,
) -> Result<Owner, DomainError> {
    let forbidden = |zh: &str, en: &str| DomainError::Forbidden(actor.msg(zh.into(), en.into()));
    let me = match actor.user_id {
        Some(id) => crate::db::users::by_id(conn, id)?,
        None => None,
    };
    let me = me.ok_or_else(|| forbidden("未登录", "not signed in"))?;
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
pub(super) fn check_allocation(
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
                let m = actor.msg(
                    format!("分组 {} 剩余预算 {left} USD，不足以分配 {budget} USD", team.alias),
                    format!("team {} has {left} USD of budget left, not enough to allocate {budget} USD", team.alias),
                );
                return Err(DomainError::invalid("max_budget", m));
            }
        }
    }
    match &owner.user {
        Some(user) if !actor.is_admin() => {
            check_user_allocation(conn, actor, config, user, budget, except)
        }
        _ => Ok(()),
    }
}

fn check_user_allocation(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
    user: &UserRow,
    budget: Nanos,
    except: Option<i64>,
) -> Result<(), DomainError> {
    let left = super::uncommitted_budget(
        conn,
        config,
        store::Owner::User(user.id),
        user.max_budget,
        user.budget_duration.as_deref(),
        except,
    )?;
    match left {
        Some(left) if budget > left => {
            let left = left.max(Nanos::ZERO);
            let m = actor.msg(
                format!("用户 {} 剩余个人预算 {left} USD，不足以分配 {budget} USD", user.username),
                format!("user {} has {left} USD of personal budget left, not enough to allocate {budget} USD", user.username),
            );
            Err(DomainError::invalid("max_budget", m))
        }
        _ => Ok(()),
    }
}

pub(super) fn ensure_may_see(actor: &Actor, key: &KeyRow) -> Result<(), DomainError> {
    if actor.is_admin() || (actor.user_id.is_some() && key.user_id == actor.user_id) {
        return Ok(());
    }
    Err(DomainError::Forbidden(actor.msg(
        "只能查看自己的密钥".into(),
        "you may only see your own keys".into(),
    )))
}

pub(super) fn ensure_may_change(actor: &Actor, key: &KeyRow) -> Result<(), DomainError> {
    actor.require_writer()?;
    ensure_may_see(actor, key)
}

pub(super) fn ensure_alias_free(
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
pub(super) struct Checked {
    pub(super) alias: String,
    pub(super) max_budget: Option<Nanos>,
    period: BudgetPeriod,
    models_json: String,
}

impl Checked {
    pub(super) fn new(
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

    pub(super) fn as_row<'a>(&'a self, owner: &Owner, expires_at: Option<i64>) -> KeyFields<'a> {
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
