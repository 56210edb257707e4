//! The accounting of one proxied request, from the moment it arrives until it is in
//! the ledger. A `Ticket` collects what is known as the request advances (caller,
//! model, deployment, reservation); finishing it settles the reservation to the real
//! cost, counts tokens against rate limits and queues the log record. A ticket that is
//! dropped unfinished (client gone mid-stream) still finishes, so nothing served is
//! ever left out of the ledger.

use actix_web::web;
use chrono::Utc;

use super::Usage;
use crate::app::AppState;
use crate::db::logs_write::LogRecord;
use crate::domain::directory::Caller;
use crate::domain::pricing::{ModelPrice, TokenCounts};
use crate::domain::reservations::Reservation;
use crate::ledger::LedgerError;
use crate::money::Nanos;

/// Largest body text kept in the log.
const MAX_STORED_BODY: usize = 16 * 1024;

/// How a request ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// HTTP status the client got (499: client went away).
    pub http_status: u16,
    /// Error message for failures.
    pub error: Option<String>,
    /// Tokens used (zero for refusals).
    pub usage: Usage,
    /// Response body to store, when kept.
    pub response_body: Option<String>,
}

/// One request's accounting.
pub struct Ticket {
    state: web::Data<AppState>,
    /// The request id (also the `x-request-id` header).
    pub request_id: String,
    start_ms: i64,
    /// Set once the key is known.
    pub caller: Option<Caller>,
    /// The directory's version when `caller` was read.
    pub caller_version: u64,
    /// Client-facing model name.
    pub model: String,
    /// Provider and deployment index, once chosen.
    pub deployment: Option<(&'static str, usize)>,
    /// Prices of the chosen deployment.
    pub price: Option<ModelPrice>,
    /// Held budget.
    pub reservation: Option<Reservation>,
    /// Streaming request.
    pub stream: bool,
    /// Request body to store, when kept.
    pub request_body: Option<String>,
    /// Time spent waiting on the provider for the answer's start.
    pub upstream_s: Option<f64>,
    /// The door (`acompletion`, `anthropic_messages`, …).
    pub call_type: &'static str,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The model name the client sent, when it was an alias.
    pub requested_model: Option<String>,
    started: std::time::Instant,
    finished: bool,
    /// Tells the ledger a record is coming; travels with the record (group commit).
    expected: Option<crate::ledger::Expected>,
}

/// Truncates text for storage on a char boundary.
pub fn truncate_body(text: &str) -> String {
    if text.len() <= MAX_STORED_BODY {
        return text.to_string();
    }
    let mut end = MAX_STORED_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated]", &text[..end])
}

impl Ticket {
    /// Opens a ticket for a request that just arrived through `call_type`'s door, with
    /// the client's `User-Agent`.
    pub fn open_for(
        state: web::Data<AppState>,
        request_id: String,
        call_type: &'static str,
        req: &actix_web::HttpRequest,
    ) -> Ticket {
        let mut ticket = Ticket::open(state, request_id);
        ticket.call_type = call_type;
        ticket.user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| super::admission::printable(&ua.chars().take(200).collect::<String>()));
        ticket
    }

    /// Opens a ticket for a request that just arrived.
    pub fn open(state: web::Data<AppState>, request_id: String) -> Ticket {
        let state_expect = state.ledger.expect();
        Ticket {
            state,
            request_id,
            start_ms: Utc::now().timestamp_millis(),
            caller: None,
            caller_version: 0,
            model: String::new(),
            deployment: None,
            price: None,
            reservation: None,
            stream: false,
            request_body: None,
            upstream_s: None,
            call_type: "acompletion",
            user_agent: None,
            requested_model: None,
            started: std::time::Instant::now(),
            finished: false,
            expected: Some(state_expect),
        }
    }

    /// Moves this ticket's accounting out (into a stream's relay, which finishes it);
    /// `self` is left spent, so dropping it records nothing.
    pub fn take(&mut self) -> Ticket {
        let mut spent = Ticket::open(self.state.clone(), String::new());
        spent.finished = true;
        spent.expected = None;
        std::mem::replace(self, spent)
    }

    /// Cost of `usage` at the chosen deployment's prices.
    pub fn cost_of(&self, usage: &Usage) -> Nanos {
        self.price.map_or(Nanos::ZERO, |p| p.cost(counts(usage)))
    }

    /// What the key has left after this request, when it has a budget.
    pub fn key_remaining(&self) -> Option<Nanos> {
        let caller = self.caller.as_ref()?;
        let limit = crate::domain::reservations::limits_of(caller)
            .into_iter()
            .find(|l| l.kind == "key")?;
        Some(
            self.state
                .budgets
                .standing(&limit, Utc::now())
                .remaining(limit.limit),
        )
    }

    /// Settles and builds the log record; returns it with the charged cost.
    fn settle(&mut self, outcome: Outcome) -> (LogRecord, Nanos) {
        self.finished = true;
        let now = Utc::now();
        let cost = self.cost_of(&outcome.usage);
        let charge = match (self.reservation.take(), self.caller.as_ref()) {
            (Some(r), Some(caller)) => {
                // Budgets set or changed while the request ran are charged as they are
                // now; the reservation is released where it was taken.
                let directory = &self.state.directory;
                let current = (directory.version() != self.caller_version)
                    .then(|| directory.current_caller(caller))
                    .flatten();
                let booked_on = current.as_ref().unwrap_or(caller);
                self.state
                    .budgets
                    .settle(r, cost, booked_on, now, self.start_ms)
            }
            _ => 0,
        };
        if let Some(caller) = self.caller.as_ref() {
            let entities = super::limits::limited_entities(caller);
            self.state
                .rate_limits
                .count_tokens(&entities, now.timestamp(), outcome.usage.total());
        }
        let (provider, deployment) = self.deployment.map_or(("", -1), |(p, d)| (p, d as i64));
        let caller = self.caller.as_ref();
        let record = LogRecord {
            // A ticket settles once (`finished`), so its strings move into the record.
            request_id: std::mem::take(&mut self.request_id),
            start_ms: self.start_ms,
            end_ms: now.timestamp_millis(),
            key_id: caller.map_or(0, |c| c.key.id),
            user_id: caller.and_then(|c| c.key.user_id).unwrap_or(0),
            team_id: caller.and_then(|c| c.key.team_id).unwrap_or(0),
            model: std::mem::take(&mut self.model),
            provider: provider.to_string(),
            deployment,
            success: (200..300).contains(&outcome.http_status),
            http_status: outcome.http_status,
            error: outcome.error,
            prompt_tokens: outcome.usage.prompt_tokens,
            completion_tokens: outcome.usage.completion_tokens,
            cached_tokens: outcome.usage.cached_tokens,
            cost: cost.0,
            stream: self.stream,
            request_body: self.request_body.take(),
            response_body: outcome.response_body.map(|b| truncate_body(&b)),
            call_type: self.call_type,
            user_agent: self.user_agent.take(),
            requested_model: self.requested_model.take(),
            charge,
        };
        self.observe(&record);
        (record, cost)
    }

    /// Metrics and the access log line (with the request id) for a finished request.
    fn observe(&self, r: &LogRecord) {
        let total_s = self.started.elapsed().as_secs_f64();
        self.state.metrics.observe(&crate::metrics::Observation {
            model: &r.model,
            provider: &r.provider,
            status: r.http_status,
            total_s,
            upstream_s: self.upstream_s,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            spend_nanos: r.cost,
        });
        tracing::info!(
            target: "tollgate::access",
            request_id = %r.request_id,
            model = %r.model,
            provider = %r.provider,
            status = r.http_status,
            latency_ms = (total_s * 1000.0) as u64,
            prompt_tokens = r.prompt_tokens,
            completion_tokens = r.completion_tokens,
            cost_usd = %crate::money::Nanos(r.cost).format_usd(6),
            error = %super::admission::printable(r.error.as_deref().unwrap_or("")),
            "request finished"
        );
    }

    /// Finishes an answered request and waits until its ledger row is committed: the
    /// answer may leave only then (SPEC §14). Returns the cost and what the key has
    /// left afterwards (when it has a budget).
    pub async fn finish(mut self, outcome: Outcome) -> Result<(Nanos, Option<Nanos>), LedgerError> {
        let (record, cost) = self.settle(outcome);
        let remaining = self.key_remaining();
        let expected = self.expected.take();
        self.state.ledger.commit(record, expected).await?;
        Ok((cost, remaining))
    }

    /// Finishes a refused or failed request (nothing was answered, nothing costs):
    /// recorded without waiting. Returns what the key has left.
    pub fn refuse(mut self, outcome: Outcome) -> Option<Nanos> {
        let (record, _) = self.settle(outcome);
        let expected = self.expected.take();
        self.state.ledger.record_refusal(record, expected);
        self.key_remaining()
    }

    /// Finishes a stream that reached its terminator: the returned future resolves
    /// once the row is committed, and the terminator is sent only then.
    pub fn finish_acked(
        &mut self,
        outcome: Outcome,
    ) -> Option<impl std::future::Future<Output = Result<(), LedgerError>> + 'static> {
        if self.finished {
            return None;
        }
        let (record, _) = self.settle(outcome);
        let expected = self.expected.take();
        Some(self.state.ledger.commit(record, expected))
    }

    /// Finishes from synchronous code (end of a stream).
    pub fn finish_now(&mut self, outcome: Outcome) {
        if self.finished {
            return;
        }
        let (record, _) = self.settle(outcome);
        let expected = self.expected.take();
        self.state.ledger.record_detached(record, expected);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished {
            self.finish_now(Outcome {
                http_status: 499,
                error: Some(
                    "the client closed the connection before the response completed".into(),
                ),
                usage: Usage::default(),
                response_body: None,
            });
        }
    }
}

/// Usage as pricing counts it.
pub fn counts(u: &Usage) -> TokenCounts {
    TokenCounts {
        prompt: u.prompt_tokens,
        completion: u.completion_tokens,
        cached_read: u.cached_tokens,
        cache_write: u.cache_creation_tokens,
        cache_write_1h: u.cache_creation_1h_tokens,
        requests: u.billed_requests,
    }
}
