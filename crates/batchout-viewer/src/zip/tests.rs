use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::pin::pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::*;

/// Reads an archive back with Python's `zipfile`: `testzip()` (every
/// entry inflated and its CRC-32 checked), then each entry's central
/// directory fields, its local header and its data descriptor (which
/// `zipfile` itself skips, and streaming readers rely on), and with
/// `read` its bytes: how many, and SHA-256.
const READ_BACK: &str = r#"
import hashlib, json, struct, sys, zipfile
path, mode = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
    bad = archive.testzip()
    entries = []
    for info in archive.infolist():
        entry = {"name": info.filename, "size": info.file_size,
                 "compressed": info.compress_size, "crc": info.CRC,
                 "flags": info.flag_bits, "method": info.compress_type,
                 "date_time": list(info.date_time), "offset": info.header_offset}
        raw.seek(info.header_offset)
        local = struct.unpack("<IHHHHHIIIHH", raw.read(30))
        raw.seek(local[9], 1)
        extra, extras = raw.read(local[10]), []
        while len(extra) >= 4:
            tag, size = struct.unpack("<HH", extra[:4])
            extras.append(tag)
            extra = extra[4 + size:]
        raw.seek(info.compress_size, 1)
        entry["local"] = {"signature": local[0], "version": local[1], "flags": local[2],
                          "sizes": [local[7], local[8]], "extras": extras}
        entry["descriptor"] = list(struct.unpack("<IIQQ", raw.read(24)))
        if mode == "read":
            digest, read = hashlib.sha256(), 0
            with archive.open(info) as f:
                while chunk := f.read(1 << 20):
                    read += len(chunk)
                    digest.update(chunk)
            entry["read"], entry["sha256"] = read, digest.hexdigest()
        entries.append(entry)
print(json.dumps({"testzip": bad, "entries": entries}))
"#;

/// 2024-02-29T13:45:58Z.
const LEAP_DAY: u64 = 1_709_214_358;

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// `data` as a body of chunks of `chunk` bytes.
fn body(data: &[u8], chunk: usize) -> BoxStream<'static, io::Result<Bytes>> {
    let chunks: Vec<io::Result<Bytes>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks).boxed()
}

fn entry(name: &str, modified: Option<SystemTime>, data: &[u8], chunk: usize) -> ZipEntry {
    ZipEntry {
        name: name.to_owned(),
        modified,
        body: body(data, chunk),
    }
}

/// Bytes no compressor can shrink (xorshift64*).
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `archive` to `path` chunk by chunk, after a hole of `start`
/// bytes (a sparse file: nothing is written there).
async fn save(archive: impl Stream<Item = io::Result<Bytes>>, path: &Path, start: u64) {
    let mut file = tokio::fs::File::create(path)
        .await
        .expect("create the archive");
    file.seek(SeekFrom::Start(start))
        .await
        .expect("seek past the hole");
    let mut file = BufWriter::with_capacity(1 << 20, file);
    let mut archive = pin!(archive);
    while let Some(chunk) = archive.next().await {
        let chunk = chunk.expect("a chunk of the archive");
        file.write_all(&chunk).await.expect("write the archive");
    }
    file.flush().await.expect("flush the archive");
}

fn python_read(path: &Path, mode: &str) -> Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(READ_BACK)
        .arg(path)
        .arg(mode)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "zipfile could not read the archive: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).expect("zipfile's JSON");
    assert_eq!(read["testzip"], Value::Null, "testzip found a bad entry");
    for entry in read["entries"].as_array().expect("entries") {
        let local = &entry["local"];
        assert_eq!(local["signature"], LOCAL_HEADER, "{entry}");
        assert_eq!(local["version"], VERSION, "{entry}");
        assert_eq!(local["flags"], FLAGS, "{entry}");
        assert_eq!(local["sizes"], serde_json::json!([MAX32, MAX32]), "{entry}");
        assert_eq!(local["extras"][0], ZIP64_EXTRA, "{entry}");
        let descriptor = [
            Value::from(DATA_DESCRIPTOR),
            entry["crc"].clone(),
            entry["compressed"].clone(),
            entry["size"].clone(),
        ];
        assert_eq!(
            entry["descriptor"],
            Value::from(descriptor.to_vec()),
            "{entry}"
        );
    }
    read
}

/// `unzip -t`, where Info-ZIP's unzip is installed.
fn unzip_test(path: &Path) {
    let out = match Command::new("unzip").arg("-tq").arg(path).output() {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!("unzip is not installed: skipping unzip -t");
            return;
        }
        Err(e) => panic!("run unzip: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("No errors detected"),
        "unzip -t: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads the archive from a pipe with libarchive's `bsdtar`, where it is
/// installed, as a streaming reader does: trusting the local headers and
/// data descriptors, not the central directory. Checks that it finds
/// `entries` entries of `bytes` bytes in all, with their CRC-32s right.
fn bsdtar_stream_test(path: &Path, entries: usize, bytes: u64) {
    let archive = std::fs::File::open(path).expect("open the archive");
    let spawned = Command::new("bsdtar")
        .args(["-xvOf", "-"])
        .stdin(archive)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!("bsdtar is not installed: skipping the streaming read");
            return;
        }
        Err(e) => panic!("run bsdtar: {e}"),
    };
    let mut stderr = child.stderr.take().expect("bsdtar's stderr");
    let listing = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let mut stdout = child.stdout.take().expect("bsdtar's stdout");
    let (mut buffer, mut read) = (vec![0; 1 << 20], 0u64);
    loop {
        match stdout.read(&mut buffer).expect("read bsdtar's output") {
            0 => break,
            n => read += n as u64,
        }
    }
    let status = child.wait().expect("bsdtar ends");
    let listing = listing
        .join()
        .expect("the stderr reader")
        .expect("bsdtar's stderr");
    assert!(status.success(), "bsdtar: {listing}");
    assert_eq!(
        listing.lines().filter(|l| l.starts_with("x ")).count(),
        entries
    );
    assert_eq!(read, bytes);
}

/// The last `n` bytes of the file at `path`.
fn tail(path: &Path, n: u64) -> Vec<u8> {
    let mut file = std::fs::File::open(path).expect("open the archive");
    file.seek(SeekFrom::End(-(n as i64)))
        .expect("seek to the tail");
    let mut out = Vec::new();
    file.read_to_end(&mut out).expect("read the tail");
    out
}

#[tokio::test]
async fn python_and_unzip_read_back_every_entry_as_it_went_in() {
    let log: Vec<u8> = (0..20_000)
        .flat_map(|i| {
            format!("13:45:{:02} task 7 step {i}: copied 4096 bytes\n", i % 60).into_bytes()
        })
        .collect();
    let random = pseudo_random(3 << 20, 7);
    let unicode = "Grüße, 世界\n".repeat(100).into_bytes();
    let inputs: Vec<(&str, Option<SystemTime>, &[u8], usize)> = vec![
        ("empty.txt", None, b"", 1),
        ("hello.txt", Some(at(LEAP_DAY)), b"hello, zip\n", 4),
        // One chunk of 3 MiB: deflated a slice at a time.
        ("random.bin", Some(at(LEAP_DAY)), &random, 3 << 20),
        ("résumé/日本語 ü.txt", Some(at(0)), &unicode, 1000),
        ("logs/task-7/deep/er/stdout.txt", None, &log, 64 * 1024),
    ];
    let entries: Vec<io::Result<ZipEntry>> = inputs
        .iter()
        .map(|&(name, modified, data, chunk)| Ok(entry(name, modified, data, chunk)))
        .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("outputs.zip");
    save(zip_stream(stream::iter(entries)), &path, 0).await;

    let read = python_read(&path, "read");
    let read = read["entries"].as_array().expect("entries");
    assert_eq!(read.len(), inputs.len());
    for (got, &(name, modified, data, _)) in read.iter().zip(&inputs) {
        assert_eq!(got["name"], name);
        assert_eq!(got["size"], data.len() as u64, "{name}");
        assert_eq!(got["read"], data.len() as u64, "{name}");
        assert_eq!(got["sha256"], sha256(data), "{name}");
        assert_eq!(got["crc"], crc32fast::hash(data), "{name}");
        assert_eq!(got["method"], 8, "{name}: deflated");
        let flags = got["flags"].as_u64().expect("flags");
        assert_eq!(flags & 0x808, 0x808, "{name}: data descriptor, UTF-8 name");
        let date_time = if modified == Some(at(LEAP_DAY)) {
            serde_json::json!([2024, 2, 29, 13, 45, 58])
        } else {
            serde_json::json!([1980, 1, 1, 0, 0, 0])
        };
        assert_eq!(got["date_time"], date_time, "{name}");
    }
    let log_entry = &read[4];
    assert!(
        log_entry["compressed"].as_u64().expect("a size") < log.len() as u64 / 4,
        "a log compresses well: {log_entry}"
    );
    // A small archive ends with the plain end record only.
    let end = tail(&path, 42);
    assert_eq!(end[20..24], END.to_le_bytes());
    assert_ne!(end[..4], ZIP64_LOCATOR.to_le_bytes());
    unzip_test(&path);
    let total = inputs.iter().map(|input| input.2.len() as u64).sum();
    bsdtar_stream_test(&path, inputs.len(), total);
}

#[tokio::test]
async fn sends_an_entry_before_asking_for_the_next() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let entries = stream::iter(0..3).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(ZipEntry {
            name: format!("{i}.txt"),
            modified: None,
            // A store that has not answered yet.
            body: stream::pending().boxed(),
        })
    });
    let mut archive = pin!(zip_stream(entries));
    let first = archive.next().await.expect("a chunk").expect("a header");
    assert_eq!(first[..4], LOCAL_HEADER.to_le_bytes());
    assert!(futures::poll!(archive.next()).is_pending());
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

/// The chunks before an error, checking that the error is the last item.
async fn until_error(archive: impl Stream<Item = io::Result<Bytes>>) -> (Vec<u8>, io::Error) {
    let mut items: Vec<io::Result<Bytes>> = archive.collect().await;
    let error = items
        .pop()
        .expect("some items")
        .expect_err("the stream ends with the error");
    let mut sent = Vec::new();
    for item in items {
        sent.extend_from_slice(&item.expect("chunks before the error"));
    }
    (sent, error)
}

#[tokio::test]
async fn an_error_from_a_body_ends_the_stream_with_it() {
    let failing = stream::iter(vec![
        Ok(Bytes::from_static(b"the first bytes")),
        Err(io::Error::other("the store went away")),
    ])
    .boxed();
    let entries = stream::iter(vec![
        Ok(entry("a.txt", None, b"fine", 2)),
        Ok(ZipEntry {
            name: "b.txt".into(),
            modified: None,
            body: failing,
        }),
        Ok(entry("c.txt", None, b"never read", 2)),
    ]);
    let (sent, error) = until_error(zip_stream(entries)).await;
    assert_eq!(error.to_string(), "the store went away");
    assert!(!sent.is_empty(), "a.txt was sent");
    assert!(
        !sent.windows(4).any(|w| w == CENTRAL_HEADER.to_le_bytes()),
        "no central directory after an error"
    );
}

#[tokio::test]
async fn an_error_from_the_entries_ends_the_stream_with_it() {
    let entries = stream::iter(vec![
        Ok(entry("a.txt", None, b"fine", 2)),
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "listing refused",
        )),
        Ok(entry("c.txt", None, b"never read", 2)),
    ]);
    let (sent, error) = until_error(zip_stream(entries)).await;
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    assert!(!sent.windows(4).any(|w| w == END.to_le_bytes()));
}

#[tokio::test]
async fn refuses_names_that_could_escape_or_mislead() {
    let long = "a".repeat(70_000);
    for name in [
        "",
        "/etc/passwd",
        "..",
        "a/../../b",
        "x/..",
        "a\\b",
        "a\0b",
        &long,
    ] {
        let entries = stream::iter([Ok(entry(name, None, b"x", 1))]);
        let (sent, error) = until_error(zip_stream(entries)).await;
        assert!(sent.is_empty(), "{name:?}");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{name:?}");
    }
    for name in ["a..b", "..a/b", "a/b../c", ".hidden", "a/./b"] {
        assert!(check_name(name).is_ok(), "{name:?}");
    }
}

#[test]
fn dos_times_are_utc_and_clamped_to_the_dos_range() {
    const FIRST: (u16, u16) = (0, (1 << 5) | 1);
    const LAST: (u16, u16) = ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31);
    assert_eq!(dos_time(None), FIRST);
    assert_eq!(dos_time(Some(UNIX_EPOCH - Duration::from_secs(1))), FIRST);
    assert_eq!(dos_time(Some(at(315_532_799))), FIRST); // 1979-12-31T23:59:59Z
    assert_eq!(dos_time(Some(at(315_532_800))), FIRST); // 1980-01-01T00:00:00Z
    // 2024-02-29T13:45:59Z, to the even second below.
    let leap = ((13 << 11) | (45 << 5) | 29, (44 << 9) | (2 << 5) | 29);
    assert_eq!(dos_time(Some(at(1_709_214_359))), leap);
    // 2000-02-29T12:00:00Z and 2100-03-01T00:00:00Z (2100 is no leap year).
    assert_eq!(
        dos_time(Some(at(951_825_600))),
        (12 << 11, (20 << 9) | (2 << 5) | 29)
    );
    assert_eq!(
        dos_time(Some(at(4_107_542_400))),
        (0, (120 << 9) | (3 << 5) | 1)
    );
    assert_eq!(dos_time(Some(at(4_354_819_199))), LAST); // 2107-12-31T23:59:59Z
    assert_eq!(dos_time(Some(at(4_354_819_200))), LAST); // 2108-01-01T00:00:00Z
    assert_eq!(unix_time(Some(at(LEAP_DAY))), Some(LEAP_DAY as u32));
    assert_eq!(unix_time(Some(at(1 << 31))), None);
}

#[tokio::test]
async fn offsets_past_4_gib_use_zip64_fields_and_end_records() {
    // The archive starts 100 bytes short of 4 GiB, in a sparse file:
    // a.txt's header is below 4 GiB, b.txt's and the directory above.
    let start = u64::from(u32::MAX) - 100;
    let a = pseudo_random(1000, 1);
    let b = b"after 4 GiB\n".repeat(10);
    let entries = stream::iter(vec![
        Ok(entry("a.bin", Some(at(LEAP_DAY)), &a, 300)),
        Ok(entry("b.txt", None, &b, 7)),
    ]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("far.zip");
    save(zip_stream_at(entries, start), &path, start).await;

    let read = python_read(&path, "read");
    let read = read["entries"].as_array().expect("entries");
    assert_eq!(read.len(), 2);
    assert_eq!(read[0]["offset"], start);
    assert!(read[1]["offset"].as_u64().expect("an offset") > u64::from(u32::MAX));
    for (got, data) in read.iter().zip([&a[..], &b[..]]) {
        assert_eq!(got["sha256"], sha256(data));
    }
    // The ZIP64 end record and locator, then the end record with the
    // directory's offset left to them.
    let end = tail(&path, 22 + 20 + 56);
    assert_eq!(end[..4], ZIP64_END.to_le_bytes());
    assert_eq!(end[56..60], ZIP64_LOCATOR.to_le_bytes());
    assert_eq!(end[76..80], END.to_le_bytes());
    assert_eq!(end[92..96], MAX32.to_le_bytes());
    unzip_test(&path);
}

#[tokio::test]
async fn more_than_65535_entries_use_the_zip64_end_record() {
    const COUNT: usize = 70_000;
    let entries =
        stream::iter(0..COUNT).map(|i| Ok(entry(&format!("many/{i:05}.txt"), None, b"", 1)));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("many.zip");
    save(zip_stream(entries), &path, 0).await;

    let read = python_read(&path, "meta");
    let read = read["entries"].as_array().expect("entries");
    assert_eq!(read.len(), COUNT);
    assert_eq!(read[0]["name"], "many/00000.txt");
    assert_eq!(
        read[COUNT - 1]["name"],
        format!("many/{:05}.txt", COUNT - 1)
    );
    let end = tail(&path, 22 + 20 + 56);
    assert_eq!(end[..4], ZIP64_END.to_le_bytes());
    assert_eq!(end[32..40], (COUNT as u64).to_le_bytes());
    assert_eq!(end[86..88], MAX16.to_le_bytes());
    unzip_test(&path);
    bsdtar_stream_test(&path, COUNT, 0);
}

#[tokio::test]
async fn an_entry_over_4_gib_gets_zip64_sizes() {
    // 4,200 MiB of zeros, made as they are read; they deflate to ~4 MiB.
    const MIB: usize = 1 << 20;
    const CHUNKS: usize = 4200;
    let zeros = Bytes::from(vec![0u8; MIB]);
    let mut expected = crc32fast::Hasher::new();
    for _ in 0..CHUNKS {
        expected.update(&zeros);
    }
    let expected = expected.finalize();
    let big = stream::iter(0..CHUNKS)
        .map(move |_| Ok(zeros.clone()))
        .boxed();
    let entries = stream::iter(vec![
        Ok(ZipEntry {
            name: "zeros.bin".into(),
            modified: Some(at(LEAP_DAY)),
            body: big,
        }),
        Ok(entry("after.txt", None, b"after the big one\n", 5)),
    ]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("big.zip");
    save(zip_stream(entries), &path, 0).await;

    // testzip() inflates every entry and checks its CRC-32.
    let read = python_read(&path, "meta");
    let read = read["entries"].as_array().expect("entries");
    assert_eq!(read.len(), 2);
    assert_eq!(read[0]["name"], "zeros.bin");
    assert_eq!(read[0]["size"], (CHUNKS * MIB) as u64);
    assert!((CHUNKS * MIB) as u64 > u64::from(u32::MAX));
    assert_eq!(read[0]["crc"], expected);
    assert_eq!(read[1]["size"], 18);
    unzip_test(&path);
    bsdtar_stream_test(&path, 2, (CHUNKS * MIB) as u64 + 18);
}
