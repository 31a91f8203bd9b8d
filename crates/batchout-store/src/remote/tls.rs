//! The TLS set-up of the HTTP clients, and what a failed handshake means.
//!
//! One configuration is built per store and shared by its HTTP clients, so
//! the system's certificate authorities are read and parsed once per command,
//! not once per client. It uses *ring* for its cryptography. reqwest's default,
//! aws-lc-rs, seeds its random generator with CPU jitter entropy, most of the
//! CPU of a small HTTPS command, where *ring* asks the kernel (decision 0010
//! has the figures).
//! Certificates are verified as reqwest does by default
//! (`rustls-platform-verifier`: on Linux, the system's authorities, or those
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` name).

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use url::Url;

use crate::{Error, Result};

/// The TLS configuration for the HTTP clients of `endpoint`. A plain `http://`
/// endpoint gets one that trusts nothing and reads no certificates: it is
/// never used, but reqwest wants one.
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] when no certificate authority can be trusted
/// (none installed, or an empty `SSL_CERT_FILE`), saying what to install or
/// set.
pub(crate) fn client_config(endpoint: &Url) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = builder(&provider, endpoint)?;
    let mut config = if endpoint.scheme() == "https" {
        let verifier = rustls_platform_verifier::Verifier::new(provider)
            .map_err(|e| untrusting(endpoint, &e))?;
        versions
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        versions
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A configuration builder for TLS 1.2 and 1.3 with `provider`.
fn builder(
    provider: &Arc<CryptoProvider>,
    endpoint: &Url,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidStoreUrl {
            url: endpoint.to_string(),
            reason: format!("cannot set up TLS: {e}"),
        })
}

/// The error for an endpoint whose server nothing would be trusted to verify.
fn untrusting(endpoint: &Url, error: &rustls::Error) -> Error {
    Error::InvalidStoreUrl {
        url: endpoint.to_string(),
        reason: format!(
            "cannot set up TLS: {error}; batchout trusts the system's certificate authorities: \
             install them (e.g. the ca-certificates package), or name a PEM file of authorities \
             with SSL_CERT_FILE"
        ),
    }
}

/// What the TLS handshake found wrong with the server's certificate, when
/// that is why the connection failed.
pub(crate) fn certificate_refused(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // An io::Error hides what it wraps from source(), and may wrap
        // another: look inside each.
        let mut inner: &(dyn std::error::Error + 'static) = cause;
        loop {
            if let Some(rustls::Error::InvalidCertificate(why)) =
                inner.downcast_ref::<rustls::Error>()
            {
                return Some(why.to_string());
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        source = cause.source();
    }
    None
}
