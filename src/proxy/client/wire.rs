//! The bytes on the wire around a body: the request URL and head this client writes,
//! and the response head it reads.

use std::time::Duration;

use bytes::{Buf, BytesMut};

use super::ClientError;

/// Scheme, host and port: what a pooled connection can be reused for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Origin {
    pub(super) tls: bool,
    pub(super) host: String,
    pub(super) port: u16,
}

/// A parsed request URL.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Target<'a> {
    pub(super) origin: Origin,
    /// The `Host` header: the URL's authority as written.
    pub(super) authority: &'a str,
    /// Path and query, starting with `/`.
    pub(super) path: String,
}

pub(super) fn parse_url(url: &str) -> Result<Target<'_>, ClientError> {
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
pub(super) fn header_ok(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        && value
            .bytes()
            .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// The request bytes: head and JSON body in one buffer, so one write sends it.
pub(super) fn encode_request(
    target: &Target<'_>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
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

/// What the response head says.
pub(super) struct Head {
    pub(super) status: u16,
    pub(super) content_length: Option<u64>,
    pub(super) chunked: bool,
    pub(super) keep_alive: bool,
    pub(super) retry_after: Option<Duration>,
}

/// Parses a complete head off the front of `buf`; `None` while it is incomplete.
pub(super) fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, ClientError> {
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
