//! The rustls configuration of provider calls: the Mozilla roots built in
//! (`webpki-roots`, so no system store is needed) plus a route's extra CAs, ring as the
//! crypto provider, and ALPN offering HTTP/2 before HTTP/1.1.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// A client configuration trusting the built-in roots and `extra`.
pub(super) fn client_config(extra: &[CertificateDer<'static>]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Certificates were parsed and checked when the routes were resolved.
    let _ = roots.add_parsable_certificates(extra.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}
