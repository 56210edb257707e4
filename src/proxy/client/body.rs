//! Reading a response body as it arrives: length-delimited, chunked or close-delimited,
//! and handing the connection back to the pool once the body is complete.

use std::rc::Weak;

use bytes::{Buf, Bytes, BytesMut};

use super::wire::Origin;
use super::{ClientError, Conn, Inner, MAX_HEAD};

pub(super) enum Framing {
    /// Bytes still to come.
    Length(u64),
    Chunked(Chunked),
    /// No length given: the body ends when the connection does.
    UntilClose,
}

pub(super) enum Chunked {
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
pub(super) struct Body {
    /// `None` once the body has ended or failed.
    pub(super) conn: Option<Conn>,
    pub(super) framing: Framing,
    pub(super) reusable: bool,
    pub(super) pool: Weak<Inner>,
    pub(super) origin: Origin,
}

impl Body {
    /// The next piece of the body; `None` at its end (or after an error).
    pub(super) async fn next_chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
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
                        return Ok(Some(take_up_to(&mut conn.buf, left)));
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
                            let bytes = take_up_to(&mut conn.buf, left);
                            if *left == 0 {
                                *state = Chunked::DataEnd;
                            }
                            return Ok(Some(bytes));
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

/// Takes what is buffered of the `left` bytes still owed, counting them off.
fn take_up_to(buf: &mut BytesMut, left: &mut u64) -> Bytes {
    let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
    *left -= n as u64;
    buf.split_to(n).freeze()
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
