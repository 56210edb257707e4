//! The shell of a door whose answer is one JSON body (embeddings, rerank): the ticket
//! opened with the door's `call_type`, the key checked before the body is read, and
//! the answer sent only once its row is committed — or the refusal recorded and
//! answered in OpenAI's error format.

use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use serde_json::Value;

use crate::app::AppState;
use crate::domain::directory::Caller;
use crate::domain::tokens;
use crate::error::AppError;
use crate::proxy::admission;
use crate::proxy::handler::{bearer, read_body, with_headers};
use crate::proxy::ticket::{Outcome, Ticket};
use crate::proxy::Usage;

/// A request that got past the key and whose body was read.
pub(super) struct Opened {
    pub ticket: Ticket,
    pub request_id: String,
    /// The caller and the body, or why the request stops here.
    pub admitted: Result<(Caller, web::Bytes), AppError>,
}

/// Opens the ticket, checks the key, then reads the body within the server's bounds.
pub(super) async fn open(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    call_type: &'static str,
) -> Opened {
    let request_id = tokens::request_id(Utc::now().timestamp_millis());
    let mut ticket = Ticket::open_for(state.clone(), request_id.clone(), call_type, req);
    let timeout = Duration::from_secs(state.config.server.body_timeout_s.max(1));
    let admitted = match admission::authenticate(state, bearer(req), &mut ticket) {
        Ok(caller) => read_body(payload, state.config.server.max_body_bytes, timeout)
            .await
            .map(|raw| (caller, raw)),
        Err(e) => Err(e),
    };
    Opened {
        ticket,
        request_id,
        admitted,
    }
}

/// Sends the answer once its row is committed, or records the refusal and answers it.
pub(super) async fn close(
    ticket: Ticket,
    request_id: &str,
    result: Result<(Value, Usage), AppError>,
) -> HttpResponse {
    match result {
        Ok((body, usage)) => {
            let outcome = Outcome {
                http_status: 200,
                error: None,
                usage,
                response_body: None,
            };
            match ticket.finish(outcome).await {
                Ok((cost, remaining)) => {
                    let resp = HttpResponse::Ok()
                        .content_type(ContentType::json())
                        .body(body.to_string());
                    with_headers(resp, request_id, Some(cost), remaining)
                }
                Err(e) => with_headers(
                    AppError::Unavailable(e.to_string()).error_response(),
                    request_id,
                    None,
                    None,
                ),
            }
        }
        Err(e) => {
            let outcome = Outcome {
                http_status: e.parts().0,
                error: Some(e.to_string()),
                usage: Usage::default(),
                response_body: None,
            };
            let remaining = ticket.refuse(outcome);
            with_headers(e.error_response(), request_id, None, remaining)
        }
    }
}
