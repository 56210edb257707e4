//! reqwest's errors turned into [`ClientError`]s: which class (the router fails over on
//! `Connect` only), and a message a user can act on ("the certificate was not trusted:
//! set `ca_file`"), free of addresses, keys and proxy credentials.

use std::error::Error as _;

use super::ClientError;

/// An error before the response head arrived.
pub(super) fn classify_send(e: &reqwest::Error, secrets: &[String]) -> ClientError {
    let chain = causes(e);
    let message = |fallback: &str| {
        scrub(
            &describe(&chain).unwrap_or_else(|| fallback.into()),
            secrets,
        )
    };
    if e.is_connect() || e.is_builder() {
        return ClientError::Connect(message("could not connect to the provider"));
    }
    if e.is_timeout() {
        return ClientError::Timeout;
    }
    if chain
        .iter()
        .any(|c| c.contains("connection closed before message completed"))
    {
        return ClientError::Interrupted(
            "the provider closed the connection after receiving the request, without answering; \
             it was not sent again, since the provider may have begun to process it"
                .into(),
        );
    }
    ClientError::Protocol(message("the provider's answer could not be read"))
}

/// An error while reading the body.
pub(super) fn classify_body(e: &reqwest::Error, secrets: &[String]) -> ClientError {
    if e.is_timeout() {
        return ClientError::Timeout;
    }
    let chain = causes(e);
    ClientError::Protocol(scrub(
        &describe(&chain).unwrap_or_else(|| "the response body was cut".into()),
        secrets,
    ))
}

/// The messages of the error's causes, outermost first (reqwest's own, which names the
/// URL, left out).
fn causes(e: &reqwest::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push(cause.to_string());
        next = cause.source();
    }
    out
}

/// What to tell the user: a known cause in plain words, or the innermost message.
fn describe(chain: &[String]) -> Option<String> {
    let all = chain.join(": ");
    let known = [
        ("UnknownIssuer", "the provider's TLS certificate was not trusted (unknown issuer): add the CA that signed it with `ca_file`"),
        ("invalid peer certificate", "the provider's TLS certificate was not trusted: check the host name, or add its CA with `ca_file`"),
        ("NotValidForName", "the provider's TLS certificate is not valid for this host name"),
        ("Expired", "the provider's TLS certificate has expired"),
        ("proxy authorization required", "the proxy refused the credentials (HTTP 407 Proxy Authentication Required)"),
        ("unsuccessful tunnel", "the proxy refused to open a tunnel to the provider"),
        ("socks", "the SOCKS proxy could not connect to the provider"),
        ("Connection refused", "the connection was refused"),
        ("dns error", "the provider's host name could not be resolved"),
        ("failed to lookup address", "the provider's host name could not be resolved"),
        ("timed out", "connecting timed out"),
    ];
    if let Some((_, text)) = known.iter().find(|(needle, _)| all.contains(needle)) {
        return Some((*text).to_string());
    }
    chain.last().cloned()
}

/// Never let a proxy credential out, whatever a library echoed.
fn scrub(message: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 3)
        .fold(message.to_string(), |m, s| m.replace(s.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_causes_are_said_in_plain_words_and_secrets_are_scrubbed() {
        let chain = vec![
            "client error (Connect)".to_string(),
            "invalid peer certificate: UnknownIssuer".to_string(),
        ];
        assert!(describe(&chain).is_some_and(|m| m.contains("ca_file")));
        assert_eq!(describe(&["weird".to_string()]).as_deref(), Some("weird"));
        assert_eq!(
            scrub("user:hunter2@proxy", &["hunter2".to_string()]),
            "user:***@proxy"
        );
    }
}
