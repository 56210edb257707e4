//! Errors at the HTTP edge and their two renderings: the OpenAI error JSON for the
//! proxy and the management API ([`AppError`]), and an HTML page or redirect for the
//! admin pages ([`PageError`]). The status/type mapping of SPEC §6 is one exhaustive match.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::db::DbError;
use crate::domain::DomainError;

/// An error answered in OpenAI's format: `{"error":{message,type,param,code}}`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No, malformed, unknown, expired or blocked key; bad master key.
    #[error("{0}")]
    Authentication(String),
    /// The key may not use this model (SPEC: 401 permission_error).
    #[error("{0}")]
    ModelNotAllowed(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No model of that name is configured.
    #[error("{0}")]
    ModelNotFound(String),
    /// An entity named in the request does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No route serves the method and path.
    #[error("{0}")]
    UnknownUrl(String),
    /// The path exists, the method does not (the answer names `Allow: POST`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Malformed JSON or a missing/invalid field.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// The offending field.
        param: Option<String>,
    },
    /// The body is larger than `max_body_bytes`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// A budget is spent; `status` comes from config.
    #[error("{message}")]
    BudgetExceeded {
        /// Configured status (400 by default).
        status: u16,
        /// Which budget, spent, limit, reset time.
        message: String,
    },
    /// rpm/tpm limit or login throttle.
    #[error("{message}")]
    RateLimited {
        /// What limit.
        message: String,
        /// Seconds until a retry can succeed.
        retry_after_s: u64,
    },
    /// The provider answered with an error; its status is kept.
    #[error("{message}")]
    Upstream {
        /// Provider's HTTP status.
        status: u16,
        /// Translated message (never containing a provider key).
        message: String,
        /// OpenAI error type (`invalid_request_error`, `authentication_error` …).
        error_type: &'static str,
        /// Seconds to wait, when the provider said.
        retry_after_s: Option<u64>,
    },
    /// Provider unreachable after retries.
    #[error("{0}")]
    BadGateway(String),
    /// Provider timed out after retries.
    #[error("{0}")]
    GatewayTimeout(String),
    /// The database cannot take writes right now (read-only, disk full, busy).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are in the server log only.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// Shorthand for a 400 with a param.
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> AppError {
        AppError::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    /// Status, OpenAI `type` and `code` (SPEC §6).
    pub fn parts(&self) -> (u16, &'static str, Option<&'static str>) {
        match self {
            AppError::Authentication(_) => (401, "authentication_error", Some("invalid_api_key")),
            AppError::ModelNotAllowed(_) => (401, "permission_error", Some("model_not_allowed")),
            AppError::Forbidden(_) => (403, "permission_error", Some("forbidden")),
            AppError::ModelNotFound(_) => (404, "invalid_request_error", Some("model_not_found")),
            AppError::NotFound(_) => (404, "invalid_request_error", Some("not_found")),
            AppError::UnknownUrl(_) => (404, "invalid_request_error", Some("unknown_url")),
            AppError::MethodNotAllowed(_) => {
                (405, "invalid_request_error", Some("method_not_allowed"))
            }
            AppError::RequestTimeout(_) => (408, "invalid_request_error", Some("request_timeout")),
            AppError::InvalidRequest { .. } => (400, "invalid_request_error", None),
            AppError::PayloadTooLarge(_) => {
                (413, "invalid_request_error", Some("request_too_large"))
            }
            AppError::BudgetExceeded { status, .. } => {
                (*status, "budget_exceeded", Some("budget_exceeded"))
            }
            AppError::RateLimited { .. } => (429, "rate_limit_error", Some("rate_limit_exceeded")),
            AppError::Upstream {
                status, error_type, ..
            } => (*status, error_type, None),
            AppError::BadGateway(_) => (502, "api_error", Some("upstream_unreachable")),
            AppError::GatewayTimeout(_) => (504, "api_error", Some("upstream_timeout")),
            AppError::Unavailable(_) => (503, "api_error", Some("service_unavailable")),
            AppError::Internal(_) => (500, "api_error", Some("internal_error")),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let (_, error_type, code) = self.parts();
        let param = match self {
            AppError::InvalidRequest { param, .. } => param.clone(),
            _ => None,
        };
        json!({"error": {"message": self.to_string(), "type": error_type, "param": param, "code": code}})
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.parts().0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let mut resp = HttpResponse::build(status).json(self.body());
        let retry = match self {
            AppError::RateLimited { retry_after_s, .. } => Some(*retry_after_s),
            AppError::Upstream { retry_after_s, .. } => *retry_after_s,
            _ => None,
        };
        if let Some(s) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            resp.headers_mut().insert(header::RETRY_AFTER, s);
        }
        resp
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database failure");
        if e.is_unavailable() {
            AppError::Unavailable(
                "the database cannot take writes right now; try again shortly".into(),
            )
        } else {
            AppError::Internal("internal error (see server log)".into())
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation { field, message } => AppError::invalid(message, Some(field)),
            DomainError::NotFound(m) => AppError::NotFound(m),
            DomainError::Conflict(m) => AppError::invalid(m, None),
            DomainError::Forbidden(m) => AppError::Forbidden(m),
            DomainError::Unauthorized(m) => AppError::Authentication(m),
            DomainError::Throttled(m) => AppError::RateLimited {
                message: m,
                retry_after_s: 900,
            },
            DomainError::Db(e) => AppError::from(e),
        }
    }
}

/// An error on an admin page: a redirect to the login page or a small HTML page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No valid session: go to /login.
    #[error("login required")]
    LoginRequired,
    /// The form token was missing or wrong.
    #[error("表单已过期，请刷新页面后重试 / The form expired; reload the page and try again.")]
    Csrf,
    /// The role does not allow this page or action.
    #[error("没有权限 / You do not have permission for this.")]
    Forbidden,
    /// No such entity.
    #[error("未找到 / Not found: {0}")]
    NotFound(String),
    /// Bad query parameters and similar.
    #[error("{0}")]
    BadRequest(String),
    /// The database cannot take the work right now (locked, full, read-only).
    #[error("数据库暂时不可用，请稍后重试 / The database is busy or not writable right now; try again shortly.")]
    Unavailable,
    /// Storage or a bug; details only in the server log.
    #[error("服务器内部错误 / Internal error")]
    Internal,
}

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database failure on a page");
        if e.is_unavailable() {
            PageError::Unavailable
        } else {
            PageError::Internal
        }
    }
}

impl From<DomainError> for PageError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(m) => PageError::NotFound(m),
            DomainError::Forbidden(_) => PageError::Forbidden,
            DomainError::Unauthorized(_) => PageError::LoginRequired,
            DomainError::Validation { message, .. }
            | DomainError::Conflict(message)
            | DomainError::Throttled(message) => PageError::BadRequest(message),
            DomainError::Db(e) => PageError::from(e),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        tracing::error!(error = %e, "template failed");
        PageError::Internal
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::LoginRequired => StatusCode::SEE_OTHER,
            PageError::Csrf | PageError::Forbidden => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::LoginRequired = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
        }
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(crate::web::error_page::render(
                &self.to_string(),
                self.status_code().as_u16(),
            ))
    }
}
