//! The checksums of uploads and downloads: the MD5 each Azure upload request
//! carries (`Content-MD5`), so the service refuses a body corrupted on the way,
//! and the SHA-256 of a whole blob, kept in its metadata, so a read can be
//! checked end to end.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};

/// Bytes as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// The `Content-MD5` of a request body: its MD5, base64.
pub(crate) fn content_md5(body: &[u8]) -> String {
    BASE64.encode(Md5::digest(body))
}

/// A recorded SHA-256 in the form batchout writes and trusts (64 hex digits),
/// lowercased; `None` for anything else, which another tool may have stored
/// under the same metadata name and which cannot be checked against.
pub(crate) fn parse_sha256(text: &str) -> Option<String> {
    let text = text.trim();
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use sha2::Sha256;

    use super::*;

    #[test]
    fn digests_have_the_usual_text_forms() {
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"abc"), "kAFQmDzST7DWlj99KOF/cg==");
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_hex_digests_are_trusted_as_recorded_hashes() {
        let upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        assert_eq!(parse_sha256(upper), Some(upper.to_ascii_lowercase()));
        assert_eq!(parse_sha256("not a hash"), None);
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
        assert_eq!(parse_sha256(""), None);
    }
}
