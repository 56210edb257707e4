//! CORS for the proxy doors (SPEC §12): browser clients (LobeChat, Chatbox web,
//! NextChat) call the gateway from an origin listed in `[server] cors_origins`.
//! Preflights are answered here, before routing; the admin pages and the management
//! API never get CORS headers, so a page elsewhere can never drive them.

use std::future::{ready, Future};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::HttpResponse;
use futures_util::future::Either;
use serde_json::json;

/// Headers a browser client may read from our answers.
const EXPOSED: &str = "x-request-id, x-tollgate-cost, x-tollgate-key-remaining, retry-after";
/// Methods of the proxy doors.
const METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Headers allowed when the preflight names none.
const DEFAULT_HEADERS: &str =
    "authorization, content-type, x-api-key, anthropic-version, anthropic-beta";

/// The allowed origins.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

/// Whether `path` is one of the proxy doors (OpenAI, Anthropic, embeddings, rerank).
pub fn is_proxy_path(path: &str) -> bool {
    const DOORS: [&str; 6] = [
        "/chat/",
        "/models",
        "/messages",
        "/responses",
        "/embeddings",
        "/rerank",
    ];
    path.starts_with("/v1/")
        || path.starts_with("/v2/rerank")
        || DOORS.iter().any(|d| path.starts_with(d))
}

impl CorsPolicy {
    /// From `[server] cors_origins`.
    pub fn new(origins: &[String]) -> CorsPolicy {
        CorsPolicy {
            origins: origins.to_vec(),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    /// `Access-Control-Allow-Origin` for `origin`: `*` when every origin is allowed.
    fn allow_origin(&self, origin: &str) -> Option<HeaderValue> {
        if self.origins.iter().any(|o| o == "*") {
            Some(HeaderValue::from_static("*"))
        } else {
            HeaderValue::from_str(origin).ok()
        }
    }

    /// Answers a preflight itself, or passes the request on to `next` and adds the
    /// headers to its answer.
    pub fn handle<S, B>(
        &self,
        req: ServiceRequest,
        next: &S,
    ) -> impl Future<Output = Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error>> + 'static
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
        S::Future: 'static,
        B: MessageBody + 'static,
    {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|_| !self.origins.is_empty() && is_proxy_path(req.path()))
            .map(str::to_string);
        let Some(origin) = origin else {
            return Either::Left(with_headers(next.call(req), None));
        };
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            let resp = self.preflight(&req, &origin);
            return Either::Right(ready(Ok(req.into_response(resp).map_into_right_body())));
        }
        let allowed = self
            .allows(&origin)
            .then(|| self.allow_origin(&origin))
            .flatten();
        Either::Left(with_headers(next.call(req), allowed))
    }

    fn preflight(&self, req: &ServiceRequest, origin: &str) -> HttpResponse {
        if !self.allows(origin) {
            return HttpResponse::Forbidden().json(json!({"error": {
                "message": format!("The origin {origin} may not call this gateway from a browser; ask the administrator to add it to [server] cors_origins"),
                "type": "permission_error", "param": null, "code": "origin_not_allowed"}}));
        }
        let asked = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(DEFAULT_HEADERS));
        let mut resp = HttpResponse::NoContent();
        if let Some(allow) = self.allow_origin(origin) {
            resp.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, allow));
        }
        resp.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, asked))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .insert_header((header::VARY, "Origin"))
            .finish()
    }
}

/// The answer of `call`, with the CORS headers of an allowed origin.
async fn with_headers<B, F>(
    call: F,
    allowed: Option<HeaderValue>,
) -> Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
{
    let mut resp = call.await?;
    if let Some(allow) = allowed {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(resp.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_proxy_doors_are_cors_paths() {
        for p in [
            "/v1/chat/completions",
            "/chat/completions",
            "/v1/embeddings",
            "/rerank",
            "/v2/rerank",
            "/v1/messages",
            "/models",
            "/v1/models/gpt-4o",
        ] {
            assert!(is_proxy_path(p), "{p}");
        }
        for p in [
            "/",
            "/login",
            "/keys",
            "/key/generate",
            "/team/new",
            "/usage",
            "/logs",
            "/health/readiness",
            "/metrics",
        ] {
            assert!(!is_proxy_path(p), "{p}");
        }
    }
}
