//! The HTTP/1.1 client for provider calls: one JSON POST written in one buffer, the
//! response head parsed with `httparse`, the body read as it arrives (length-delimited,
//! chunked or close-delimited), and kept-alive connections pooled per worker thread.
//!
//! Why not awc: a provider call needs none of a general client's machinery (connector
//! service stack, per-request framing objects and header maps, redirects, content
//! decoding), and on the gateway's hot path that machinery cost more CPU than the rest
//! of the request. HTTPS goes through rustls (webpki roots, ALPN `http/1.1`).
//!
//! A pooled connection the provider has closed in the meantime is detected when it
//! yields no response byte at all; the request is then sent again on another
//! connection (the provider never read it), as browsers and hyper do.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Connecting (TCP and TLS handshake) may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle pooled connections older than this are closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 256;
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// What can go wrong talking to a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http(s)://host[:port]/path`.
    #[error("invalid upstream URL `{0}`")]
    Url(String),
    /// No connection could be made (refused, DNS, TLS, connect timeout).
    #[error("{0}")]
    Connect(String),
    /// No response head within the request's timeout.
    #[error("the request timed out")]
    Timeout,
    /// The provider broke HTTP: malformed head, body cut short, bad chunk framing.
    #[error("{0}")]
    Protocol(String),
}

/// Scheme, host and port: what a pooled connection can be reused for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

/// A parsed request URL.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    origin: Origin,
    /// The `Host` header: the URL's authority as written.
    authority: &'a str,
    /// Path and query, starting with `/`.
    path: String,
}

fn parse_url(url: &str) -> Result<Target<'_>, ClientError> {
    let bad = || ClientError::Url(url.to_string());
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let tail = tail.split('#').next().unwrap_or_default();
    let path = match tail.chars().next() {
        None => "/".to_string(),
        Some('/') => tail.to_string(),
        Some(_) => format!("/{tail}"),
    };
    // Nothing that could end the request line early or smuggle a header.
    let clean = |t: &str| !t.bytes().any(|b| b <= b' ' || b == 0x7f);
    if authority.is_empty() || authority.contains('@') || !clean(authority) || !clean(&path) {
        return Err(bad());
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, p)) => (host, p.parse().map_err(|_| bad())?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Target {
        origin: Origin {
            tls,
            host: host.to_string(),
            port,
        },
        authority,
        path,
    })
}

/// A header that cannot break the request's framing: a token name, a value without
/// control characters (a key pasted with its line break, say).
fn header_ok(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        && value
            .bytes()
            .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// The request bytes: head and JSON body in one buffer, so one write sends it.
fn encode_request(target: &Target<'_>, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(target.authority.as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    // Without `accept-encoding` a server may compress; this client reads bodies as is.
    out.extend_from_slice(b"\r\naccept-encoding: identity\r\nuser-agent: tollgate\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One connection and the bytes read from it but not yet consumed.
struct Conn {
    io: Io,
    buf: BytesMut,
    idle_since: Instant,
}

impl Conn {
    /// Reads more bytes into the buffer; 0 at end of stream.
    async fn read_more(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ_CHUNK);
        match &mut self.io {
            Io::Plain(s) => s.read_buf(&mut self.buf).await,
            Io::Tls(s) => s.read_buf(&mut self.buf).await,
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.io {
            Io::Plain(s) => s.write_all(data).await,
            Io::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }
}

/// The pool and TLS settings of one worker thread.
struct Inner {
    idle: RefCell<HashMap<Origin, VecDeque<Conn>>>,
    tls: TlsConnector,
}

/// The provider client of one worker thread (cheap to clone; not `Send`).
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

/// A response whose head has been read; the body is read through [`Response::body`].
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// `retry-after-ms` (milliseconds) or `retry-after` (seconds), when sent.
    pub retry_after: Option<Duration>,
    body: Body,
}

impl Response {
    /// The body as a stream of byte chunks, read as they arrive. Reading it to its end
    /// returns the connection to the pool; dropping it early closes the connection.
    pub fn body(self) -> impl Stream<Item = Result<Bytes, ClientError>> {
        futures_util::stream::unfold(self.body, |mut body| async move {
            body.next_chunk().await.map(|item| (item, body))
        })
    }
}

/// Why one attempt on one connection failed.
enum Attempt {
    /// The connection gave no response byte: it was closed while idle in the pool.
    Stale,
    Failed(ClientError),
}

impl Client {
    /// An empty pool with the webpki root certificates.
    pub fn new() -> Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            inner: Rc::new(Inner {
                idle: RefCell::new(HashMap::new()),
                tls: TlsConnector::from(Arc::new(config)),
            }),
        }
    }

    /// POSTs `body` (JSON) to `url` with `headers`. `timeout` bounds everything up to
    /// the response head; the caller bounds the body reads.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let target = parse_url(url)?;
        if let Some((name, _)) = headers.iter().find(|(n, v)| !header_ok(n, v)) {
            return Err(ClientError::Connect(format!(
                "the `{name}` header has a value that cannot be sent (line break or control character)"
            )));
        }
        let request = encode_request(&target, headers, body);
        let origin = target.origin;
        tokio::time::timeout(timeout, self.exchange(origin, &request))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn exchange(&self, origin: Origin, request: &[u8]) -> Result<Response, ClientError> {
        loop {
            let (conn, reused) = match self.take_idle(&origin) {
                Some(conn) => (conn, true),
                None => (self.connect(&origin).await?, false),
            };
            match send(conn, request).await {
                Ok((conn, head)) => return Ok(self.response(origin, conn, head)),
                Err(Attempt::Stale) if reused => continue,
                // A fresh connection closed unanswered: the provider is going away or
                // refusing work, which is a failover case like a refused connection.
                Err(Attempt::Stale) => {
                    return Err(ClientError::Connect(
                        "the provider closed the connection without answering".into(),
                    ))
                }
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
    }

    fn response(&self, origin: Origin, conn: Conn, head: Head) -> Response {
        let framing = match (head.status, head.chunked, head.content_length) {
            (204 | 304, _, _) => Framing::Length(0),
            (_, true, _) => Framing::Chunked(Chunked::Size),
            (_, false, Some(n)) => Framing::Length(n),
            (_, false, None) => Framing::UntilClose,
        };
        let reusable = head.keep_alive && !matches!(framing, Framing::UntilClose);
        Response {
            status: head.status,
            retry_after: head.retry_after,
            body: Body {
                conn: Some(conn),
                framing,
                reusable,
                pool: Rc::downgrade(&self.inner),
                origin,
            },
        }
    }

    /// The most recently used idle connection that is not too old.
    fn take_idle(&self, origin: &Origin) -> Option<Conn> {
        let mut idle = self.inner.idle.borrow_mut();
        let conns = idle.get_mut(origin)?;
        while let Some(conn) = conns.pop_back() {
            if conn.idle_since.elapsed() < IDLE_TIMEOUT {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn, ClientError> {
        let what = format!("{}:{}", origin.host, origin.port);
        let connect = async {
            let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
                .await
                .map_err(|e| ClientError::Connect(format!("could not connect to {what}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            let io = if origin.tls {
                let name =
                    rustls::pki_types::ServerName::try_from(origin.host.clone()).map_err(|_| {
                        ClientError::Connect(format!(
                            "`{}` is not a valid TLS server name",
                            origin.host
                        ))
                    })?;
                let tls = self.inner.tls.connect(name, tcp).await.map_err(|e| {
                    ClientError::Connect(format!("TLS handshake with {what} failed: {e}"))
                })?;
                Io::Tls(Box::new(tls))
            } else {
                Io::Plain(tcp)
            };
            Ok(Conn {
                io,
                buf: BytesMut::with_capacity(READ_CHUNK),
                idle_since: Instant::now(),
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| ClientError::Connect(format!("connecting to {what} timed out")))?
    }
}

impl Inner {
    /// Puts a connection whose response was read to its end back in the pool.
    fn release(&self, origin: Origin, mut conn: Conn) {
        conn.idle_since = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let conns = idle.entry(origin).or_default();
        while conns
            .front()
            .is_some_and(|c| c.idle_since.elapsed() >= IDLE_TIMEOUT)
        {
            conns.pop_front();
        }
        if conns.len() >= MAX_IDLE_PER_ORIGIN {
            conns.pop_front();
        }
        conns.push_back(conn);
    }
}

/// What the response head says.
struct Head {
    status: u16,
    content_length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
    retry_after: Option<Duration>,
}

/// Writes the request and reads the response head (skipping `1xx` interim answers).
async fn send(mut conn: Conn, request: &[u8]) -> Result<(Conn, Head), Attempt> {
    conn.buf.clear();
    if let Err(e) = conn.write_all(request).await {
        return Err(if is_closed(&e) {
            Attempt::Stale
        } else {
            Attempt::Failed(ClientError::Connect(format!(
                "sending the request failed: {e}"
            )))
        });
    }
    let mut received = false;
    loop {
        if let Some(head) = parse_head(&mut conn.buf).map_err(Attempt::Failed)? {
            if (100..200).contains(&head.status) {
                continue;
            }
            return Ok((conn, head));
        }
        if conn.buf.len() > MAX_HEAD {
            return Err(Attempt::Failed(ClientError::Protocol(
                "the response head is too large".into(),
            )));
        }
        match conn.read_more().await {
            Ok(0) if !received => return Err(Attempt::Stale),
            Ok(0) => {
                return Err(Attempt::Failed(ClientError::Protocol(
                    "the connection closed in the middle of the response head".into(),
                )))
            }
            Ok(_) => received = true,
            Err(e) if !received && is_closed(&e) => return Err(Attempt::Stale),
            Err(e) => {
                return Err(Attempt::Failed(ClientError::Protocol(format!(
                    "reading the response failed: {e}"
                ))))
            }
        }
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// Parses a complete head off the front of `buf`; `None` while it is incomplete.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(ClientError::Protocol(format!(
                "the response head is not HTTP/1.1: {e}"
            )))
        }
    };
    let mut head = Head {
        status: resp.code.unwrap_or(0),
        content_length: None,
        chunked: false,
        keep_alive: resp.version == Some(1),
        retry_after: None,
    };
    let mut retry_s = None;
    let mut retry_ms = None;
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse()
                .map_err(|_| ClientError::Protocol(format!("invalid content-length `{value}`")))?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(ClientError::Protocol("conflicting content-length".into()));
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_s = seconds(value);
        } else if name.eq_ignore_ascii_case("retry-after-ms") {
            retry_ms = seconds(value).map(|ms| ms / 1000.0);
        }
    }
    head.retry_after = retry_ms.or(retry_s).map(Duration::from_secs_f64);
    buf.advance(len);
    Ok(Some(head))
}

/// A non-negative number of seconds (fractions allowed).
fn seconds(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
}

enum Framing {
    /// Bytes still to come.
    Length(u64),
    Chunked(Chunked),
    /// No length given: the body ends when the connection does.
    UntilClose,
}

enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Bytes left of the current chunk.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty line.
    Trailers,
}

/// A response body being read.
struct Body {
    /// `None` once the body has ended or failed.
    conn: Option<Conn>,
    framing: Framing,
    reusable: bool,
    pool: Weak<Inner>,
    origin: Origin,
}

impl Body {
    /// The next piece of the body; `None` at its end (or after an error).
    async fn next_chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        let result = self.read().await;
        match result {
            Ok(Some(bytes)) => {
                self.release_if_complete();
                Some(Ok(bytes))
            }
            Ok(None) => {
                self.finish();
                None
            }
            Err(e) => {
                self.conn = None;
                Some(Err(e))
            }
        }
    }

    /// Consumers often stop at a terminator inside the body (an SSE `[DONE]`) and never
    /// ask for the end: once the last byte has been handed out (and, when chunked, the
    /// final chunk is already buffered), the connection is released right away.
    fn release_if_complete(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let complete = match &mut self.framing {
            Framing::Length(left) => *left == 0,
            Framing::UntilClose => false,
            Framing::Chunked(state) => advance_buffered(state, &mut conn.buf),
        };
        if complete {
            self.finish();
        }
    }

    /// The body is complete: the connection goes back to the pool when it can.
    fn finish(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.reusable && conn.buf.is_empty() {
            if let Some(pool) = self.pool.upgrade() {
                pool.release(self.origin.clone(), conn);
            }
        }
    }

    async fn read(&mut self) -> Result<Option<Bytes>, ClientError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        loop {
            match &mut self.framing {
                Framing::Length(0) => return Ok(None),
                Framing::Length(left) => {
                    if !conn.buf.is_empty() {
                        let n = conn
                            .buf
                            .len()
                            .min(usize::try_from(*left).unwrap_or(usize::MAX));
                        *left -= n as u64;
                        return Ok(Some(conn.buf.split_to(n).freeze()));
                    }
                    let left = *left;
                    fill(conn, || {
                        format!("the response body was cut with {left} bytes to go")
                    })
                    .await?;
                }
                Framing::UntilClose => {
                    if !conn.buf.is_empty() {
                        return Ok(Some(conn.buf.split().freeze()));
                    }
                    match conn.read_more().await {
                        Ok(0) => return Ok(None),
                        Ok(_) => {}
                        Err(e) => {
                            return Err(ClientError::Protocol(format!(
                                "reading the response body failed: {e}"
                            )))
                        }
                    }
                }
                Framing::Chunked(state) => match state {
                    Chunked::Size => match take_line(&mut conn.buf)? {
                        Some(line) => {
                            let size = chunk_size(&line)?;
                            *state = if size == 0 {
                                Chunked::Trailers
                            } else {
                                Chunked::Data(size)
                            };
                        }
                        None => {
                            fill(conn, || {
                                "the response body was cut in a chunk header".into()
                            })
                            .await?
                        }
                    },
                    Chunked::Data(left) => {
                        if !conn.buf.is_empty() {
                            let n = conn
                                .buf
                                .len()
                                .min(usize::try_from(*left).unwrap_or(usize::MAX));
                            *left -= n as u64;
                            if *left == 0 {
                                *state = Chunked::DataEnd;
                            }
                            return Ok(Some(conn.buf.split_to(n).freeze()));
                        }
                        fill(conn, || {
                            "the response body was cut in the middle of a chunk".into()
                        })
                        .await?;
                    }
                    Chunked::DataEnd => match take_line(&mut conn.buf)? {
                        Some(line) if line.is_empty() => *state = Chunked::Size,
                        Some(_) => {
                            return Err(ClientError::Protocol(
                                "a chunk is longer than its size says".into(),
                            ))
                        }
                        None => {
                            fill(conn, || "the response body was cut after a chunk".into()).await?
                        }
                    },
                    Chunked::Trailers => match take_line(&mut conn.buf)? {
                        Some(line) if line.is_empty() => return Ok(None),
                        Some(_) => {}
                        None => {
                            fill(conn, || "the response body was cut in its trailers".into())
                                .await?
                        }
                    },
                },
            }
        }
    }
}

/// Moves a chunked body over the framing already buffered (chunk ends, the last chunk,
/// trailers) without reading; true when its end has been reached. A malformed line is
/// left in place for the next read to report.
fn advance_buffered(state: &mut Chunked, buf: &mut BytesMut) -> bool {
    loop {
        let Some(end) = memchr::memchr(b'\n', buf) else {
            return false;
        };
        let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
        let next = match state {
            Chunked::Data(_) => return false,
            Chunked::DataEnd if line.is_empty() => Chunked::Size,
            Chunked::Size => match chunk_size(line) {
                Ok(0) => Chunked::Trailers,
                Ok(n) => Chunked::Data(n),
                Err(_) => return false,
            },
            Chunked::Trailers if line.is_empty() => {
                buf.advance(end + 1);
                return true;
            }
            Chunked::Trailers => Chunked::Trailers,
            Chunked::DataEnd => return false,
        };
        buf.advance(end + 1);
        *state = next;
    }
}

/// Reads more into the connection's buffer; the end of the stream is an error here.
async fn fill(conn: &mut Conn, cut: impl FnOnce() -> String) -> Result<(), ClientError> {
    match conn.read_more().await {
        Ok(0) => Err(ClientError::Protocol(cut())),
        Ok(_) => Ok(()),
        Err(e) => Err(ClientError::Protocol(format!(
            "reading the response body failed: {e}"
        ))),
    }
}

/// Takes one CRLF- (or LF-) terminated line off the buffer, without its line end.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, ClientError> {
    match memchr::memchr(b'\n', buf) {
        Some(i) => {
            let mut line = buf.split_to(i + 1);
            line.truncate(i);
            if line.last() == Some(&b'\r') {
                line.truncate(i - 1);
            }
            Ok(Some(line))
        }
        None if buf.len() > MAX_HEAD => Err(ClientError::Protocol(
            "a chunk header or trailer line is too long".into(),
        )),
        None => Ok(None),
    }
}

/// The size of a chunk-size line (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<u64, ClientError> {
    let digits = line.split(|b| *b == b';').next().unwrap_or_default();
    let text = std::str::from_utf8(digits).unwrap_or("").trim();
    if text.is_empty() || text.len() > 15 {
        return Err(ClientError::Protocol(format!(
            "invalid chunk size `{}`",
            String::from_utf8_lossy(line)
        )));
    }
    u64::from_str_radix(text, 16)
        .map_err(|_| ClientError::Protocol(format!("invalid chunk size `{text}`")))
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
