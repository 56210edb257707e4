//! `/team/new|info|list|update|delete`.

use super::limits::{add_team_limits, LimitFields};
use crate::db::limits::LimitOwner;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{double_option, money_patch, money_text, time, usd, ApiActor};
use crate::app::AppState;
use crate::domain::teams::{self, TeamInput, TeamPatch, TeamView};
use crate::error::AppError;

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/team/new", web::post().to(create))
        .route("/team/info", web::get().to(info))
        .route("/team/list", web::get().to(list))
        .route("/team/update", web::post().to(update))
        .route("/team/delete", web::post().to(delete));
}

#[derive(Deserialize)]
struct NewBody {
    #[serde(default)]
    team_alias: String,
    max_budget: Option<Value>,
    budget_duration: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(flatten)]
    limits: LimitFields,
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    team_id: String,
    team_alias: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    max_budget: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    budget_duration: Option<Option<String>>,
    models: Option<Vec<String>>,
    #[serde(flatten)]
    limits: LimitFields,
}

#[derive(Deserialize)]
struct InfoQuery {
    #[serde(default)]
    team_id: String,
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(default)]
    team_ids: Vec<String>,
}

async fn create(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<NewBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    body.limits.check(&actor.0)?;
    let input = TeamInput {
        alias: body.team_alias,
        max_budget: money_text(body.max_budget.as_ref(), "max_budget")?,
        budget_duration: body.budget_duration,
        models: body.models,
    };
    let config = state.config.clone();
    let team = state
        .write(move |c| teams::create(c, &actor.0, &config, input))
        .await?;
    body.limits.store(&state, LimitOwner::Team(team.id)).await?;
    let mut json = team_json(&team);
    add_team_limits(&state, team.id, &mut json);
    Ok(HttpResponse::Ok().json(json))
}

async fn info(
    actor: ApiActor,
    state: web::Data<AppState>,
    query: web::Query<InfoQuery>,
) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let team_id = query.into_inner().team_id;
    let team = state
        .db
        .run(move |c| teams::info(c, &actor.0, &config, &team_id))
        .await?;
    let mut json = team_json(&team);
    add_team_limits(&state, team.id, &mut json);
    Ok(HttpResponse::Ok().json(json))
}

async fn list(actor: ApiActor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let all = state
        .db
        .run(move |c| teams::list(c, &actor.0, &config))
        .await?;
    Ok(HttpResponse::Ok().json(all.iter().map(team_json).collect::<Vec<_>>()))
}

async fn update(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    body.limits.check(&actor.0)?;
    let max_budget = money_patch(body.max_budget, "max_budget")?;
    let patch = TeamPatch {
        alias: body.team_alias,
        max_budget,
        budget_duration: body.budget_duration,
        models: body.models,
    };
    let config = state.config.clone();
    let team_id = body.team_id;
    let team = state
        .write(move |c| teams::update(c, &actor.0, &config, &team_id, patch))
        .await?;
    body.limits.store(&state, LimitOwner::Team(team.id)).await?;
    let mut json = team_json(&team);
    add_team_limits(&state, team.id, &mut json);
    Ok(HttpResponse::Ok().json(json))
}

async fn delete(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<DeleteBody>,
) -> Result<HttpResponse, AppError> {
    let ids = body.into_inner().team_ids;
    let deleted = ids.clone();
    state
        .write(move |c| teams::delete(c, &actor.0, &ids))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted_teams": deleted })))
}

/// A team as `/team/info` shows it.
pub fn team_json(t: &TeamView) -> Value {
    json!({
        "team_id": t.team_id,
        "team_alias": t.alias,
        "max_budget": usd(t.max_budget),
        "budget_duration": t.period.as_stored(),
        "models": t.models,
        "spend": t.spend.as_usd_f64(),
        "allocated_budget": t.allocated.as_usd_f64(),
        "remaining_budget": usd(t.remaining),
        "budget_reset_at": time(t.reset_at),
        "members": t.members,
        "keys": t.keys.iter().map(super::keys::key_json).collect::<Vec<_>>(),
    })
}
