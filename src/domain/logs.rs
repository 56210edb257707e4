//! The request log as people browse it (/logs, /logs/{id}, /spend/logs): filter
//! parsing, role scoping (non-admins see only their own requests), and page cursors.
//!
//! A cursor names the last row shown, `{start_ms}.{id}.{mac}`, signed with HMAC-SHA256
//! under a per-database secret: a cursor that was edited is refused with a clear 400
//! instead of silently jumping somewhere.

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::reports::{parse_date, parse_id, DateRange};
use super::tokens::constant_time_eq;
use super::usage::Viewer;
use super::DomainError;
use crate::config::UtcOffset;
use crate::db::logs::{self, LogFilter, LogPosition, LogRow};

/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// Raw, untrusted filter parameters (query string); empty means "any".
#[derive(Debug, Clone, Default)]
pub struct LogParams<'a> {
    /// Key row id.
    pub key_id: &'a str,
    /// User row id.
    pub user_id: &'a str,
    /// Team row id.
    pub team_id: &'a str,
    /// Model name.
    pub model: &'a str,
    /// `success` or `failure`.
    pub status: &'a str,
    /// First local day.
    pub start_date: &'a str,
    /// Last local day (inclusive).
    pub end_date: &'a str,
}

fn parse_status(text: &str) -> Result<Option<bool>, DomainError> {
    match text.trim() {
        "" => Ok(None),
        "success" => Ok(Some(true)),
        "failure" => Ok(Some(false)),
        other => Err(DomainError::invalid(
            "status",
            format!("status must be success or failure, got `{other}`"),
        )),
    }
}

/// `[from, to)` unix ms of optional first/last local days; a reversed pair is refused.
fn parse_days(
    start: &str,
    end: &str,
    offset: UtcOffset,
) -> Result<(Option<i64>, Option<i64>), DomainError> {
    let day_ms = |field, text: &str| -> Result<Option<(i64, i64)>, DomainError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let day = parse_date(field, text)?;
        Ok(Some(
            DateRange {
                start: day,
                end: day,
            }
            .ms(offset),
        ))
    };
    let from = day_ms("start_date", start)?.map(|(from, _)| from);
    let to = day_ms("end_date", end)?.map(|(_, to)| to);
    if let (Some(from), Some(to)) = (from, to) {
        if to <= from {
            return Err(DomainError::invalid(
                "end_date",
                "end_date is before start_date",
            ));
        }
    }
    Ok((from, to))
}

/// Validates filter parameters. Text values (model) are only ever bound as values.
pub fn parse_filter(p: &LogParams<'_>, offset: UtcOffset) -> Result<LogFilter, DomainError> {
    let model = Some(p.model.trim()).filter(|m| !m.is_empty());
    if model.is_some_and(|m| m.len() > 200) {
        return Err(DomainError::invalid("model", "model name is too long"));
    }
    let (from_ms, to_ms) = parse_days(p.start_date, p.end_date, offset)?;
    Ok(LogFilter {
        key_id: parse_id("key_id", p.key_id)?,
        user_id: parse_id("user_id", p.user_id)?,
        team_id: parse_id("team_id", p.team_id)?,
        model: model.map(str::to_string),
        success: parse_status(p.status)?,
        from_ms,
        to_ms,
    })
}

/// One page of the log.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// The rows, newest first.
    pub rows: Vec<LogRow>,
    /// Cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// A page of rows matching `filter` as `viewer` may see them, after `cursor`.
pub fn page(
    conn: &Connection,
    viewer: Viewer,
    mut filter: LogFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<LogPage, DomainError> {
    let secret = logs::cursor_secret(conn)?;
    let after = match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_cursor(&secret, c)?),
        None => None,
    };
    if !viewer.role.is_admin() {
        filter.user_id = Some(viewer.user_id);
    }
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut rows = logs::page(conn, &filter, after, limit + 1)?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| encode_cursor(&secret, r.start_ms, r.id))
    } else {
        None
    };
    Ok(LogPage { rows, next })
}

/// One request with its stored bodies, if `viewer` may see it.
pub fn detail(
    conn: &Connection,
    viewer: Viewer,
    request_id: &str,
) -> Result<(LogRow, Option<String>, Option<String>), DomainError> {
    let missing = || DomainError::NotFound(format!("request {request_id}"));
    let row = logs::by_request_id(conn, request_id)?.ok_or_else(missing)?;
    if !viewer.role.is_admin() && row.user_id != viewer.user_id {
        return Err(missing());
    }
    let (request, response) = logs::bodies(conn, row.id)?.unwrap_or((None, None));
    Ok((row, request, response))
}

fn mac(secret: &str, start_ms: i64, id: i64) -> String {
    let tag = hmac_sha256(secret.as_bytes(), format!("{start_ms}.{id}").as_bytes());
    tag[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The cursor naming position `(start_ms, id)`.
pub fn encode_cursor(secret: &str, start_ms: i64, id: i64) -> String {
    format!("{start_ms}.{id}.{}", mac(secret, start_ms, id))
}

/// Reads a cursor back; anything malformed or not signed by us is a 400.
pub fn decode_cursor(secret: &str, cursor: &str) -> Result<LogPosition, DomainError> {
    let bad = || {
        DomainError::invalid(
            "cursor",
            "the page cursor is invalid or was altered; start again from the first page",
        )
    };
    let mut parts = cursor.split('.');
    let (Some(start), Some(id), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let start_ms: i64 = start.parse().map_err(|_| bad())?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    if !constant_time_eq(tag, &mac(secret, start_ms, id)) {
        return Err(bad());
    }
    Ok(LogPosition { start_ms, id })
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let c = encode_cursor("s3cret", 1_700_000_000_000, 42);
        assert_eq!(
            decode_cursor("s3cret", &c).unwrap(),
            LogPosition {
                start_ms: 1_700_000_000_000,
                id: 42
            }
        );
        let forged = c.replacen(".42.", ".41.", 1);
        for bad in [
            forged.as_str(),
            "1.2",
            "x.y.z",
            "",
            "1.2.3.4",
            &c.replace('a', "b"),
        ] {
            if bad != c {
                assert!(decode_cursor("s3cret", bad).is_err(), "{bad}");
            }
        }
        assert!(decode_cursor("other", &c).is_err());
    }

    #[test]
    fn filters_are_validated() {
        let utc = UtcOffset::default();
        let ok = parse_filter(
            &LogParams {
                key_id: "3",
                status: "failure",
                model: "x' OR 1=1 --",
                ..Default::default()
            },
            utc,
        )
        .unwrap();
        assert_eq!((ok.key_id, ok.success), (Some(3), Some(false)));
        assert_eq!(ok.model.as_deref(), Some("x' OR 1=1 --"));
        for p in [
            LogParams {
                key_id: "1 OR 1=1",
                ..Default::default()
            },
            LogParams {
                status: "maybe",
                ..Default::default()
            },
            LogParams {
                start_date: "2025-13-01",
                ..Default::default()
            },
            LogParams {
                start_date: "2025-02-02",
                end_date: "2025-02-01",
                ..Default::default()
            },
        ] {
            assert!(parse_filter(&p, utc).is_err());
        }
    }
}
