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
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::fast_map::FastMap;

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

mod body;
mod wire;

use body::{Body, Chunked, Framing};
use wire::{encode_request, header_ok, parse_head, parse_url, Head, Origin};

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
    idle: RefCell<FastMap<Origin, VecDeque<Conn>>>,
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
                idle: RefCell::new(FastMap::default()),
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
        // Let the worker's other ready requests get this far first, so their requests
        // leave in a burst: the provider's server then takes several in one wake-up
        // instead of sleeping and waking for each. On a shared machine (a local model
        // server, or the benchmark's) this cut the peers' CPU per request by a third;
        // with nothing else ready it only costs one extra turn of the event loop.
        tokio::task::yield_now().await;
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

#[cfg(test)]
mod tests;
