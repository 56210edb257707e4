//! Teams (分组): create, edit, delete, list, and the team's remaining budget (SPEC §5):
//! team budget − the budgets of its keys that have one − this period's spend of its
//! keys that have none. A team is deleted only once no key belongs to it.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::actor::Actor;
use super::budget::BudgetPeriod;
use super::keys::{self, KeyView};
use super::tokens::random_base62;
use super::{input, write_tx, DomainError};
use crate::config::Config;
use crate::db::keys::Owner;
use crate::db::rollups::{spend_since, SpendOf};
use crate::db::teams::{self as store, TeamFields, TeamRow};
use crate::db::{audit, now_ms};
use crate::money::Nanos;

/// A new team as typed (budget as text, period in any accepted spelling).
#[derive(Debug, Clone, Default)]
pub struct TeamInput {
    /// 分组名称 / `team_alias`.
    pub alias: String,
    /// 分组预算 in USD; empty = none.
    pub max_budget: Option<String>,
    /// 预算周期.
    pub budget_duration: Option<String>,
    /// Allowed models; empty = all.
    pub models: Vec<String>,
}

/// Changes to a team; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TeamPatch {
    /// New name.
    pub alias: Option<String>,
    /// New budget (`Some(None)` removes it).
    pub max_budget: Option<Option<String>>,
    /// New period (`Some(None)` = lifetime).
    pub budget_duration: Option<Option<String>>,
    /// New model list (empty = all).
    pub models: Option<Vec<String>>,
}

/// A team with the figures pages and `/team/info` show.
#[derive(Debug, Clone)]
pub struct TeamView {
    /// Row id.
    pub id: i64,
    /// Public id.
    pub team_id: String,
    /// Name.
    pub alias: String,
    /// Budget per period.
    pub max_budget: Option<Nanos>,
    /// Budget period.
    pub period: BudgetPeriod,
    /// Allowed models; empty = all.
    pub models: Vec<String>,
    /// Sum of the budgets of its keys that have one.
    pub allocated: Nanos,
    /// What its keys spent this period.
    pub spend: Nanos,
    /// Budget left to allocate or spend; `None` without a team budget.
    pub remaining: Option<Nanos>,
    /// When the period resets; `None` for lifetime budgets.
    pub reset_at: Option<DateTime<Utc>>,
    /// Member usernames.
    pub members: Vec<String>,
    /// Its keys.
    pub keys: Vec<KeyView>,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// The team with public id `team_id`, or a clear "not found".
pub fn find(conn: &Connection, actor: &Actor, team_id: &str) -> Result<TeamRow, DomainError> {
    store::by_team_id(conn, team_id.trim())?.ok_or_else(|| {
        DomainError::NotFound(actor.msg(
            format!("分组「{team_id}」不存在"),
            format!("no team with team_id `{team_id}`"),
        ))
    })
}

/// Remaining budget of `team` now, leaving key `except` out (the key being edited);
/// `None` when the team has no budget.
pub fn remaining(
    conn: &Connection,
    config: &Config,
    team: &TeamRow,
    except: Option<i64>,
) -> Result<Option<Nanos>, DomainError> {
    super::keys::uncommitted_budget(
        conn,
        config,
        Owner::Team(team.id),
        team.max_budget,
        team.budget_duration.as_deref(),
        except,
    )
}

/// Every team with its figures (admins only).
pub fn list(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
) -> Result<Vec<TeamView>, DomainError> {
    actor.require_admin()?;
    store::list(conn)?
        .into_iter()
        .map(|t| view(conn, config, t))
        .collect()
}

/// One team with its figures, members and keys (admins only).
pub fn info(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
    team_id: &str,
) -> Result<TeamView, DomainError> {
    actor.require_admin()?;
    let team = find(conn, actor, team_id)?;
    view(conn, config, team)
}

/// Creates a team (admins only).
pub fn create(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    input: TeamInput,
) -> Result<TeamView, DomainError> {
    actor.require_admin()?;
    let fields = Checked::new(actor, config, &input)?;
    let tx = write_tx(conn)?;
    ensure_alias_free(&tx, actor, &fields.alias, None)?;
    let now = now_ms();
    let team_id = format!("team-{}", random_base62(16).to_lowercase());
    let id = store::insert(&tx, &team_id, &fields.as_row(), now)?;
    audit::record(
        &tx,
        &actor.name,
        "team.create",
        &fields.alias,
        &fields.describe(),
        now,
    )?;
    let team = store::by_id(&tx, id)?.ok_or_else(|| DomainError::NotFound(team_id.clone()))?;
    let view = view(&tx, config, team)?;
    tx.commit()?;
    Ok(view)
}

/// Changes a team (admins only). Its budget cannot drop below what is already
/// committed to its keys.
pub fn update(
    conn: &mut Connection,
    actor: &Actor,
    config: &Config,
    team_id: &str,
    patch: TeamPatch,
) -> Result<TeamView, DomainError> {
    actor.require_admin()?;
    let tx = write_tx(conn)?;
    let team = find(&tx, actor, team_id)?;
    let input = TeamInput {
        alias: patch.alias.unwrap_or_else(|| team.alias.clone()),
        max_budget: patch
            .max_budget
            .unwrap_or_else(|| team.max_budget.map(|b| b.format_usd(4))),
        budget_duration: patch
            .budget_duration
            .unwrap_or_else(|| team.budget_duration.clone()),
        models: patch
            .models
            .unwrap_or_else(|| input::models_from_json(&team.models)),
    };
    let fields = Checked::new(actor, config, &input)?;
    ensure_alias_free(&tx, actor, &fields.alias, Some(team.id))?;
    ensure_covers_keys(&tx, actor, config, &team, fields.max_budget)?;
    let now = now_ms();
    store::update(&tx, team.id, &fields.as_row(), now)?;
    audit::record(
        &tx,
        &actor.name,
        "team.update",
        &fields.alias,
        &fields.describe(),
        now,
    )?;
    let team = find(&tx, actor, team_id)?;
    let view = view(&tx, config, team)?;
    tx.commit()?;
    Ok(view)
}

/// Deletes teams (admins only), all or none. A team that still has keys is refused:
/// delete or move its keys first, so no key silently loses its team budget.
pub fn delete(
    conn: &mut Connection,
    actor: &Actor,
    team_ids: &[String],
) -> Result<(), DomainError> {
    actor.require_admin()?;
    if team_ids.is_empty() {
        let m = actor.msg(
            "请指定要删除的分组".into(),
            "team_ids must not be empty".into(),
        );
        return Err(DomainError::invalid("team_ids", m));
    }
    let tx = write_tx(conn)?;
    let now = now_ms();
    for team_id in team_ids {
        let team = find(&tx, actor, team_id)?;
        ensure_no_keys(&tx, actor, &team)?;
        store::delete(&tx, team.id)?;
        audit::record(
            &tx,
            &actor.name,
            "team.delete",
            &team.alias,
            &team.team_id,
            now,
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The figures of one team.
pub fn view(conn: &Connection, config: &Config, team: TeamRow) -> Result<TeamView, DomainError> {
    let period =
        BudgetPeriod::parse(team.budget_duration.as_deref()).unwrap_or(BudgetPeriod::Lifetime);
    let now = Utc::now();
    let offset = config.server.utc_offset;
    let since = period.start(now, offset).timestamp_millis();
    let (allocated, _) = crate::db::keys::committed(conn, Owner::Team(team.id), since, None)?;
    let keys = crate::db::keys::of_team(conn, team.id)?
        .into_iter()
        .map(|k| keys::view(conn, config, k))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TeamView {
        spend: spend_since(conn, SpendOf::Team, team.id, since)?,
        remaining: remaining(conn, config, &team, None)?,
        reset_at: period.reset_at(now, offset),
        members: store::member_names(conn, team.id)?,
        models: input::models_from_json(&team.models),
        id: team.id,
        team_id: team.team_id,
        alias: team.alias,
        max_budget: team.max_budget,
        period,
        allocated,
        keys,
        created_at: team.created_at,
    })
}

/// Validated team fields.
struct Checked {
    alias: String,
    max_budget: Option<Nanos>,
    period: BudgetPeriod,
    models_json: String,
}

impl Checked {
    fn new(actor: &Actor, config: &Config, input: &TeamInput) -> Result<Checked, DomainError> {
        let alias = input::name(
            actor.lang,
            "team_alias",
            ("分组名称", "team_alias"),
            &input.alias,
        )?;
        let max_budget = input::budget(actor.lang, input.max_budget.as_deref())?;
        let period = input::period(actor.lang, input.budget_duration.as_deref())?;
        let models = input::models(actor.lang, config, &input.models)?;
        Ok(Checked {
            alias,
            max_budget,
            period,
            models_json: input::models_to_json(&models),
        })
    }

    fn as_row(&self) -> TeamFields<'_> {
        TeamFields {
            alias: &self.alias,
            max_budget: self.max_budget,
            budget_duration: self.period.as_stored(),
            models: &self.models_json,
        }
    }

    fn describe(&self) -> String {
        format!(
            "max_budget={} budget_duration={} models={}",
            self.max_budget
                .map(|b| b.to_string())
                .unwrap_or_else(|| "none".into()),
            self.period.as_stored().unwrap_or("none"),
            self.models_json
        )
    }
}

fn ensure_no_keys(conn: &Connection, actor: &Actor, team: &TeamRow) -> Result<(), DomainError> {
    let n = crate::db::keys::of_team(conn, team.id)?.len();
    if n == 0 {
        return Ok(());
    }
    Err(DomainError::Conflict(actor.msg(
        format!(
            "分组「{}」下还有 {n} 个密钥，请先删除这些密钥再删除分组",
            team.alias
        ),
        format!(
            "team `{}` still has {n} key(s); delete them before deleting the team",
            team.alias
        ),
    )))
}

fn ensure_alias_free(
    conn: &Connection,
    actor: &Actor,
    alias: &str,
    except: Option<i64>,
) -> Result<(), DomainError> {
    match store::by_alias(conn, alias)? {
        Some(t) if Some(t.id) != except => Err(DomainError::Conflict(actor.msg(
            format!("分组名称「{alias}」已存在"),
            format!("a team named `{alias}` already exists"),
        ))),
        _ => Ok(()),
    }
}

fn ensure_covers_keys(
    conn: &Connection,
    actor: &Actor,
    config: &Config,
    team: &TeamRow,
    budget: Option<Nanos>,
) -> Result<(), DomainError> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let probe = TeamRow {
        max_budget: Some(budget),
        ..team.clone()
    };
    let left = remaining(conn, config, &probe, None)?.unwrap_or_default();
    if left < Nanos::ZERO {
        let committed = budget.saturating_sub(left);
        return Err(DomainError::invalid(
            "max_budget",
            actor.msg(
                format!("分组「{}」已分配给密钥 {committed} USD，预算不能低于此数", team.alias),
                format!("team `{}` has {committed} USD committed to its keys; the budget cannot be lower", team.alias),
            ),
        ));
    }
    Ok(())
}
