//! File helpers shared by every family: whole-file reads that name the file (and line, for
//! UTF-8 problems), and atomic writes ([`AtomicFile`]: temp file in the same directory, fsync,
//! rename, fsync of the directory), so an interrupted save never leaves a truncated file or
//! destroys the previous one. Every save in seqfast, from Rust and from Python, goes through it.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A file written atomically: bytes go to a temporary file beside `path` (same directory, so the
/// rename is atomic; a unique name per process and call, created exclusively), and
/// [`AtomicFile::commit`] flushes it, fsyncs it (in steps that notice Ctrl-C), renames it over
/// `path` and fsyncs the directory so the rename itself survives a crash. Dropped without a
/// commit (an error, a Ctrl-C, a panic), the temp file is removed and `path` is untouched. Large
/// outputs start their disk writeback as they go ([`EagerWriteback`]), so the final fsync waits
/// only for the tail.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    /// `None` once committed (or after a failed commit, which already removed the temp file).
    out: Option<BufWriter<EagerWriteback>>,
}

impl AtomicFile {
    /// Start an atomic write to `path` (nothing changes at `path` before [`commit`](Self::commit)).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let dir = dir_of(path);
        let name = path.file_name().ok_or_else(|| Error::Value(format!("{} is not a file path", path.display())))?;
        loop {
            let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{}.tmp{}-{serial}", name.to_string_lossy(), std::process::id()));
            // `create_new`: a leftover of a crashed process with the same pid is never reused.
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => {
                    let out = Some(BufWriter::with_capacity(1 << 20, EagerWriteback::new(f)));
                    return Ok(AtomicFile { path: path.to_path_buf(), tmp, out });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create a temporary file for", path, e)),
            }
        }
    }

    /// The path the file will have once committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn out(&mut self) -> std::io::Result<&mut BufWriter<EagerWriteback>> {
        self.out.as_mut().ok_or_else(|| std::io::Error::other("the atomic file was already committed"))
    }

    /// Flush, fsync (interruptibly), rename over the target and fsync its directory. On any
    /// error (or a Ctrl-C during the fsync) the temp file is removed and the target untouched.
    pub fn commit(&mut self) -> Result<()> {
        let out = self.out.take().ok_or_else(|| Error::Value(format!("{} was already committed", self.path.display())))?;
        let res = (|| {
            let f = out.into_inner().map_err(|e| Error::io("write", &self.path, e.into_error()))?.into_inner();
            crate::trace::phase("format+write");
            let cancel = crate::parallel::cancel_token();
            sync_interruptible(&f, &self.path, &cancel)?;
            crate::trace::phase("fsync");
            // A Ctrl-C that came during the final fsync still leaves the old file in place.
            cancel.check()?;
            drop(f);
            std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io("rename into", &self.path, e))
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
            return res;
        }
        sync_dir(&self.path)
    }
}

/// The directory holding `path` ("." for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// fsync the directory holding `path`, so a completed rename survives a crash. File systems
/// that cannot sync a directory (EINVAL) are not an error: the rename is done either way.
fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let res = std::fs::File::open(dir_of(path)).and_then(|d| d.sync_all());
        if let Err(e) = res {
            if e.kind() != std::io::ErrorKind::InvalidInput {
                return Err(Error::io("sync the directory of", path, e));
            }
        }
    }
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out()?.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out()?.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.out()?.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `data` to `path` atomically ([`AtomicFile`]).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(data).map_err(|e| Error::io("write", path, e))?;
    f.commit()
}

/// fsync `file` (the temp file of an atomic write to `path`) in 8 MB steps, looking at `cancel`
/// between them, so a Ctrl-C during the flush of a large file is noticed within one step instead
/// of after the whole flush; then a final fsync for the rest and the metadata.
fn sync_interruptible(file: &std::fs::File, path: &Path, cancel: &crate::parallel::CancelToken) -> Result<()> {
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
struct EagerWriteback {
    file: std::fs::File,
    /// The write position, and the highest position written (a seek back does not lower it).
    pos: u64,
    written: u64,
    flushed: u64,
}

impl EagerWriteback {
    const CHUNK: u64 = 32 << 20;

    fn new(file: std::fs::File) -> Self {
        EagerWriteback { file, pos: 0, written: 0, flushed: 0 }
    }

    fn into_inner(self) -> std::fs::File {
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
        self.pos += n as u64;
        self.written = self.written.max(self.pos);
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for EagerWriteback {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(pos)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory of its own for each test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("seqfast-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    /// A scratch directory holding `name` with the content "old".
    fn with_old_file(test: &str, name: &str) -> (PathBuf, PathBuf) {
        let dir = scratch(test);
        let p = dir.join(name);
        write_atomic(&p, b"old").unwrap();
        (dir, p)
    }

    #[test]
    fn writes_and_replaces() {
        let (dir, p) = with_old_file("replace", "out.txt");
        write_atomic(&p, b"new content").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new content");
        assert_eq!(names(&dir), ["out.txt"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_write_keeps_old_file_and_leaves_no_temp() {
        let (dir, p) = with_old_file("fail", "m.arpa");
        // An error in the middle of the content: the writer is dropped without a commit.
        let res = (|| -> Result<()> {
            let mut f = AtomicFile::create(&p)?;
            f.write_all(&[b'x'; 3 << 20]).unwrap(); // past the buffer: bytes reach the temp file
            assert_eq!(names(&dir).len(), 2);
            Err(Error::Value("formatting failed".into()))
        })();
        assert!(res.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(names(&dir), ["m.arpa"]);
        // The commit itself fails (the target is a non-empty directory): the temp goes too.
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("keep"), b"k").unwrap();
        let err = write_atomic(&sub, b"data").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert_eq!(names(&dir), ["m.arpa", "sub"]);
        assert_eq!(names(&sub), ["keep"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn interrupted_commit_keeps_old_file() {
        let (dir, p) = with_old_file("cancel", "t.json");
        let token = crate::parallel::CancelToken::new();
        token.cancel();
        let err = crate::parallel::with_token(token, || write_atomic(&p, b"new")).unwrap_err();
        assert!(matches!(err, Error::Interrupted));
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(names(&dir), ["t.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_get_their_own_temp_and_seek_works() {
        let dir = scratch("two");
        let p = dir.join("x.bin");
        let mut a = AtomicFile::create(&p).unwrap();
        let mut b = AtomicFile::create(&p).unwrap();
        a.write_all(b"aaaa").unwrap();
        b.write_all(b"bbbb").unwrap();
        b.seek(SeekFrom::Start(1)).unwrap();
        b.write_all(b"Z").unwrap();
        assert_eq!(names(&dir).len(), 2);
        a.commit().unwrap();
        assert!(a.commit().is_err(), "a second commit is an error, not a second rename");
        b.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"bZbb");
        assert_eq!(names(&dir), ["x.bin"]);
        assert!(write_atomic(Path::new("/"), b"").is_err()); // no file name
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
