//! The way out, for real: a private CA and an HTTPS simulator it signed, a gate that
//! only lets one source address through (so a test upstream is unreachable except
//! through the proxy bound to that address), and Debian's `tinyproxy` (HTTP CONNECT,
//! with or without Basic credentials) and `microsocks` (SOCKS5) started per test.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tollgate::simulator::{Simulator, SimulatorConfig};

/// A CA written to `ca.pem` in a folder, and a server configuration signed by it for
/// `localhost` and `127.0.0.1`.
pub struct TestCa {
    /// The CA certificate (PEM file).
    pub ca_file: PathBuf,
    server: rustls::ServerConfig,
}

impl TestCa {
    /// A fresh CA in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Tollgate Test Internal CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("server key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server cert");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write ca.pem");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        TestCa { ca_file, server }
    }

    /// An HTTPS simulator on 127.0.0.1 with this CA's certificate.
    pub fn https_simulator(&self) -> (Simulator, SocketAddr) {
        let sim = Simulator::new(SimulatorConfig::default());
        let (addr, server) = sim
            .bind_tls("127.0.0.1:0", self.server.clone())
            .expect("TLS simulator binds");
        actix_web::rt::spawn(server);
        (sim, addr)
    }
}

/// A TCP relay to `target` that lets through only connections from `allowed`.
pub struct Gate {
    /// Where to connect.
    pub addr: SocketAddr,
    refused: Arc<AtomicUsize>,
    passed: Arc<AtomicUsize>,
}

impl Gate {
    /// Starts the gate on 127.0.0.1:0.
    pub async fn start(allowed: IpAddr, target: SocketAddr) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("gate binds");
        let addr = listener.local_addr().expect("gate addr");
        let (refused, passed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, p) = (refused.clone(), passed.clone());
        actix_web::rt::spawn(async move {
            while let Ok((mut inbound, peer)) = listener.accept().await {
                if peer.ip() != allowed {
                    r.fetch_add(1, Ordering::SeqCst);
                    drop(inbound);
                    continue;
                }
                p.fetch_add(1, Ordering::SeqCst);
                actix_web::rt::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Gate {
            addr,
            refused,
            passed,
        }
    }

    /// Connections refused for their source address.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Connections let through.
    pub fn passed(&self) -> usize {
        self.passed.load(Ordering::SeqCst)
    }
}

/// A proxy process, killed on drop.
pub struct ProxyProcess {
    /// `127.0.0.1:PORT`
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The program if installed; on CI a missing one fails the test (`.ci/run` installs it).
fn program(name: &str, package: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have `{name}` (Debian package {package}, installed by .ci/run)"
        );
        eprintln!("skipped: `{name}` is not installed (apt-get install {package})");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn wait_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

/// `tinyproxy` on 127.0.0.1, connecting out from `bind`; `credentials` turns on Basic
/// authentication. `None` when tinyproxy is not installed (outside CI).
pub async fn tinyproxy(bind: IpAddr, credentials: Option<(&str, &str)>) -> Option<ProxyProcess> {
    let bin = program("tinyproxy", "tinyproxy")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let auth = credentials
        .map(|(u, p)| format!("BasicAuth {u} {p}\n"))
        .unwrap_or_default();
    // No ConnectPort line: CONNECT is allowed to any port (the upstream's is random).
    let conf = format!(
        "Port {port}\nListen 127.0.0.1\nBind {bind}\nTimeout 60\nMaxClients 64\n\
         Allow 127.0.0.1\nLogLevel Error\nLogFile \"{log}\"\n{auth}",
        log = dir.path().join("tinyproxy.log").display()
    );
    let conf_path = dir.path().join("tinyproxy.conf");
    std::fs::write(&conf_path, conf).expect("write tinyproxy.conf");
    let mut cmd = Command::new(bin);
    cmd.arg("-d").arg("-c").arg(&conf_path);
    Some(spawn_proxy(cmd, port, dir).await)
}

/// Runs the proxy command and waits until it listens on `port`.
async fn spawn_proxy(mut cmd: Command, port: u16, dir: tempfile::TempDir) -> ProxyProcess {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the proxy starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr).await;
    ProxyProcess {
        addr,
        child,
        _dir: dir,
    }
}

/// `microsocks` (SOCKS5) on 127.0.0.1, connecting out from `bind`, with optional
/// username/password. `None` when microsocks is not installed (outside CI).
pub async fn microsocks(bind: IpAddr, credentials: Option<(&str, &str)>) -> Option<ProxyProcess> {
    let bin = program("microsocks", "microsocks")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args([
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-b",
        &bind.to_string(),
    ]);
    if let Some((u, p)) = credentials {
        cmd.args(["-u", u, "-P", p]);
    }
    Some(spawn_proxy(cmd, port, dir).await)
}
