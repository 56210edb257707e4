//! `config.toml`: serde structs with defaults in code, `env:VAR` secrets, and load
//! errors that name the file, line and field. Cross-field checks live in `validate`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::proxy::client::route::ProxyUrl;
use crate::proxy::client::ProxyEnv;
use crate::proxy::ProviderKind;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`
    #[serde(default)]
    pub server: ServerConfig,
    /// `[admin]`
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[[models]]`: one entry per deployment; entries sharing a `name` are balanced.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(deserialize_with = "de_socket_addr")]
    pub listen: SocketAddr,
    /// SQLite file; relative paths are relative to the config file's folder.
    pub database: PathBuf,
    /// Bearer token for the management API.
    pub master_key: Option<Secret>,
    /// Offset used for day/week/month boundaries of budgets and reports.
    pub utc_offset: UtcOffset,
    /// Keep request/response bodies (truncated) in the request log.
    pub store_bodies: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// A proxied request's body must arrive within this many seconds (else 408).
    pub body_timeout_s: u64,
    /// `strict` reserves worst-case cost before calling a provider; `soft` only checks spend.
    pub budget_enforcement: BudgetEnforcement,
    /// HTTP status for a spent budget (LiteLLM answers 400).
    pub budget_exceeded_status: u16,
    /// Log rows older than this many days may be pruned (rollups are kept). None = keep.
    pub log_retention_days: Option<u32>,
    /// Longest date range accepted by usage pages and exports.
    pub max_report_days: u32,
    /// How long an admin page session lasts.
    pub session_hours: u32,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Proxy for every provider call (`http://`, `https://`, `socks5://`; credentials
    /// allowed, `env:VAR` too). A deployment's `proxy` overrides it.
    pub outbound_proxy: Option<Secret>,
    /// PEM certificates trusted for provider calls besides the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Browser origins allowed to call the proxy doors (CORS): a list, or `"*"`.
    /// Default none. Never applied to the admin pages or the management API.
    #[serde(deserialize_with = "de_origins")]
    pub cors_origins: Vec<String>,
    /// `HTTPS_PROXY` & co., used when neither `proxy` nor `outbound_proxy` is set;
    /// filled by the CLI from the process environment, never read from the file.
    #[serde(skip)]
    pub proxy_env: ProxyEnv,
}

/// `cors_origins`: `"*"` or a list of `scheme://host[:port]` origins.
fn de_origins<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Origins {
        One(String),
        Many(Vec<String>),
    }
    let list = match Origins::deserialize(d)? {
        Origins::One(o) => vec![o],
        Origins::Many(list) => list,
    };
    for o in &list {
        let shaped = o == "*"
            || ((o.starts_with("http://") || o.starts_with("https://"))
                && !o
                    .trim_end_matches('/')
                    .split("://")
                    .nth(1)
                    .unwrap_or("")
                    .contains('/'));
        if !shaped {
            return Err(serde::de::Error::custom(format!(
                "cors_origins: `{o}` is not an origin (scheme://host[:port], or \"*\")"
            )));
        }
    }
    Ok(list
        .into_iter()
        .map(|o| o.trim_end_matches('/').to_string())
        .collect())
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            database: PathBuf::from("tollgate.db"),
            master_key: None,
            utc_offset: UtcOffset::default(),
            store_bodies: true,
            max_body_bytes: 4 * 1024 * 1024,
            body_timeout_s: 30,
            budget_enforcement: BudgetEnforcement::Strict,
            budget_exceeded_status: 400,
            log_retention_days: None,
            max_report_days: 400,
            session_hours: 12,
            workers: None,
            outbound_proxy: None,
            ca_file: None,
            cors_origins: Vec::new(),
            proxy_env: ProxyEnv::default(),
        }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The admin created on first start (password from `TOLLGATE_ADMIN_PASSWORD`).
    pub username: String,
    /// First-start password, filled from `TOLLGATE_ADMIN_PASSWORD` by the CLI (never
    /// read from the file, so it cannot end up committed in config.toml).
    #[serde(skip)]
    pub bootstrap_password: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            username: "admin".to_string(),
            bootstrap_password: None,
        }
    }
}

/// One `[[models]]` entry: a deployment of a client-facing model name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What clients put in `"model"`: the canonical name (key model lists use it).
    pub name: String,
    /// More names that route exactly like `name` (e.g. Claude Code's dated ids).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// What the model does: `chat` (default), `embedding` or `rerank`.
    #[serde(default)]
    pub kind: ModelKind,
    /// Wire format of the upstream.
    pub provider: ProviderKind,
    /// The provider's own model id.
    pub model: String,
    /// Upstream base URL; defaults to the provider's public API.
    pub api_base: Option<String>,
    /// Provider API key (`env:VAR` or literal). Missing = clear error at request time.
    pub api_key: Option<Secret>,
    /// USD per million prompt tokens (default: built-in table).
    pub input_cost_per_mtok: Option<f64>,
    /// USD per million completion tokens (default: built-in table).
    pub output_cost_per_mtok: Option<f64>,
    /// USD per million cached prompt tokens read.
    pub cache_read_cost_per_mtok: Option<f64>,
    /// USD per million prompt tokens written to a cache (Anthropic).
    pub cache_write_cost_per_mtok: Option<f64>,
    /// Largest completion the model can produce (used for budget reservations).
    pub max_output_tokens: Option<u32>,
    /// Per-attempt timeout in seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Extra attempts on other deployments after a retryable failure.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Requests per minute allowed on this deployment.
    pub rpm: Option<u32>,
    /// Tokens per minute allowed on this deployment.
    pub tpm: Option<u64>,
    /// Proxy for this deployment (overrides `[server] outbound_proxy`); `"none"` = direct.
    pub proxy: Option<Secret>,
    /// PEM certificates trusted for this deployment, besides the built-in roots and
    /// `[server] ca_file`.
    pub ca_file: Option<PathBuf>,
    /// Rerank models of `openai_compatible`: the server's request shape.
    #[serde(default)]
    pub rerank_format: RerankFormat,
    /// USD per request (rerank priced per call, e.g. Cohere's per search); added to any
    /// per-token price.
    pub cost_per_request: Option<f64>,
}

/// The rerank request shape of an `openai_compatible` server (SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RerankFormat {
    /// Jina, SiliconFlow, vLLM, Xinference: `{api_base}/rerank` with `documents`.
    #[default]
    Jina,
    /// Hugging Face TEI: `{api_base}/rerank` with `texts`, a bare `[{index, score}]`.
    Tei,
}

/// A model's kind: which door may call it (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Chat Completions, Messages, Responses.
    #[default]
    Chat,
    /// Embeddings.
    Embedding,
    /// Rerank.
    Rerank,
}

impl ModelKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
            ModelKind::Rerank => "rerank",
        }
    }
}

fn default_timeout_s() -> u64 {
    600
}

fn default_max_retries() -> u32 {
    2
}

/// Which providers serve which kind (SPEC §9, §12): a model the provider cannot serve
/// as its kind stops the start rather than failing every call.
fn check_kind(m: &ModelConfig) -> Result<(), String> {
    use ProviderKind as P;
    let fits = match m.kind {
        ModelKind::Chat => m.provider != P::Cohere,
        ModelKind::Embedding => matches!(
            m.provider,
            P::OpenAi | P::OpenAiCompatible | P::Mistral | P::Gemini
        ),
        ModelKind::Rerank => matches!(m.provider, P::Cohere | P::OpenAiCompatible),
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "provider {} cannot serve a model of kind {} (embedding: openai, openai_compatible, mistral, gemini; rerank: cohere, openai_compatible; cohere: rerank only)",
            m.provider.as_str(),
            m.kind.as_str()
        ))
    }
}

impl ModelConfig {
    /// A deployment of `provider`'s `model` under `name`, every other field at the
    /// value config.toml would give it (tests and the demo fill in the rest).
    pub fn new(name: &str, provider: ProviderKind, model: &str) -> ModelConfig {
        ModelConfig {
            name: name.to_string(),
            aliases: Vec::new(),
            kind: ModelKind::Chat,
            provider,
            model: model.to_string(),
            api_base: None,
            api_key: None,
            input_cost_per_mtok: None,
            output_cost_per_mtok: None,
            cache_read_cost_per_mtok: None,
            cache_write_cost_per_mtok: None,
            max_output_tokens: None,
            timeout_s: default_timeout_s(),
            max_retries: default_max_retries(),
            rpm: None,
            tpm: None,
            proxy: None,
            ca_file: None,
            rerank_format: RerankFormat::Jina,
            cost_per_request: None,
        }
    }

    /// The base URL to call: configured, or the provider's public endpoint.
    pub fn api_base(&self) -> String {
        let base = self.api_base.clone().unwrap_or_else(|| {
            match self.provider {
                ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                    "https://api.openai.com/v1"
                }
                ProviderKind::Anthropic => "https://api.anthropic.com",
                ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
                ProviderKind::Mistral => "https://api.mistral.ai/v1",
                ProviderKind::Cohere => "https://api.cohere.com",
            }
            .to_string()
        });
        base.trim_end_matches('/').to_string()
    }
}

/// A secret value: `env:VAR` is read from the environment at load. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: Option<String>,
    source: String,
}

impl Secret {
    /// A literal secret (tests, CLI).
    pub fn literal(value: &str) -> Secret {
        Secret {
            value: Some(value.to_string()),
            source: "literal".to_string(),
        }
    }

    /// The resolved value; `None` when `env:VAR` named an unset or empty variable.
    pub fn expose(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Where the value came from (`env:VAR` or `literal`), safe to show.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}, ***)", self.source)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if let Some(var) = raw.strip_prefix("env:") {
            if var.is_empty() {
                return Err(serde::de::Error::custom("`env:` needs a variable name"));
            }
            let value = std::env::var(var).ok().filter(|v| !v.is_empty());
            return Ok(Secret {
                value,
                source: raw.clone(),
            });
        }
        Ok(Secret {
            value: Some(raw).filter(|v| !v.is_empty()),
            source: "literal".to_string(),
        })
    }
}

/// Offset from UTC in whole hours, `+08:00` style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UtcOffset {
    /// Seconds east of UTC (a multiple of 3600).
    pub seconds: i32,
}

impl UtcOffset {
    /// Parses `+08:00`, `-05:00`, `+00:00`, `Z`. Only whole hours: rollups are hourly,
    /// so any other offset would make day totals inexact.
    pub fn parse(text: &str) -> Result<UtcOffset, String> {
        let bad = || format!("`{text}` is not an offset like \"+08:00\" (whole hours, -12..+14)");
        if text == "Z" || text == "UTC" {
            return Ok(UtcOffset { seconds: 0 });
        }
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(bad)?;
        let hours: i32 = h.parse().map_err(|_| bad())?;
        if h.len() != 2 || m != "00" || hours > 14 || (sign < 0 && hours > 12) {
            return Err(bad());
        }
        Ok(UtcOffset {
            seconds: sign * hours * 3600,
        })
    }

    /// The chrono offset.
    pub fn fixed(self) -> chrono::FixedOffset {
        chrono::FixedOffset::east_opt(self.seconds)
            .unwrap_or(chrono::FixedOffset::east_opt(0).expect("zero offset is valid"))
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        UtcOffset::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// How budgets are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BudgetEnforcement {
    /// Reserve worst-case cost before the call; a budget is never exceeded.
    #[default]
    Strict,
    /// Only refuse once spend has reached the budget (LiteLLM's behaviour).
    Soft,
}

fn de_socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let raw = String::deserialize(d)?;
    let raw = raw.replace("localhost", "127.0.0.1");
    raw.parse().map_err(|_| {
        serde::de::Error::custom(format!("`{raw}` is not an address like \"127.0.0.1:4000\""))
    })
}

/// A configuration that could not be loaded; the message names file, line and field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads and validates `path`. Relative database paths resolve against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        let mut config = Config::parse(&text, path)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let relative = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        relative(&mut config.server.database);
        config.server.ca_file.iter_mut().for_each(relative);
        for m in &mut config.models {
            m.ca_file.iter_mut().for_each(relative);
        }
        Ok(config)
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .map(|l| format!(", line {l}"))
                .unwrap_or_default();
            ConfigError(format!("{}{line}: {}", path.display(), e.message().trim()))
        })?;
        config.validate(text, path)?;
        Ok(config)
    }

    /// Cross-field checks that serde cannot express.
    pub fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let status = self.server.budget_exceeded_status;
        if !(400..=499).contains(&status) {
            return Err(ConfigError(format!(
                "{}{}: server.budget_exceeded_status must be a 4xx status, got {status}",
                path.display(),
                line_of(text, "budget_exceeded_status")
            )));
        }
        if let Some(raw) = self.server.outbound_proxy.as_ref().and_then(Secret::expose) {
            ProxyUrl::parse(raw).map_err(|e| {
                ConfigError(format!(
                    "{}{}: server.outbound_proxy {e}",
                    path.display(),
                    line_of(text, "outbound_proxy")
                ))
            })?;
        }
        self.check_names_unique(text, path)?;
        for (i, m) in self.models.iter().enumerate() {
            let at = || {
                format!(
                    "{}{}: [[models]] #{} (name = \"{}\")",
                    path.display(),
                    nth_models_line(text, i),
                    i + 1,
                    m.name
                )
            };
            if m.name.trim().is_empty() || m.model.trim().is_empty() {
                return Err(ConfigError(format!(
                    "{}: `name` and `model` must not be empty",
                    at()
                )));
            }
            if m.provider == ProviderKind::OpenAiCompatible && m.api_base.is_none() {
                return Err(ConfigError(format!(
                    "{}: `api_base` is required for provider openai_compatible",
                    at()
                )));
            }
            if let Some(base) = &m.api_base {
                if !(base.starts_with("http://") || base.starts_with("https://")) {
                    return Err(ConfigError(format!(
                        "{}: `api_base` must start with http:// or https://",
                        at()
                    )));
                }
            }
            check_kind(m).map_err(|why| ConfigError(format!("{}: {why}", at())))?;
            if let Some(first) = self
                .models
                .iter()
                .find(|o| o.name == m.name && o.kind != m.kind)
            {
                return Err(ConfigError(format!(
                    "{}: deployments of one name must share its kind (another is {})",
                    at(),
                    first.kind.as_str()
                )));
            }
            if m.cost_per_request
                .is_some_and(|v| !v.is_finite() || !(0.0..=1_000.0).contains(&v))
            {
                return Err(ConfigError(format!(
                    "{}: `cost_per_request` must be a price between 0 and 1000 USD",
                    at()
                )));
            }
            for (field, v) in [
                ("input_cost_per_mtok", m.input_cost_per_mtok),
                ("output_cost_per_mtok", m.output_cost_per_mtok),
                ("cache_read_cost_per_mtok", m.cache_read_cost_per_mtok),
                ("cache_write_cost_per_mtok", m.cache_write_cost_per_mtok),
            ] {
                if v.is_some_and(|v| !v.is_finite() || !(0.0..=1_000_000.0).contains(&v)) {
                    return Err(ConfigError(format!(
                        "{}: `{field}` must be a price between 0 and 1000000",
                        at()
                    )));
                }
            }
            if let Some(raw) = m.proxy.as_ref().and_then(Secret::expose) {
                if !raw.trim().eq_ignore_ascii_case("none") {
                    ProxyUrl::parse(raw)
                        .map_err(|e| ConfigError(format!("{}: `proxy` {e}", at())))?;
                }
            }
            if m.timeout_s == 0 {
                return Err(ConfigError(format!(
                    "{}: `timeout_s` must be at least 1",
                    at()
                )));
            }
        }
        Ok(())
    }

    /// Names and aliases are unique across the config: an alias may not repeat a name,
    /// and entries sharing a `name` (deployments) must list the same aliases or none.
    fn check_names_unique(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let mut owner: std::collections::HashMap<&str, (usize, &str)> = Default::default();
        for (i, m) in self.models.iter().enumerate() {
            let names = std::iter::once((m.name.as_str(), true))
                .chain(m.aliases.iter().map(|a| (a.as_str(), false)));
            for (name, canonical) in names {
                match owner.get(name) {
                    Some((_, group)) if *group == m.name && canonical => {}
                    Some((_, group)) if *group == m.name => {}
                    Some((j, group)) => {
                        return Err(ConfigError(format!(
                            "{}{}: [[models]] #{} (name = \"{}\"): `{name}` is already the name or an alias of [[models]] #{} (name = \"{group}\"); names and aliases must be unique",
                            path.display(),
                            nth_models_line(text, i),
                            i + 1,
                            m.name,
                            j + 1
                        )))
                    }
                    None => {
                        owner.insert(name, (i, m.name.as_str()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Defaults used by `serve --demo` when no config file exists.
    pub fn for_demo_defaults() -> Config {
        Config {
            server: ServerConfig::default(),
            admin: AdminConfig::default(),
            models: Vec::new(),
        }
    }

    /// A configuration for tests: a database path, an ephemeral port, no models.
    pub fn for_test(database: PathBuf) -> Config {
        Config {
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                database,
                workers: Some(1),
                ..ServerConfig::default()
            },
            admin: AdminConfig::default(),
            models: Vec::new(),
        }
    }
}

fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map(|i| format!(", line {}", i + 1))
        .unwrap_or_default()
}

fn nth_models_line(text: &str, n: usize) -> String {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[models]]"))
        .nth(n)
        .map(|(i, _)| format!(", line {}", i + 1))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("config.toml"))
    }

    #[test]
    fn defaults_fill_an_empty_file() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.server.listen.port(), 4000);
        assert_eq!(c.admin.username, "admin");
        assert_eq!(c.server.budget_enforcement, BudgetEnforcement::Strict);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err =
            parse("[server]\nlisten = \"127.0.0.1:4000\"\nutc_offset = \"+8\"\n").unwrap_err();
        assert!(err.0.contains("config.toml, line 3"), "{}", err.0);
        assert!(err.0.contains("+8"), "{}", err.0);
        let err = parse("[server]\nlistne = \"x\"\n").unwrap_err();
        assert!(
            err.0.contains("line 2") && err.0.contains("listne"),
            "{}",
            err.0
        );
        let err =
            parse("[[models]]\nname = \"a\"\nprovider = \"openai_compatible\"\nmodel = \"m\"\n")
                .unwrap_err();
        assert!(
            err.0.contains("line 1") && err.0.contains("api_base"),
            "{}",
            err.0
        );
        let err =
            parse("[[models]]\nname = \"a\"\nprovider = \"nope\"\nmodel = \"m\"\n").unwrap_err();
        assert!(err.0.contains("line 3"), "{}", err.0);
    }

    #[test]
    fn secrets_resolve_env_and_never_print() {
        std::env::set_var("TOLLGATE_TEST_SECRET_X", "s3cret");
        let c = parse("[server]\nmaster_key = \"env:TOLLGATE_TEST_SECRET_X\"\n").expect("valid");
        let key = c.server.master_key.expect("set");
        assert_eq!(key.expose(), Some("s3cret"));
        assert!(!format!("{key:?}").contains("s3cret"));
        let c = parse("[server]\nmaster_key = \"env:TOLLGATE_TEST_UNSET_Y\"\n").expect("valid");
        assert_eq!(c.server.master_key.expect("set").expose(), None);
    }

    #[test]
    fn names_and_aliases_must_be_unique() {
        let entry = |name: &str, aliases: &str| {
            format!("[[models]]\nname = \"{name}\"\naliases = [{aliases}]\nprovider = \"openai\"\nmodel = \"m\"\n")
        };
        let ok = format!("{}{}", entry("a", "\"a-1\""), entry("a", "\"a-1\""));
        assert!(parse(&ok).is_ok(), "deployments of one name share aliases");
        let clash = format!("{}{}", entry("a", "\"shared\""), entry("b", "\"shared\""));
        let err = parse(&clash).unwrap_err();
        assert!(
            err.0.contains("line 6")
                && err.0.contains("`shared`")
                && err.0.contains("name = \"a\""),
            "{}",
            err.0
        );
        let alias_is_name = format!("{}{}", entry("a", ""), entry("b", "\"a\""));
        assert!(parse(&alias_is_name).is_err());
    }

    #[test]
    fn offsets_are_whole_hours() {
        assert_eq!(
            UtcOffset::parse("+08:00"),
            Ok(UtcOffset { seconds: 8 * 3600 })
        );
        assert_eq!(
            UtcOffset::parse("-05:00"),
            Ok(UtcOffset { seconds: -5 * 3600 })
        );
        assert!(UtcOffset::parse("+05:30").is_err());
        assert!(UtcOffset::parse("08:00").is_err());
    }
}
