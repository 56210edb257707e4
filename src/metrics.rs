//! Prometheus metrics: request and failure counts by model/provider/status, latency
//! histograms (total and upstream), tokens and spend, budget refusals, and — read at
//! scrape time — the ledger queue, commit latency and database size.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::fast_map::FastMap;

/// Histogram bucket bounds in seconds.
const BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(
            out,
            "{name}_sum{{{}}} {}",
            labels.trim_end_matches(','),
            self.sum
        );
        let _ = writeln!(
            out,
            "{name}_count{{{}}} {}",
            labels.trim_end_matches(','),
            self.count
        );
    }
}

#[derive(Debug, Default)]
struct ByModel {
    requests: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    spend_nanos: i64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per model: one row per (provider, status); looked up by `&str`, so a request
    /// allocates nothing here once its model has been seen.
    by_status: FastMap<String, Vec<(String, u16, ByModel)>>,
    total_latency: FastMap<String, Histogram>,
    upstream_latency: FastMap<String, Histogram>,
    budget_refusals: u64,
}

/// One finished request, as metrics see it.
pub struct Observation<'a> {
    pub model: &'a str,
    pub provider: &'a str,
    pub status: u16,
    pub total_s: f64,
    pub upstream_s: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub spend_nanos: i64,
}

/// The process's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read at scrape time from elsewhere.
pub struct Gauges {
    pub ledger_queue_depth: u64,
    pub ledger_written: u64,
    pub ledger_commits: u64,
    pub ledger_failures: u64,
    pub ledger_last_commit_us: u64,
    pub ledger_commit_us_total: u64,
    pub database_bytes: u64,
}

/// The counters of (model, provider, status), created on first sight.
fn row_for<'m>(
    by_status: &'m mut FastMap<String, Vec<(String, u16, ByModel)>>,
    model: &str,
    provider: &str,
    status: u16,
) -> Option<&'m mut ByModel> {
    if !by_status.contains_key(model) {
        by_status.insert(model.to_string(), Vec::new());
    }
    let rows = by_status.get_mut(model)?;
    if !rows.iter().any(|(p, s, _)| p == provider && *s == status) {
        rows.push((provider.to_string(), status, ByModel::default()));
    }
    rows.iter_mut()
        .find(|(p, s, _)| p == provider && *s == status)
        .map(|(_, _, r)| r)
}

/// The model's histogram, created on first sight.
fn histogram_for<'m>(
    map: &'m mut FastMap<String, Histogram>,
    model: &str,
) -> Option<&'m mut Histogram> {
    if !map.contains_key(model) {
        map.insert(model.to_string(), Histogram::default());
    }
    map.get_mut(model)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, o: &Observation<'_>) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(row) = row_for(&mut m.by_status, o.model, o.provider, o.status) {
            row.requests += 1;
            row.prompt_tokens += o.prompt_tokens;
            row.completion_tokens += o.completion_tokens;
            row.spend_nanos += o.spend_nanos;
        }
        if let Some(h) = histogram_for(&mut m.total_latency, o.model) {
            h.observe(o.total_s);
        }
        if let Some(u) = o.upstream_s {
            if let Some(h) = histogram_for(&mut m.upstream_latency, o.model) {
                h.observe(u);
            }
        }
    }

    /// Counts a request refused because a budget was spent.
    pub fn budget_refused(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .budget_refusals += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self, g: &Gauges) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(4096);
        let mut rows: Vec<_> = m
            .by_status
            .iter()
            .flat_map(|(model, per)| {
                per.iter()
                    .map(move |(provider, status, r)| ((model, provider, *status), r))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "tollgate_requests_total",
            "counter",
            "Proxied requests by model, provider and HTTP status.",
        );
        for ((model, provider, status), r) in &rows {
            let _ = writeln!(
                out,
                "tollgate_requests_total{{model=\"{}\",provider=\"{}\",status=\"{status}\"}} {}",
                escape(model),
                escape(provider),
                r.requests
            );
        }
        header(
            &mut out,
            "tollgate_request_failures_total",
            "counter",
            "Proxied requests that did not succeed.",
        );
        for ((model, provider, status), r) in rows.iter().filter(|r| !(200..300).contains(&r.0 .2))
        {
            let _ = writeln!(out, "tollgate_request_failures_total{{model=\"{}\",provider=\"{}\",status=\"{status}\"}} {}", escape(model), escape(provider), r.requests);
        }
        header(
            &mut out,
            "tollgate_tokens_total",
            "counter",
            "Tokens by model and kind.",
        );
        header(
            &mut out,
            "tollgate_spend_usd_total",
            "counter",
            "Charged spend in USD by model.",
        );
        let mut by_model: HashMap<&str, (u64, u64, i64)> = HashMap::new();
        for ((model, _, _), r) in &rows {
            let e = by_model.entry(model.as_str()).or_default();
            e.0 += r.prompt_tokens;
            e.1 += r.completion_tokens;
            e.2 += r.spend_nanos;
        }
        let mut models: Vec<_> = by_model.into_iter().collect();
        models.sort();
        for (model, (p, c, s)) in models {
            let model = escape(model);
            let _ = writeln!(
                out,
                "tollgate_tokens_total{{model=\"{model}\",kind=\"prompt\"}} {p}"
            );
            let _ = writeln!(
                out,
                "tollgate_tokens_total{{model=\"{model}\",kind=\"completion\"}} {c}"
            );
            let _ = writeln!(
                out,
                "tollgate_spend_usd_total{{model=\"{model}\"}} {}",
                crate::money::Nanos(s).format_usd(9)
            );
        }
        for (name, help, map) in [
            (
                "tollgate_request_duration_seconds",
                "Total request latency.",
                &m.total_latency,
            ),
            (
                "tollgate_upstream_duration_seconds",
                "Time spent waiting on the provider.",
                &m.upstream_latency,
            ),
        ] {
            header(&mut out, name, "histogram", help);
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            for k in keys {
                map[k].render(&mut out, name, &format!("model=\"{}\",", escape(k)));
            }
        }
        header(
            &mut out,
            "tollgate_budget_refusals_total",
            "counter",
            "Requests refused because a budget was spent.",
        );
        let _ = writeln!(out, "tollgate_budget_refusals_total {}", m.budget_refusals);
        render_gauges(&mut out, g);
        out
    }
}

fn render_gauges(out: &mut String, g: &Gauges) {
    let rows: [(&str, &str, &str, String); 7] = [
        (
            "tollgate_ledger_queue_depth",
            "gauge",
            "Finished requests waiting to be committed.",
            g.ledger_queue_depth.to_string(),
        ),
        (
            "tollgate_ledger_rows_written_total",
            "counter",
            "Log rows committed.",
            g.ledger_written.to_string(),
        ),
        (
            "tollgate_ledger_commits_total",
            "counter",
            "Ledger transactions committed.",
            g.ledger_commits.to_string(),
        ),
        (
            "tollgate_ledger_commit_failures_total",
            "counter",
            "Failed ledger commit attempts (retried).",
            g.ledger_failures.to_string(),
        ),
        (
            "tollgate_ledger_last_commit_seconds",
            "gauge",
            "Duration of the last ledger commit.",
            format!("{:.6}", g.ledger_last_commit_us as f64 / 1e6),
        ),
        (
            "tollgate_ledger_commit_seconds_total",
            "counter",
            "Time spent committing the ledger.",
            format!("{:.6}", g.ledger_commit_us_total as f64 / 1e6),
        ),
        (
            "tollgate_database_bytes",
            "gauge",
            "Size of the SQLite database and its WAL.",
            g.database_bytes.to_string(),
        ),
    ];
    for (name, kind, help, value) in rows {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}
