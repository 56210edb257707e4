//! `GET /spend/logs` (LiteLLM's path; admin session or master key): one JSON object per
//! request, newest first. The body is a plain array, as LiteLLM returns it; paging is
//! in headers so existing scripts keep working: `?limit=` (1–1000, default 100) and
//! `?cursor=`, with the next page's cursor in `x-next-cursor` and a `Link: <…>; rel="next"`.

use actix_web::{web, HttpResponse};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api_access::ApiAdmin;
use super::format::query;
use crate::app::AppState;
use crate::db::logs::LogRow;
use crate::domain::auth::Role;
use crate::domain::logs::{self as log_domain, LogParams, MAX_LIMIT};
use crate::domain::usage::Viewer;
use crate::domain::DomainError;
use crate::error::AppError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 100;

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/spend/logs", web::get().to(spend_logs));
}

/// Query of `/spend/logs`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SpendLogsQuery {
    start_date: String,
    end_date: String,
    limit: String,
    cursor: String,
}

fn parse_limit(text: &str) -> Result<u32, DomainError> {
    if text.trim().is_empty() {
        return Ok(DEFAULT_LIMIT);
    }
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            DomainError::invalid(
                "limit",
                format!("limit must be a number from 1 to {MAX_LIMIT}"),
            )
        })
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// One request as LiteLLM's spend log shows it.
pub fn spend_log_json(r: &LogRow) -> Value {
    json!({
        "request_id": r.request_id,
        "startTime": iso(r.start_ms),
        "endTime": iso(r.end_ms),
        "model": r.model,
        "api_key": r.key_token.clone().unwrap_or_default(),
        "user": r.username.clone().unwrap_or_default(),
        "team_id": r.team_public_id.clone().unwrap_or_default(),
        "spend": r.cost.as_usd_f64(),
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.prompt_tokens + r.completion_tokens,
        "status": if r.success { "success" } else { "failure" },
    })
}

/// `Link: </spend/logs?…&cursor=…>; rel="next"`.
fn next_link(q: &SpendLogsQuery, limit: u32, next: &str) -> String {
    let limit = limit.to_string();
    let pairs = [
        ("start_date", q.start_date.as_str()),
        ("end_date", &q.end_date),
        ("limit", &limit),
        ("cursor", next),
    ];
    format!("</spend/logs{}>; rel=\"next\"", query(&pairs))
}

async fn spend_logs(
    _who: ApiAdmin,
    state: web::Data<AppState>,
    q: web::Query<SpendLogsQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let params = LogParams {
        start_date: &q.start_date,
        end_date: &q.end_date,
        ..LogParams::default()
    };
    let filter = log_domain::parse_filter(&params, state.config.server.utc_offset)?;
    let limit = parse_limit(&q.limit)?;
    let admin = Viewer {
        user_id: 0,
        role: Role::ProxyAdmin,
    };
    let cursor = q.cursor.clone();
    let page = state
        .db
        .run(move |c| log_domain::page(c, admin, filter, Some(&cursor), limit))
        .await?;
    let body: Vec<Value> = page.rows.iter().map(spend_log_json).collect();
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("cache-control", "no-store"));
    if let Some(next) = page.next {
        resp.insert_header(("link", next_link(&q, limit, &next)));
        resp.insert_header(("x-next-cursor", next));
    }
    Ok(resp.json(body))
}
