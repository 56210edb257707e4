//! The single ledger writer. Requests hand their finished record to a bounded queue;
//! one thread commits them in batches, continuously: each transaction (log rows,
//! rollups, key usage) holds whatever arrived while the previous one ran, up to
//! `MAX_BATCH` rows, so a quiet gateway commits each record at once and a busy one
//! gathers hundreds per commit, with no fixed window.
//!
//! An answer is acknowledged only once it is charged (SPEC §14): [`Ledger::commit`]
//! resolves after the record's transaction committed, and the doors send the answer's
//! last byte (or a stream's terminator) only then, so a `kill -9` at any moment loses
//! no request whose answer a client received whole. Waits are bounded: a database that
//! stays locked or full makes [`Ledger::commit`] give up with [`LedgerError::Stalled`]
//! (the client gets a 503; the record stays queued and is written when the database
//! recovers), and while a commit is stalled or failing the ledger is not
//! [`accepting`](Ledger::accepting), so new requests are refused before any provider
//! is called and readiness answers 503. A failed commit is retried with backoff and
//! never dropped. Shutdown drains the queue before returning.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::db::logs_write::{self, LogRecord, Rollups};
use crate::db::{Db, DbError};

/// Rows per transaction at most.
const MAX_BATCH: usize = 1_000;
/// Sleep between looks at the queue while a commit waits for records under way.
const LINGER_POLL: Duration = Duration::from_micros(40);

/// How long a commit waits for the records of requests under way ([`Expected`]).
#[derive(Debug, Clone, Copy)]
struct Linger {
    /// At most this long after the batch began.
    max: Duration,
    /// Not once no record arrived for this long (the requests under way are long
    /// streams, not answers about to finish).
    gap: Duration,
}

/// 1 ms at most: a small part of any model call, and at 64 parallel answers it
/// gathers about three times more rows per commit than committing at once.
const LINGER: Linger = Linger {
    max: Duration::from_micros(1_000),
    gap: Duration::from_micros(250),
};
/// Records waiting at most before callers wait (back-pressure). Answered requests wait
/// for their own commit, so the queue rarely holds more than the requests in flight.
const QUEUE_CAPACITY: usize = 8_192;
/// How long an answered request waits for room in the queue, and then for its commit,
/// before its client is told 503.
const ACK_WAIT: Duration = Duration::from_secs(3);
/// A commit running longer than this (a locked database waiting out its busy timeout)
/// stops new requests from being admitted until it completes.
const STALL_AFTER_MS: i64 = 500;
/// Queue depth above which new records leave their stored bodies out (they are
/// diagnostics, and a stalled database must not make the queue hold gigabytes).
const BODY_DROP_DEPTH: u64 = 512;
/// Log rows deleted per pruning step; one step runs between two commits.
const PRUNE_SLICE: i64 = 500;

/// Why an answer could not be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// No room in the queue, or no commit, within `ACK_WAIT`.
    #[error("the gateway could not record the request in time (the database is busy or not writable); nothing was lost, try again shortly")]
    Stalled,
    /// The writer has stopped (shutdown).
    #[error("the gateway is shutting down")]
    Stopped,
}

/// Work run on the writer thread once everything queued before it is committed.
type AfterCommit = Box<dyn FnOnce(&Db) + Send>;

/// Told which records each commit wrote.
pub type OnCommit = Box<dyn Fn(&[LogRecord]) + Send>;

/// Told once the record's transaction committed.
type Ack = tokio::sync::oneshot::Sender<()>;

enum Msg {
    /// A record, who waits for its commit, and its request's [`Expected`] (released
    /// once the writer holds the record).
    Record(Box<LogRecord>, Option<Ack>, Option<Expected>),
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
    /// Unix milliseconds the running commit started; 0 when none runs.
    pub commit_started_ms: AtomicI64,
    /// Refusals not recorded because the queue was full (they cost nothing).
    pub refusals_dropped: AtomicU64,
    /// Requests under way whose record the writer does not hold yet ([`Expected`]).
    pub expected: AtomicI64,
}

/// Held by a request under way until the writer holds its record. While such requests exist a
/// commit waits a little for their records (group commit, as PostgreSQL's
/// `commit_delay` waits for `commit_siblings`): the answers already wait for their
/// commit, so a busy gateway would otherwise commit a few rows at a time, and each
/// transaction writes the same dozen pages to the WAL however few rows it holds.
pub struct Expected(Arc<LedgerStats>);

impl Drop for Expected {
    fn drop(&mut self) {
        self.0.expected.fetch_sub(1, Ordering::Relaxed);
    }
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
        Ledger::start_lingering(db, retention_days, day_offset_s, on_commit, LINGER)
    }

    fn start_lingering(
        db: Db,
        retention_days: Option<u32>,
        day_offset_s: i64,
        on_commit: OnCommit,
        linger: Linger,
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
                    linger,
                )
            })
            .ok();
        Ledger {
            tx,
            stats,
            thread: Mutex::new(thread),
        }
    }

    /// Announces a request whose record will follow (dropping the guard withdraws it).
    pub fn expect(&self) -> Expected {
        self.stats.expected.fetch_add(1, Ordering::Relaxed);
        Expected(self.stats.clone())
    }

    /// Queues an answered request's record and resolves once it is committed, or with
    /// an error after `ACK_WAIT` (the record is then still written when the database
    /// recovers). The answer's last byte must wait for this.
    pub fn commit(
        &self,
        mut record: LogRecord,
        expected: Option<Expected>,
    ) -> impl Future<Output = Result<(), LedgerError>> + 'static {
        self.trim_when_deep(&mut record);
        self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
        let (ack, acked) = tokio::sync::oneshot::channel();
        // Queued now, not when the future is first polled: a caller that drops the
        // future (its client went away) must not lose the record.
        let queued = match self
            .tx
            .try_send(Msg::Record(Box::new(record), Some(ack), expected))
        {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                actix_web::rt::spawn(async move {
                    let _ = tx.send(msg).await;
                });
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(LedgerError::Stopped),
        };
        async move {
            queued?;
            match tokio::time::timeout(ACK_WAIT, acked).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(LedgerError::Stopped),
                Err(_) => Err(LedgerError::Stalled),
            }
        }
    }

    /// Queues a refusal's record (it costs nothing) without waiting: when the queue is
    /// full the row is left out and counted, so refusals during a stall cannot crowd
    /// out answered requests.
    pub fn record_refusal(&self, mut record: LogRecord, expected: Option<Expected>) {
        self.trim_when_deep(&mut record);
        match self
            .tx
            .try_send(Msg::Record(Box::new(record), None, expected))
        {
            Ok(()) => {
                self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.refusals_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues a record from synchronous code (a stream that ended without its
    /// terminator, a client gone mid-stream): tries at once, else hands it to a task
    /// that waits for room. Never dropped; not acknowledged.
    pub fn record_detached(&self, mut record: LogRecord, expected: Option<Expected>) {
        self.trim_when_deep(&mut record);
        self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
        match self
            .tx
            .try_send(Msg::Record(Box::new(record), None, expected))
        {
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

    /// A deep queue means the database is behind: keep the accounting, not the bodies.
    fn trim_when_deep(&self, record: &mut LogRecord) {
        if self.queue_depth() > BODY_DROP_DEPTH {
            record.request_body = None;
            record.response_body = None;
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

    /// Whether new requests may be admitted: commits succeed, none has been running
    /// for longer than `STALL_AFTER_MS` (a locked database), and the queue has room.
    pub fn accepting(&self) -> bool {
        let started = self.stats.commit_started_ms.load(Ordering::Relaxed);
        let stalled =
            started > 0 && chrono::Utc::now().timestamp_millis() - started > STALL_AFTER_MS;
        self.is_healthy() && !stalled && self.queue_depth() < (QUEUE_CAPACITY / 2) as u64
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
    linger: Linger,
) {
    // Checkpoints for as long as the ledger writes, and once more when it stops.
    let _checkpointer = crate::db::checkpoint::Checkpointer::start(db.clone());
    let mut batch = Batch::default();
    let mut waiters: Vec<AfterCommit> = Vec::new();
    let mut pruner = Pruner::new(retention_days);
    loop {
        // Idle time goes to pruning, one slice at a time, so a large deletion never
        // holds up a commit for long.
        let first = match rx.try_recv() {
            Ok(msg) => msg,
            Err(_) if pruner.step(&db) => continue,
            Err(_) => match rx.blocking_recv() {
                Some(msg) => msg,
                None => break,
            },
        };
        let mut stop = batch.take(first, &mut waiters);
        stop |= drain(&mut rx, &mut batch, &mut waiters);
        if !stop && !batch.records.is_empty() {
            stop = wait_for_expected(&mut rx, &mut batch, &mut waiters, &stats, linger);
        }
        if stop {
            while let Ok(msg) = rx.try_recv() {
                batch.take(msg, &mut waiters);
            }
        }
        if commit_with_retry(&db, &batch.records, &stats, day_offset_s) {
            on_commit(&batch.records);
        }
        for ack in batch.acks.drain(..) {
            let _ = ack.send(());
        }
        batch.records.clear();
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

/// The records of one transaction and who waits for it.
#[derive(Default)]
struct Batch {
    records: Vec<LogRecord>,
    acks: Vec<Ack>,
}

impl Batch {
    /// Takes one message; true when shutdown was asked.
    fn take(&mut self, msg: Msg, waiters: &mut Vec<AfterCommit>) -> bool {
        match msg {
            Msg::Record(r, ack, expected) => {
                self.records.push(*r);
                self.acks.extend(ack);
                drop(expected);
            }
            Msg::AfterCommit(work) => waiters.push(work),
            Msg::Shutdown => return true,
        }
        false
    }
}

/// Deletes log rows older than the retention, hourly, a slice per idle moment.
struct Pruner {
    days: Option<u32>,
    last_run: Option<Instant>,
    cutoff_ms: Option<i64>,
    deleted: u64,
}

impl Pruner {
    fn new(days: Option<u32>) -> Pruner {
        Pruner {
            days,
            last_run: None,
            cutoff_ms: None,
            deleted: 0,
        }
    }

    /// Runs one slice when a pruning run is due or under way; true when it did work.
    fn step(&mut self, db: &Db) -> bool {
        let Some(days) = self.days else { return false };
        if self.cutoff_ms.is_none() {
            if self
                .last_run
                .is_some_and(|t| t.elapsed() < Duration::from_secs(3600))
            {
                return false;
            }
            self.last_run = Some(Instant::now());
            self.cutoff_ms =
                Some(chrono::Utc::now().timestamp_millis() - i64::from(days) * 86_400_000);
        }
        let cutoff = self.cutoff_ms.unwrap_or_default();
        let deleted = db
            .conn()
            .ok()
            .and_then(|conn| logs_write::prune(&conn, cutoff, PRUNE_SLICE).ok())
            .unwrap_or(0);
        self.deleted += deleted as u64;
        if (deleted as i64) < PRUNE_SLICE {
            if self.deleted > 0 {
                tracing::info!(
                    rows = self.deleted,
                    days,
                    "pruned old request log rows (rollups kept)"
                );
            }
            self.cutoff_ms = None;
            self.deleted = 0;
        }
        deleted > 0
    }
}

/// Waits for the records of requests under way to join the batch: while any is
/// expected, until none arrived for `linger.gap` or the batch is `linger.max` old.
/// A lone request (nothing else under way) is committed at once. True when shutdown
/// was asked.
fn wait_for_expected(
    rx: &mut mpsc::Receiver<Msg>,
    batch: &mut Batch,
    waiters: &mut Vec<AfterCommit>,
    stats: &LedgerStats,
    linger: Linger,
) -> bool {
    let started = Instant::now();
    let mut last_arrival = started;
    while batch.records.len() < MAX_BATCH
        && stats.expected.load(Ordering::Relaxed) > 0
        && started.elapsed() < linger.max
        && last_arrival.elapsed() < linger.gap
    {
        match rx.try_recv() {
            Ok(msg) => {
                last_arrival = Instant::now();
                if batch.take(msg, waiters) {
                    return true;
                }
            }
            Err(mpsc::error::TryRecvError::Empty) => std::thread::sleep(LINGER_POLL),
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        }
    }
    false
}

/// Takes what is queued, up to a full batch; true when shutdown was asked.
fn drain(rx: &mut mpsc::Receiver<Msg>, batch: &mut Batch, waiters: &mut Vec<AfterCommit>) -> bool {
    while batch.records.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(msg) => {
                if batch.take(msg, waiters) {
                    return true;
                }
            }
            Err(_) => break,
        }
    }
    false
}

/// Commits `batch`, retrying until it succeeds; false when there was nothing to commit.
fn commit_with_retry(db: &Db, batch: &[LogRecord], stats: &LedgerStats, day_offset_s: i64) -> bool {
    if batch.is_empty() {
        return false;
    }
    let mut backoff = Duration::from_millis(50);
    stats
        .commit_started_ms
        .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    loop {
        let started = Instant::now();
        match commit(db, batch, day_offset_s) {
            Ok(()) => {
                stats.commit_started_ms.store(0, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> LogRecord {
        LogRecord {
            request_id: id.into(),
            start_ms: 1_000,
            end_ms: 1_001,
            model: "m".into(),
            success: true,
            http_status: 200,
            call_type: "acompletion",
            ..LogRecord::default()
        }
    }

    fn patient_ledger(dir: &tempfile::TempDir) -> Ledger {
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        // Long enough that a commit that waited for anything would be plain to see.
        let linger = Linger {
            max: Duration::from_secs(20),
            gap: Duration::from_secs(10),
        };
        Ledger::start_lingering(db, None, 0, Box::new(|_| ()), linger)
    }

    #[actix_web::test]
    async fn a_lone_answer_is_committed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = patient_ledger(&dir);
        let started = Instant::now();
        let own = ledger.expect();
        ledger.commit(record("req_a"), Some(own)).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        ledger.shutdown();
    }

    #[actix_web::test]
    async fn answers_under_way_join_the_commit_that_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = patient_ledger(&dir);
        let (first, second) = (ledger.expect(), ledger.expect());
        let a = ledger.commit(record("req_a"), Some(first));
        // The writer holds req_a while `second` is under way (up to 10 s here).
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(ledger.stats().commits.load(Ordering::Relaxed), 0);
        let b = ledger.commit(record("req_b"), Some(second));
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(ledger.stats().commits.load(Ordering::Relaxed), 1);
        assert_eq!(ledger.stats().written.load(Ordering::Relaxed), 2);
        ledger.shutdown();
    }
}
