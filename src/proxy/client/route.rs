//! Routes: how each deployment reaches its provider — directly or through one proxy
//! (`http://`, `https://`, `socks5://`), trusting the built-in roots plus any `ca_file`s.
//! Resolved once at start from the config (SPEC §13): a deployment's `proxy` (or
//! `"none"`), else `[server] outbound_proxy`, else the standard proxy environment
//! variables with `NO_PROXY` (matched by hyper-util, as curl does). Deployments with the
//! same proxy and CAs share a route, and so a connection pool.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Serialize;

use crate::config::{Config, ModelConfig};

/// Index of a route in [`Routes`]; `RouteId::DIRECT` is always the plain direct route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteId(pub usize);

impl RouteId {
    /// Direct, built-in roots only.
    pub const DIRECT: RouteId = RouteId(0);
}

/// A proxy URL. It may carry credentials: `Display` and `Debug` mask them, and only
/// the client builder sees [`ProxyUrl::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    raw: String,
    shown: String,
    secrets: Vec<String>,
}

impl ProxyUrl {
    /// Parses `http://`, `https://`, `socks5://` or `socks5h://` URLs, with optional
    /// `user:password@`.
    pub fn parse(raw: &str) -> Result<ProxyUrl, String> {
        let url = reqwest::Url::parse(raw.trim()).map_err(|_| {
            "is not a proxy URL like \"http://proxy.example.com:3128\" or \"socks5://127.0.0.1:1080\""
                .to_string()
        })?;
        if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
            return Err(format!(
                "has the scheme `{}`; a proxy is http://, https://, socks5:// or socks5h://",
                url.scheme()
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("names no host")?;
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let user = url.username();
        let password = url.password().unwrap_or_default();
        let masked = if user.is_empty() && password.is_empty() {
            String::new()
        } else {
            "***@".to_string()
        };
        let secrets = [user, password]
            .into_iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| [s.to_string(), percent_decode(s)])
            .collect();
        Ok(ProxyUrl {
            raw: raw.trim().to_string(),
            shown: format!("{}://{masked}{host}{port}", url.scheme()),
            secrets,
        })
    }

    /// The URL with its credentials, for the HTTP client only.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.shown)
    }
}

/// The standard proxy variables, read once from the process environment by the CLI
/// (tests set them in code: the environment is shared by every test thread).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `HTTPS_PROXY` / `https_proxy`
    pub https: Option<String>,
    /// `HTTP_PROXY` / `http_proxy`
    pub http: Option<String>,
    /// `ALL_PROXY` / `all_proxy`
    pub all: Option<String>,
    /// `NO_PROXY` / `no_proxy`
    pub no: Option<String>,
}

impl ProxyEnv {
    /// The variables as this process was started with them (upper case first).
    pub fn from_process() -> ProxyEnv {
        let var = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok())
                .filter(|v| !v.trim().is_empty())
        };
        ProxyEnv {
            https: var(["HTTPS_PROXY", "https_proxy"]),
            http: var(["HTTP_PROXY", "http_proxy"]),
            all: var(["ALL_PROXY", "all_proxy"]),
            no: var(["NO_PROXY", "no_proxy"]),
        }
    }

    /// The variable that applies to `api_base`, unless `NO_PROXY` exempts it: its
    /// name and value.
    fn for_base(&self, api_base: &str) -> Result<Option<(&'static str, &str)>, &'static str> {
        let https = api_base.starts_with("https://");
        let candidate = if https {
            self.https.as_deref().map(|v| ("HTTPS_PROXY", v))
        } else {
            self.http.as_deref().map(|v| ("HTTP_PROXY", v))
        }
        .or_else(|| self.all.as_deref().map(|v| ("ALL_PROXY", v)));
        let Some((name, value)) = candidate else {
            return Ok(None);
        };
        let Ok(uri) = api_base.parse::<http::Uri>() else {
            return Ok(Some((name, value)));
        };
        let matcher = hyper_util::client::proxy::matcher::Matcher::builder()
            .http(value)
            .https(value)
            .no(self.no.clone().unwrap_or_default())
            .build();
        match matcher.intercept(&uri) {
            Some(_) => Ok(Some((name, value))),
            None => Err("NO_PROXY"),
        }
    }
}

impl fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| match v.as_deref().map(ProxyUrl::parse) {
            Some(Ok(u)) => u.to_string(),
            Some(Err(_)) => "(unparsable)".into(),
            None => "-".into(),
        };
        write!(
            f,
            "ProxyEnv(https={}, http={}, all={}, no={:?})",
            shown(&self.https),
            shown(&self.http),
            shown(&self.all),
            self.no
        )
    }
}

/// One way out: a proxy or none, and the extra CAs trusted on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    proxy: Option<ProxyUrl>,
    ca_files: Vec<PathBuf>,
    roots: Vec<CertificateDer<'static>>,
}

impl Route {
    /// The proxy, `None` for direct.
    pub fn proxy(&self) -> Option<&ProxyUrl> {
        self.proxy.as_ref()
    }

    /// Certificates trusted in addition to the built-in roots.
    pub fn extra_roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }
}

/// How a deployment's route was chosen, as `check-providers` and the 模型 page show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteLabel {
    /// `direct`, or the proxy URL with credentials masked.
    pub via: String,
    /// Why: `deployment proxy`, `[server] outbound_proxy`, `HTTPS_PROXY` …, `proxy = "none"`,
    /// `NO_PROXY`, or `no proxy configured`.
    pub why: String,
    /// The `ca_file`s trusted besides the built-in roots.
    pub ca_files: Vec<String>,
}

impl fmt::Display for RouteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.via, self.why)?;
        if !self.ca_files.is_empty() {
            write!(f, ", extra CA {}", self.ca_files.join(", "))?;
        }
        Ok(())
    }
}

/// Every distinct route of a config, and which one each deployment takes.
#[derive(Debug, Clone)]
pub struct Routes {
    list: Vec<Route>,
    /// Per `[[models]]` entry, in config order.
    chosen: Vec<(RouteId, RouteLabel)>,
    secrets: Vec<String>,
}

impl Routes {
    /// Only the direct route (no config).
    pub fn direct() -> Routes {
        Routes {
            list: vec![Route {
                proxy: None,
                ca_files: Vec::new(),
                roots: Vec::new(),
            }],
            chosen: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Resolves every deployment's route. Errors name the entry and the field.
    pub fn resolve(config: &Config) -> Result<Routes, String> {
        let server = &config.server;
        let server_roots = match &server.ca_file {
            Some(path) => read_pem(path).map_err(|e| format!("[server] ca_file {e}"))?,
            None => Vec::new(),
        };
        let outbound = match server.outbound_proxy.as_ref().and_then(|s| s.expose()) {
            Some(raw) => {
                Some(ProxyUrl::parse(raw).map_err(|e| format!("[server] outbound_proxy {e}"))?)
            }
            None => None,
        };
        let mut routes = Routes::direct();
        for (i, m) in config.models.iter().enumerate() {
            let at = |field: &str, e: String| {
                format!("[[models]] #{} (name = \"{}\"): {field} {e}", i + 1, m.name)
            };
            let (proxy, why) = choose_proxy(m, outbound.as_ref(), &server.proxy_env)
                .map_err(|e| at("proxy", e))?;
            let mut ca_files: Vec<PathBuf> = server.ca_file.iter().cloned().collect();
            let mut roots = server_roots.clone();
            if let Some(path) = &m.ca_file {
                roots.extend(read_pem(path).map_err(|e| at("ca_file", e))?);
                ca_files.push(path.clone());
            }
            let label = RouteLabel {
                via: proxy
                    .as_ref()
                    .map_or("direct".to_string(), ToString::to_string),
                why,
                ca_files: ca_files.iter().map(|p| p.display().to_string()).collect(),
            };
            if let Some(p) = &proxy {
                routes.secrets.extend(p.secrets.iter().cloned());
            }
            let route = Route {
                proxy,
                ca_files,
                roots,
            };
            let id = match routes.list.iter().position(|r| *r == route) {
                Some(found) => RouteId(found),
                None => {
                    routes.list.push(route);
                    RouteId(routes.list.len() - 1)
                }
            };
            routes.chosen.push((id, label));
        }
        routes.secrets.sort();
        routes.secrets.dedup();
        Ok(routes)
    }

    /// Every route, `RouteId` order.
    pub fn all(&self) -> &[Route] {
        &self.list
    }

    /// The route of the `index`th `[[models]]` entry.
    pub fn of_deployment(&self, index: usize) -> (RouteId, RouteLabel) {
        self.chosen.get(index).cloned().unwrap_or_else(|| {
            (
                RouteId::DIRECT,
                RouteLabel {
                    via: "direct".into(),
                    why: "no proxy configured".into(),
                    ca_files: Vec::new(),
                },
            )
        })
    }

    /// Proxy credentials, to scrub from any message.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }
}

/// A deployment's proxy and why it was chosen.
fn choose_proxy(
    m: &ModelConfig,
    outbound: Option<&ProxyUrl>,
    env: &ProxyEnv,
) -> Result<(Option<ProxyUrl>, String), String> {
    if let Some(raw) = m.proxy.as_ref().and_then(|s| s.expose()) {
        if raw.trim().eq_ignore_ascii_case("none") {
            return Ok((None, "proxy = \"none\"".into()));
        }
        return Ok((Some(ProxyUrl::parse(raw)?), "deployment proxy".into()));
    }
    if let Some(p) = outbound {
        return Ok((Some(p.clone()), "[server] outbound_proxy".into()));
    }
    match env.for_base(&m.api_base()) {
        Ok(Some((name, value))) => {
            let url = ProxyUrl::parse(value).map_err(|e| format!("(from {name}) {e}"))?;
            Ok((Some(url), name.to_string()))
        }
        Ok(None) => Ok((None, "no proxy configured".into())),
        Err(exempt) => Ok((None, exempt.to_string())),
    }
}

/// The certificates of a PEM file (at least one).
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("{shown}: cannot be read: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown}: is not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{shown}: holds no PEM certificate"));
    }
    let mut store = rustls::RootCertStore::empty();
    let (_, rejected) = store.add_parsable_certificates(certs.iter().cloned());
    if rejected > 0 {
        return Err(format!(
            "{shown}: {rejected} certificate(s) could not be parsed"
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_mask_their_credentials() {
        let p = ProxyUrl::parse("http://alice:s%40cret@proxy.corp:3128").expect("valid");
        assert_eq!(p.to_string(), "http://***@proxy.corp:3128");
        assert!(!format!("{p:?}").contains("cret"));
        assert!(p.secrets.contains(&"s@cret".to_string()));
        assert_eq!(
            ProxyUrl::parse("socks5://127.0.0.1:1080")
                .expect("valid")
                .to_string(),
            "socks5://127.0.0.1:1080"
        );
        assert!(ProxyUrl::parse("ftp://x").is_err());
        assert!(ProxyUrl::parse("not a url").is_err());
    }

    #[test]
    fn the_environment_applies_by_scheme_unless_no_proxy_exempts_the_host() {
        let env = ProxyEnv {
            https: Some("http://secure:3128".into()),
            http: None,
            all: Some("socks5://all:1080".into()),
            no: Some("api.deepseek.com, 10.0.0.0/8".into()),
        };
        assert_eq!(
            env.for_base("https://api.openai.com/v1"),
            Ok(Some(("HTTPS_PROXY", "http://secure:3128")))
        );
        assert_eq!(
            env.for_base("http://ollama.local:11434/v1"),
            Ok(Some(("ALL_PROXY", "socks5://all:1080")))
        );
        assert_eq!(env.for_base("https://api.deepseek.com"), Err("NO_PROXY"));
        assert_eq!(env.for_base("http://10.1.2.3:8000/v1"), Err("NO_PROXY"));
        assert_eq!(ProxyEnv::default().for_base("https://x"), Ok(None));
        let secret = ProxyEnv {
            https: Some("http://u:pw-123@secure:3128".into()),
            ..ProxyEnv::default()
        };
        assert!(!format!("{secret:?}").contains("pw-123"));
    }
}
