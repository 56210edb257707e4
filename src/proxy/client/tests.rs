//! Tests of the provider client against a raw TCP server that answers canned bytes, so
//! framing, keep-alive and broken connections are exercised byte for byte.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
        .post_json(url, &[], b"{}", Duration::from_secs(5))
        .await
        .expect("head")
}

async fn post(client: &Client, url: &str) -> Result<(u16, Vec<u8>), ClientError> {
    let resp = client
        .post_json(
            url,
            &[("authorization", "Bearer k")],
            b"{\"a\":1}",
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

#[test]
fn urls_are_split_into_origin_authority_and_path() {
    let t = parse_url("https://api.openai.com/v1/chat/completions").expect("url");
    assert_eq!(
        t.origin,
        Origin {
            tls: true,
            host: "api.openai.com".into(),
            port: 443
        }
    );
    assert_eq!(
        (t.authority, t.path.as_str()),
        ("api.openai.com", "/v1/chat/completions")
    );
    let t = parse_url("http://[::1]:8080?key=x#frag").expect("v6");
    assert_eq!((t.origin.host.as_str(), t.origin.port), ("::1", 8080));
    assert_eq!((t.authority, t.path.as_str()), ("[::1]:8080", "/?key=x"));
    let t = parse_url("http://localhost:11434").expect("no path");
    assert_eq!((t.origin.port, t.path.as_str()), (11434, "/"));
    for bad in [
        "ftp://x/",
        "http://",
        "http://user@host/",
        "http://h:99999/",
        "localhost/v1",
        "http://h/a b",
        "http://h/a\r\nx-injected: 1",
        "http://h\n/",
    ] {
        assert!(parse_url(bad).is_err(), "{bad}");
    }
}

#[actix_web::test]
async fn the_request_is_one_json_post_and_keep_alive_reuses_the_connection() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    let server = serve(vec![answer(ok), answer(ok)]).await;
    let client = Client::new();
    assert_eq!(
        post(&client, &server.url).await,
        Ok((200, b"hello".to_vec()))
    );
    assert_eq!(
        post(&client, &server.url).await,
        Ok((200, b"hello".to_vec()))
    );
    assert_eq!(*server.connections.borrow(), 1);
    let first = server.requests.borrow()[0].clone();
    assert!(first.starts_with("POST /v1/x HTTP/1.1\r\n"), "{first}");
    assert!(first.contains(&format!(
        "host: {}\r\n",
        &server.url[7..server.url.len() - 5]
    )));
    assert!(first.contains("content-type: application/json\r\ncontent-length: 7\r\n"));
    assert!(first.contains("authorization: Bearer k\r\n"));
    assert!(first.contains("accept-encoding: identity\r\n"));
    assert!(first.ends_with("\r\n\r\n{\"a\":1}"));
}

#[actix_web::test]
async fn chunked_bodies_are_decoded_across_reads_with_extensions_and_trailers() {
    let server = serve(vec![Canned {
        parts: vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nretry-after: 2\r\n\r\n5;ext=1\r\nhel",
            b"lo\r\n",
            b"6\r\n world\r\n0\r\nx-trailer: y\r\n\r\n",
        ],
        then_close: false,
    }, answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")])
    .await;
    let client = Client::new();
    let resp = head(&client, &server.url).await;
    assert_eq!(resp.retry_after, Some(Duration::from_secs(2)));
    let pieces: Vec<_> = resp.body().collect().await;
    let body: Vec<u8> = pieces
        .into_iter()
        .flat_map(|p| p.expect("piece").to_vec())
        .collect();
    assert_eq!(body, b"hello world");
    assert_eq!(post(&client, &server.url).await, Ok((200, b"ok".to_vec())));
    assert_eq!(
        *server.connections.borrow(),
        1,
        "a fully read chunked body frees the connection"
    );
}

#[actix_web::test]
async fn a_body_without_length_ends_with_the_connection_which_is_not_reused() {
    let server = serve(vec![
        Canned {
            parts: vec![b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"close"],
            then_close: true,
        },
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
    ])
    .await;
    let client = Client::new();
    assert_eq!(
        post(&client, &server.url).await,
        Ok((200, b"until close".to_vec()))
    );
    assert_eq!(post(&client, &server.url).await, Ok((200, Vec::new())));
    assert_eq!(*server.connections.borrow(), 2);
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
}

#[actix_web::test]
async fn interim_answers_are_skipped_and_connection_close_is_honoured() {
    let server = serve(vec![
        answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nretry-after-ms: 1500\r\nretry-after: 9\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"),
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
    let cases: [&'static [u8]; 4] = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ];
    for case in cases {
        let server = serve(vec![Canned {
            parts: vec![case],
            then_close: true,
        }])
        .await;
        let err = post(&Client::new(), &server.url).await.expect_err("broken");
        assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
    }
}

#[actix_web::test]
async fn no_head_in_time_is_a_timeout_and_no_listener_a_connect_error() {
    let server = serve(vec![silent(false)]).await;
    let err = Client::new()
        .post_json(&server.url, &[], b"{}", Duration::from_millis(200))
        .await
        .err();
    assert_eq!(err, Some(ClientError::Timeout));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let err = Client::new()
        .post_json(
            &format!("http://{closed}/"),
            &[],
            b"{}",
            Duration::from_secs(5),
        )
        .await
        .err();
    assert!(matches!(err, Some(ClientError::Connect(_))), "{err:?}");
}

/// Stream consumers (the SSE driver) stop at the provider's terminator event and never
/// poll the body for its end; the connection must still go back to the pool.
#[actix_web::test]
async fn a_body_read_to_its_last_byte_frees_the_connection_without_polling_its_end() {
    let server = serve(vec![
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone"),
        answer(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\ndone\r\n0\r\n\r\n"),
        answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
    ])
    .await;
    let client = Client::new();
    for _ in 0..2 {
        let resp = client
            .post_json(&server.url, &[], b"{}", Duration::from_secs(5))
            .await
            .expect("head");
        let mut body = std::pin::pin!(resp.body());
        assert_eq!(body.next().await, Some(Ok(Bytes::from_static(b"done"))));
    }
    assert_eq!(post(&client, &server.url).await, Ok((200, b"ok".to_vec())));
    assert_eq!(*server.connections.borrow(), 1);
}

#[actix_web::test]
async fn a_header_value_with_a_line_break_is_refused_before_anything_is_sent() {
    let server = serve(vec![answer(
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    )])
    .await;
    let err = Client::new()
        .post_json(
            &server.url,
            &[("authorization", "Bearer sk-abc\r\nx-evil: 1")],
            b"{}",
            Duration::from_secs(5),
        )
        .await
        .err();
    assert!(
        matches!(err, Some(ClientError::Connect(ref m)) if m.contains("authorization")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("sk-abc"));
    assert_eq!(*server.connections.borrow(), 0);
}

#[actix_web::test]
async fn a_fresh_connection_closed_unanswered_is_a_connect_error_so_it_fails_over() {
    let server = serve(vec![silent(true)]).await;
    let err = post(&Client::new(), &server.url).await.expect_err("closed");
    assert!(matches!(err, ClientError::Connect(_)), "{err:?}");
}
