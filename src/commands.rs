//! The subcommands behind `main`: each loads config, then calls the same domain code
//! the pages use.

use std::io::BufRead;
use std::path::Path;

use crate::cli::{AdminAction, Cli, Command};
use crate::config::Config;
use crate::db::Db;
use crate::domain::auth;
use crate::domain::export::{self as bill, ExportParams, ExportRequest};
use crate::proxy::client::{Client, ProxyEnv, Routes};
use crate::proxy::router::Router;
use crate::simulator::{Simulator, SimulatorConfig};
use actix_web::web;

/// A command that failed; the message is printed as `error: …`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

fn err(e: impl std::fmt::Display) -> CommandError {
    CommandError(e.to_string())
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CommandError> {
    init_tracing();
    match cli.command {
        Command::Serve { config, demo } => serve(&config, demo),
        Command::Admin { action } => admin(action),
        Command::Backup { out, config } => backup(&config, &out),
        Command::MockUpstream { listen } => mock_upstream(&listen),
        Command::CheckProviders { config, demo } => check_providers(&config, demo),
        Command::Export {
            from,
            to,
            entity,
            scope,
            format,
            out,
            config,
        } => {
            let params = ExportParams {
                start_date: &from,
                end_date: &to,
                entity: &entity,
                scope: &scope,
                format: &format,
            };
            export(&config, &params, out.as_deref())
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn load(path: &Path) -> Result<Config, CommandError> {
    Config::load(path).map_err(err)
}

/// The config of a command that calls providers: the file (or, for `--demo` without
/// one, the defaults) and the proxy environment this process was started with.
fn provider_config(path: &Path, demo: bool) -> Result<Config, CommandError> {
    let mut config = if demo && !path.exists() {
        Config::for_demo_defaults()
    } else {
        load(path)?
    };
    config.server.proxy_env = ProxyEnv::from_process();
    Ok(config)
}

/// Starts the provider simulator in this process and routes the demo models to it.
fn start_demo_simulator(config: &mut Config) -> Result<std::net::SocketAddr, CommandError> {
    let sim = Simulator::new(SimulatorConfig::default());
    let (addr, server) = sim.bind("127.0.0.1:0").map_err(err)?;
    actix_web::rt::spawn(server);
    crate::demo::route_demo_models(config, addr);
    Ok(addr)
}

fn serve(path: &Path, demo: bool) -> Result<(), CommandError> {
    let mut config = provider_config(path, demo)?;
    config.admin.bootstrap_password = std::env::var("TOLLGATE_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    actix_web::rt::System::new().block_on(async move {
        if demo {
            let addr = start_demo_simulator(&mut config)?;
            eprintln!(
                "Demo mode: {} answer from the built-in simulator at http://{addr} (replies are marked simulated)",
                crate::demo::DEMO_MODELS.join(", ")
            );
        }
        let app = crate::App::build(config).await.map_err(err)?;
        eprintln!(
            "Tollgate listening on http://{}  (admin pages: http://{}/login)",
            app.addr, app.addr
        );
        let state = app.state.clone();
        let result = app.server.await.map_err(err);
        // The server stopped accepting and finished in-flight requests: drain the ledger.
        web::block(move || state.ledger.shutdown()).await.map_err(err)?;
        eprintln!("Tollgate stopped; every recorded request is in the ledger.");
        result
    })
}

fn check_providers(path: &Path, demo: bool) -> Result<(), CommandError> {
    let mut config = provider_config(path, demo)?;
    actix_web::rt::System::new().block_on(async move {
        if demo {
            start_demo_simulator(&mut config)?;
        }
        let routes = Routes::resolve(&config).map_err(err)?;
        let router = Router::new(&config.models, &routes);
        let http = Client::for_routes(&routes).map_err(err)?;
        let checks = router.deployments().map(|(name, d)| {
            let (http, label) = (&http, routes.of_deployment(d.index).1);
            async move { (name, d, crate::proxy::check::check(http, d, label).await) }
        });
        let results = futures_util::future::join_all(checks).await;
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|(name, d, r)| {
                vec![
                    name.to_string(),
                    format!("#{}", d.index + 1),
                    format!("{} {}", d.upstream.provider.as_str(), d.upstream.model_id),
                    if r.ok {
                        "ok".into()
                    } else if r.reachable {
                        "reachable".into()
                    } else {
                        "UNREACHABLE".into()
                    },
                    r.status.map_or("-".into(), |s| s.to_string()),
                    format!("{} ms", r.latency_ms),
                    r.route.to_string(),
                    r.tls.clone(),
                    r.outcome.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            text_table(
                &[
                    "MODEL", "ENTRY", "PROVIDER", "RESULT", "STATUS", "LATENCY", "ROUTE", "TLS",
                    "DETAIL"
                ],
                &rows
            )
        );
        let failed = results.iter().filter(|(_, _, r)| !r.ok).count();
        if failed > 0 {
            return Err(CommandError(format!(
                "{failed} of {} deployments failed the check",
                results.len()
            )));
        }
        Ok(())
    })
}

/// Columns padded to their widest cell, two spaces apart.
fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn mock_upstream(listen: &str) -> Result<(), CommandError> {
    actix_web::rt::System::new().block_on(async move {
        let sim = Simulator::new(SimulatorConfig::default());
        let (addr, server) = sim.bind(listen).map_err(err)?;
        eprintln!(
            "Provider simulator on http://{addr}: /openai/v1, /anthropic, /gemini, /mistral/v1 (key: {})",
            crate::simulator::DEFAULT_API_KEY
        );
        server.await.map_err(err)
    })
}

fn read_password() -> Result<String, CommandError> {
    eprint!("Password (read from stdin): ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(err)?;
    eprintln!();
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn admin(action: AdminAction) -> Result<(), CommandError> {
    match action {
        AdminAction::Create { username, config } => {
            let db = Db::open(&load(&config)?.server.database).map_err(err)?;
            let password = read_password()?;
            let conn = db.conn().map_err(err)?;
            auth::create_admin(&conn, &username, &password, "cli").map_err(err)?;
            println!("Created admin {username}.");
        }
        AdminAction::ResetPassword { username, config } => {
            let db = Db::open(&load(&config)?.server.database).map_err(err)?;
            let password = read_password()?;
            let conn = db.conn().map_err(err)?;
            auth::reset_password(&conn, &username, &password, "cli").map_err(err)?;
            println!("Password of {username} changed; their sessions were ended.");
        }
    }
    Ok(())
}

fn backup(config: &Path, out: &Path) -> Result<(), CommandError> {
    if out.exists() {
        return Err(CommandError(format!(
            "{} already exists; choose a new file",
            out.display()
        )));
    }
    let db = Db::open(&load(config)?.server.database).map_err(err)?;
    db.backup_to(out).map_err(err)?;
    println!("Backup written to {}.", out.display());
    Ok(())
}

fn export(
    config: &Path,
    params: &ExportParams<'_>,
    out: Option<&Path>,
) -> Result<(), CommandError> {
    let config = load(config)?;
    let request = ExportRequest::parse(params, config.server.max_report_days).map_err(err)?;
    let db = Db::open(&config.server.database).map_err(err)?;
    let conn = db.conn().map_err(err)?;
    let file = bill::export(&conn, &request, config.server.utc_offset).map_err(err)?;
    match out {
        Some(path) => {
            std::fs::write(path, &file.body)
                .map_err(|e| CommandError(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("Wrote {} ({} bytes).", path.display(), file.body.len());
        }
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&file.body).map_err(err)?;
            stdout.flush().map_err(err)?;
        }
    }
    Ok(())
}
