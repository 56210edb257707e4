//! The provider HTTP client: reqwest (hyper underneath) with rustls, HTTP/2 where the
//! provider offers it over TLS, gzip/brotli decoding, happy-eyeballs IPv6 → IPv4
//! fallback, and one connection pool per route (direct, or through one proxy) per
//! worker thread.
//!
//! What this module adds to reqwest: the routes (see [`route`]) resolved once from the
//! config, the error classes the router's fail-over needs ([`ClientError`]), and the
//! rule that a request the provider may have begun to process is never sent again.
//! reqwest itself only re-sends a request hyper had not yet written (a pooled
//! connection found closed) or one an HTTP/2 server refused unprocessed; a connection
//! that closes after the request left is [`ClientError::Interrupted`], which the router
//! does not retry.

mod errors;
pub mod route;
mod tls;

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub use route::{ProxyEnv, Route, RouteId, RouteLabel, Routes};

/// Connecting (TCP, proxy handshake and TLS) may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle pooled connections older than this are closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// What can go wrong talking to a provider. Messages never carry an address, a key or
/// proxy credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The URL or a header cannot be sent.
    #[error("{0}")]
    Invalid(String),
    /// No connection could be made (refused, DNS, proxy, TLS, connect timeout): nothing
    /// reached the provider, so another attempt is safe.
    #[error("{0}")]
    Connect(String),
    /// No response head within the request's timeout.
    #[error("the request timed out")]
    Timeout,
    /// The request was sent and the connection closed before an answer: the provider
    /// may have begun to process it, so it is not sent again.
    #[error("{0}")]
    Interrupted(String),
    /// The provider broke HTTP: malformed head, body cut short, bad encoding.
    #[error("{0}")]
    Protocol(String),
}

/// The provider client of one worker thread: one reqwest client per route (cheap to
/// clone; the connections it pools are driven by this thread's runtime).
#[derive(Clone)]
pub struct Client {
    routes: Rc<[reqwest::Client]>,
    secrets: Rc<[String]>,
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
    /// `HTTP/1.1` or `HTTP/2`, as negotiated.
    pub version: &'static str,
    inner: reqwest::Response,
    secrets: Rc<[String]>,
}

impl Response {
    /// The body as a stream of byte chunks (decoded), read as they arrive. Reading it
    /// to its end returns the connection to the pool; dropping it early closes it.
    pub fn body(self) -> impl Stream<Item = Result<Bytes, ClientError>> {
        let secrets = self.secrets;
        self.inner
            .bytes_stream()
            .map(move |item| item.map_err(|e| errors::classify_body(&e, &secrets)))
    }
}

impl Client {
    /// One direct route trusting the built-in roots (tests and tools without config).
    pub fn new() -> Client {
        Client::for_routes(&Routes::direct()).expect("the direct route always builds")
    }

    /// A client for every route of `routes` (call once per worker thread).
    pub fn for_routes(routes: &Routes) -> Result<Client, ClientError> {
        let clients = routes
            .all()
            .iter()
            .map(build)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Client {
            routes: clients.into(),
            secrets: routes.secrets().into(),
        })
    }

    /// POSTs `body` (JSON) to `url` with `headers` along `route`. `timeout` bounds
    /// everything up to the response head; the caller bounds the body reads.
    pub async fn post_json(
        &self,
        route: RouteId,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let mut head = header_map(headers)?;
        head.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let request = self
            .client(route)
            .post(url)
            .headers(head)
            .body(body)
            .build()
            .map_err(|_| ClientError::Invalid("the upstream URL is not a valid URL".into()))?;
        // Let the worker's other ready requests get this far first, so their requests
        // leave in a burst: the provider's server then takes several in one wake-up
        // instead of sleeping and waking for each. On a shared machine (a local model
        // server, or the benchmark's) this cut the peers' CPU per request by a third;
        // with nothing else ready it only costs one extra turn of the event loop.
        tokio::task::yield_now().await;
        self.execute(route, request, timeout).await
    }

    /// GETs `url` along `route` (the provider checks' model list).
    pub async fn get(
        &self,
        route: RouteId,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let request = self
            .client(route)
            .get(url)
            .headers(header_map(headers)?)
            .build()
            .map_err(|_| ClientError::Invalid("the upstream URL is not a valid URL".into()))?;
        self.execute(route, request, timeout).await
    }

    async fn execute(
        &self,
        route: RouteId,
        request: reqwest::Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let sent = tokio::time::timeout(timeout, self.client(route).execute(request)).await;
        let inner = match sent {
            Err(_) => return Err(ClientError::Timeout),
            Ok(Err(e)) => return Err(errors::classify_send(&e, &self.secrets)),
            Ok(Ok(resp)) => resp,
        };
        Ok(Response {
            status: inner.status().as_u16(),
            retry_after: retry_after(inner.headers()),
            version: match inner.version() {
                reqwest::Version::HTTP_2 => "HTTP/2",
                reqwest::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            inner,
            secrets: self.secrets.clone(),
        })
    }

    fn client(&self, route: RouteId) -> &reqwest::Client {
        // Route ids come from the same `Routes` the clients were built from; a foreign
        // id falls back to the first (direct) route rather than panicking.
        self.routes
            .get(route.0)
            .or_else(|| self.routes.first())
            .expect("a client has at least one route")
    }
}

/// The reqwest client of one route.
fn build(route: &Route) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls::client_config(route.extra_roots()))
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_PER_ORIGIN)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("tollgate")
        .no_proxy();
    if let Some(proxy) = route.proxy() {
        let proxy = reqwest::Proxy::all(proxy.expose())
            .map_err(|_| ClientError::Invalid(format!("the proxy {proxy} is not a valid URL")))?;
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| ClientError::Invalid(format!("the provider client cannot start: {e}")))
}

/// The request headers; a value with a line break or control character (a key pasted
/// with its newline, say) is refused before anything is sent, without echoing it.
fn header_map(headers: &[(&str, &str)]) -> Result<HeaderMap, ClientError> {
    let mut map = HeaderMap::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        let bad = || {
            ClientError::Invalid(format!(
                "the `{name}` header has a value that cannot be sent (line break or control character)"
            ))
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value).map_err(|_| bad())?;
        map.insert(name, value);
    }
    Ok(map)
}

/// `retry-after-ms` (OpenAI) wins over `retry-after` (seconds).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            // Bounded so a silly value cannot overflow a Duration.
            .filter(|v| (0.0..1e9).contains(v))
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

#[cfg(test)]
mod tests;
