//! The provider check behind `tollgate check-providers` and the 模型 page's 测试连接:
//! one call of a deployment's cheapest endpoint (its model list) along its configured
//! route, reporting whether it is reachable, the status, the latency, the route and
//! the TLS. Never charged, never logged as a request, never showing a key.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::client::{Client, ClientError, RouteLabel};
use super::router::Deployment;
use super::{ProviderKind, Upstream};

/// A check never waits longer than this, whatever the deployment's timeout.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// What one check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// A TCP (and TLS) connection was made and the provider answered HTTP.
    pub reachable: bool,
    /// The configured key was accepted (a 2xx answer).
    pub ok: bool,
    /// The provider's HTTP status, when it answered.
    pub status: Option<u16>,
    /// From sending the request to the response head.
    pub latency_ms: u64,
    /// `TLS, HTTP/2`, `plain HTTP/1.1`, or what went wrong.
    pub tls: String,
    /// One line for a person: `ok`, `the provider refused the API key (HTTP 401)`, …
    pub outcome: String,
    /// Direct or which proxy, and why.
    pub route: RouteLabel,
}

/// Calls `deployment`'s model list once along `route`.
pub async fn check(http: &Client, deployment: &Deployment, route: RouteLabel) -> CheckReport {
    let up = &deployment.upstream;
    let (url, headers) = super::model_list_request(up);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let tls_url = up.api_base.starts_with("https://");
    let started = Instant::now();
    let sent = http
        .get(up.route, &url, &headers, up.timeout.min(CHECK_TIMEOUT))
        .await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match sent {
        Ok(resp) => {
            let status = resp.status;
            let tls = if tls_url {
                format!("TLS, {}", resp.version)
            } else {
                format!("plain {}", resp.version)
            };
            // Read (and drop) the body so the connection goes back to the pool.
            let _ = futures_util::StreamExt::count(resp.body()).await;
            CheckReport {
                reachable: true,
                ok: (200..300).contains(&status),
                status: Some(status),
                latency_ms,
                tls,
                outcome: outcome(up, status),
                route,
            }
        }
        Err(e) => CheckReport {
            reachable: false,
            ok: false,
            status: None,
            latency_ms,
            tls: if tls_url && e.to_string().contains("certificate") {
                "certificate not trusted".into()
            } else if tls_url {
                "-".into()
            } else {
                "plain HTTP".into()
            },
            outcome: scrub(failure(&e), up.api_key.as_deref()),
            route,
        },
    }
}

fn outcome(up: &Upstream, status: u16) -> String {
    let keyless = up.api_key.as_deref().is_none_or(str::is_empty);
    match status {
        200..=299 if keyless && up.provider != ProviderKind::OpenAiCompatible => {
            "reachable, but no API key is configured".into()
        }
        200..=299 => "ok".into(),
        401 | 403 if keyless => format!("no API key is configured (HTTP {status})"),
        401 | 403 => format!("the provider refused the configured API key (HTTP {status})"),
        404 => "HTTP 404: check api_base (the model list was not found there)".into(),
        s => format!("the provider answered HTTP {s}"),
    }
}

fn failure(e: &ClientError) -> String {
    match e {
        ClientError::Timeout => "no answer in time".into(),
        other => other.to_string(),
    }
}

fn scrub(message: String, key: Option<&str>) -> String {
    match key.filter(|k| k.len() >= 4) {
        Some(k) => message.replace(k, "***"),
        None => message,
    }
}
