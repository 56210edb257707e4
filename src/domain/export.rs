//! Bill export — one implementation behind the 导出 dialog, `GET /usage/export` and
//! `tollgate export`, so all three produce the same bytes. Rows come from the hourly
//! rollups grouped per local day (days without traffic are omitted).
//!
//! Entity columns: a team is named by its alias with its public `team_id` as Entity ID;
//! a user by username with the username (LiteLLM's `user_id`) as Entity ID; a key by its
//! alias with its hash (LiteLLM's `token`) as Entity ID. Requests with no such entity
//! (e.g. keys without a team) form a `(none)` row with an empty Entity ID, and entities
//! deleted since are `(deleted #id)`, so the rows always add up to the totals.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::Connection;

use super::reports::{date_of_day, DateRange};
use super::usage::{self, id_in, label, Entity};
use super::DomainError;
use crate::config::UtcOffset;
use crate::db::names::{self, Directory};
use crate::db::rollups::{DailyCell, RollupFilter, Sums};
use crate::money::Nanos;

/// What each row is broken down by besides day and entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Day × entity.
    Daily,
    /// Day × entity × key.
    DailyWithKeys,
    /// Day × entity × model.
    DailyWithModels,
}

/// File format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 with BOM, CRLF, RFC 4180 quoting.
    Csv,
    /// An array of objects keyed by the CSV column names.
    Json,
}

/// A validated export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportRequest {
    /// Inclusive local days.
    pub range: DateRange,
    /// Grouped by.
    pub entity: Entity,
    /// Broken down by.
    pub scope: Scope,
    /// Written as.
    pub format: Format,
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// `{entity}-usage-{start}-{end}-{scope}.csv|json`
    pub filename: String,
    /// MIME type.
    pub content_type: &'static str,
    /// The bytes.
    pub body: Vec<u8>,
}

/// The raw, untrusted parameters (query string or command line).
#[derive(Debug, Clone, Default)]
pub struct ExportParams<'a> {
    /// `start_date`
    pub start_date: &'a str,
    /// `end_date`
    pub end_date: &'a str,
    /// `entity`
    pub entity: &'a str,
    /// `scope`
    pub scope: &'a str,
    /// `format`
    pub format: &'a str,
}

fn one_of<T: Copy>(
    field: &'static str,
    text: &str,
    options: &[(&str, T)],
) -> Result<T, DomainError> {
    let text = text.trim();
    if let Some((_, v)) = options.iter().find(|(name, _)| *name == text) {
        return Ok(*v);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    Err(DomainError::invalid(
        field,
        format!("{field} must be one of {}, got `{text}`", names.join(", ")),
    ))
}

impl ExportRequest {
    /// Validates every parameter; ranges longer than `max_days` are refused.
    pub fn parse(p: &ExportParams<'_>, max_days: u32) -> Result<ExportRequest, DomainError> {
        let entity = one_of(
            "entity",
            p.entity,
            &[
                ("team", Entity::Team),
                ("user", Entity::User),
                ("key", Entity::Key),
            ],
        )?;
        let scope = one_of(
            "scope",
            p.scope,
            &[
                ("daily", Scope::Daily),
                ("daily_with_keys", Scope::DailyWithKeys),
                ("daily_with_models", Scope::DailyWithModels),
            ],
        )?;
        let format = one_of(
            "format",
            p.format,
            &[("csv", Format::Csv), ("json", Format::Json)],
        )?;
        let range = DateRange::parse(p.start_date, p.end_date, max_days)?;
        Ok(ExportRequest {
            range,
            entity,
            scope,
            format,
        })
    }

    /// The download's file name.
    pub fn filename(&self) -> String {
        let entity = match self.entity {
            Entity::Team => "team",
            Entity::User => "user",
            Entity::Key => "key",
        };
        let scope = match self.scope {
            Scope::Daily => "daily",
            Scope::DailyWithKeys => "daily_with_keys",
            Scope::DailyWithModels => "daily_with_models",
        };
        let ext = match self.format {
            Format::Csv => "csv",
            Format::Json => "json",
        };
        format!(
            "{entity}-usage-{}-{}-{scope}.{ext}",
            self.range.start, self.range.end
        )
    }
}

/// Runs an export against the database.
pub fn export(
    conn: &Connection,
    req: &ExportRequest,
    offset: UtcOffset,
) -> Result<ExportFile, DomainError> {
    let cells = usage::cells(conn, &req.range, offset, &RollupFilter::default())?;
    let dir = names::load(conn)?;
    let table = rows(&cells, &dir, req.entity, req.scope);
    let cols = columns(req.entity, req.scope);
    let (content_type, body) = match req.format {
        Format::Csv => ("text/csv; charset=utf-8", to_csv(&cols, &table)),
        Format::Json => ("application/json", to_json(&cols, &table)),
    };
    Ok(ExportFile {
        filename: req.filename(),
        content_type,
        body,
    })
}

/// The column names, in order (SPEC §7).
pub fn columns(entity: Entity, scope: Scope) -> Vec<&'static str> {
    let name = match entity {
        Entity::Team => "Team",
        Entity::User => "User",
        Entity::Key => "Key",
    };
    let mut cols = vec!["Date", name, "Entity ID"];
    match scope {
        Scope::Daily => {}
        Scope::DailyWithKeys => cols.extend(["Key Alias", "Key ID"]),
        Scope::DailyWithModels => cols.push("Model"),
    }
    cols.extend([
        "Spend ($)",
        "Requests",
        "Successful Requests",
        "Failed Requests",
        "Total Tokens",
        "Prompt Tokens",
        "Completion Tokens",
    ]);
    cols
}

/// One cell of an export row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text (a quoted string in JSON).
    Text(String),
    /// A count.
    Int(i64),
    /// USD, 6 decimals.
    Money(Nanos),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Sub {
    None,
    Key(i64),
    Model(String),
}

/// The export rows (pure): one per day × entity (× key or model), days ascending, then
/// by name; each row's cells in [`columns`] order.
pub fn rows(cells: &[DailyCell], dir: &Directory, entity: Entity, scope: Scope) -> Vec<Vec<Cell>> {
    let mut groups: BTreeMap<(i64, i64, Sub), Sums> = BTreeMap::new();
    for cell in cells {
        let sub = match scope {
            Scope::Daily => Sub::None,
            Scope::DailyWithKeys => Sub::Key(cell.key_id),
            Scope::DailyWithModels => Sub::Model(cell.model.clone()),
        };
        groups
            .entry((cell.day, id_in(cell, entity), sub))
            .or_default()
            .add(&cell.sums);
    }
    let mut labelled: Vec<(NaiveDate, Vec<String>, Sums)> = groups
        .into_iter()
        .map(|((day, id, sub), sums)| {
            let (name, public_id) = label(dir, entity, id);
            let mut text = vec![name, public_id];
            match sub {
                Sub::None => {}
                Sub::Key(key) => {
                    let (alias, token) = label(dir, Entity::Key, key);
                    text.extend([alias, token]);
                }
                Sub::Model(model) => text.push(model),
            }
            (date_of_day(day), text, sums)
        })
        .collect();
    labelled.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    labelled
        .into_iter()
        .map(|(date, text, sums)| row_cells(date, text, &sums))
        .collect()
}

fn row_cells(date: NaiveDate, text: Vec<String>, s: &Sums) -> Vec<Cell> {
    let mut cells = vec![Cell::Text(date.to_string())];
    cells.extend(text.into_iter().map(Cell::Text));
    cells.extend([
        Cell::Money(s.spend),
        Cell::Int(s.requests),
        Cell::Int(s.successes),
        Cell::Int(s.failures),
        Cell::Int(s.total_tokens()),
        Cell::Int(s.prompt_tokens),
        Cell::Int(s.completion_tokens),
    ]);
    cells
}

/// One CSV field: formula-looking text gets a `'` prefix (no formula injection), then
/// RFC 4180 quoting when needed.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => t.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Money(m) => m.format_usd(6),
    }
}

/// CSV: UTF-8 with BOM (so Excel reads Chinese names), CRLF line ends.
pub fn to_csv(cols: &[&str], rows: &[Vec<Cell>]) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let line = |fields: Vec<String>| {
        fields
            .iter()
            .map(|f| csv_field(f))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    out.push_str(&line(cols.iter().map(|c| c.to_string()).collect()));
    for row in rows {
        out.push_str(&line(row.iter().map(cell_text).collect()));
    }
    out.into_bytes()
}

/// JSON: an array of objects whose keys are the column names, in column order; counts
/// and spend are numbers (spend with 6 decimals), one object per line.
pub fn to_json(cols: &[&str], rows: &[Vec<Cell>]) -> Vec<u8> {
    let objects: Vec<String> = rows
        .iter()
        .map(|row| {
            let pairs: Vec<String> = cols
                .iter()
                .zip(row)
                .map(|(col, cell)| {
                    let value = match cell {
                        Cell::Text(t) => serde_json::Value::String(t.clone()).to_string(),
                        other => cell_text(other),
                    };
                    format!("{}:{value}", serde_json::Value::String(col.to_string()))
                })
                .collect();
            format!("{{{}}}", pairs.join(","))
        })
        .collect();
    if objects.is_empty() {
        return b"[]\n".to_vec();
    }
    format!("[\n{}\n]\n", objects.join(",\n")).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(entity: &'a str, scope: &'a str, format: &'a str) -> ExportParams<'a> {
        ExportParams {
            start_date: "2025-01-01",
            end_date: "2025-01-31",
            entity,
            scope,
            format,
        }
    }

    #[test]
    fn parameters_are_checked() {
        let ok = ExportRequest::parse(&params("team", "daily_with_keys", "csv"), 400).unwrap();
        assert_eq!(
            ok.filename(),
            "team-usage-2025-01-01-2025-01-31-daily_with_keys.csv"
        );
        for bad in [
            params("org", "daily", "csv"),
            params("team", "hourly", "csv"),
            params("team", "daily", "xlsx"),
        ] {
            assert!(ExportRequest::parse(&bad, 400).is_err());
        }
        assert!(ExportRequest::parse(&params("team", "daily", "csv"), 10).is_err());
    }

    #[test]
    fn columns_follow_the_spec() {
        assert_eq!(
            columns(Entity::Key, Scope::DailyWithKeys)[..5],
            ["Date", "Key", "Entity ID", "Key Alias", "Key ID"]
        );
        assert_eq!(columns(Entity::User, Scope::DailyWithModels)[3], "Model");
        assert_eq!(columns(Entity::Team, Scope::Daily).len(), 10);
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-2+3,x"), "\"'-2+3,x\"");
        assert_eq!(csv_field("@sum"), "'@sum");
        let bytes = to_csv(
            &["A", "B"],
            &[vec![
                Cell::Text("研发".into()),
                Cell::Money(Nanos(1_234_567)),
            ]],
        );
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\u{feff}A,B\r\n研发,0.001235\r\n"
        );
    }

    #[test]
    fn json_keeps_column_order_and_numbers() {
        let bytes = to_json(
            &["Date", "Spend ($)", "Requests"],
            &[vec![
                Cell::Text("2025-01-01".into()),
                Cell::Money(Nanos(1_500_000)),
                Cell::Int(4),
            ]],
        );
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "[\n{\"Date\":\"2025-01-01\",\"Spend ($)\":0.001500,\"Requests\":4}\n]\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0]["Requests"], 4);
        assert_eq!(to_json(&["Date"], &[]), b"[]\n");
    }
}
