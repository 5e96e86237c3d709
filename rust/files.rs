//! File helpers shared by every family: whole-file reads that name the file (and line, for
//! UTF-8 problems), and atomic writes (temp file in the same directory, fsync, rename), so an
//! interrupted save never leaves a truncated file or destroys the previous one.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Read a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// Read a whole file that must be UTF-8; the error names the file, line and byte.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_file(path)?;
    utf8(&bytes, &path.display().to_string())?;
    Ok(String::from_utf8(bytes).expect("checked above"))
}

/// `data` as UTF-8 text; the error names `what`, the line and the byte.
pub fn utf8<'a>(data: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(data).map_err(|e| {
        let at = e.valid_up_to();
        let line = data[..at].iter().filter(|&&c| c == b'\n').count() + 1;
        Error::Format(format!("{what}: line {line}: not valid UTF-8 (byte {at})"))
    })
}

/// A temporary file name beside `path` (same directory, so a rename is atomic).
pub fn temp_path(path: &Path) -> Result<std::path::PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| Error::Value(format!("{} is not a file path", path.display())))?;
    Ok(dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id())))
}

/// Write `data` to `path` atomically: a temp file in the same directory, fsync, then rename, so
/// an interrupted save never leaves a truncated file or destroys the previous one.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = temp_path(path)?;
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("write", path, e)
    })
}

/// Write `path` atomically through a buffered writer: `fill` writes the content into a temp
/// file beside `path` (written back to disk as it goes), which is fsynced (interruptibly) and
/// renamed over `path`; on any error or Ctrl-C the temp file is removed and `path` untouched.
pub fn write_atomic_stream(path: &Path, fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path)?;
    let res = (|| -> Result<()> {
        let f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, EagerWriteback::new(f));
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| Error::io("write", path, e.into_error()))?.into_inner();
        crate::trace::phase("format+write");
        let cancel = crate::parallel::cancel_token();
        sync_interruptible(&f, path, &cancel)?;
        crate::trace::phase("fsync");
        // A Ctrl-C that came during the final fsync still leaves the old file in place.
        cancel.check()?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("rename into", path, e))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// fsync `file` (the temp file of an atomic write to `path`) in 8 MB steps, looking at `cancel`
/// between them, so a Ctrl-C during the flush of a large file is noticed within one step instead
/// of after the whole flush; then a final fsync for the rest and the metadata.
pub fn sync_interruptible(file: &std::fs::File, path: &Path, cancel: &crate::parallel::CancelToken) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        const STEP: u64 = 8 << 20;
        let len = file.metadata().map_err(|e| Error::io("write", path, e))?.len();
        let mut off = 0;
        while off < len {
            cancel.check()?;
            let n = STEP.min(len - off);
            let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            // SAFETY: a plain syscall on a descriptor we own; on error the final fsync below
            // still covers everything (and reports the error).
            unsafe {
                libc::sync_file_range(file.as_raw_fd(), off as libc::off64_t, n as libc::off64_t, flags);
            }
            off += n;
        }
    }
    cancel.check()?;
    file.sync_all().map_err(|e| Error::io("write", path, e))
}

/// A file writer for large outputs that starts the disk writeback of every `CHUNK` bytes as
/// soon as they are written (Linux `sync_file_range`, which does not wait), so the final fsync
/// of an atomic write waits only for the tail instead of the whole file.
pub struct EagerWriteback {
    file: std::fs::File,
    written: u64,
    flushed: u64,
}

impl EagerWriteback {
    const CHUNK: u64 = 32 << 20;

    pub fn new(file: std::fs::File) -> Self {
        EagerWriteback { file, written: 0, flushed: 0 }
    }

    pub fn into_inner(self) -> std::fs::File {
        self.file
    }

    #[cfg(target_os = "linux")]
    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        if self.written - self.flushed >= Self::CHUNK {
            // SAFETY: a plain syscall on a file descriptor we own; errors only mean no early
            // writeback (the final fsync still covers everything), so they are ignored.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.flushed as libc::off64_t,
                    (self.written - self.flushed) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.flushed = self.written;
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn start_writeback(&mut self) {}
}

impl std::io::Write for EagerWriteback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}
