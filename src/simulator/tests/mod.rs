//! Tests of the simulator through its routes, one file per provider; the control routes,
//! the fault queue and `bind` on a real port are tested here.

mod anthropic;
mod gemini;
mod mistral;
mod openai;

use std::io::{Read, Write};

use actix_web::test::{self, TestRequest};
use actix_web::{web, App};
use serde_json::{json, Value};

use super::{routes, Fault, FaultKind, SimProvider, Simulator, SimulatorConfig, DEFAULT_API_KEY};

/// A simulator and its routes, called in-process through actix's test service (awc would
/// need a process-wide TLS provider, which belongs to the application, not to this module).
pub struct TestSim {
    pub sim: Simulator,
}

/// The answer to one call: status, a few headers, raw body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

pub async fn spawn_sim() -> TestSim {
    TestSim {
        sim: Simulator::new(SimulatorConfig::default()),
    }
}

impl TestSim {
    pub async fn send(&self, request: TestRequest) -> Answer {
        let data = web::Data::new(self.sim.clone());
        let app = test::init_service(App::new().app_data(data).configure(routes)).await;
        let response = test::call_service(&app, request.to_request()).await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let status = response.status().as_u16();
        let bytes = test::read_body(response).await;
        Answer {
            status,
            content_type,
            retry_after,
            text: String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
        }
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut request = TestRequest::post().uri(path).set_json(body);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        self.send(request).await
    }

    pub fn fault(&self, provider: SimProvider, times: u32, kind: FaultKind) {
        self.sim.push_fault(Fault {
            provider: Some(provider),
            model: None,
            times,
            kind,
        });
    }
}

/// `data:` payloads of an SSE body (LF or CRLF framing), in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .map(str::to_string)
        })
        .collect()
}

/// `event:` names of an SSE body, in order.
pub fn sse_names(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .map(str::to_string)
        .collect()
}

pub fn bearer() -> String {
    format!("Bearer {DEFAULT_API_KEY}")
}

#[actix_web::test]
async fn bind_serves_health_on_a_real_port() {
    let sim = Simulator::new(SimulatorConfig::default());
    let (addr, server) = sim.bind("127.0.0.1:0").expect("bind port 0");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let reply = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: sim\r\n\r\n")
            .expect("write");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read");
        reply
    })
    .await
    .expect("join");
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    handle.stop(false).await;
}

#[actix_web::test]
async fn faults_set_over_http_apply_and_requests_are_listed() {
    let app = spawn_sim().await;
    let fault = json!({"provider": "anthropic", "model": null, "times": 1, "kind": {"status": {"status": 529, "retry_after_s": null}}});
    let set = app.post("/_sim/faults", &[], &fault).await;
    assert_eq!(set.status, 204);
    let body = json!({"model": "claude-3-5-haiku-20241022", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
    let headers = [
        ("x-api-key", DEFAULT_API_KEY),
        ("anthropic-version", "2023-06-01"),
    ];
    let first = app.post("/anthropic/v1/messages", &headers, &body).await;
    assert_eq!(first.status, 529);
    assert_eq!(first.json()["error"]["type"], "overloaded_error");
    let second = app.post("/anthropic/v1/messages", &headers, &body).await;
    assert_eq!(second.status, 200);

    let listed = app
        .send(TestRequest::get().uri("/_sim/received"))
        .await
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(listed[0]["provider"], "anthropic");
    assert_eq!(listed[0]["body"]["max_tokens"], 50);
    assert_eq!(app.sim.received()[1].path, "/anthropic/v1/messages");
}

#[actix_web::test]
async fn a_fault_for_another_model_or_provider_does_not_apply() {
    let app = spawn_sim().await;
    app.sim.push_fault(Fault {
        provider: Some(SimProvider::OpenAi),
        model: Some("gpt-4.1".into()),
        times: 1,
        kind: FaultKind::Garbage,
    });
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let answer = app
        .post(
            "/openai/v1/chat/completions",
            &[("authorization", &bearer())],
            &body,
        )
        .await;
    assert_eq!(answer.status, 200);
    assert!(answer.json().is_object());
    app.sim.clear_faults();
    app.sim.clear_received();
    assert!(app.sim.received().is_empty());
}

#[test]
fn fault_json_uses_snake_case_and_defaults_times_to_one() {
    let fault: Fault =
        serde_json::from_value(json!({"provider": "openai", "kind": "garbage"})).expect("parse");
    assert_eq!(fault.times, 1);
    assert_eq!(fault.provider, Some(SimProvider::OpenAi));
    let kind: FaultKind =
        serde_json::from_value(json!({"cut_stream": {"after_events": 2}})).expect("parse");
    assert_eq!(kind, FaultKind::CutStream { after_events: 2 });
}
