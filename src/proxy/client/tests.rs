//! Tests of the provider client against a raw TCP server that answers canned bytes, so
//! keep-alive, broken connections and encodings are exercised byte for byte: what we
//! rely on reqwest for, and the rules we add (never re-send, clear error classes).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use std::time::Duration;

use super::*;

/// One canned answer; `then_close` drops the connection after writing it (without
/// saying so in a header, like a server whose idle timeout fired).
struct Canned {
    parts: Vec<&'static [u8]>,
    then_close: bool,
}

fn answer(bytes: &'static [u8]) -> Canned {
    Canned {
        parts: vec![bytes],
        then_close: false,
    }
}

/// Reads the request and answers nothing (then hangs, or closes).
fn silent(then_close: bool) -> Canned {
    Canned {
        parts: vec![],
        then_close,
    }
}

struct Server {
    url: String,
    connections: Rc<RefCell<usize>>,
    requests: Rc<RefCell<Vec<String>>>,
}

async fn serve(script: Vec<Canned>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/x", listener.local_addr().expect("addr"));
    let script = Rc::new(RefCell::new(VecDeque::from(script)));
    let connections = Rc::new(RefCell::new(0));
    let requests = Rc::new(RefCell::new(Vec::new()));
    let (c, r) = (connections.clone(), requests.clone());
    actix_web::rt::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            *c.borrow_mut() += 1;
            let (script, requests) = (script.clone(), r.clone());
            actix_web::rt::spawn(async move {
                while let Some(request) = read_request(&mut sock).await {
                    requests.borrow_mut().push(request);
                    let Some(canned) = script.borrow_mut().pop_front() else {
                        return;
                    };
                    for part in canned.parts {
                        if sock.write_all(part).await.is_err() {
                            return;
                        }
                        sock.flush().await.ok();
                        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
                    }
                    if canned.then_close {
                        return;
                    }
                }
            });
        }
    });
    Server {
        url,
        connections,
        requests,
    }
}

/// Reads one request (head and content-length body) as text; `None` at end of stream.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(String::from_utf8_lossy(&buf[..end + 4 + len]).to_string());
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `{}` and returns the response with its body unread.
async fn head(client: &Client, url: &str) -> Response {
    client
        .post_json(
            RouteId::DIRECT,
            url,
            &[],
            b"{}".to_vec(),
            Duration::from_secs(5),
        )
        .await
        .expect("head")
}

async fn post(client: &Client, url: &str) -> Result<(u16, Vec<u8>), ClientError> {
    let resp = client
        .post_json(
            RouteId::DIRECT,
            url,
            &[("authorization", "Bearer k")],
            b"{\"a\":1}".to_vec(),
            Duration::from_secs(5),
        )
        .await?;
    let status = resp.status;
    let mut body = Vec::new();
    let mut stream = std::pin::pin!(resp.body());
    while let Some(piece) = stream.next().await {
        body.extend_from_slice(&piece?);
    }
    Ok((status, body))
}

#[actix_web::test]
async fn the_request_is_one_json_post_and_keep_alive_reuses_the_connection() {
    let server = serve(vec![
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        answer(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nyes\r\n0\r\n\r\n"),
    ])
    .await;
    let client = Client::new();
    assert_eq!(post(&client, &server.url).await, Ok((200, b"ok".to_vec())));
    assert_eq!(post(&client, &server.url).await, Ok((200, b"yes".to_vec())));
    assert_eq!(*server.connections.borrow(), 1);
    let requests = server.requests.borrow();
    let first = requests[0].to_lowercase();
    assert!(first.starts_with("post /v1/x http/1.1\r\n"), "{first}");
    for header in [
        "content-type: application/json",
        "authorization: bearer k",
        "content-length: 7",
        "user-agent: tollgate",
    ] {
        assert!(first.contains(header), "{header} missing in {first}");
    }
    assert!(first.ends_with("{\"a\":1}"), "{first}");
}

#[actix_web::test]
async fn gzip_answers_are_decoded() {
    let server = serve(vec![Canned {
        parts: vec![
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 31\r\n\r\n",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xabV\xca\xcfV\xb2*)*M\xad\x05\x00\x90_\xd4\xa7\x0b\x00\x00\x00",
        ],
        then_close: false,
    }])
    .await;
    let got = post(&Client::new(), &server.url).await;
    assert_eq!(got, Ok((200, b"{\"ok\":true}".to_vec())));
    let request = server.requests.borrow()[0].to_lowercase();
    assert!(request.contains("accept-encoding: gzip,br"), "{request}");
}

#[actix_web::test]
async fn a_pooled_connection_closed_by_the_server_is_replaced_transparently() {
    let server = serve(vec![
        Canned {
            parts: vec![b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na"],
            then_close: true,
        },
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb"),
    ])
    .await;
    let client = Client::new();
    assert_eq!(post(&client, &server.url).await, Ok((200, b"a".to_vec())));
    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(post(&client, &server.url).await, Ok((200, b"b".to_vec())));
    assert_eq!(*server.connections.borrow(), 2);
    assert_eq!(server.requests.borrow().len(), 2);
}

/// A provider that read the request may be generating (and billing) it: a connection
/// that closes then is reported, never answered by sending the request again.
#[actix_web::test]
async fn a_request_the_provider_received_is_never_sent_twice() {
    let server = serve(vec![
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na"),
        silent(true),
    ])
    .await;
    let client = Client::new();
    assert_eq!(post(&client, &server.url).await, Ok((200, b"a".to_vec())));
    let err = post(&client, &server.url).await.expect_err("closed");
    assert!(
        matches!(err, ClientError::Interrupted(ref m) if m.contains("not sent again")),
        "{err:?}"
    );
    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        server.requests.borrow().len(),
        2,
        "the second request went once"
    );

    let fresh = serve(vec![silent(true)]).await;
    let err = post(&Client::new(), &fresh.url).await.expect_err("closed");
    assert!(matches!(err, ClientError::Interrupted(_)), "{err:?}");
    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fresh.requests.borrow().len(), 1);
}

#[actix_web::test]
async fn retry_after_headers_are_read_and_connection_close_is_honoured() {
    let server = serve(vec![
        answer(b"HTTP/1.1 429 Too Many\r\nretry-after-ms: 1500\r\nretry-after: 9\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"),
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
    ])
    .await;
    let client = Client::new();
    let resp = head(&client, &server.url).await;
    assert_eq!(
        (resp.status, resp.retry_after),
        (429, Some(Duration::from_millis(1500)))
    );
    let _: Vec<_> = resp.body().collect().await;
    assert_eq!(post(&client, &server.url).await, Ok((200, Vec::new())));
    assert_eq!(*server.connections.borrow(), 2);
}

#[actix_web::test]
async fn broken_framing_and_cut_bodies_are_protocol_errors() {
    let cases: [&'static [u8]; 3] = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ];
    for case in cases {
        let server = serve(vec![Canned {
            parts: vec![case],
            then_close: true,
        }])
        .await;
        let err = post(&Client::new(), &server.url).await.expect_err("broken");
        assert!(matches!(err, ClientError::Protocol(_)), "{case:?}: {err:?}");
        assert!(!err.to_string().contains("127.0.0.1"), "{err}");
    }
}

#[actix_web::test]
async fn no_head_in_time_is_a_timeout_and_no_listener_a_connect_error() {
    let server = serve(vec![silent(false)]).await;
    let err = Client::new()
        .post_json(
            RouteId::DIRECT,
            &server.url,
            &[],
            b"{}".to_vec(),
            Duration::from_millis(200),
        )
        .await
        .err();
    assert_eq!(err, Some(ClientError::Timeout));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let err = post(&Client::new(), &format!("http://{closed}/"))
        .await
        .err();
    assert!(
        matches!(err, Some(ClientError::Connect(ref m)) if m.contains("refused") && !m.contains("127.0.0.1")),
        "{err:?}"
    );
}

#[actix_web::test]
async fn a_header_value_with_a_line_break_is_refused_before_anything_is_sent() {
    let server = serve(vec![answer(
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    )])
    .await;
    let err = Client::new()
        .post_json(
            RouteId::DIRECT,
            &server.url,
            &[("authorization", "Bearer sk-abc\r\nx-evil: 1")],
            b"{}".to_vec(),
            Duration::from_secs(5),
        )
        .await
        .err();
    assert!(
        matches!(err, Some(ClientError::Invalid(ref m)) if m.contains("authorization")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("sk-abc"));
    assert_eq!(*server.connections.borrow(), 0);
}

#[test]
fn retry_after_prefers_milliseconds_and_ignores_nonsense() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_static("2"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    h.insert("retry-after-ms", HeaderValue::from_static("250"));
    assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    let mut silly = HeaderMap::new();
    silly.insert("retry-after", HeaderValue::from_static("1e300"));
    assert_eq!(retry_after(&silly), None);
}
