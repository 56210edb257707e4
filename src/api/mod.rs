//! The management JSON API (LiteLLM's paths and field names) over the same domain
//! functions as the pages. Callers authenticate with `Authorization: Bearer
//! <server.master_key>` or a page session of any role; the domain checks the role.
//! Answers and errors are English; errors use the OpenAI format.
//!
//! A session-authenticated call needs no CSRF token: every write takes a JSON body,
//! which a cross-site form cannot send without a CORS preflight we never grant.

pub mod keys;
pub mod limits;
pub mod teams;
pub mod users;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::app::AppState;
use crate::domain::actor::Actor;
use crate::domain::auth;
use crate::domain::lang::Lang;
use crate::domain::tokens::constant_time_eq;
use crate::error::AppError;
use crate::money::Nanos;
use crate::web::session::SESSION_COOKIE;

/// Routes of the management API.
pub fn routes(cfg: &mut web::ServiceConfig) {
    teams::routes(cfg);
    users::routes(cfg);
    keys::routes(cfg);
}

/// The caller of a management API request: the master key or a signed-in user.
#[derive(Debug, Clone)]
pub struct ApiActor(pub Actor);

impl FromRequest for ApiActor {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_string());
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::Internal("no state".into()))?;
            if let Some(token) = bearer {
                return master_key(&state, &token);
            }
            let token = cookie
                .filter(|t| t.len() <= 100)
                .ok_or_else(unauthenticated)?;
            let user = state.db.run(move |c| auth::session_user(c, &token)).await?;
            let user = user.ok_or_else(unauthenticated)?;
            Ok(ApiActor(Actor::user(&user, Lang::En)))
        })
    }
}

fn master_key(state: &AppState, given: &str) -> Result<ApiActor, AppError> {
    let configured = state
        .config
        .server
        .master_key
        .as_ref()
        .and_then(|k| k.expose());
    match configured {
        Some(key) if constant_time_eq(key, given) => Ok(ApiActor(Actor::master_key())),
        _ => Err(AppError::Authentication(
            "invalid master key for the management API".into(),
        )),
    }
}

fn unauthenticated() -> AppError {
    AppError::Authentication(
        "the management API needs `Authorization: Bearer <master key>` or a signed-in session"
            .into(),
    )
}

/// A money field as sent: a JSON number, a numeric string or null. The domain parses
/// the text, so the API and the pages give the same messages.
pub fn money_text(value: Option<&Value>, field: &str) -> Result<Option<String>, AppError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().map(|f| format!("{f}"))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AppError::invalid(
            format!("{field} must be a number of USD or null"),
            Some(field),
        )),
    }
}

/// An update body's money field: absent (`None`, unchanged), or a value or null
/// (`Some`), read like [`money_text`].
pub fn money_patch(
    value: Option<Option<Value>>,
    field: &str,
) -> Result<Option<Option<String>>, AppError> {
    value.map(|v| money_text(v.as_ref(), field)).transpose()
}

/// Distinguishes "absent" (`None`) from "null" (`Some(None)`) in update bodies.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// USD as a JSON number, or null.
pub fn usd(n: Option<Nanos>) -> Value {
    n.map(|n| Value::from(n.as_usd_f64()))
        .unwrap_or(Value::Null)
}

/// A time as RFC 3339, or null.
pub fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::from(t.to_rfc3339()))
        .unwrap_or(Value::Null)
}
