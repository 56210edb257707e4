//! Admission: everything a request must pass before any provider is called, the same
//! for every door (Chat Completions now; Messages, Responses, embeddings after it), so
//! a request is refused, limited and reserved alike whichever dialect it spoke.
//!
//! The accounting of one request is then: admit (here: key → rate limits → model →
//! permission → ledger → reservation) → call (router) → settle and record (the
//! [`Ticket`]) → recount (budgets, on the ledger thread). Invariants:
//! - a refused request costs nothing, and counts against no rate limit that did not
//!   refuse it;
//! - the reservation covers the worst case of every choice asked for (`n`) at the
//!   dearest deployment, so parallel requests cannot overspend a strict budget;
//! - only configured model names become labels (logs, rollups, `/metrics`): any other
//!   name is the fixed `unknown` bucket, and is never written with control characters;
//! - no answer is acknowledged before its ledger row is committed (`Ticket::finish`).

use chrono::Utc;

use super::limits::limited_entities;
use super::router::ModelGroup;
use super::ticket::Ticket;
use crate::app::AppState;
use crate::domain::directory::Caller;
use crate::error::AppError;
use crate::money::Nanos;

/// The label of a model name that is not configured.
pub const UNKNOWN_MODEL: &str = "unknown";
/// Longest model name accepted.
const MAX_MODEL_NAME: usize = 256;

/// What a door asks admission for.
pub struct Ask<'a> {
    /// The model name the client sent.
    pub model: &'a str,
    /// Prompt tokens, estimated from the body.
    pub prompt_estimate: u64,
    /// The client's output limit, if any.
    pub max_tokens: Option<u32>,
    /// Choices asked for (`n`), at least 1.
    pub choices: u32,
    /// The kind of model this door calls.
    pub kind: crate::config::ModelKind,
}

/// The key the door found in the request's headers, checked before the body is read
/// (an unauthenticated client never gets to send a body). The ticket learns the caller.
pub fn authenticate(
    state: &AppState,
    secret: Result<String, AppError>,
    ticket: &mut Ticket,
) -> Result<Caller, AppError> {
    ticket.caller_version = state.directory.version();
    let caller = state
        .directory
        .authenticate(&secret?, Utc::now().timestamp_millis())
        .map_err(|refusal| AppError::Authentication(refusal.message().into()))?;
    ticket.caller = Some(caller.clone());
    Ok(caller)
}

/// Admits an authenticated caller's request (see the module's order), filling `ticket`
/// as it goes so that a refusal is recorded against the right key, user and team.
/// Returns the model's deployments.
pub fn admit<'s>(
    state: &'s AppState,
    caller: &Caller,
    ask: &Ask<'_>,
    ticket: &mut Ticket,
) -> Result<&'s ModelGroup, AppError> {
    let now = Utc::now();
    // Looked up first so a refusal carries the label, refused after the rate limits so
    // unknown names count against them too.
    let group = model_group(state, ask.model, ticket);
    state
        .rate_limits
        .admit(&limited_entities(caller), now.timestamp())
        .map_err(|hit| AppError::RateLimited {
            message: format!(
                "Rate limit reached: the {}'s {} limit is used up for this minute",
                hit.who, hit.what
            ),
            retry_after_s: hit.retry_after_s,
        })?;
    let group = group?;
    if group.kind != ask.kind {
        return Err(AppError::invalid(
            format!(
                "The model `{}` is a {} model and cannot be called as a {} model here",
                group.name,
                group.kind.as_str(),
                ask.kind.as_str()
            ),
            Some("model"),
        ));
    }
    if !caller.may_use(&group.name) {
        return Err(AppError::ModelNotAllowed(format!(
            "This API key is not allowed to use the model `{}`",
            group.name
        )));
    }
    if !state.ledger.accepting() {
        return Err(AppError::Unavailable("The gateway cannot record requests right now (database busy or not writable); try again shortly".into()));
    }
    let worst = group.worst_price().map_or(Nanos::ZERO, |p| {
        let first = p.worst_case(ask.prompt_estimate, ask.max_tokens);
        let each_more = p.worst_case(0, ask.max_tokens);
        Nanos(
            first.0.saturating_add(
                each_more
                    .0
                    .saturating_mul(i64::from(ask.choices.max(1) - 1)),
            ),
        )
    });
    let reservation = state
        .budgets
        .reserve(caller, worst, now)
        .map_err(|refusal| AppError::BudgetExceeded {
            status: state.config.server.budget_exceeded_status,
            message: refusal.message(),
        })?;
    ticket.reservation = Some(reservation);
    Ok(group)
}

/// The configured model `name` names; the ticket's label is set to it, or to the
/// `unknown` bucket.
fn model_group<'s>(
    state: &'s AppState,
    name: &str,
    ticket: &mut Ticket,
) -> Result<&'s ModelGroup, AppError> {
    if name.len() > MAX_MODEL_NAME {
        ticket.model = UNKNOWN_MODEL.to_string();
        return Err(AppError::invalid(
            format!("The model name is longer than {MAX_MODEL_NAME} bytes"),
            Some("model"),
        ));
    }
    match state.router.group(name) {
        Some(group) => {
            ticket.model = group.name.clone();
            if group.name != name {
                ticket.requested_model = Some(name.to_string());
            }
            Ok(group)
        }
        None => {
            ticket.model = UNKNOWN_MODEL.to_string();
            Err(AppError::ModelNotFound(format!(
                "The model `{}` does not exist on this gateway",
                printable(name)
            )))
        }
    }
}

/// Prompt tokens of a JSON request body (Messages, Responses), estimated for the
/// reservation: text at about three characters a token (one a token beyond ASCII), an
/// image or document source at a flat 1,600, thinking signatures not at all.
pub fn estimate_tokens(v: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match v {
        Value::String(s) => s
            .chars()
            .map(|c| if c.is_ascii() { 1 } else { 3 })
            .sum::<u64>()
            .div_ceil(3),
        Value::Array(items) => items.iter().map(estimate_tokens).sum(),
        Value::Object(map)
            if map
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t == "base64" || t == "url") =>
        {
            1_600
        }
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "signature" | "encrypted_content"))
            .map(|(k, v)| {
                if k == "image_url" {
                    1_600
                } else {
                    estimate_tokens(v)
                }
            })
            .sum(),
        _ => 0,
    }
}

/// `text` with control characters (line breaks, escape codes) shown as `\u{..}`, so
/// nothing a client sent can forge a log line or a terminal's colours.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_never_printed_raw() {
        assert_eq!(printable("gpt-4o"), "gpt-4o");
        assert_eq!(printable("a\nb\u{1b}[31m"), "a\\u{a}b\\u{1b}[31m");
        assert_eq!(printable("模型"), "模型");
    }
}
