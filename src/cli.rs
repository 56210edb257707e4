//! The command line (clap derive). Every flag's `///` line is its `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Tollgate: a self-hosted AI model gateway. One OpenAI-compatible endpoint in front of
/// OpenAI, Anthropic, Gemini and Mistral, with teams, users, virtual keys, budgets,
/// usage analytics, request logs and bill export.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway and the admin pages (http://127.0.0.1:4000 by default).
    Serve {
        /// Configuration file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Also start the built-in provider simulator and route the demo models
        /// (gpt-4o, claude-3-5-sonnet, gemini-pro, mistral-large) to it: the whole
        /// walkthrough works offline, with no provider keys. Replies are marked simulated.
        #[arg(long)]
        demo: bool,
    },
    /// Manage admin accounts (the password is read from standard input).
    Admin {
        /// What to do with the admin account.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Run the provider simulator alone: strict fakes of the OpenAI, Anthropic, Gemini and
    /// Mistral APIs under /openai/v1, /anthropic, /gemini and /mistral/v1 (for demos,
    /// tests and benchmarks). Every provider expects the key `tollgate-simulator-key`.
    MockUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4100")]
        listen: String,
    },
    /// Export usage per day as CSV or JSON: the same file the 导出 dialog and
    /// `GET /usage/export` produce.
    Export {
        /// First day, YYYY-MM-DD (inclusive, at the configured utc_offset).
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: String,
        /// Group rows by: team, user or key.
        #[arg(long)]
        entity: String,
        /// Break down by: daily, daily_with_keys or daily_with_models.
        #[arg(long, default_value = "daily")]
        scope: String,
        /// csv (UTF-8 with BOM, for Excel) or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// File to write; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file (names the database and utc_offset).
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Call every deployment's cheapest endpoint (its model list) along its configured
    /// route and print, per deployment: reachable or not, status, latency, route (direct
    /// or which proxy) and TLS. Nothing is charged. Exits 1 if any check failed.
    CheckProviders {
        /// Configuration file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Route the demo models to the built-in simulator first, as `serve --demo` does.
        #[arg(long)]
        demo: bool,
    },
    /// Write a consistent copy of the database while the gateway keeps running.
    Backup {
        /// File to write the copy to (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Configuration file (names the database).
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
}

/// `tollgate admin …`
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an admin (proxy_admin) account; password from stdin.
    Create {
        /// Login name of the new admin.
        #[arg(long)]
        username: String,
        /// Configuration file (names the database).
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Set a new password for an existing account; password from stdin. Ends its sessions.
    ResetPassword {
        /// Login name of the account.
        #[arg(long)]
        username: String,
        /// Configuration file (names the database).
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
}
