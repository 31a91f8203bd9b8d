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
mod tests;
