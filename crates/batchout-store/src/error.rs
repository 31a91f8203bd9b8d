//! The one error type of the store layer.

use std::io;
use std::path::PathBuf;

/// The result of a store operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store operation failed. Messages name the container, blob or path, and
/// never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The blob does not exist.
    #[error("blob {name:?} not found in container {container}")]
    NotFound {
        /// The container.
        container: String,
        /// The blob name.
        name: String,
    },
    /// The container does not exist.
    #[error("container {container} does not exist in {store}")]
    ContainerNotFound {
        /// The container.
        container: String,
        /// The store, as displayed (secrets redacted).
        store: String,
    },
    /// A name this store cannot hold.
    #[error("invalid blob name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why, and what would be accepted.
        reason: String,
    },
    /// The name collides with another blob: in a local directory store a name
    /// cannot be both a file and a folder (`x` and `x/y`).
    #[error("cannot store {name:?}: {reason}")]
    NameConflict {
        /// The name that was refused.
        name: String,
        /// What it collides with, and what to do.
        reason: String,
    },
    /// An append whose expected position is not the blob's length.
    #[error("append to {name:?} expected the blob to be {expected} bytes long, but it is {actual}")]
    AppendPosition {
        /// The blob name.
        name: String,
        /// The position the append stated.
        expected: u64,
        /// The blob's actual length.
        actual: u64,
    },
    /// A byte range outside the blob.
    #[error("range {start}..{end} is outside blob {name:?} of {size} bytes")]
    InvalidRange {
        /// The blob name.
        name: String,
        /// First byte asked for.
        start: u64,
        /// One past the last byte asked for.
        end: u64,
        /// The blob's size.
        size: u64,
    },
    /// Container metadata that no backend can hold.
    #[error("invalid container metadata {name:?}: {reason}")]
    InvalidMetadata {
        /// The metadata name.
        name: String,
        /// Why, and what would be accepted.
        reason: String,
    },
    /// A read conditioned on a version of the blob ([`crate::GetOptions::if_match`])
    /// found another: it was replaced or appended to since that version was
    /// seen.
    #[error(
        "blob {name:?} in container {container} changed since it was last read; read it again from its start"
    )]
    Modified {
        /// The container.
        container: String,
        /// The blob name.
        name: String,
    },
    /// A setting's variable holds what the setting does not take.
    #[error("{name}={value:?} is not valid; give {expected}")]
    InvalidSetting {
        /// The variable, e.g. `BATCHOUT_RETRIES`.
        name: String,
        /// Its value.
        value: String,
        /// What the setting takes.
        expected: &'static str,
    },
    /// A store URL or path that cannot be opened.
    #[error("cannot open store {url:?}: {reason}")]
    InvalidStoreUrl {
        /// The URL, with any secret redacted.
        url: String,
        /// Why, and what would be accepted.
        reason: String,
    },
    /// An operation this backend does not offer (see [`crate::Capabilities`]).
    #[error("{store} does not support {operation}")]
    Unsupported {
        /// The store, as displayed.
        store: String,
        /// What was asked.
        operation: &'static str,
    },
    /// The service refused the credentials, or they do not permit the operation.
    #[error("{store} refused to {operation} {target} ({code}): {hint}")]
    Denied {
        /// The store, as displayed (secrets redacted).
        store: String,
        /// What was being done, e.g. "write".
        operation: &'static str,
        /// The container or blob.
        target: String,
        /// The service's error code, e.g. `AuthorizationPermissionMismatch`.
        code: String,
        /// What to do about it.
        hint: String,
    },
    /// The service answered with an error not covered by another variant.
    #[error("{store} failed to {operation} {target}: HTTP {status} {code}: {message}")]
    Service {
        /// The store, as displayed (secrets redacted).
        store: String,
        /// What was being done.
        operation: &'static str,
        /// The container or blob.
        target: String,
        /// The HTTP status.
        status: u16,
        /// The service's error code, or `-`.
        code: String,
        /// The service's message, or what to do.
        message: String,
    },
    /// The store could not be reached, or the connection broke.
    #[error(
        "cannot reach {store} to {operation} {target}: {reason}; check the URL, the network, and that the service is running"
    )]
    Unreachable {
        /// The store, as displayed (secrets redacted).
        store: String,
        /// What was being done.
        operation: &'static str,
        /// The container or blob.
        target: String,
        /// What failed (never containing a URL with a secret).
        reason: String,
    },
    /// A transient failure that lasted: retried until the attempts, or the
    /// operation's deadline, ran out (see [`crate::RetryPolicy`]).
    #[error("{last} (gave up after {attempts} attempts in {elapsed}{})", gave_up_why(.deadline.as_deref()))]
    GaveUp {
        /// Attempts made in all.
        attempts: u32,
        /// How long they took, as people write it.
        elapsed: String,
        /// The operation's deadline, when waiting for one more attempt would
        /// have passed it; `None` when the attempts ran out.
        deadline: Option<String>,
        /// The last attempt's error.
        last: Box<Error>,
    },
    /// The store's TLS certificate failed verification: not signed by an
    /// authority batchout trusts, or not for the host named. Never retried.
    #[error(
        "cannot trust {store}: its TLS certificate failed verification ({reason}); batchout trusts the system's certificate authorities, so if a private authority or a TLS-inspecting proxy signs it, name that authority's PEM file with SSL_CERT_FILE (on S3, AWS_CA_BUNDLE too), and check that the URL names the right host"
    )]
    Untrusted {
        /// The store, as displayed (secrets redacted).
        store: String,
        /// What the verification found.
        reason: String,
    },
    /// No Entra ID token (Azure) or AWS credentials (S3) could be had: the
    /// source is not set up on this machine, refused the identity, or could
    /// not be reached after its retries. The reason says which, and what to
    /// do; it never holds a token, a secret key or a federated token.
    #[error("cannot sign in with {credential}: {reason}")]
    Credential {
        /// The source, e.g. "a managed identity (IMDS)", "the instance's
        /// role (IMDS at http://169.254.169.254)".
        credential: String,
        /// Why, and what to do.
        reason: String,
        /// Whether the source is simply not set up here (no variables, no
        /// identity endpoint, no Azure CLI): a chain of sources tries the
        /// next one. A source that is set up and fails says `false`.
        unavailable: bool,
    },
    /// A store bound to one container (a container SAS URL) was asked about another.
    #[error(
        "{store} is limited to container {bound} by its SAS and cannot reach container {asked}; use that job's own SAS URL, or an account key"
    )]
    WrongContainer {
        /// The store, as displayed.
        store: String,
        /// The container it is limited to.
        bound: String,
        /// The container asked for.
        asked: String,
    },
    /// A local file changed (its length or modification time, or the file at
    /// its path) while it was being read for an upload. Nothing was stored:
    /// the blob keeps its previous content, or stays absent.
    #[error(
        "{path} changed while it was being uploaded; nothing was stored; save it again once it is complete"
    )]
    SourceChanged {
        /// The local file.
        path: PathBuf,
    },
    /// The service found that the body of an upload request did not match the
    /// checksum sent with it (Azure: `400 Md5Mismatch` or `Crc64Mismatch`): the bytes were
    /// corrupted on the way. The request was refused, so nothing corrupt was
    /// stored.
    #[error(
        "the bytes sent to {operation} {target} were corrupted on the way to {store} (the service's checksum of the request differs from batchout's); nothing corrupt was stored; try again, and check the network or any proxy in between if it persists"
    )]
    CorruptedInTransit {
        /// The store, as displayed (secrets redacted).
        store: String,
        /// What was being done.
        operation: &'static str,
        /// The container or blob.
        target: String,
    },
    /// A whole read whose bytes do not have the checksum recorded in the
    /// blob's metadata (see [`crate::GetResult::verified`]).
    #[error(
        "blob {name:?} read with {algorithm} {actual}, but its metadata records {expected}: the stored copy is corrupt or was changed by another writer; download again, or fetch it without verification to take it as it is"
    )]
    ChecksumMismatch {
        /// The blob name.
        name: String,
        /// Which checksum: `CRC-64/NVME` or `SHA-256`.
        algorithm: &'static str,
        /// The checksum recorded in its metadata, hex.
        expected: String,
        /// The checksum of the bytes read, hex.
        actual: String,
    },
    /// A read that broke off and was resumed found the blob replaced meanwhile
    /// (its ETag changed): the parts would come from two versions, so the read
    /// stops instead.
    #[error(
        "blob {name:?} in container {container} was replaced while it was being read; read it again"
    )]
    ChangedDuringRead {
        /// The container.
        container: String,
        /// The blob name.
        name: String,
    },
    /// A local file operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done, e.g. "read".
        action: &'static str,
        /// The local path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// What a [`Error::GaveUp`] says after its count: why it stopped, and which
/// setting allows more.
fn gave_up_why(deadline: Option<&str>) -> String {
    match deadline {
        Some(deadline) => format!(
            ": the operation's deadline of {deadline} would pass; allow more with BATCHOUT_DEADLINE"
        ),
        None => "; allow more with BATCHOUT_RETRIES".to_owned(),
    }
}

impl Error {
    /// Whether the blob or container was not there.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::NotFound { .. } | Self::ContainerNotFound { .. } => true,
            Self::GaveUp { last, .. } => last.is_not_found(),
            _ => false,
        }
    }

    /// Whether trying the same operation again may succeed: the condition is
    /// transient (for [`Error::GaveUp`], it lasted through every retry, but
    /// may pass later).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::GaveUp { last, .. } => last.is_retryable(),
            Self::Service { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            Self::Unreachable { .. }
            | Self::CorruptedInTransit { .. }
            | Self::ChangedDuringRead { .. } => true,
            Self::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
