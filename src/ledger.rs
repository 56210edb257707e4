//! The single ledger writer. Requests hand their finished record to a bounded queue;
//! one thread commits them in batches (group commit: what arrives within `LINGER` of
//! the first record, up to `MAX_BATCH` rows, in one transaction with the rollups and
//! key usage). A failed
//! commit is retried with backoff and never dropped; while it fails the ledger reports
//! unhealthy so the proxy answers 503 instead of serving unrecorded requests, and the
//! full queue pushes back on callers. Shutdown drains the queue before returning.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::db::logs_write::{self, LogRecord, Rollups};
use crate::db::{Db, DbError};

/// Rows per transaction at most.
const MAX_BATCH: usize = 1_000;
/// How long a batch stays open after its first record. Every commit rewrites the
/// pages it touched (the log table's and indexes' last pages, the rollup rows) into
/// the WAL, so committing each trickle of records wrote several pages per row; a few
/// milliseconds gather tens to hundreds of rows per commit under load. This is also
/// the window of answered requests a power cut or `kill -9` can lose.
const LINGER: Duration = Duration::from_millis(5);
/// Records waiting at most before callers wait (back-pressure).
const QUEUE_CAPACITY: usize = 20_000;

/// Work run on the writer thread once everything queued before it is committed.
type AfterCommit = Box<dyn FnOnce(&Db) + Send>;

/// Told which records each commit wrote.
pub type OnCommit = Box<dyn Fn(&[LogRecord]) + Send>;

enum Msg {
    Record(Box<LogRecord>),
    AfterCommit(AfterCommit),
    Shutdown,
}

/// Counters for /metrics and the benchmark.
#[derive(Debug, Default)]
pub struct LedgerStats {
    /// Records accepted into the queue.
    pub enqueued: AtomicU64,
    /// Records committed.
    pub written: AtomicU64,
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Failed commit attempts.
    pub failures: AtomicU64,
    /// Duration of the last commit, microseconds.
    pub last_commit_us: AtomicU64,
    /// Sum of commit durations, microseconds.
    pub commit_us_total: AtomicU64,
    /// False while commits fail.
    pub healthy: AtomicBool,
}

/// Handle to the writer thread.
pub struct Ledger {
    tx: mpsc::Sender<Msg>,
    stats: Arc<LedgerStats>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Ledger {
    /// Starts the writer thread on `db`. With `retention_days`, log rows older than that
    /// are pruned at start and then hourly (rollups are kept). `on_commit` hears of
    /// every batch once it is committed.
    pub fn start(
        db: Db,
        retention_days: Option<u32>,
        day_offset_s: i64,
        on_commit: OnCommit,
    ) -> Ledger {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(LedgerStats {
            healthy: AtomicBool::new(true),
            ..LedgerStats::default()
        });
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("tollgate-ledger".into())
            .spawn(move || {
                writer_loop(
                    db,
                    rx,
                    thread_stats,
                    retention_days,
                    day_offset_s,
                    on_commit,
                )
            })
            .ok();
        Ledger {
            tx,
            stats,
            thread: Mutex::new(thread),
        }
    }

    /// Queues a record, waiting while the queue is full.
    pub async fn record(&self, record: LogRecord) {
        self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Msg::Record(Box::new(record))).await.is_err() {
            tracing::error!("ledger is closed; a record was not written");
        }
    }

    /// Queues a record from synchronous code (a dropped stream): tries at once, else
    /// hands it to a task that waits for room.
    pub fn record_detached(&self, record: LogRecord) {
        self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                actix_web::rt::spawn(async move {
                    let _ = tx.send(msg).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("ledger is closed; a record was not written")
            }
        }
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) {
        self.after_commit(|_| ()).await;
    }

    /// Runs `work` on the writer thread once everything queued so far is committed
    /// and reported to `on_commit`, before the next batch: no commit happens while it
    /// runs. (The batch may also hold records queued just after this call.) `None`
    /// when the writer has stopped.
    pub async fn after_commit<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Db) -> R + Send + 'static,
    ) -> Option<R> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let job: AfterCommit = Box::new(move |db| {
            let _ = done_tx.send(work(db));
        });
        self.tx.send(Msg::AfterCommit(job)).await.ok()?;
        done_rx.await.ok()
    }

    /// Drains the queue, commits it and stops the thread (blocking).
    pub fn shutdown(&self) {
        if self.tx.try_send(Msg::Shutdown).is_err() {
            let _ = self.tx.blocking_send(Msg::Shutdown);
        }
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// False while commits are failing (disk full, read-only file).
    pub fn is_healthy(&self) -> bool {
        self.stats.healthy.load(Ordering::Relaxed)
    }

    /// Records queued but not yet committed.
    pub fn queue_depth(&self) -> u64 {
        let s = &self.stats;
        s.enqueued
            .load(Ordering::Relaxed)
            .saturating_sub(s.written.load(Ordering::Relaxed))
    }

    /// The counters.
    pub fn stats(&self) -> &LedgerStats {
        &self.stats
    }
}

fn writer_loop(
    db: Db,
    mut rx: mpsc::Receiver<Msg>,
    stats: Arc<LedgerStats>,
    retention_days: Option<u32>,
    day_offset_s: i64,
    on_commit: OnCommit,
) {
    let mut batch: Vec<LogRecord> = Vec::with_capacity(MAX_BATCH);
    let mut waiters: Vec<AfterCommit> = Vec::new();
    let mut last_prune: Option<Instant> = None;
    loop {
        if let Some(days) = retention_days {
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                prune(&db, days);
                last_prune = Some(Instant::now());
            }
        }
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let deadline = Instant::now() + LINGER;
        let mut stop = take(first, &mut batch, &mut waiters);
        stop |= drain(&mut rx, &mut batch, &mut waiters);
        let open = !stop && waiters.is_empty() && batch.len() < MAX_BATCH;
        if let (true, Some(wait)) = (open, deadline.checked_duration_since(Instant::now())) {
            std::thread::sleep(wait);
            stop |= drain(&mut rx, &mut batch, &mut waiters);
        }
        if stop {
            while let Ok(msg) = rx.try_recv() {
                take(msg, &mut batch, &mut waiters);
            }
        }
        if commit_with_retry(&db, &batch, &stats, day_offset_s) {
            on_commit(&batch);
        }
        batch.clear();
        for work in waiters.drain(..) {
            work(&db);
        }
        if stop {
            break;
        }
    }
    tracing::info!(
        written = stats.written.load(Ordering::Relaxed),
        "ledger writer stopped"
    );
}

/// Takes what is queued, up to a full batch; true when shutdown was asked.
fn drain(
    rx: &mut mpsc::Receiver<Msg>,
    batch: &mut Vec<LogRecord>,
    waiters: &mut Vec<AfterCommit>,
) -> bool {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(msg) => {
                if take(msg, batch, waiters) {
                    return true;
                }
            }
            Err(_) => break,
        }
    }
    false
}

fn take(msg: Msg, batch: &mut Vec<LogRecord>, waiters: &mut Vec<AfterCommit>) -> bool {
    match msg {
        Msg::Record(r) => batch.push(*r),
        Msg::AfterCommit(work) => waiters.push(work),
        Msg::Shutdown => return true,
    }
    false
}

/// Commits `batch`, retrying until it succeeds; false when there was nothing to commit.
fn commit_with_retry(db: &Db, batch: &[LogRecord], stats: &LedgerStats, day_offset_s: i64) -> bool {
    if batch.is_empty() {
        return false;
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = Instant::now();
        match commit(db, batch, day_offset_s) {
            Ok(()) => {
                let us = started.elapsed().as_micros() as u64;
                stats
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.last_commit_us.store(us, Ordering::Relaxed);
                stats.commit_us_total.fetch_add(us, Ordering::Relaxed);
                if !stats.healthy.swap(true, Ordering::Relaxed) {
                    tracing::warn!("ledger writes succeed again");
                }
                return true;
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                if stats.healthy.swap(false, Ordering::Relaxed) {
                    tracing::error!(error = %e, rows = batch.len(), "ledger commit failed; retrying, nothing is dropped");
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// One transaction: log rows, hourly and daily rollups (days at `day_offset_s`), key use.
fn commit(db: &Db, batch: &[LogRecord], day_offset_s: i64) -> Result<(), DbError> {
    let mut conn = db.conn()?;
    let tx = conn.transaction()?;
    let mut last_used: HashMap<i64, i64> = HashMap::new();
    let mut rollups = Rollups::default();
    logs_write::LogInserter::new(&tx).insert_all(batch)?;
    for r in batch {
        rollups.add(r);
        if r.key_id > 0 {
            let t = last_used.entry(r.key_id).or_default();
            *t = (*t).max(r.end_ms);
        }
    }
    rollups.write(&tx, day_offset_s)?;
    for (key, at) in last_used {
        logs_write::touch_key(&tx, key, at)?;
    }
    tx.commit()?;
    Ok(())
}

/// Deletes log rows older than `days`, a slice at a time between batches.
fn prune(db: &Db, days: u32) {
    let cutoff = chrono::Utc::now().timestamp_millis() - i64::from(days) * 86_400_000;
    let Ok(conn) = db.conn() else { return };
    let mut total = 0;
    while let Ok(n) = logs_write::prune(&conn, cutoff, 5_000) {
        total += n;
        if n == 0 {
            break;
        }
    }
    if total > 0 {
        tracing::info!(
            rows = total,
            days,
            "pruned old request log rows (rollups kept)"
        );
    }
}
