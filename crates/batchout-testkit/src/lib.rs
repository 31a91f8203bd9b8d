//! Test harness for batchout's storage tests: a real Azure Storage emulator
//! ([`Azurite`], from npm), the official Python SDK ([`PythonSdk`], from PyPI),
//! a fault-injection proxy ([`FaultProxy`]) to put between a client and
//! Azurite, a stand-in for Entra ID and the managed identity endpoints
//! ([`TokenService`]) for an Azurite that takes OAuth tokens
//! ([`Azurite::start_https_oauth`]), a real S3 server ([`SeaweedFs`], from
//! PyPI) with the AWS SDK for Python to read and write it ([`Boto3`]), moto's
//! model of S3 ([`MotoS3`]) for the store's conformance suite, and a
//! reference CRC-64/NVME ([`crc64nvme`]) to check recorded checksums against.
//!
//! All are installed by the project's own `scripts/test` (into `node_modules/`
//! and `.venv/` at the workspace root), never by hand, so a fresh clone tests the
//! same way as a developer's machine. When one is missing, a test that needs it is
//! skipped with a loud warning on a developer's machine, and fails under CI
//! (`CI=true`), where a silent skip would hide a broken install step.
//!
//! ```no_run
//! use batchout_testkit::{Azurite, PythonSdk};
//!
//! let Some(azurite) = Azurite::shared() else { return };
//! let Some(sdk) = PythonSdk::find() else { return };
//! let sdk = sdk.with_connection_string(azurite.connection_string());
//! sdk.run_json(&["create-container", "job-demo"]);
//! ```

pub mod aws_metadata;
mod azurite;
mod boto3;
pub mod browser;
mod moto;
mod proxy;
mod python;
pub mod seaweed;
mod stub_http;
pub mod token_service;

use std::io::Write;
use std::path::PathBuf;

pub use aws_metadata::AwsMetadata;
pub use azurite::Azurite;
pub use boto3::Boto3;
pub use moto::MotoS3;
pub use proxy::{Fault, FaultProxy, Matcher, RequestRecord, Rules, Stats};
pub use python::PythonSdk;
pub use seaweed::SeaweedFs;
pub use token_service::{Route, TokenService};

/// The CRC-64/NVME of `data`, bit by bit from the definition (reflected
/// polynomial 0x9A6C9329AC4BC9B5, all ones in and out): a reference that
/// shares nothing with the SIMD implementation batchout uses.
pub fn crc64nvme(data: &[u8]) -> u64 {
    let mut crc = u64::MAX;
    for byte in data {
        crc ^= u64::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x9a6c_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The workspace root, where `scripts/test` installs `node_modules/` and `.venv/`.
fn workspace_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// What to do when a tool the tests need is not installed: under CI, fail; on a
/// developer's machine, skip with a warning that says how to install it.
fn not_installed<T>(what: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{what} is not installed: run scripts/test, which installs it");
    }
    // Written to stderr itself, not with `eprintln!`, which the test harness
    // captures and shows only for a failing test: a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {what} is not installed; run scripts/test"
    );
    None
}

#[cfg(test)]
mod reference_tests {
    #[test]
    fn the_reference_crc_has_the_catalogue_check_value() {
        assert_eq!(super::crc64nvme(b"123456789"), 0xae8b_1486_0a79_9888);
        assert_eq!(super::crc64nvme(b""), 0);
    }
}
