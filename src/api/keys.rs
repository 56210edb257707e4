//! `/key/generate|info|list|update|delete|block|unblock|regenerate`. A key is named
//! by its `sk-…` secret or by its `token` (the SHA-256 the API returns).

use super::limits::{add_key_limits, LimitFields};
use crate::db::limits::LimitOwner;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{double_option, money_patch, money_text, time, usd, ApiActor};
use crate::app::AppState;
use crate::domain::keys::{self, Expiry, KeyInput, KeyPatch, KeyView, NewKey};
use crate::error::AppError;

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/key/generate", web::post().to(generate))
        .route("/key/info", web::get().to(info))
        .route("/key/list", web::get().to(list))
        .route("/key/update", web::post().to(update))
        .route("/key/delete", web::post().to(delete))
        .route("/key/block", web::post().to(block))
        .route("/key/unblock", web::post().to(unblock))
        .route("/key/regenerate", web::post().to(regenerate));
}

#[derive(Deserialize)]
struct GenerateBody {
    #[serde(default)]
    key_alias: String,
    user_id: Option<String>,
    team_id: Option<String>,
    max_budget: Option<Value>,
    budget_duration: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    duration: Option<String>,
    #[serde(flatten)]
    limits: LimitFields,
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    key: String,
    key_alias: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    max_budget: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    budget_duration: Option<Option<String>>,
    models: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    duration: Option<Option<String>>,
    #[serde(flatten)]
    limits: LimitFields,
}

#[derive(Deserialize)]
struct KeyRef {
    #[serde(default)]
    key: String,
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(default)]
    keys: Vec<String>,
}

async fn generate(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<GenerateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    body.limits.check(&actor.0)?;
    let input = KeyInput {
        alias: body.key_alias,
        user: body.user_id,
        team_id: body.team_id,
        max_budget: money_text(body.max_budget.as_ref(), "max_budget")?,
        budget_duration: body.budget_duration,
        models: body.models,
        expiry: body.duration.map(Expiry::Duration).unwrap_or_default(),
    };
    let config = state.config.clone();
    let new = state
        .write(move |c| keys::generate(c, &actor.0, &config, input))
        .await?;
    body.limits
        .store(&state, LimitOwner::Key(new.view.id))
        .await?;
    let mut json = new_key_json(&new);
    add_key_limits(&state, &mut json);
    Ok(HttpResponse::Ok().json(json))
}

async fn info(
    actor: ApiActor,
    state: web::Data<AppState>,
    query: web::Query<KeyRef>,
) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let key = query.into_inner().key;
    let view = state
        .db
        .run(move |c| keys::info(c, &actor.0, &config, &key))
        .await?;
    let mut info = key_json(&view);
    add_key_limits(&state, &mut info);
    // LiteLLM nests the figures under `info`; SPEC §4 names them on `/key/info` itself,
    // so both shapes are served: `info`, and the same fields at the top level.
    let mut body = info.clone();
    if let Some(map) = body.as_object_mut() {
        map.insert("key".into(), json!(view.token));
        map.insert("info".into(), info);
    }
    Ok(HttpResponse::Ok().json(body))
}

async fn list(actor: ApiActor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let all = state
        .db
        .run(move |c| keys::list(c, &actor.0, &config))
        .await?;
    let keys: Vec<Value> = all.iter().map(key_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "keys": keys, "total_count": keys.len() })))
}

async fn update(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    body.limits.check(&actor.0)?;
    let max_budget = money_patch(body.max_budget, "max_budget")?;
    let patch = KeyPatch {
        alias: body.key_alias,
        max_budget,
        budget_duration: body.budget_duration,
        models: body.models,
        expiry: body
            .duration
            .map(|d| d.map(Expiry::Duration).unwrap_or_default()),
    };
    let config = state.config.clone();
    let key = body.key;
    let view = state
        .write(move |c| keys::update(c, &actor.0, &config, &key, patch))
        .await?;
    body.limits.store(&state, LimitOwner::Key(view.id)).await?;
    let mut json = key_json(&view);
    add_key_limits(&state, &mut json);
    Ok(HttpResponse::Ok().json(json))
}

async fn delete(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<DeleteBody>,
) -> Result<HttpResponse, AppError> {
    let list = body.into_inner().keys;
    let deleted = list.len();
    state
        .write(move |c| keys::delete(c, &actor.0, &list))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted_keys": deleted })))
}

async fn block(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<KeyRef>,
) -> Result<HttpResponse, AppError> {
    set_blocked(actor, state, body.into_inner().key, true).await
}

async fn unblock(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<KeyRef>,
) -> Result<HttpResponse, AppError> {
    set_blocked(actor, state, body.into_inner().key, false).await
}

async fn set_blocked(
    actor: ApiActor,
    state: web::Data<AppState>,
    key: String,
    blocked: bool,
) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let view = state
        .write(move |c| keys::set_blocked(c, &actor.0, &config, &key, blocked))
        .await?;
    Ok(HttpResponse::Ok().json(key_json(&view)))
}

async fn regenerate(
    actor: ApiActor,
    state: web::Data<AppState>,
    body: web::Json<KeyRef>,
) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let key = body.into_inner().key;
    let new = state
        .write(move |c| keys::regenerate(c, &actor.0, &config, &key))
        .await?;
    Ok(HttpResponse::Ok().json(new_key_json(&new)))
}

/// A key as `/key/info` shows it (never the secret).
pub fn key_json(k: &KeyView) -> Value {
    json!({
        "token": k.token,
        "key_alias": k.alias,
        "key_name": k.masked,
        "user_id": k.user,
        "team_id": k.team_id,
        "team_alias": k.team_alias,
        "max_budget": usd(k.max_budget),
        "budget_duration": k.period.as_stored(),
        "spend": k.spend.as_usd_f64(),
        "remaining_budget": usd(k.remaining),
        "budget_reset_at": time(k.reset_at),
        "models": k.models,
        "expires": time(k.expires_at),
        "expired": k.expired,
        "blocked": k.blocked,
        "last_used_at": time(k.last_used_at),
        "created_at": k.created_at.to_rfc3339(),
    })
}

fn new_key_json(new: &NewKey) -> Value {
    let mut body = key_json(&new.view);
    if let Some(map) = body.as_object_mut() {
        map.insert("key".into(), Value::from(new.secret.clone()));
    }
    body
}
