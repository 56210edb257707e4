//! The Messages door's errors in Anthropic's format (SPEC §10, PROVIDERS §9.6):
//! `{"type":"error","error":{"type","message"},"request_id"}` with a `request-id`
//! header, from the same [`AppError`] every door produces.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

use crate::error::AppError;

/// Status and Anthropic `error.type` of an error.
pub fn parts(e: &AppError) -> (u16, &'static str) {
    match e {
        AppError::Authentication(_) => (401, "authentication_error"),
        AppError::ModelNotAllowed(_) | AppError::Forbidden(_) => (403, "permission_error"),
        AppError::ModelNotFound(_) | AppError::NotFound(_) | AppError::UnknownUrl(_) => {
            (404, "not_found_error")
        }
        AppError::InvalidRequest { .. } => (400, "invalid_request_error"),
        AppError::MethodNotAllowed(_) => (405, "invalid_request_error"),
        AppError::PayloadTooLarge(_) => (413, "request_too_large"),
        AppError::RequestTimeout(_) => (408, "timeout_error"),
        AppError::BudgetExceeded { status, .. } => (*status, "budget_exceeded"),
        AppError::RateLimited { .. } => (429, "rate_limit_error"),
        AppError::Upstream { status, .. } => (*status, type_for_status(*status)),
        AppError::BadGateway(_) => (502, "api_error"),
        AppError::GatewayTimeout(_) => (504, "timeout_error"),
        AppError::Unavailable(_) => (503, "api_error"),
        AppError::Internal(_) => (500, "api_error"),
    }
}

/// Anthropic's error type for an HTTP status.
pub fn type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The JSON body of an error.
pub fn body(kind: &str, message: &str, request_id: &str) -> serde_json::Value {
    serde_json::json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})
}

/// The response for `e`. A spent budget says `x-should-retry: false` (Claude Code
/// retries 429 and 5xx ten times); limits carry `retry-after`.
pub fn response(e: &AppError, request_id: &str) -> HttpResponse {
    let (status, kind) = parts(e);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(code);
    resp.insert_header(("request-id", request_id));
    match e {
        AppError::RateLimited { retry_after_s, .. } => {
            resp.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
        }
        AppError::Upstream {
            retry_after_s: Some(s),
            ..
        } => {
            resp.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        AppError::BudgetExceeded { .. }
        | AppError::Authentication(_)
        | AppError::ModelNotAllowed(_)
        | AppError::ModelNotFound(_) => {
            resp.insert_header(("x-should-retry", "false"));
        }
        _ => {}
    }
    resp.json(body(kind, &e.to_string(), request_id))
}
