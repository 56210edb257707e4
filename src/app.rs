//! Composition: builds the shared [`AppState`], binds the listener and lists every
//! route of the application in one place.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, HttpResponse, HttpServer};

use crate::config::Config;
use crate::db::Db;
use crate::domain::auth;
use crate::domain::directory::{Directory, Snapshot};
use crate::domain::reservations::Budgets;
use crate::error::AppError;
use crate::ledger::Ledger;
use crate::proxy::client::Routes;
use crate::proxy::limits::RateLimits;
use crate::proxy::router::Router;

/// State shared by every handler.
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The database pool.
    pub db: Db,
    /// In-memory keys, users and teams (the proxy never reads them from SQLite).
    pub directory: Arc<Directory>,
    /// Budget counters and reservations.
    pub budgets: Arc<Budgets>,
    /// The single ledger writer.
    pub ledger: Ledger,
    /// Model name → deployments.
    pub router: Router,
    /// The ways out to the providers (direct, proxies, extra CAs).
    pub routes: Arc<Routes>,
    /// rpm/tpm windows of keys and teams.
    pub rate_limits: RateLimits,
    /// Process start, unix seconds (the `created` of `/models`).
    pub started_at: i64,
    /// Prometheus counters and histograms.
    pub metrics: crate::metrics::Metrics,
    /// The address the server is bound to (the key debugger calls the proxy through it).
    pub local_addr: SocketAddr,
}

impl AppState {
    /// Runs an admin write to users, teams, keys or their limits (create, update,
    /// delete, block, unblock, regenerate) on the blocking pool and, when it succeeds,
    /// refreshes the proxy's in-memory view of those tables so the change applies to
    /// the very next request. Every such write goes through here, so no caller can
    /// forget the refresh.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<crate::db::DbError> + Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, E> + Send + 'static,
    {
        let value = self.db.run(f).await?;
        self.entities_changed().await?;
        Ok(value)
    }

    /// Refreshes the in-memory view of users, teams and keys (see [`AppState::write`]);
    /// called directly only at start and after writes made outside the gateway.
    ///
    /// The refresh runs on the ledger's thread between two commits: refreshes apply
    /// one at a time, each reading the tables as they are then, and budgets that must
    /// be recounted from the database are recounted where the database and the charges
    /// not yet written add up exactly (see `Budgets::seed_from_db`).
    pub async fn entities_changed(&self) -> Result<(), crate::db::DbError> {
        let directory = self.directory.clone();
        let budgets = self.budgets.clone();
        let refresh = move |db: &crate::db::Db| {
            let conn = db.conn()?;
            let snapshot = Snapshot::read(&conn)?;
            budgets.seed_from_db(&conn, &snapshot, chrono::Utc::now())?;
            directory.replace(snapshot);
            Ok::<_, crate::db::DbError>(())
        };
        match self.ledger.after_commit(refresh).await {
            Some(done) => done,
            None => Err(crate::db::DbError::LedgerStopped),
        }
    }
}

/// A bound, not yet running server.
pub struct App {
    /// The address actually bound (port 0 resolved).
    pub addr: SocketAddr,
    /// Run or spawn this.
    pub server: Server,
    /// Shared state (tests inspect it).
    pub state: web::Data<AppState>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database unusable.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// First-start admin could not be created.
    #[error("cannot create the first admin: {0}")]
    Admin(crate::domain::DomainError),
    /// A proxy or CA file of the config cannot be used.
    #[error("{0}")]
    Outbound(String),
    /// Port in use, permission denied …
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Configured address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
}

impl App {
    /// Opens the database, creates the first admin if needed, and binds the listener.
    /// A generated admin password is printed once to stderr.
    pub async fn build(config: Config) -> Result<App, StartError> {
        install_tls_provider();
        let routes = Routes::resolve(&config).map_err(StartError::Outbound)?;
        // Built once here so a route that cannot start fails the start, before binding.
        crate::proxy::Client::for_routes(&routes)
            .map_err(|e| StartError::Outbound(e.to_string()))?;
        let db = Db::open(&config.server.database)?;
        let username = config.admin.username.clone();
        let password = config.admin.bootstrap_password.clone();
        let generated = db
            .run(move |c| auth::bootstrap_admin(c, &username, password.as_deref()))
            .await
            .map_err(StartError::Admin)?;
        if let Some(pw) = generated {
            eprintln!(
                "Created admin user \"{}\" with generated password: {pw}\n\
                 (set TOLLGATE_ADMIN_PASSWORD before the first start to choose it; this is shown only once)",
                config.admin.username
            );
        }
        let addr = config.server.listen;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let budgets = Arc::new(Budgets::new(
            config.server.utc_offset,
            config.server.budget_enforcement,
        ));
        let retention = config.server.log_retention_days;
        let offset_s = config.server.utc_offset.seconds;
        sync_daily_rollups(&db, offset_s).await?;
        let state = web::Data::new(AppState {
            router: Router::new(&config.models, &routes),
            routes: Arc::new(routes),
            config: Arc::new(config),
            ledger: Ledger::start(db.clone(), retention, i64::from(offset_s), {
                let budgets = budgets.clone();
                Box::new(move |batch| budgets.recorded(batch.iter().map(|r| r.charge)))
            }),
            db,
            directory: Arc::new(Directory::default()),
            budgets,
            rate_limits: RateLimits::default(),
            started_at: chrono::Utc::now().timestamp(),
            local_addr: addr,
            metrics: crate::metrics::Metrics::default(),
        });
        state.entities_changed().await?;
        let server =
            serve(listener, state.clone()).map_err(|source| StartError::Bind { addr, source })?;
        Ok(App {
            addr,
            server,
            state,
        })
    }
}

/// Selects rustls' crypto provider (ring) once per process, before the provider client
/// builds its TLS configuration. Installing twice is harmless, so the error is ignored.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Brings the daily rollups in line with the configured offset before the ledger starts.
async fn sync_daily_rollups(db: &Db, offset_s: i32) -> Result<(), StartError> {
    let rebuilt = db
        .run(move |c| {
            crate::db::rollups::sync_daily(c, i64::from(offset_s)).map_err(crate::db::DbError::from)
        })
        .await?;
    if rebuilt {
        tracing::info!(
            offset_s,
            "rebuilt daily usage rollups for the configured utc_offset"
        );
    }
    Ok(())
}

fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let workers = state.config.server.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let body_limit = state.config.server.max_body_bytes;
    let server = HttpServer::new(move || {
        let providers = crate::proxy::Client::for_routes(&state.routes)
            .unwrap_or_else(|_| crate::proxy::Client::new());
        let cors = std::rc::Rc::new(crate::proxy::cors::CorsPolicy::new(
            &state.config.server.cors_origins,
        ));
        actix_web::App::new()
            .wrap_fn(crate::web::security_headers::add)
            .wrap_fn(move |req, next| cors.handle(req, next))
            .app_data(state.clone())
            .app_data(web::Data::new(providers))
            .app_data(web::Data::new(page_client()))
            .app_data(json_config(body_limit))
            .app_data(form_config())
            .app_data(query_config())
            .app_data(web::PayloadConfig::new(body_limit))
            .configure(routes)
            .default_service(web::to(unknown_path))
    })
    .workers(workers)
    // Without TCP_NODELAY a stream's last event (written once its ledger row is
    // committed) waits in Nagle's buffer for the client's delayed ACK: 20-40 ms a stream.
    .tcp_nodelay(true)
    .shutdown_timeout(30)
    .listen(listener)?
    .run();
    Ok(server)
}

/// The general HTTP client of the admin pages (the key debugger calls the gateway's own
/// endpoint with it); provider calls use `proxy::Client`.
fn page_client() -> awc::Client {
    let connector = awc::Connector::new()
        .limit(0)
        .conn_keep_alive(std::time::Duration::from_secs(90))
        .timeout(std::time::Duration::from_secs(10));
    awc::Client::builder()
        .disable_timeout()
        .disable_redirects()
        .connector(connector)
        .finish()
}

/// Every URL of the application.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/liveliness", web::get().to(liveliness))
        .route("/health/readiness", web::get().to(readiness))
        .route("/metrics", web::get().to(metrics))
        .route("/static/app.css", web::get().to(app_css))
        .route("/static/app.js", web::get().to(app_js));
    crate::proxy::handler::routes(cfg);
    crate::proxy::doors::messages::routes(cfg);
    crate::proxy::doors::responses::routes(cfg);
    crate::proxy::doors::embeddings::routes(cfg);
    crate::proxy::doors::rerank::routes(cfg);
    crate::web::routes(cfg);
    crate::api::routes(cfg);
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _| AppError::invalid(format!("invalid JSON body: {err}"), None).into())
}

fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _| {
            crate::error::PageError::BadRequest(format!("表单无效 / invalid form: {err}")).into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        AppError::invalid(format!("invalid query parameters: {err}"), None).into()
    })
}

async fn liveliness() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "healthy"}))
}

/// Ready when the ledger admits requests (its commits succeed and none is stalled on a
/// locked or full database) and the database answers within two seconds.
async fn readiness(state: web::Data<AppState>) -> HttpResponse {
    if !state.ledger.accepting() {
        return HttpResponse::ServiceUnavailable().json(serde_json::json!(
            {"status": "unhealthy", "db": "connected", "ledger": "cannot record requests (database locked, full or not writable)"}
        ));
    }
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await;
    match ping.unwrap_or(Err(crate::db::DbError::Blocking)) {
        Ok(()) => {
            HttpResponse::Ok().json(serde_json::json!({"status": "healthy", "db": "connected"}))
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "unhealthy", "db": "unavailable"}))
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let path = state.config.server.database.clone();
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let stats = state.ledger.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let gauges = crate::metrics::Gauges {
        ledger_queue_depth: state.ledger.queue_depth(),
        ledger_written: load(&stats.written),
        ledger_commits: load(&stats.commits),
        ledger_failures: load(&stats.failures),
        ledger_last_commit_us: load(&stats.last_commit_us),
        ledger_commit_us_total: load(&stats.commit_us_total),
        database_bytes: size(&path) + size(std::path::Path::new(&wal)),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&gauges))
}

async fn app_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../static/app.css"))
}

async fn app_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../static/app.js"))
}

/// The doors' paths that only take POST: another method on them answers 405.
const POST_ONLY_PATHS: &[&str] = &[
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/embeddings",
    "/embeddings",
    "/v1/rerank",
    "/rerank",
    "/v1/messages",
    "/v1/messages/count_tokens",
];

/// Any path no route serves: 404 naming the method and path — in Anthropic's error
/// format under the Messages paths, as an HTML page for a browser on an admin path,
/// and in OpenAI's format everywhere else — never an empty body. A
/// door's path with another method than POST answers 405.
async fn unknown_path(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    let what = format!(
        "{} {}",
        req.method(),
        crate::proxy::admission::printable(req.path())
    );
    let path = req.path();
    let messages_door = path.starts_with("/v1/messages") || path.starts_with("/messages");
    if POST_ONLY_PATHS.contains(&path) {
        let e = AppError::MethodNotAllowed(format!(
            "Method not allowed ({what}): this path takes POST"
        ));
        let mut resp = if messages_door {
            crate::proxy::doors::messages::error_response(&e)
        } else {
            actix_web::ResponseError::error_response(&e)
        };
        resp.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static("POST"),
        );
        return resp;
    }
    if messages_door {
        let e = AppError::NotFound(format!("Not found: {what}"));
        return crate::proxy::doors::messages::error_response(&e);
    }
    let browser = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser && !crate::proxy::cors::is_proxy_path(path) {
        return actix_web::ResponseError::error_response(&crate::error::PageError::NotFound(what));
    }
    let e = AppError::UnknownUrl(format!(
        "Invalid URL ({what}): this gateway serves /v1/chat/completions, /v1/responses, /v1/messages, /v1/embeddings, /v1/rerank and /v1/models"
    ));
    actix_web::ResponseError::error_response(&e)
}
