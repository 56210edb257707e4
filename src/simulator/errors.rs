//! Each provider's own error bodies (PROVIDERS.md §7), as one typed value.
//!
//! A `Rejection` is what a validation step or a `Status` fault answers: a status and a body in
//! the provider's exact shape. Which message a check produces lives with the check (in the
//! provider modules); this file only knows the shapes and the status → type tables.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::SimProvider;

/// A refused request: status, the provider-shaped JSON body and an optional `retry-after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// HTTP status of the answer.
    pub status: u16,
    /// The body, already in the provider's error shape.
    pub body: Value,
    /// Seconds for a `retry-after` header.
    pub retry_after_s: Option<u32>,
}

impl Rejection {
    /// OpenAI `{"error":{message,type,param,code}}`.
    pub fn openai(
        status: u16,
        message: &str,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        let body =
            json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
        Self::new(status, body)
    }

    /// OpenAI 400 `invalid_request_error` with a param and code.
    pub fn openai_invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Self {
        Self::openai(400, message, "invalid_request_error", param, code)
    }

    /// Anthropic `{"type":"error","error":{type,message},"request_id"}`.
    pub fn anthropic(status: u16, kind: &str, message: &str) -> Self {
        let request_id = format!("req_sim{}", super::reply::random_alnum(20));
        let body = json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id});
        Self::new(status, body)
    }

    /// Anthropic 400 `invalid_request_error`.
    pub fn anthropic_invalid(message: &str) -> Self {
        Self::anthropic(400, "invalid_request_error", message)
    }

    /// Gemini `{"error":{code,message,status,details?}}`.
    pub fn gemini(status: u16, grpc: &str, message: &str, details: Option<Value>) -> Self {
        let mut error = json!({"code": status, "message": message, "status": grpc});
        if let Some(details) = details {
            error["details"] = details;
        }
        Self::new(status, json!({ "error": error }))
    }

    /// Gemini 400 `INVALID_ARGUMENT`.
    pub fn gemini_invalid(message: &str) -> Self {
        Self::gemini(400, "INVALID_ARGUMENT", message, None)
    }

    /// Gemini's proto-JSON unknown field: `Unknown name "x" at 'loc': Cannot find field.`
    pub fn gemini_unknown(name: &str, location: &str) -> Self {
        let at = if location.is_empty() {
            String::new()
        } else {
            format!(" at '{location}'")
        };
        let message = format!(
            "Invalid JSON payload received. Unknown name \"{name}\"{at}: Cannot find field."
        );
        let details = json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": location, "description": message}]
        }]);
        Self::gemini(400, "INVALID_ARGUMENT", &message, Some(details))
    }

    /// Mistral `{"object":"error",message,type,param,code}`.
    pub fn mistral(status: u16, message: &str, kind: &str, code: Option<&str>) -> Self {
        let body = json!({"object": "error", "message": message, "type": kind, "param": null, "code": code});
        Self::new(status, body)
    }

    /// Mistral 422: the pydantic `detail` list wrapped in its error object.
    pub fn mistral_unprocessable(detail: Vec<Value>) -> Self {
        let body = json!({
            "object": "error",
            "message": {"detail": detail},
            "type": "invalid_request_error",
            "param": null,
            "code": null
        });
        Self::new(422, body)
    }

    /// Mistral 401, which is not in its usual error object.
    pub fn mistral_unauthorized() -> Self {
        Self::new(401, json!({"detail": "Unauthorized"}))
    }

    /// Cohere's `{"id", "message"}`.
    pub fn cohere(status: u16, message: &str) -> Self {
        Self::new(status, json!({"id": "sim-error", "message": message}))
    }

    fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            retry_after_s: None,
        }
    }

    /// Adds a `retry-after` header (seconds).
    pub fn with_retry_after(mut self, seconds: Option<u32>) -> Self {
        self.retry_after_s = seconds;
        self
    }

    /// Renders the rejection as an HTTP response.
    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        if let Some(seconds) = self.retry_after_s {
            builder.insert_header(("retry-after", seconds.to_string()));
        }
        builder.json(self.body)
    }
}

/// The error a provider answers for `status` when a `Status` fault says so.
pub fn for_status(provider: SimProvider, status: u16, retry_after_s: Option<u32>) -> Rejection {
    let rejection = match provider {
        SimProvider::OpenAi => openai_status(status),
        SimProvider::Anthropic => anthropic_status(status),
        SimProvider::Gemini => return gemini_status(status, retry_after_s),
        SimProvider::Mistral => mistral_status(status),
    };
    rejection.with_retry_after(retry_after_s)
}

fn openai_status(status: u16) -> Rejection {
    let (kind, code, message) = match status {
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
            "Country, region, or territory not supported",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests (simulated). Please try again in 1s.",
        ),
        503 => (
            "server_error",
            None,
            "The engine is currently overloaded, please try again later.",
        ),
        s if s >= 500 => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        _ => ("invalid_request_error", None, "Simulated invalid request."),
    };
    Rejection::openai(status, message, kind, None, code)
}

fn anthropic_status(status: u16) -> Rejection {
    let (kind, message) = match status {
        401 => ("authentication_error", "invalid x-api-key"),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => ("not_found_error", "Not found"),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit (simulated)",
        ),
        504 => ("timeout_error", "Request timed out"),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Simulated invalid request"),
    };
    Rejection::anthropic(status, kind, message)
}

fn gemini_status(status: u16, retry_after_s: Option<u32>) -> Rejection {
    let (grpc, message) = match status {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
        403 => ("PERMISSION_DENIED", "The caller does not have permission"),
        404 => ("NOT_FOUND", "Requested entity was not found."),
        429 => ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        503 => ("UNAVAILABLE", "The model is overloaded. Please try again later."),
        504 => ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        s if s >= 500 => ("INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
        _ => ("FAILED_PRECONDITION", "Precondition check failed."),
    };
    let details = retry_after_s.map(|seconds| {
        json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{seconds}s")}])
    });
    Rejection::gemini(status, grpc, message, details)
}

fn mistral_status(status: u16) -> Rejection {
    match status {
        401 => Rejection::mistral_unauthorized(),
        429 => Rejection::mistral(429, "Rate limit exceeded", "rate_limited", Some("1300")),
        s if s >= 500 => Rejection::mistral(
            s,
            "Internal server error",
            "internal_server_error",
            Some("3000"),
        ),
        s => Rejection::mistral(
            s,
            "Simulated invalid request",
            "invalid_request_error",
            None,
        ),
    }
}

/// A 200 whose body is not JSON (what a misconfigured proxy in front of a provider returns).
pub fn garbage() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body("<html><body><h1>simulated garbage</h1>this is not JSON</body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_answers_a_rate_limit_in_its_own_shape() {
        let openai = for_status(SimProvider::OpenAi, 429, Some(3));
        assert_eq!(openai.body["error"]["code"], "rate_limit_exceeded");
        assert_eq!(openai.retry_after_s, Some(3));
        let anthropic = for_status(SimProvider::Anthropic, 429, None);
        assert_eq!(anthropic.body["error"]["type"], "rate_limit_error");
        let gemini = for_status(SimProvider::Gemini, 429, Some(30));
        assert_eq!(gemini.body["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(gemini.body["error"]["details"][0]["retryDelay"], "30s");
        let mistral = for_status(SimProvider::Mistral, 429, None);
        assert_eq!(mistral.body["type"], "rate_limited");
    }

    #[test]
    fn anthropic_529_is_overloaded() {
        let r = for_status(SimProvider::Anthropic, 529, None);
        assert_eq!(r.status, 529);
        assert_eq!(r.body["error"]["type"], "overloaded_error");
    }
}
