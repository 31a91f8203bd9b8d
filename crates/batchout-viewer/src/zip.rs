//! A ZIP archive written while it is sent: a task's (or a kind's) outputs as
//! one download.
//!
//! Outputs can be large and many, so nothing waits for a whole file or for
//! the whole list of files. An entry's local header goes out as soon as the
//! entry is known, its bytes are deflated as they come from the store, a
//! slice of at most [`SLICE`] at a time so that no poll keeps the runtime
//! long, and the CRC-32 and sizes that the header could not hold follow the
//! data in a data descriptor (general-purpose flag bit 3). Only the central
//! directory, under 100 bytes and the name per entry, is kept until the end.
//!
//! Sizes are unknown when a local header is written, so every entry is
//! written as ZIP64, as APPNOTE 4.3.9.2 describes it: the local header's
//! sizes say "in the ZIP64 extra field" (0xFFFFFFFF), that field says zero
//! (they follow the data), and the data descriptor has 8-byte sizes. This is
//! the layout of the streaming writers stream-zip and FileSender, whose
//! archives macOS's Archive Utility (a streaming reader) is reported to open;
//! Python's `zipfile` writes the same with zeros in the 32-bit fields. Go's
//! `archive/zip` instead leaves the ZIP64 field out and widens the
//! descriptor only when a size overflows, which a streaming reader cannot
//! foresee. Python's `zipfile`, Info-ZIP `unzip` and libarchive read ours
//! (the tests check), and so does Java's `ZipFile`; Java's `ZipInputStream`
//! of JDK 17 does not (it wants 4-byte sizes for small entries,
//! JDK-8303866). The central directory and the end records use ZIP64 only
//! where a value does not fit its 32 (or 16) bits, so a small archive ends
//! like any zip.
//!
//! An archive whose end never comes is not a zip: an error from the entries
//! or from a body ends the stream before the central directory is written,
//! so the HTTP response is cut short and the download fails, instead of
//! giving a zip that silently lacks files.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};
use futures::stream::{self, BoxStream, Stream, StreamExt};

/// The most bytes deflated in one go, between two chances for the runtime
/// to run other tasks.
const SLICE: usize = 256 * 1024;
/// The deflate level: the fastest, as logs compress well anyway.
const LEVEL: u32 = 1;

/// The signature of a local file header.
const LOCAL_HEADER: u32 = 0x0403_4b50;
/// The signature of a data descriptor.
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
/// The signature of a central directory record.
const CENTRAL_HEADER: u32 = 0x0201_4b50;
/// The signature of the ZIP64 end of central directory record.
const ZIP64_END: u32 = 0x0606_4b50;
/// The signature of the ZIP64 end of central directory locator.
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// The signature of the end of central directory record.
const END: u32 = 0x0605_4b50;
/// 4.5: the version that reads ZIP64, needed for every entry (each has a
/// ZIP64 extra field).
const VERSION: u16 = 45;
/// Made by Unix (so that `external attributes` hold a mode), version 4.5.
const MADE_BY: u16 = (3 << 8) | VERSION;
/// Bit 3: CRC-32 and sizes in a data descriptor; bit 11: the name is UTF-8.
const FLAGS: u16 = (1 << 3) | (1 << 11);
/// The compression method: deflate.
const DEFLATE: u16 = 8;
/// A regular file, `rw-r--r--`, in the high half of the external attributes.
const FILE_MODE: u32 = 0o100_644 << 16;
/// The ZIP64 extended information extra field.
const ZIP64_EXTRA: u16 = 0x0001;
/// The extended timestamp extra field (Info-ZIP's "UT"), with the exact UTC
/// modification time that a DOS time, read as local time, lacks.
const TIME_EXTRA: u16 = 0x5455;
/// What a 32-bit field holds when the value is in the ZIP64 extra field.
const MAX32: u32 = u32::MAX;
/// What a 16-bit count holds when the count is in the ZIP64 end record.
const MAX16: u16 = u16::MAX;

/// One file of the archive: its name in the archive, its modification time,
/// and its bytes as they come.
pub(crate) struct ZipEntry {
    /// Its path in the archive, `/`-separated and relative, with no `..`.
    pub(crate) name: String,
    /// When it was last written, if known (the archive says 1980-01-01 if not).
    pub(crate) modified: Option<SystemTime>,
    /// Its bytes, read from the store only once the entries before it are written.
    pub(crate) body: BoxStream<'static, io::Result<Bytes>>,
}

/// The archive of `entries`, in their order, as a stream of chunks.
/// `entries` is polled for the next entry only when the one before is
/// written, so each entry's store read starts only then. An error from
/// `entries` or a body ends the stream with that error (the HTTP response is
/// then cut short, and the client sees a broken download, never a
/// valid-looking truncated zip).
///
/// A name that is empty, starts with `/`, or holds a `..` segment, a `\`
/// or a NUL (or is longer than 65,535 bytes) ends the stream with an error
/// of kind [`io::ErrorKind::InvalidInput`].
pub(crate) fn zip_stream(
    entries: impl Stream<Item = io::Result<ZipEntry>> + Send + 'static,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    zip_stream_at(entries, 0)
}

/// [`zip_stream`], as if `start` bytes preceded the archive: its offsets
/// count from there. Tests put an archive past 4 GiB this way, in a sparse
/// file, without writing 4 GiB.
fn zip_stream_at(
    entries: impl Stream<Item = io::Result<ZipEntry>> + Send + 'static,
    start: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let writer = Writer {
        entries: entries.boxed(),
        offset: start,
        deflate: Compress::new(Compression::new(LEVEL), false),
        current: None,
        central: Vec::new(),
        count: 0,
        ended: false,
    };
    stream::try_unfold(writer, |mut writer| async move {
        Ok(writer.next_chunk().await?.map(|chunk| (chunk, writer)))
    })
}

/// The archive being written.
struct Writer {
    /// The entries still to come.
    entries: BoxStream<'static, io::Result<ZipEntry>>,
    /// Where the next byte sent is in the archive.
    offset: u64,
    /// The compressor, reset for each entry rather than made anew (it holds
    /// a few hundred KiB of tables).
    deflate: Compress,
    /// The entry being written, if any.
    current: Option<Current>,
    /// The central directory's records of the entries written.
    central: Vec<u8>,
    /// How many entries are in `central`.
    count: u64,
    /// Whether the central directory is sent.
    ended: bool,
}

/// The entry being written.
struct Current {
    /// Its name, checked.
    name: String,
    /// Its DOS time and date.
    dos: (u16, u16),
    /// Its modification time in Unix seconds, when it fits the "UT" field.
    unix: Option<u32>,
    /// Where its local header starts.
    header_offset: u64,
    /// The rest of its bytes.
    body: BoxStream<'static, io::Result<Bytes>>,
    /// Bytes read from `body`, not yet deflated.
    pending: Bytes,
    /// The CRC-32 of the bytes deflated so far.
    crc: crc32fast::Hasher,
}

impl Writer {
    /// The next chunk of the archive, or `None` after the end records.
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let Some(current) = self.current.as_mut() else {
                if self.ended {
                    return Ok(None);
                }
                return match self.entries.next().await {
                    Some(entry) => self.start(entry?).map(Some),
                    None => {
                        self.ended = true;
                        Ok(Some(self.end()))
                    }
                };
            };
            if !current.pending.is_empty() {
                let slice = current.pending.split_to(current.pending.len().min(SLICE));
                current.crc.update(&slice);
                let out = deflate(&mut self.deflate, &slice, FlushCompress::None)?;
                if !out.is_empty() {
                    return Ok(Some(self.send(out)));
                }
                // Nothing to send yet (deflate holds it): let other tasks run
                // before the next slice all the same.
                tokio::task::yield_now().await;
                continue;
            }
            match current.body.next().await {
                Some(chunk) => current.pending = chunk?,
                None => return self.finish().map(Some),
            }
        }
    }

    /// Begins `entry`: its local header.
    fn start(&mut self, entry: ZipEntry) -> io::Result<Bytes> {
        check_name(&entry.name)?;
        let name_len = name_len(&entry.name)?;
        let current = Current {
            dos: dos_time(entry.modified),
            unix: unix_time(entry.modified),
            header_offset: self.offset,
            body: entry.body,
            pending: Bytes::new(),
            crc: crc32fast::Hasher::new(),
            name: entry.name,
        };
        let mut extra = Vec::with_capacity(29);
        // Sizes unknown: zero here, 8 bytes each in the data descriptor.
        put16(&mut extra, ZIP64_EXTRA);
        put16(&mut extra, 16);
        put64(&mut extra, 0);
        put64(&mut extra, 0);
        time_extra(&mut extra, current.unix);
        let mut header = Vec::with_capacity(30 + current.name.len() + extra.len());
        put32(&mut header, LOCAL_HEADER);
        put16(&mut header, VERSION);
        put16(&mut header, FLAGS);
        put16(&mut header, DEFLATE);
        put16(&mut header, current.dos.0);
        put16(&mut header, current.dos.1);
        put32(&mut header, 0); // CRC-32, in the data descriptor
        // The sizes: "see the ZIP64 field", which says "see the data
        // descriptor" (zero), as streaming readers expect (see the module).
        put32(&mut header, MAX32);
        put32(&mut header, MAX32);
        put16(&mut header, name_len);
        put16(&mut header, extra.len() as u16);
        header.extend_from_slice(current.name.as_bytes());
        header.extend_from_slice(&extra);
        self.deflate.reset();
        self.current = Some(current);
        Ok(self.send(header))
    }

    /// Ends the current entry: the rest of its deflated bytes and its data
    /// descriptor. Its central directory record is kept for the end.
    fn finish(&mut self) -> io::Result<Bytes> {
        let mut out = deflate(&mut self.deflate, &[], FlushCompress::Finish)?;
        let Some(current) = self.current.take() else {
            return Err(io::Error::other("zip: no entry to finish"));
        };
        let crc = current.crc.finalize();
        let size = self.deflate.total_in();
        let compressed = self.deflate.total_out();
        put32(&mut out, DATA_DESCRIPTOR);
        put32(&mut out, crc);
        put64(&mut out, compressed);
        put64(&mut out, size);

        // The ZIP64 field holds, in this order, only the values that do not
        // fit their 32-bit fields.
        let mut zip64 = Vec::new();
        let mut field32 = |value: u64| match u32::try_from(value) {
            Ok(small) if small != MAX32 => small,
            _ => {
                put64(&mut zip64, value);
                MAX32
            }
        };
        let size32 = field32(size);
        let compressed32 = field32(compressed);
        let offset32 = field32(current.header_offset);
        let mut extra = Vec::with_capacity(4 + zip64.len() + 9);
        if !zip64.is_empty() {
            put16(&mut extra, ZIP64_EXTRA);
            put16(&mut extra, zip64.len() as u16);
            extra.extend_from_slice(&zip64);
        }
        time_extra(&mut extra, current.unix);
        let record = &mut self.central;
        put32(record, CENTRAL_HEADER);
        put16(record, MADE_BY);
        put16(record, VERSION);
        put16(record, FLAGS);
        put16(record, DEFLATE);
        put16(record, current.dos.0);
        put16(record, current.dos.1);
        put32(record, crc);
        put32(record, compressed32);
        put32(record, size32);
        put16(record, name_len(&current.name)?);
        put16(record, extra.len() as u16);
        put16(record, 0); // comment length
        put16(record, 0); // disk number
        put16(record, 0); // internal attributes
        put32(record, FILE_MODE);
        put32(record, offset32);
        record.extend_from_slice(current.name.as_bytes());
        record.extend_from_slice(&extra);
        self.count += 1;
        Ok(self.send(out))
    }

    /// The central directory and the end records (ZIP64 ones first when a
    /// count, size or offset overflows the plain record).
    fn end(&mut self) -> Bytes {
        let mut out = std::mem::take(&mut self.central);
        let directory_offset = self.offset;
        let directory_size = out.len() as u64;
        let count16 = u16::try_from(self.count)
            .ok()
            .filter(|&count| count != MAX16);
        let size32 = u32::try_from(directory_size)
            .ok()
            .filter(|&size| size != MAX32);
        let offset32 = u32::try_from(directory_offset)
            .ok()
            .filter(|&offset| offset != MAX32);
        if count16.is_none() || size32.is_none() || offset32.is_none() {
            let zip64_end_offset = directory_offset + directory_size;
            put32(&mut out, ZIP64_END);
            put64(&mut out, 44); // the size of the rest of this record
            put16(&mut out, MADE_BY);
            put16(&mut out, VERSION);
            put32(&mut out, 0); // this disk
            put32(&mut out, 0); // the disk where the directory starts
            put64(&mut out, self.count); // entries on this disk
            put64(&mut out, self.count); // entries
            put64(&mut out, directory_size);
            put64(&mut out, directory_offset);
            put32(&mut out, ZIP64_LOCATOR);
            put32(&mut out, 0); // the disk with the ZIP64 end record
            put64(&mut out, zip64_end_offset);
            put32(&mut out, 1); // disks
        }
        put32(&mut out, END);
        put16(&mut out, 0); // this disk
        put16(&mut out, 0); // the disk where the directory starts
        put16(&mut out, count16.unwrap_or(MAX16)); // entries on this disk
        put16(&mut out, count16.unwrap_or(MAX16)); // entries
        put32(&mut out, size32.unwrap_or(MAX32));
        put32(&mut out, offset32.unwrap_or(MAX32));
        put16(&mut out, 0); // comment length
        self.send(out)
    }

    /// `bytes`, counted as sent.
    fn send(&mut self, bytes: Vec<u8>) -> Bytes {
        self.offset += bytes.len() as u64;
        Bytes::from(bytes)
    }
}

/// What deflating `input` (and, with [`FlushCompress::Finish`], ending the
/// stream) gives out now.
fn deflate(compress: &mut Compress, mut input: &[u8], flush: FlushCompress) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        if out.capacity() - out.len() < 16 * 1024 {
            out.reserve(input.len() / 2 + 64 * 1024);
        }
        let (read, written) = (compress.total_in(), compress.total_out());
        let status = compress
            .compress_vec(input, &mut out, flush)
            .map_err(io::Error::other)?;
        let consumed = (compress.total_in() - read) as usize;
        input = &input[consumed..];
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => input.is_empty(),
        };
        if done {
            return Ok(out);
        }
        if consumed == 0 && compress.total_out() == written {
            return Err(io::Error::other("zip: deflate made no progress"));
        }
    }
}

/// Refuses a name that would not stay inside the folder it is extracted to,
/// or that readers would take apart differently.
fn check_name(name: &str) -> io::Result<()> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.starts_with('/') {
        "it starts with /"
    } else if name.contains('\\') {
        "it holds a \\"
    } else if name.contains('\0') {
        "it holds a NUL"
    } else if name.split('/').any(|segment| segment == "..") {
        "it holds a .. segment"
    } else {
        return Ok(());
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot name a file {name:?} in a zip archive: {why}"),
    ))
}

/// The length of `name` in bytes, for its 16-bit field.
fn name_len(name: &str) -> io::Result<u16> {
    u16::try_from(name.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot put a name of {} bytes in a zip archive: at most 65,535",
                name.len()
            ),
        )
    })
}

/// The DOS (time, date) of `modified` in UTC, to the even second below;
/// 1980-01-01 00:00 when unknown or earlier, 2107-12-31 23:59:58 when later.
fn dos_time(modified: Option<SystemTime>) -> (u16, u16) {
    const FIRST: (u16, u16) = (0, (1 << 5) | 1);
    const LAST: (u16, u16) = ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31);
    let Some(seconds) = modified
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_secs())
    else {
        return FIRST;
    };
    let (days, second) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil(days);
    if year < 1980 {
        return FIRST;
    }
    if year > 2107 {
        return LAST;
    }
    let time = ((second / 3600) << 11) | ((second % 3600 / 60) << 5) | (second % 60 / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

/// The (year, month, day) of the `days`th day after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `modified` in Unix seconds, when the "UT" field (a signed 32-bit count)
/// holds it.
fn unix_time(modified: Option<SystemTime>) -> Option<u32> {
    let seconds = modified?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    u32::try_from(seconds)
        .ok()
        .filter(|&s| s <= i32::MAX as u32)
}

/// Appends the "UT" extra field with the modification time, if known.
fn time_extra(extra: &mut Vec<u8>, unix: Option<u32>) {
    if let Some(unix) = unix {
        put16(extra, TIME_EXTRA);
        put16(extra, 5);
        extra.push(1); // the modification time follows
        put32(extra, unix);
    }
}

/// Appends `value`, little-endian.
fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends `value`, little-endian.
fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends `value`, little-endian.
fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
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
}
