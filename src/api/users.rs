//! `/user/new|info|list|update|delete`. `user_id` is the username.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{double_option, money_patch, money_text, time, usd, ApiActor};
use crate::app::AppState;
use crate::domain::users::{self, UserInput, UserPatch, UserView};
use crate::error::AppError;

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/user/new", web::post().to(create))
        .route("/user/info", web::get().to(info))
        .route("/user/list", web::get().to(list))
        .route("/user/update", web::post().to(update))
        .route("/user/delete", web::post().to(delete));
}

#[derive(Deserialize)]
struct NewBody {
    #[serde(default)]
    user_id: String,
    user_role: Option<String>,
    team_id: Option<String>,
    max_budget: Option<Value>,
    budget_duration: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    user_id: String,
    user_role: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    team_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    max_budget: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    budget_duration: Option<Option<String>>,
    password: Option<String>,
    /// Tollgate extension: disable (`true`) or enable (`false`) the user.
    disabled: Option<bool>,
}

#[derive(Deserialize)]
struct InfoQuery {
    #[serde(default)]
    user_id: String,
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(default)]
    user_ids: Vec<String>,
}

async fn create(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<NewBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let input = UserInput {
        username: body.user_id,
        role: body.user_role.unwrap_or_else(|| "internal_user".into()),
        team_id: body.team_id,
        max_budget: money_text(body.max_budget.as_ref(), "max_budget")?,
        budget_duration: body.budget_duration,
        password: body.password,
    };
    let config = state.config.clone();
    let user = state
        .write(move |c| users::create(c, &actor.0, &config, input))
        .await?;
    Ok(HttpResponse::Ok().json(user_json(&user)))
}

async fn info(
    actor: ApiActor,
    state: web::Data<AppState>,
    query: web::Query<InfoQuery>,
) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let name = query.into_inner().user_id;
    let user = state
        .db
        .run(move |c| users::info(c, &actor.0, &config, &name))
        .await?;
    Ok(HttpResponse::Ok().json(user_json(&user)))
}

async fn list(actor: ApiActor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let all = state
        .db
        .run(move |c| users::list(c, &actor.0, &config))
        .await?;
    let users: Vec<Value> = all.iter().map(user_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users, "total": users.len() })))
}

async fn update(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let max_budget = money_patch(body.max_budget, "max_budget")?;
    let patch = UserPatch {
        role: body.user_role,
        team_id: body.team_id,
        max_budget,
        budget_duration: body.budget_duration,
        password: body.password,
    };
    let config = state.config.clone();
    let (name, disabled) = (body.user_id, body.disabled);
    let user = state
        .write(move |c| {
            let user = users::update(c, &actor.0, &config, &name, patch)?;
            match disabled {
                Some(d) if d != user.disabled => {
                    users::set_disabled(c, &actor.0, &config, &name, d)
                }
                _ => Ok(user),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(user_json(&user)))
}

async fn delete(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<DeleteBody>,
) -> Result<HttpResponse, AppError> {
    let names = body.into_inner().user_ids;
    let deleted = names.clone();
    state
        .write(move |c| users::delete(c, &actor.0, &names))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted_users": deleted })))
}

/// A user as `/user/info` shows it.
pub fn user_json(u: &UserView) -> Value {
    json!({
        "user_id": u.username,
        "user_role": u.role.as_str(),
        "disabled": u.disabled,
        "max_budget": usd(u.max_budget),
        "budget_duration": u.period.as_stored(),
        "spend": u.spend.as_usd_f64(),
        "remaining_budget": usd(u.remaining),
        "budget_reset_at": time(u.reset_at),
        "teams": u.teams.iter().map(|t| json!({"team_id": t.team_id, "team_alias": t.alias})).collect::<Vec<_>>(),
        "keys": u.keys.iter().map(super::keys::key_json).collect::<Vec<_>>(),
    })
}
