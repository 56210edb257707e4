//! End-to-end tests of `complete` / `stream` over real HTTP: a tiny actix-web server on
//! 127.0.0.1:0 records what it received and answers a canned provider-format body.
//! Streams are held mid-way until the test releases them, proving chunks are translated
//! as bytes arrive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::testing::rich_request;
use super::types::FinishReason;
use super::{
    complete, stream, ChatChunk, ChunkStream, Piece, ProviderKind, Upstream, UpstreamError,
    UpstreamErrorKind,
};

const KEY: &str = "sk-live-secret-1234";

/// A canned answer.
#[derive(Clone)]
enum Reply {
    /// Status, extra headers, body.
    Json(u16, Vec<(&'static str, &'static str)>, String),
    /// First part now, second part once released.
    Sse(&'static str, &'static str),
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<Notify>,
}

impl Fake {
    fn last(&self) -> Seen {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a request was made")
    }
}

async fn fake(reply: Reply) -> Fake {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let release = Arc::new(Notify::new());
    let (seen2, release2) = (seen.clone(), release.clone());
    let server = HttpServer::new(move || {
        let (seen, release, reply) = (seen2.clone(), release2.clone(), reply.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: Bytes| {
            answer(req, body, seen.clone(), release.clone(), reply.clone())
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    Fake {
        url: format!("http://{addr}"),
        seen,
        release,
    }
}

async fn answer(
    req: HttpRequest,
    body: Bytes,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<Notify>,
    reply: Reply,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().expect("lock").push(Seen {
        path,
        headers,
        body,
    });
    match reply {
        Reply::Json(status, extra, text) => {
            let mut resp =
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"));
            for h in extra {
                resp.insert_header(h);
            }
            resp.content_type("application/json").body(text)
        }
        Reply::Sse(first, rest) => {
            let parts = futures_util::stream::unfold(0, move |step| {
                let release = release.clone();
                async move {
                    match step {
                        0 => Some((
                            Ok::<_, actix_web::Error>(Bytes::from_static(first.as_bytes())),
                            1,
                        )),
                        1 => {
                            release.notified().await;
                            Some((Ok(Bytes::from_static(rest.as_bytes())), 2))
                        }
                        _ => None,
                    }
                }
            });
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(parts)
        }
        Reply::Hang => {
            release.notified().await;
            HttpResponse::NoContent().finish()
        }
    }
}

/// The stream's next item, which must be a chunk.
async fn next_chunk(chunks: &mut ChunkStream) -> ChatChunk {
    chunks
        .next()
        .await
        .expect("item")
        .expect("chunk")
        .into_chunk()
}

/// The rest of the stream, which must hold no error.
async fn rest_chunks(chunks: ChunkStream) -> Vec<ChatChunk> {
    chunks
        .map(|r| r.map(Piece::into_chunk))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no errors")
}

fn upstream(provider: ProviderKind, base: String, model: &str) -> Upstream {
    Upstream {
        route: crate::proxy::client::RouteId::DIRECT,
        provider,
        model_id: model.into(),
        api_base: base,
        api_key: Some(KEY.into()),
        timeout: Duration::from_secs(10),
    }
}

#[actix_web::test]
async fn openai_complete_sends_bearer_auth_and_reads_the_answer() {
    let body = json!({"id":"chatcmpl-9","object":"chat.completion","created":1732000000,"model":"gpt-4o-2024-08-06",
        "choices":[{"index":0,"message":{"role":"assistant","content":"Hi!","refusal":null},"logprobs":null,"finish_reason":"stop"}],
        "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}}});
    let fake = fake(Reply::Json(200, vec![], body.to_string())).await;
    let up = upstream(ProviderKind::OpenAi, format!("{}/v1", fake.url), "gpt-4o");
    let resp = complete(&super::Client::new(), &up, &rich_request())
        .await
        .expect("answer");
    assert_eq!(resp.choices[0].message.content.as_deref(), Some("Hi!"));
    assert_eq!(resp.usage.total(), 15);
    let seen = fake.last();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer sk-live-secret-1234")
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.body["model"], "gpt-4o");
}

const ANTHROPIC_HEAD: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_7\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-sonnet-20241022\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
);
const ANTHROPIC_TAIL: &str = concat!(
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

#[actix_web::test]
async fn anthropic_stream_translates_chunks_before_the_body_ends() {
    let fake = fake(Reply::Sse(ANTHROPIC_HEAD, ANTHROPIC_TAIL)).await;
    let up = upstream(
        ProviderKind::Anthropic,
        fake.url.clone(),
        "claude-3-5-sonnet-20241022",
    );
    let mut chunks = stream(&super::Client::new(), &up, &rich_request())
        .await
        .expect("stream");
    let role = next_chunk(&mut chunks).await;
    assert_eq!(role.id, "msg_7");
    let hel = next_chunk(&mut chunks).await;
    assert_eq!(hel.choices[0].delta.content.as_deref(), Some("Hel"));
    fake.release.notify_one();
    let rest = rest_chunks(chunks).await;
    assert_eq!(rest[0].choices[0].delta.content.as_deref(), Some("lo"));
    assert_eq!(rest[1].choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        rest[2]
            .usage
            .map(|u| (u.prompt_tokens, u.completion_tokens)),
        Some((20, 2))
    );
    let seen = fake.last();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.body["stream"], true);
}

const GEMINI_HEAD: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Bon\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 4,\"candidatesTokenCount\": 1,\"totalTokenCount\": 5}}\r\n\r\n";
const GEMINI_TAIL: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"jour\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 4,\"candidatesTokenCount\": 2,\"totalTokenCount\": 6}}\r\n\r\n";

#[actix_web::test]
async fn gemini_stream_uses_alt_sse_and_the_key_header() {
    let fake = fake(Reply::Sse(GEMINI_HEAD, GEMINI_TAIL)).await;
    let up = upstream(ProviderKind::Gemini, fake.url.clone(), "gemini-1.5-flash");
    let mut chunks = stream(&super::Client::new(), &up, &rich_request())
        .await
        .expect("stream");
    let _role = next_chunk(&mut chunks).await;
    let bon = next_chunk(&mut chunks).await;
    assert_eq!(bon.choices[0].delta.content.as_deref(), Some("Bon"));
    fake.release.notify_one();
    let rest = rest_chunks(chunks).await;
    assert_eq!(rest.len(), 3);
    assert_eq!(rest[2].usage.map(|u| u.total()), Some(6));
    let seen = fake.last();
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    assert!(seen.body.get("contents").is_some());
}

#[actix_web::test]
async fn a_stalled_stream_ends_with_a_timeout_after_its_chunks() {
    let fake = fake(Reply::Sse(GEMINI_HEAD, GEMINI_TAIL)).await;
    let mut up = upstream(ProviderKind::Gemini, fake.url.clone(), "gemini-1.5-flash");
    up.timeout = Duration::from_millis(300);
    let items: Vec<_> = stream(&super::Client::new(), &up, &rich_request())
        .await
        .expect("stream")
        .collect()
        .await;
    assert_eq!(items.len(), 3);
    assert!(matches!(items[2], Err(UpstreamError::Timeout)));
}

#[actix_web::test]
async fn a_rate_limited_answer_is_retryable_with_its_retry_after() {
    let body = r#"{"object":"error","message":"Rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}"#;
    let fake = fake(Reply::Json(429, vec![("retry-after", "3")], body.into())).await;
    let up = upstream(
        ProviderKind::Mistral,
        format!("{}/v1", fake.url),
        "mistral-large-latest",
    );
    let err = complete(&super::Client::new(), &up, &rich_request())
        .await
        .expect_err("429");
    assert!(matches!(
        err,
        UpstreamError::Status {
            status: 429,
            kind: UpstreamErrorKind::RateLimit,
            ..
        }
    ));
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(
        fake.last().header("authorization"),
        Some("Bearer sk-live-secret-1234")
    );
}

#[actix_web::test]
async fn a_rejected_key_is_reported_without_echoing_it() {
    let body = json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error",
        "param": null, "code": "invalid_api_key"}});
    let fake = fake(Reply::Json(401, vec![], body.to_string())).await;
    let up = upstream(ProviderKind::OpenAi, format!("{}/v1", fake.url), "gpt-4o");
    let err = complete(&super::Client::new(), &up, &rich_request())
        .await
        .expect_err("401");
    assert!(matches!(
        err,
        UpstreamError::Status {
            status: 401,
            kind: UpstreamErrorKind::Authentication,
            ..
        }
    ));
    assert!(!format!("{err} {err:?}").contains(KEY));
    assert!(err.to_string().contains("rejected the API key"));
}

#[actix_web::test]
async fn a_missing_key_makes_no_call() {
    let fake = fake(Reply::Json(200, vec![], "{}".into())).await;
    let mut up = upstream(
        ProviderKind::Anthropic,
        fake.url.clone(),
        "claude-3-5-sonnet-20241022",
    );
    up.api_key = None;
    let err = complete(&super::Client::new(), &up, &rich_request())
        .await
        .expect_err("no key");
    assert!(matches!(err, UpstreamError::MissingKey));
    assert!(fake.seen.lock().expect("lock").is_empty());
}

#[actix_web::test]
async fn no_answer_in_time_is_a_timeout_and_no_listener_a_connect_error() {
    let fake = fake(Reply::Hang).await;
    let mut up = upstream(ProviderKind::OpenAi, format!("{}/v1", fake.url), "gpt-4o");
    up.timeout = Duration::from_millis(300);
    let err = complete(&super::Client::new(), &up, &rich_request())
        .await
        .expect_err("timeout");
    assert!(matches!(err, UpstreamError::Timeout));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    up.api_base = format!("http://{closed}/v1");
    let err = complete(&super::Client::new(), &up, &rich_request())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, UpstreamError::Connect(_)) && err.is_retryable(),
        "{err:?}"
    );
}
