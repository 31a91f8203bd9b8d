//! What every remote backend shares, whatever its API: retries and timeouts
//! ([`retry`]), the HTTP clients and their TLS set-up (`http`, `tls`), the
//! reader that hashes a file's blocks for an upload and refuses one that
//! changes (`upload`), reads that resume where a broken connection left
//! them (`resume`), and the requests to credential endpoints
//! (`credential_http`: Entra ID and Azure's managed identities, AWS's STS,
//! IMDS and container endpoints). Azure and S3 plug into the same pieces.
//! Decision 0011 says why the store is cut this way.

pub(crate) mod attempt;
pub(crate) mod credential_http;
pub(crate) mod http;
pub(crate) mod resume;
pub mod retry;
pub(crate) mod tls;
pub(crate) mod upload;

/// How large files move to and from a remote store, whichever its API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferOptions {
    /// Files up to this size go in one request.
    pub single_put_max: u64,
    /// The size of each block of a larger file, up and down.
    pub block_size: u64,
    /// How many blocks of one file are in flight at once, up or down (1: a
    /// whole read is one streamed GET).
    pub block_concurrency: usize,
    /// Whether whole reads of large blobs go in parallel ranges
    /// (`block_concurrency` at once) or as one streamed GET; `None` chooses by
    /// endpoint: one stream for path-style endpoints (the emulator, a single
    /// Node.js thread for which every ranged request is extra work), parallel
    /// ranges otherwise (the service spreads them; one TCP stream is limited by
    /// its round trip). Decision 0006.
    pub parallel_reads: Option<bool>,
    /// Whether puts record the SHA-256 of what they send too
    /// ([`crate::ObjectMeta::sha256`]), beside the CRC-64/NVME they always
    /// record. Off by default: a cryptographic hash costs the client many
    /// times the CRC (decision 0007 has the figures); turn it on for a digest
    /// of every output to compare with `sha256sum`.
    pub sha256: bool,
    /// How much lower than the rest of the process the thread that reads and
    /// hashes a large file for its blocks runs: a nice value added, 0 (the
    /// same priority) to 19 (Linux; ignored elsewhere). Hashing is most of an
    /// upload's CPU, so at 10, the default, the task and anything else on the
    /// node come first when CPUs are short; on an idle machine the thread
    /// still has a whole core (decision 0008).
    pub nice: u8,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            single_put_max: 32 * 1024 * 1024,
            block_size: 8 * 1024 * 1024,
            block_concurrency: 4,
            parallel_reads: None,
            sha256: false,
            nice: crate::priority::DEFAULT_NICE,
        }
    }
}
