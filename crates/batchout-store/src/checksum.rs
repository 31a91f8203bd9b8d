//! The checksums of uploads and downloads: the one each upload request
//! carries ([`BodyChecksum`]: an MD5 or a CRC-64/NVME, sent as
//! `Content-MD5` or `x-ms-content-crc64` on Azure), so the service refuses a
//! body corrupted on the way, and those of a whole blob, kept in its metadata
//! (CRC-64/NVME always, SHA-256 on request), so a read can be checked end to
//! end.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc_fast::CrcAlgorithm::Crc64Nvme;
use md5::Md5;
use sha2::{Digest, Sha256};

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

/// The checksum every upload request carries, which the service computes again
/// and compares before it stores the body (a mismatch stores nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestChecksum {
    /// `Content-MD5`: the one the Azurite emulator checks cheaply. One MD5 is
    /// computed step after step, on one core (decision 0012 says why no
    /// faster way is kept, and decision 0009 has the figures).
    Md5,
    /// `x-ms-content-crc64`: the CRC-64/NVME checksum the Blob service
    /// computes for every block itself (`StorageCrc64` in Microsoft's SDKs).
    /// Far cheaper than MD5 for the client (SIMD); Azurite computes it slowly,
    /// in JavaScript (decision 0006, `docs/decisions/0006-transfer-patterns.md`,
    /// has the figures).
    Crc64,
}

impl RequestChecksum {
    /// This checksum of `body`.
    pub(crate) fn of(self, body: &[u8]) -> BodyChecksum {
        self.of_with_crc(body).0
    }

    /// As [`RequestChecksum::of`], with the body's CRC-64/NVME when that is
    /// the checksum computed, so the whole file's can be built from it.
    pub(crate) fn of_with_crc(self, body: &[u8]) -> (BodyChecksum, Option<u64>) {
        let mut hasher = self.hasher();
        hasher.update(body);
        hasher.finish()
    }

    /// A hasher of one request's body, fed in pieces.
    pub(crate) fn hasher(self) -> RequestHasher {
        match self {
            Self::Md5 => RequestHasher::Md5(Md5::new()),
            Self::Crc64 => RequestHasher::Crc64(Box::new(crc_fast::Digest::new(Crc64Nvme))),
        }
    }

    /// Parses `md5` or `crc64` (any case).
    ///
    /// # Errors
    ///
    /// What to write instead.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "md5" => Ok(Self::Md5),
            "crc64" => Ok(Self::Crc64),
            _ => Err(format!(
                "{text:?} is not a request checksum; give md5 or crc64 (or leave it unset to choose by endpoint)"
            )),
        }
    }
}

/// The checksum of one request's body, which each backend sends in its own
/// header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyChecksum {
    /// An MD5.
    Md5([u8; 16]),
    /// A CRC-64/NVME.
    Crc64(u64),
}

impl BodyChecksum {
    /// The Blob service's header for it, and its value: `Content-MD5` (the
    /// MD5, base64), or `x-ms-content-crc64` (the CRC's 8 bytes, least
    /// significant first, base64).
    pub(crate) fn azure_header(self) -> (&'static str, String) {
        match self {
            Self::Md5(md5) => ("content-md5", BASE64.encode(md5)),
            Self::Crc64(crc) => ("x-ms-content-crc64", BASE64.encode(crc.to_le_bytes())),
        }
    }
}

/// The [`RequestChecksum`] of one request's body, computed in pieces: a body
/// read from a file is hashed a slice at a time, while the slice is still in
/// the processor's cache, instead of in a second pass over all of it.
pub(crate) enum RequestHasher {
    /// An MD5.
    Md5(Md5),
    /// A CRC-64/NVME.
    Crc64(Box<crc_fast::Digest>),
}

impl RequestHasher {
    /// Feeds the next piece of the body.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Md5(md5) => md5.update(bytes),
            Self::Crc64(crc) => crc.update(bytes),
        }
    }

    /// The body's checksum, and its CRC-64/NVME when that is the checksum
    /// computed (see [`ContentHasher::update_with_crc`]).
    pub(crate) fn finish(self) -> (BodyChecksum, Option<u64>) {
        match self {
            Self::Md5(md5) => (BodyChecksum::Md5(md5.finalize().into()), None),
            Self::Crc64(digest) => {
                let crc = digest.finalize();
                (BodyChecksum::Crc64(crc), Some(crc))
            }
        }
    }
}

/// The checksums of a whole blob that a put records in its metadata and a
/// read checks: its CRC-64/NVME always (the polynomial of Azure's
/// `x-ms-content-crc64` and of S3's full-object `CRC64NVME`, cheap enough to
/// compute on every transfer), its SHA-256 only when asked for (a
/// cryptographic hash, far dearer). Decision 0007
/// (`docs/decisions/0007-whole-content-checksum.md`) has the figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentChecksums {
    /// The CRC-64/NVME of the content.
    pub(crate) crc64nvme: u64,
    /// The SHA-256 of the content, lowercase hex, when it was computed.
    pub(crate) sha256: Option<String>,
}

/// Computes [`ContentChecksums`] from the content, in pieces, in order.
pub(crate) struct ContentHasher {
    crc64nvme: crc_fast::Digest,
    sha256: Option<Sha256>,
}

impl ContentHasher {
    /// A hasher of CRC-64/NVME, and of SHA-256 too if `sha256`.
    pub(crate) fn new(sha256: bool) -> Self {
        Self {
            crc64nvme: crc_fast::Digest::new(Crc64Nvme),
            sha256: sha256.then(Sha256::new),
        }
    }

    /// Feeds the next piece of the content.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.crc64nvme.update(bytes);
        if let Some(sha256) = &mut self.sha256 {
            sha256.update(bytes);
        }
    }

    /// Feeds the next piece of the content, whose CRC-64/NVME is already
    /// known (`crc`, computed for its request): the CRC is combined with the
    /// one so far instead of computed again.
    pub(crate) fn update_with_crc(&mut self, bytes: &[u8], crc: Option<u64>) {
        let Some(crc) = crc else {
            return self.update(bytes);
        };
        self.update_all_but_crc(bytes);
        self.add_crc(crc, bytes.len() as u64);
    }

    /// Feeds the next piece of the content to every checksum but the
    /// CRC-64/NVME, which the caller adds with [`ContentHasher::add_crc`].
    pub(crate) fn update_all_but_crc(&mut self, bytes: &[u8]) {
        if let Some(sha256) = &mut self.sha256 {
            sha256.update(bytes);
        }
    }

    /// Adds the CRC-64/NVME of the next `len` bytes of the content, known
    /// already: combined with the one so far, not computed again.
    pub(crate) fn add_crc(&mut self, crc: u64, len: u64) {
        let so_far = self.crc64nvme.finalize();
        let combined = crc64nvme_combine(so_far, crc, len);
        // A digest's state is its checksum before the final XOR (all ones).
        self.crc64nvme = crc_fast::Digest::new_with_init_state(Crc64Nvme, !combined);
    }

    /// The checksums of everything fed.
    pub(crate) fn finish(self) -> ContentChecksums {
        ContentChecksums {
            crc64nvme: self.crc64nvme.finalize(),
            sha256: self.sha256.map(|sha256| hex(&sha256.finalize())),
        }
    }

    /// The checksums of `bytes`, whole, whose CRC-64/NVME may be known
    /// already (see [`ContentHasher::update_with_crc`]).
    pub(crate) fn of(bytes: &[u8], crc: Option<u64>, sha256: bool) -> ContentChecksums {
        let mut hasher = Self::new(sha256);
        hasher.update_with_crc(bytes, crc);
        hasher.finish()
    }
}

/// The CRC-64/NVME polynomial, bit-reflected (the CRC is computed LSB first).
const CRC64NVME_POLY: u64 = 0x9a6c_9329_ac4b_c9b5;

/// The product of two polynomials modulo the CRC's, in its reflected form:
/// bit 63 holds x^0.
const fn multiply_mod_poly(a: u64, mut b: u64) -> u64 {
    let mut product = 0;
    let mut mask = 1 << 63;
    while mask != 0 {
        if a & mask != 0 {
            product ^= b;
        }
        mask >>= 1;
        b = if b & 1 != 0 {
            (b >> 1) ^ CRC64NVME_POLY
        } else {
            b >> 1
        };
    }
    product
}

/// x^(2^k) modulo the CRC's polynomial, for k = 0 to 66: enough for
/// x^(8 × n) whatever the u64 length n (8 = 2^3, so k runs from 3 to 66).
const X_POW_2K: [u64; 67] = {
    let mut table = [0; 67];
    table[0] = 1 << 62; // x^1
    let mut k = 1;
    while k < 67 {
        table[k] = multiply_mod_poly(table[k - 1], table[k - 1]);
        k += 1;
    }
    table
};

/// The CRC-64/NVME of `a` followed by `b`, from the CRC of each and `b`'s
/// length, as zlib's `crc32_combine` does: `crc_a` times x^(8 × `len_b`)
/// modulo the polynomial, plus `crc_b`. About 60 multiplications of 64 steps,
/// where `crc_fast::checksum_combine` squares 64×64 matrices, which for 8 MiB
/// blocks took as long as their CRC itself (decision 0007,
/// `docs/decisions/0007-whole-content-checksum.md`, amended 2026-11-25, has
/// the figures).
pub(crate) fn crc64nvme_combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    let mut shift = 1 << 63; // x^0
    let mut bits = len_b;
    let mut k = 3; // a byte is x^8 = x^(2^3)
    while bits != 0 {
        if bits & 1 != 0 {
            shift = multiply_mod_poly(X_POW_2K[k], shift);
        }
        bits >>= 1;
        k += 1;
    }
    multiply_mod_poly(shift, crc_a) ^ crc_b
}

/// A CRC-64/NVME as batchout records it: the number as 16 lowercase hex
/// digits, most significant first (`ae8b14860a799888` for `123456789`).
pub fn crc64nvme_hex(crc: u64) -> String {
    format!("{crc:016x}")
}

/// A recorded CRC-64/NVME in the form batchout writes and trusts (16 hex
/// digits); `None` for anything else.
pub(crate) fn parse_crc64nvme(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
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
    use super::*;

    #[test]
    fn digests_have_the_usual_text_forms() {
        let md5 = |body: &[u8]| RequestChecksum::Md5.of(body).azure_header().1;
        assert_eq!(md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(md5(b"abc"), "kAFQmDzST7DWlj99KOF/cg==");
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn crc64_is_crc_64_nvme_little_endian_base64() {
        // The catalogue's check value of CRC-64/NVME for "123456789".
        let check = 0xae8b_1486_0a79_9888_u64;
        assert_eq!(
            RequestChecksum::Crc64.of(b"123456789").azure_header().1,
            BASE64.encode(check.to_le_bytes())
        );
        assert_eq!(
            RequestChecksum::Crc64.of(b"").azure_header().1,
            "AAAAAAAAAAA="
        );
        assert_eq!(
            RequestChecksum::Crc64.of(b"abc").azure_header().0,
            "x-ms-content-crc64"
        );
        assert_eq!(
            RequestChecksum::Md5.of(b"abc").azure_header(),
            ("content-md5", "kAFQmDzST7DWlj99KOF/cg==".to_owned())
        );
        assert_eq!(
            RequestChecksum::parse(" CRC64 "),
            Ok(RequestChecksum::Crc64)
        );
        assert!(
            RequestChecksum::parse("sha1")
                .unwrap_err()
                .contains("md5 or crc64")
        );
    }

    #[test]
    fn content_checksums_are_the_same_whole_or_in_pieces() {
        let whole = ContentHasher::of(b"123456789", None, true);
        assert_eq!(whole.crc64nvme, 0xae8b_1486_0a79_9888);
        assert_eq!(crc64nvme_hex(whole.crc64nvme), "ae8b14860a799888");
        assert_eq!(
            whole.sha256.as_deref(),
            Some("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225")
        );
        let mut pieces = ContentHasher::new(true);
        for piece in [&b"1234"[..], b"", b"56789"] {
            pieces.update(piece);
        }
        assert_eq!(pieces.finish(), whole);
        // Pieces whose CRC came with their request, between others.
        let mut known = ContentHasher::new(true);
        known.update(b"12");
        for piece in [&b"345"[..], b"", b"67"] {
            let (_, crc) = RequestChecksum::Crc64.of_with_crc(piece);
            known.update_with_crc(piece, crc);
        }
        known.update_with_crc(b"8", None);
        known.update(b"9");
        assert_eq!(known.finish(), whole);
        assert_eq!(ContentHasher::of(b"123456789", None, false).sha256, None);
        assert_eq!(
            crc64nvme_hex(ContentHasher::of(b"", None, false).crc64nvme),
            "0000000000000000"
        );
    }

    proptest::proptest! {
        /// Combining the CRCs of two pieces gives the CRC of both, as
        /// `crc_fast` computes it over the whole and combines it.
        #[test]
        fn crcs_of_pieces_combine_into_the_crc_of_the_whole(
            a in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            b in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let crc = |bytes: &[u8]| crc_fast::checksum(Crc64Nvme, bytes);
            let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
            let combined = crc64nvme_combine(crc(&a), crc(&b), b.len() as u64);
            proptest::prop_assert_eq!(combined, crc(&whole));
        }

        /// For lengths too large to hash in a test, up to the largest, the
        /// same as `crc_fast`'s own combination.
        #[test]
        fn crcs_combine_as_crc_fast_combines_them(
            crc_a in proptest::num::u64::ANY,
            crc_b in proptest::num::u64::ANY,
            len_b in proptest::num::u64::ANY,
        ) {
            proptest::prop_assert_eq!(
                crc64nvme_combine(crc_a, crc_b, len_b),
                crc_fast::checksum_combine(Crc64Nvme, crc_a, crc_b, len_b)
            );
        }
    }

    #[test]
    fn only_hex_digests_are_trusted_as_recorded_hashes() {
        assert_eq!(
            parse_crc64nvme("AE8B14860A799888"),
            Some(0xae8b_1486_0a79_9888)
        );
        assert_eq!(parse_crc64nvme("0000000000000001"), Some(1));
        assert_eq!(parse_crc64nvme("ae8b14860a79988"), None);
        assert_eq!(parse_crc64nvme("+e8b14860a799888"), None);
        assert_eq!(parse_crc64nvme("rooAFA=="), None);
        let upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        assert_eq!(parse_sha256(upper), Some(upper.to_ascii_lowercase()));
        assert_eq!(parse_sha256("not a hash"), None);
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
        assert_eq!(parse_sha256(""), None);
    }
}
