//! What the doors share when they call a provider themselves: the client's errors as
//! the gateway's (and whether another attempt may help), whole bodies read within a
//! size and time bound, and one JSON POST whose error answers are turned into
//! `AppError::Upstream` with the provider key scrubbed.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::error::AppError;
use crate::proxy::client::{Client, ClientError, Response};
use crate::proxy::router::Deployment;
use crate::proxy::ticket::Ticket;
use crate::proxy::UpstreamErrorKind;

/// Largest successful answer read whole.
pub(super) const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Largest error body read.
pub(super) const ERROR_LIMIT: usize = 64 * 1024;

/// A provider call that failed, and whether the next deployment may be tried.
pub(super) type Failure = (AppError, bool);

/// The client's error as the gateway's; a request the provider may have begun is never
/// sent again.
pub(super) fn client_error(e: ClientError) -> Failure {
    match e {
        ClientError::Timeout => (
            AppError::GatewayTimeout("the provider did not answer in time".into()),
            true,
        ),
        ClientError::Connect(m) => (
            AppError::BadGateway(format!("could not reach the provider ({m})")),
            true,
        ),
        ClientError::Interrupted(m) => (AppError::BadGateway(m), false),
        ClientError::Protocol(m) | ClientError::Invalid(m) => (
            AppError::BadGateway(format!("the provider sent an invalid response ({m})")),
            false,
        ),
    }
}

/// Whether an HTTP status from a provider is worth another deployment.
pub(super) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504 | 529)
}

/// Reads a whole body within `timeout` and `limit`.
pub(super) async fn read_all(
    resp: Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, AppError> {
    let mut body = std::pin::pin!(resp.body());
    let mut out = Vec::new();
    let read = async {
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| {
                AppError::BadGateway(format!("the provider's answer was cut ({e})"))
            })?;
            if out.len() + piece.len() > limit {
                return Err(AppError::BadGateway(
                    "the provider's answer is too large".into(),
                ));
            }
            out.extend_from_slice(&piece);
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| {
        AppError::GatewayTimeout("the provider did not finish its answer in time".into())
    })??;
    Ok(out)
}

/// The message of a provider's error body, in whichever of the common shapes it came
/// (`error.message`, `message`, FastAPI's `detail`), or the bare status.
pub(super) fn error_message(body: &Value, status: u16) -> String {
    body["error"]["message"]
        .as_str()
        .or(body["error"].as_str())
        .or(body["message"].as_str())
        .or(body["detail"].as_str())
        .or(body["detail"][0]["msg"].as_str())
        .map_or_else(
            || format!("the provider answered HTTP {status}"),
            str::to_string,
        )
}

/// POSTs `body` to `url` on deployment `d` and reads the JSON answer. A non-2xx answer
/// becomes `AppError::Upstream` naming the provider's model, with its key scrubbed.
pub(super) async fn post_json(
    http: &Client,
    d: &Deployment,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Result<Value, Failure> {
    let bytes = serde_json::to_vec(body).map_err(|e| (AppError::Internal(e.to_string()), false))?;
    let resp = http
        .post_json(d.upstream.route, url, headers, bytes, d.upstream.timeout)
        .await
        .map_err(client_error)?;
    let status = resp.status;
    let wait = resp.retry_after;
    let ok = (200..300).contains(&status);
    let limit = if ok { BODY_LIMIT } else { ERROR_LIMIT };
    let raw = read_all(resp, limit, d.upstream.timeout)
        .await
        .map_err(|e| (e, false))?;
    if ok {
        return serde_json::from_slice(&raw).map_err(|e| {
            (
                AppError::BadGateway(format!("the provider sent invalid JSON ({e})")),
                false,
            )
        });
    }
    let key = d.upstream.api_key.as_deref().filter(|k| !k.is_empty());
    let value: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut message = error_message(&value, status);
    if let Some(key) = key {
        message = message.replace(key, "***");
    }
    let error = AppError::Upstream {
        status,
        message: format!("{}: {message}", d.upstream.model_id),
        error_type: UpstreamErrorKind::from_status(status).openai_type(),
        retry_after_s: wait.map(|w| w.as_secs().max(1)),
    };
    Err((error, retryable_status(status)))
}

/// Tries the deployments of `order` (first, then the others, up to the first one's
/// `max_retries` more) until `call` succeeds or fails for good; the ticket names the
/// deployment tried last and the time its answer took.
pub(super) async fn first_answer<'d, T, F, Fut>(
    order: &[&'d Deployment],
    ticket: &mut Ticket,
    mut call: F,
) -> Result<T, AppError>
where
    F: FnMut(&'d Deployment) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let Some(first) = order.first() else {
        return Err(AppError::BadGateway(
            "no deployment serves this model".into(),
        ));
    };
    let attempts = 1 + first.max_retries as usize;
    let mut last = AppError::BadGateway("no deployment answered".into());
    for attempt in 0..attempts {
        let d = order[attempt % order.len()];
        ticket.deployment = Some((d.upstream.provider.as_str(), d.index));
        ticket.price = Some(d.price);
        d.window.count_request(chrono::Utc::now().timestamp());
        let started = Instant::now();
        let result = call(d).await;
        ticket.upstream_s = Some(started.elapsed().as_secs_f64());
        match result {
            Ok(value) => return Ok(value),
            Err((error, retry)) => {
                last = error;
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last)
}
