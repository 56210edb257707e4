//! The way out to providers (SPEC §13), with real components: an HTTPS provider whose
//! certificate a private CA signed (trusted only through `ca_file`), Debian's tinyproxy
//! (HTTP CONNECT and forwarding, with and without Basic credentials) and microsocks
//! (SOCKS5). Each upstream sits behind a gate that accepts only the proxy's source
//! address, so a call that skipped the proxy cannot pass by accident.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;
use tollgate::config::{ModelConfig, Secret};
use tollgate::proxy::ProviderKind;
use tollgate::simulator::DEFAULT_API_KEY;

use crate::helpers::outbound::{microsocks, tinyproxy, Gate, TestCa};
use crate::helpers::{chat_body, spawn_app_with, stream_body, streamed_content, TestApp};

const DIRECT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const VIA_HTTP_PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const VIA_SOCKS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// An OpenAI deployment named `name` at `base` (an `http(s)://host:port` without path).
fn openai_at(name: &str, base: &str) -> ModelConfig {
    ModelConfig {
        api_base: Some(format!("{base}/openai/v1")),
        api_key: Some(Secret::literal(DEFAULT_API_KEY)),
        input_cost_per_mtok: Some(2.5),
        output_cost_per_mtok: Some(10.0),
        timeout_s: 20,
        max_retries: 0,
        ..ModelConfig::new(name, ProviderKind::OpenAi, "gpt-4o")
    }
}

/// Chat and stream through `model` both answer, and the stream ends in `[DONE]`.
async fn chat_and_stream_work(app: &TestApp, key: &str, model: &str) {
    let resp = app.chat(key, &chat_body(model, "hello")).await;
    assert_eq!(resp.status, 200, "{model}: {}", resp.body);
    assert!(resp.json()["choices"][0]["message"]["content"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    let resp = app.chat(key, &stream_body(model, "hello")).await;
    assert_eq!(resp.status, 200, "{model}: {}", resp.body);
    assert!(!streamed_content(&resp.body).is_empty(), "{}", resp.body);
    assert!(
        resp.body.trim_end().ends_with("data: [DONE]"),
        "{}",
        resp.body
    );
}

fn error_message(resp: &crate::helpers::Resp) -> String {
    resp.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[actix_web::test]
async fn a_private_ca_is_trusted_through_ca_file_and_refused_clearly_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (sim, addr) = ca.https_simulator();
    let base = format!("https://127.0.0.1:{}", addr.port());
    let ca_file = ca.ca_file.clone();
    let app = spawn_app_with(|c| {
        c.models.push(openai_at("untrusted", &base));
        let mut trusted = openai_at("trusted", &format!("https://localhost:{}", addr.port()));
        trusted.ca_file = Some(ca_file);
        c.models.push(trusted);
    })
    .await;
    let key = app.key("tls").await;

    let resp = app.chat(&key, &chat_body("untrusted", "hello")).await;
    assert_eq!(resp.status, 502, "{}", resp.body);
    let message = error_message(&resp);
    assert!(
        message.contains("certificate was not trusted") && message.contains("ca_file"),
        "{message}"
    );
    assert!(
        !message.contains("127.0.0.1"),
        "no upstream address in errors: {message}"
    );
    assert!(
        sim.received().is_empty(),
        "nothing reached the provider over an untrusted TLS"
    );

    chat_and_stream_work(&app, &key, "trusted").await;
    assert_eq!(sim.received().len(), 2);

    // The server-wide ca_file applies to every deployment.
    let ca_file = ca.ca_file.clone();
    let app = spawn_app_with(|c| {
        c.server.ca_file = Some(ca_file);
        c.models.push(openai_at("untrusted", &base));
    })
    .await;
    let key = app.key("tls").await;
    chat_and_stream_work(&app, &key, "untrusted").await;
}

#[actix_web::test]
async fn https_providers_are_called_over_http2_where_offered() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (_sim, addr) = ca.https_simulator();
    let ca_file = ca.ca_file.clone();
    let app = spawn_app_with(|c| {
        c.server.ca_file = Some(ca_file);
        c.models.push(openai_at(
            "h2",
            &format!("https://127.0.0.1:{}", addr.port()),
        ));
    })
    .await;
    app.login_as_admin().await;
    let index = app
        .state
        .router
        .deployments()
        .find(|(n, _)| *n == "h2")
        .unwrap()
        .1
        .index;
    let csrf = app.csrf().await;
    let page = app
        .post_form(
            &format!("/deployments/{index}/check"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("TLS, HTTP/2"), "{}", page.body);
}

#[actix_web::test]
async fn calls_go_through_an_http_connect_proxy_with_basic_credentials() {
    let Some(proxy) = tinyproxy(VIA_HTTP_PROXY, Some(("alice", "s3cret-pw"))).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (sim, addr) = ca.https_simulator();
    let gate = Gate::start(VIA_HTTP_PROXY, addr).await;
    let proxy_url = format!("http://alice:s3cret-pw@{}", proxy.addr);
    let wrong_url = format!("http://alice:wrong-pw-77@{}", proxy.addr);
    let (ca_file, ca_file2) = (ca.ca_file.clone(), ca.ca_file.clone());
    let base = format!("https://127.0.0.1:{}", gate.addr.port());
    let app = spawn_app_with(|c| {
        c.server.outbound_proxy = Some(Secret::literal(&proxy_url));
        c.server.ca_file = Some(ca_file);
        c.models.push(openai_at("abroad", &base));
        let mut wrong = openai_at("wrong-proxy-password", &base);
        wrong.proxy = Some(Secret::literal(&wrong_url));
        wrong.ca_file = Some(ca_file2);
        c.models.push(wrong);
    })
    .await;
    let key = app.key("proxied").await;

    chat_and_stream_work(&app, &key, "abroad").await;
    assert_eq!(gate.refused(), 0, "every connection came from the proxy");
    assert!(gate.passed() >= 1);
    assert_eq!(sim.received().len(), 2);

    let resp = app
        .chat(&key, &chat_body("wrong-proxy-password", "hello"))
        .await;
    assert_eq!(resp.status, 502, "{}", resp.body);
    let message = error_message(&resp);
    assert!(message.contains("proxy"), "{message}");
    assert!(!resp.body.contains("wrong-pw-77") && !resp.body.contains("s3cret-pw"));
    assert_eq!(sim.received().len(), 2, "the refused call reached nobody");

    // The credentials appear nowhere: not in the log rows, the metrics or the 模型 page.
    app.flush_ledger().await;
    let logged = app.query_text("SELECT group_concat(coalesce(error, ''), ' ') FROM request_logs");
    assert!(
        !logged.contains("s3cret-pw") && !logged.contains("wrong-pw-77"),
        "{logged}"
    );
    let metrics = app.get("/metrics").await.body;
    assert!(!metrics.contains("s3cret-pw"));
    app.login_as_admin().await;
    let page = app.get("/deployments").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("http://***@{}", proxy.addr)),
        "{}",
        page.body
    );
    assert!(!page.body.contains("s3cret-pw") && !page.body.contains("wrong-pw-77"));
}

#[actix_web::test]
async fn plain_http_is_forwarded_by_the_proxy_and_socks5_carries_tls() {
    let (Some(http_proxy), Some(socks)) = (
        tinyproxy(VIA_HTTP_PROXY, None).await,
        microsocks(VIA_SOCKS, Some(("bob", "socks-pw-9"))).await,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (tls_sim, tls_addr) = ca.https_simulator();
    let plain = crate::helpers::spawn_app().await; // its simulator serves plain HTTP
    let plain_gate = Gate::start(VIA_HTTP_PROXY, plain.sim_addr).await;
    let socks_gate = Gate::start(VIA_SOCKS, tls_addr).await;
    let ca_file = ca.ca_file.clone();
    let (http_url, socks_url) = (
        format!("http://{}", http_proxy.addr),
        format!("socks5://bob:socks-pw-9@{}", socks.addr),
    );
    let app = spawn_app_with(|c| {
        let mut forwarded = openai_at(
            "forwarded",
            &format!("http://127.0.0.1:{}", plain_gate.addr.port()),
        );
        forwarded.proxy = Some(Secret::literal(&http_url));
        c.models.push(forwarded);
        let mut socks5 = openai_at(
            "socks",
            &format!("https://127.0.0.1:{}", socks_gate.addr.port()),
        );
        socks5.proxy = Some(Secret::literal(&socks_url));
        socks5.ca_file = Some(ca_file);
        c.models.push(socks5);
    })
    .await;
    let key = app.key("proxied").await;
    chat_and_stream_work(&app, &key, "forwarded").await;
    chat_and_stream_work(&app, &key, "socks").await;
    assert_eq!((plain_gate.refused(), socks_gate.refused()), (0, 0));
    assert_eq!(plain.sim.received().len(), 2);
    assert_eq!(tls_sim.received().len(), 2);
}

#[actix_web::test]
async fn proxy_none_and_no_proxy_go_direct_while_the_rest_use_the_proxy() {
    let Some(proxy) = tinyproxy(VIA_HTTP_PROXY, None).await else {
        return;
    };
    let upstream = crate::helpers::spawn_app().await;
    let direct_only = Gate::start(DIRECT, upstream.sim_addr).await;
    let proxy_only = Gate::start(VIA_HTTP_PROXY, upstream.sim_addr).await;
    let proxy_url = format!("http://{}", proxy.addr);
    let (direct_port, proxy_port) = (direct_only.addr.port(), proxy_only.addr.port());

    // [server] outbound_proxy for all, `proxy = "none"` for one.
    let app = spawn_app_with(|c| {
        c.server.outbound_proxy = Some(Secret::literal(&proxy_url));
        c.models.push(openai_at(
            "via-proxy",
            &format!("http://127.0.0.1:{proxy_port}"),
        ));
        let mut domestic = openai_at("domestic", &format!("http://127.0.0.1:{direct_port}"));
        domestic.proxy = Some(Secret::literal("none"));
        c.models.push(domestic);
    })
    .await;
    let key = app.key("mixed").await;
    chat_and_stream_work(&app, &key, "via-proxy").await;
    chat_and_stream_work(&app, &key, "domestic").await;

    // The environment's HTTP_PROXY, with NO_PROXY exempting one host.
    let proxy_url = format!("http://{}", proxy.addr);
    let app = spawn_app_with(|c| {
        c.server.proxy_env.http = Some(proxy_url);
        c.server.proxy_env.no = Some("localhost".into());
        c.models.push(openai_at(
            "env-proxy",
            &format!("http://127.0.0.1:{proxy_port}"),
        ));
        c.models.push(openai_at(
            "no-proxy",
            &format!("http://localhost:{direct_port}"),
        ));
    })
    .await;
    let key = app.key("env").await;
    chat_and_stream_work(&app, &key, "env-proxy").await;
    chat_and_stream_work(&app, &key, "no-proxy").await;
    assert_eq!(
        direct_only.refused(),
        0,
        "nothing meant to go direct went through the proxy"
    );
    assert_eq!(
        proxy_only.refused(),
        0,
        "nothing meant for the proxy went direct"
    );
    assert_eq!(upstream.sim.received().len(), 8);
}

/// A raw provider that reads one whole request per connection and closes unanswered.
async fn closing_provider() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    actix_web::rt::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            actix_web::rt::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        counter.fetch_add(1, Ordering::SeqCst);
                        return; // closes the connection, unanswered
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[actix_web::test]
async fn a_provider_that_closes_after_reading_the_request_is_not_called_again() {
    let (addr, seen) = closing_provider().await;
    let app = spawn_app_with(|c| {
        let mut m = openai_at("closing", &format!("http://{addr}"));
        m.max_retries = 2;
        c.models.push(m);
    })
    .await;
    let key = app.key("once").await;
    let resp = app.chat(&key, &chat_body("closing", "bill me once")).await;
    assert_eq!(resp.status, 502, "{}", resp.body);
    assert!(
        error_message(&resp).contains("not sent again"),
        "{}",
        resp.body
    );
    actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "sent exactly once"
    );
}

#[actix_web::test]
async fn a_provider_answering_gzip_is_decoded() {
    use actix_web::{middleware::Compress, web, App, HttpRequest, HttpResponse, HttpServer};
    let server = HttpServer::new(|| {
        App::new().wrap(Compress::default()).route(
            "/v1/chat/completions",
            web::post().to(|req: HttpRequest| async move {
                let asked = req
                    .headers()
                    .get("accept-encoding")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let text = format!("{} {}", "compressed reply;".repeat(40), asked);
                HttpResponse::Ok().json(serde_json::json!({
                    "id": "chatcmpl-gz", "object": "chat.completion", "created": 1, "model": "gz-model",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
                }))
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    let app = spawn_app_with(|c| {
        let mut m = openai_at("gz", &format!("http://{addr}"));
        m.api_base = Some(format!("http://{addr}/v1"));
        c.models.push(m);
    })
    .await;
    let key = app.key("gz").await;
    let resp = app.chat(&key, &chat_body("gz", "hello")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let content: Value = resp.json()["choices"][0]["message"]["content"].clone();
    let content = content.as_str().unwrap_or_default();
    assert!(content.starts_with("compressed reply;"), "{content}");
    assert!(
        content.contains("gzip"),
        "the gateway asked for gzip: {content}"
    );
}

#[actix_web::test]
async fn check_providers_reports_reachable_unreachable_and_wrong_key_deployments() {
    let upstream = crate::helpers::spawn_app().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sim = upstream.sim_addr;
    let config = format!(
        "[server]\ndatabase = \"check.db\"\n\n\
         [[models]]\nname = \"good\"\nprovider = \"openai\"\nmodel = \"gpt-4o\"\n\
         api_base = \"http://{sim}/openai/v1\"\napi_key = \"{DEFAULT_API_KEY}\"\n\n\
         [[models]]\nname = \"wrong-key\"\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\
         api_base = \"http://{sim}/anthropic\"\napi_key = \"sk-ant-wrong-key-123\"\n\n\
         [[models]]\nname = \"down\"\nprovider = \"gemini\"\nmodel = \"gemini-2.5-pro\"\n\
         api_base = \"http://{closed}\"\napi_key = \"gem-key-456\"\n"
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let out = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["check-providers", "--config"])
            .arg(&path)
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .output()
            .expect("tollgate runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}: {stdout}"))
            .to_string()
    };
    let good = line("good");
    assert!(
        good.contains(" ok ")
            && good.contains("200")
            && good.contains("direct (no proxy configured)")
            && good.contains("plain HTTP/1.1"),
        "{good}"
    );
    let wrong = line("wrong-key");
    assert!(
        wrong.contains("reachable")
            && wrong.contains("401")
            && wrong.contains("refused the configured API key"),
        "{wrong}"
    );
    let down = line("down");
    assert!(
        down.contains("UNREACHABLE") && down.contains("refused"),
        "{down}"
    );
    assert!(stderr.contains("2 of 3 deployments failed"), "{stderr}");
    for secret in ["sk-ant-wrong-key-123", "gem-key-456", DEFAULT_API_KEY] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown"
        );
    }
    assert!(
        !dir.path().join("check.db").exists(),
        "a check writes no database"
    );
    let mut calls: Vec<_> = upstream
        .sim
        .received()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    calls.sort();
    assert_eq!(calls, ["/anthropic/v1/models", "/openai/v1/models"]);
}

#[actix_web::test]
async fn the_models_page_lists_deployments_and_tests_a_connection_without_charging() {
    let app = spawn_app_with(|c| {
        let mut m = openai_at("wrong-key", "http://127.0.0.1:9");
        m.api_key = Some(Secret::literal("sk-provider-secret-999"));
        c.models.push(m);
    })
    .await;
    let anon = app.get("/deployments").await;
    assert!(anon.status.is_redirection(), "{}", anon.status);
    app.login_as_admin().await;
    let page = app.get("/deployments").await;
    assert_eq!(page.status, 200);
    for text in [
        "模型",
        "gpt-4o",
        "claude-3-5-sonnet",
        "gemini-pro",
        "mistral-large",
        "wrong-key",
        "测试连接",
        "direct",
        "$2.5 / $10",
    ] {
        assert!(page.body.contains(text), "{text} missing");
    }
    assert!(!page.body.contains("sk-provider-secret-999") && !page.body.contains(DEFAULT_API_KEY));

    let csrf = app.csrf().await;
    let gpt = app
        .state
        .router
        .deployments()
        .find(|(n, _)| *n == "gpt-4o")
        .unwrap()
        .1
        .index;
    let checked = app
        .post_form(
            &format!("/deployments/{gpt}/check"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(checked.status, 200);
    assert!(checked.body.contains("连接正常"), "{}", checked.body);
    let down = app
        .state
        .router
        .deployments()
        .find(|(n, _)| *n == "wrong-key")
        .unwrap()
        .1
        .index;
    let checked = app
        .post_form(
            &format!("/deployments/{down}/check"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert!(checked.body.contains("不可达"), "{}", checked.body);
    let forged = app
        .post_form(
            &format!("/deployments/{gpt}/check"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_ne!(forged.status, 200);
    app.flush_ledger().await;
    assert_eq!(
        app.count("request_logs"),
        0,
        "a check is never a charged request"
    );
}
