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
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` name), and by the authorities of a PEM
//! file a store names besides (S3's `AWS_CA_BUNDLE`, as the AWS SDKs take
//! it).

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use url::Url;

use crate::{Error, Result};

/// A PEM file of certificate authorities to trust besides the system's, and
/// the setting that names it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorities {
    /// The file.
    pub file: std::path::PathBuf,
    /// What named it: `AWS_CA_BUNDLE`, `ca_bundle of the profile NAME`.
    pub named_by: String,
}

/// The TLS configuration for the HTTP clients of `endpoint`, trusting the
/// system's authorities and `extra`'s. A plain `http://` endpoint gets one
/// that trusts nothing and reads no certificates: it is never used, but
/// reqwest wants one.
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] when no certificate authority can be trusted
/// (none installed, or an empty `SSL_CERT_FILE`), saying what to install or
/// set, and when `extra` cannot be read or holds no certificate.
pub(crate) fn client_config(endpoint: &Url, extra: Option<&Authorities>) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = builder(&provider, endpoint)?;
    let mut config = if endpoint.scheme() == "https" {
        let verifier = match extra {
            None => rustls_platform_verifier::Verifier::new(provider),
            Some(extra) => rustls_platform_verifier::Verifier::new_with_extra_roots(
                read_authorities(endpoint, extra)?,
                provider,
            ),
        }
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

/// The certificates of a PEM file of authorities.
fn read_authorities(
    endpoint: &Url,
    extra: &Authorities,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let refused = |reason: String| Error::InvalidStoreUrl {
        url: endpoint.to_string(),
        reason: format!(
            "{} names {}, {reason}; name a PEM file of certificate authorities",
            extra.named_by,
            extra.file.display()
        ),
    };
    let certificates = rustls::pki_types::CertificateDer::pem_file_iter(&extra.file)
        .map_err(|e| refused(format!("which cannot be read ({e})")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| refused(format!("which is not PEM ({e})")))?;
    if certificates.is_empty() {
        return Err(refused("which holds no certificate".into()));
    }
    Ok(certificates)
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
