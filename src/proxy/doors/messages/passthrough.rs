//! Messages to an `anthropic` deployment: the client's body with only `model`
//! replaced, its `anthropic-version` and `anthropic-beta` headers, and the answer —
//! JSON, SSE or error — handed back as it came. Usage is read on the way for the
//! ticket; a connect error, timeout, 429 or 5xx moves on to the next deployment.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::super::upstream::{client_error, read_all, retryable_status, BODY_LIMIT, ERROR_LIMIT};
use super::stream::MessagesRelay;
use super::{Parsed, Reply};
use crate::error::AppError;
use crate::proxy::anthropic::WireUsage;
use crate::proxy::client::Client;
use crate::proxy::router::Deployment;
use crate::proxy::ticket::Ticket;
use crate::proxy::{ProviderKind, Usage};

/// The version sent when the client names none.
const DEFAULT_VERSION: &str = "2023-06-01";

fn url(d: &Deployment, path: &str) -> String {
    let base = d.upstream.api_base.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/{path}")
    } else {
        format!("{base}/v1/{path}")
    }
}

/// The client's Anthropic headers to pass on, with the deployment's key.
fn headers<'a>(req: &'a actix_web::HttpRequest, key: &'a str) -> Vec<(&'static str, &'a str)> {
    let client = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let mut out = vec![
        ("x-api-key", key),
        (
            "anthropic-version",
            client("anthropic-version").unwrap_or(DEFAULT_VERSION),
        ),
    ];
    if let Some(beta) = client("anthropic-beta") {
        out.push(("anthropic-beta", beta));
    }
    out
}

/// Calls the Anthropic deployments of `order` until one answers.
pub(super) async fn call(
    http: &Client,
    order: &[&Deployment],
    req: &actix_web::HttpRequest,
    parsed: Parsed,
    ticket: &mut Ticket,
    prompt_estimate: u64,
) -> Result<Reply, AppError> {
    let deployments: Vec<&Deployment> = order
        .iter()
        .copied()
        .filter(|d| d.upstream.provider == ProviderKind::Anthropic)
        .collect();
    let attempts = 1 + deployments.first().map_or(0, |d| d.max_retries as usize);
    let mut body = parsed.body;
    let mut last = AppError::BadGateway("no Anthropic deployment".into());
    for attempt in 0..attempts {
        let d = deployments[attempt % deployments.len()];
        let now_s = chrono::Utc::now().timestamp();
        d.window.count_request(now_s);
        ticket.deployment = Some((d.upstream.provider.as_str(), d.index));
        ticket.price = Some(d.price);
        let Some(key) = d.upstream.api_key.as_deref().filter(|k| !k.is_empty()) else {
            return Err(AppError::BadGateway(format!(
                "{}: no provider API key is configured for this model; ask the administrator to set it in config.toml",
                parsed.model
            )));
        };
        body.insert("model".into(), Value::String(d.upstream.model_id.clone()));
        let bytes = serde_json::to_vec(&body).map_err(|e| AppError::Internal(e.to_string()))?;
        let started = Instant::now();
        let sent = http
            .post_json(
                d.upstream.route,
                &url(d, "messages"),
                &headers(req, key),
                bytes,
                d.upstream.timeout,
            )
            .await;
        ticket.upstream_s = Some(started.elapsed().as_secs_f64());
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let (error, retry) = client_error(e);
                last = error;
                if retry && attempt + 1 < attempts {
                    continue;
                }
                return Err(last);
            }
        };
        let status = resp.status;
        if (200..300).contains(&status) {
            if parsed.stream {
                let relay = MessagesRelay::passthrough(
                    Box::pin(resp.body()),
                    ticket.take(),
                    prompt_estimate,
                );
                return Ok(Reply::Stream(Box::new(relay)));
            }
            let raw = read_all(resp, BODY_LIMIT, d.upstream.timeout).await?;
            let usage = serde_json::from_slice::<Value>(&raw)
                .ok()
                .and_then(|v| serde_json::from_value::<WireUsage>(v.get("usage")?.clone()).ok())
                .map_or(Usage::default(), |w| w.canonical());
            d.window.count_tokens(now_s, usage.total());
            return Ok(Reply::Json(
                String::from_utf8_lossy(&raw).into_owned(),
                usage,
            ));
        }
        let wait = resp.retry_after;
        let raw = read_all(resp, ERROR_LIMIT, d.upstream.timeout)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&raw).replace(key, "***");
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the provider answered HTTP {status}"));
        let retryable = retryable_status(status);
        if retryable && attempt + 1 < attempts {
            let pause = wait
                .unwrap_or(Duration::from_millis(100 << attempt.min(5)))
                .min(Duration::from_secs(5));
            actix_web::rt::time::sleep(pause).await;
            continue;
        }
        return Ok(Reply::Forwarded(
            status,
            text.into_bytes(),
            format!("{}: {message}", parsed.model),
        ));
    }
    Err(last)
}

/// The deployment's own count, or `None` when it has no such endpoint (then the door
/// estimates).
pub(super) async fn count_tokens(
    http: &Client,
    d: &Deployment,
    req: &actix_web::HttpRequest,
    body: &Value,
) -> Option<u64> {
    let key = d.upstream.api_key.as_deref().filter(|k| !k.is_empty())?;
    let mut body = body.clone();
    body["model"] = Value::String(d.upstream.model_id.clone());
    let bytes = serde_json::to_vec(&body).ok()?;
    let timeout = d.upstream.timeout.min(Duration::from_secs(30));
    let resp = http
        .post_json(
            d.upstream.route,
            &url(d, "messages/count_tokens"),
            &headers(req, key),
            bytes,
            timeout,
        )
        .await
        .ok()?;
    if !(200..300).contains(&resp.status) {
        return None;
    }
    let raw = read_all(resp, ERROR_LIMIT, timeout).await.ok()?;
    serde_json::from_slice::<Value>(&raw)
        .ok()?
        .get("input_tokens")?
        .as_u64()
}
