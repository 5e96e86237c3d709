//! The process's standard input and output as streams for the command line: read fd 0 and
//! write fd 1 directly (no Python objects, no line buffering), waiting in `poll` with a short
//! timeout so a cancellation (Ctrl-C, see `parallel`) is noticed even while a pipe is idle.
//!
//! Text arrives in blocks that end at a line end ([`for_each_block`]), checked as UTF-8 block
//! by block (a cut at `\n` is always a character boundary), so an error names the input, the
//! line and the byte offset from the start of the input.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::parallel::{cancel_token, CancelToken};

/// How long one `poll` waits before looking at the cancellation token again.
const POLL_MS: i32 = 50;

/// One input of a command: the process's stdin, a file, or bytes already in memory (stdin of
/// an embedding that replaced `sys.stdin`).
pub enum Input<'a> {
    Stdin,
    Path(&'a Path),
    Bytes(&'a [u8]),
}

impl Input<'_> {
    /// The input's name in error messages.
    pub fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            _ => "<stdin>".to_string(),
        }
    }
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::Io { msg: format!("cannot {what}: {e}"), kind: e.kind() }
}

/// Wait until `fd` is ready for `events` (`POLLIN`/`POLLOUT`), checking for cancellation every
/// [`POLL_MS`]. Errors of `poll` itself are left to the read or write that follows.
fn wait_ready(fd: i32, events: libc::c_short, cancel: &CancelToken) -> Result<()> {
    loop {
        cancel.check()?;
        let mut p = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: `p` is one valid pollfd that outlives the call.
        let r = unsafe { libc::poll(&mut p, 1, POLL_MS) };
        if r != 0 {
            return Ok(()); // ready, hung up, or an error the read/write will report
        }
    }
}

/// One `read(2)` of up to `buf.len()` bytes from stdin (0 at the end), retried on `EINTR`;
/// waits for data in steps that look at `cancel`.
pub fn read_stdin(buf: &mut [u8], cancel: &CancelToken) -> Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    unsafe { read_stdin_into(buf.as_mut_ptr(), buf.len(), cancel) }
}

/// [`read_stdin`] into `len` bytes at `dst`, which may be uninitialised.
///
/// # Safety
/// `dst` must be valid for `len` bytes of writes.
unsafe fn read_stdin_into(dst: *mut u8, len: usize, cancel: &CancelToken) -> Result<usize> {
    loop {
        wait_ready(0, libc::POLLIN, cancel)?;
        // SAFETY: the caller guarantees `dst` is writable for `len` bytes.
        let n = unsafe { libc::read(0, dst.cast(), len) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        // EAGAIN: stdin left non-blocking by another process; poll again
        if !matches!(e.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock) {
            return Err(io_err("read <stdin>", e));
        }
    }
}

/// The size stdin has left when it is a regular file (`< file`), for sizing buffers.
fn stdin_size_hint() -> Option<usize> {
    // SAFETY: fstat and lseek on fd 0 with a valid out-pointer; failures return -1, handled.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(0, &mut st) != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
            return None;
        }
        let pos = libc::lseek(0, 0, libc::SEEK_CUR);
        Some((st.st_size as i64 - pos.max(0) as i64).max(0) as usize)
    }
}

/// Standard output as a writer: `write(2)` on fd 1 (never closed). A reader that went away
/// gives an error of kind `BrokenPipe` (Python ignores `SIGPIPE`); wrap it in a `BufWriter`.
///
/// A pipe or socket whose reader stops reading must not block the write for good, or a Ctrl-C
/// would never be seen: there each write is non-blocking (`pwritev2` with `RWF_NOWAIT`; where
/// the kernel refuses that, at most `PIPE_BUF` bytes after `poll` said there is room, which
/// never blocks) and waits in `poll` steps that look at the cancellation token. Files and
/// devices are written plainly. The token is the one of the thread that made the writer, since
/// writes may come from other workers.
pub struct Stdout {
    cancel: CancelToken,
    /// fd 1 is a pipe or socket (else a file or device)
    stream: bool,
    /// `RWF_NOWAIT` was refused: small writes after `poll`
    small: bool,
}

impl Stdout {
    /// Standard output, cancelled with this thread's [`cancel_token`].
    pub fn new() -> Stdout {
        // SAFETY: fstat on fd 1 with a valid out-pointer; a failure leaves `stream` false.
        let stream = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(1, &mut st) == 0 && matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
        };
        Stdout { cancel: cancel_token(), stream, small: !cfg!(target_os = "linux") }
    }

    /// One write attempt: `Ok(None)` when it would block.
    fn try_write(&mut self, buf: &[u8]) -> std::io::Result<Option<usize>> {
        let n = if !self.stream {
            // SAFETY: `buf` is valid for `buf.len()` readable bytes.
            unsafe { libc::write(1, buf.as_ptr().cast(), buf.len().min(1 << 20)) }
        } else if !self.small {
            let iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len().min(1 << 20) };
            // SAFETY: one iovec over `buf`'s readable bytes; offset -1 is the current position.
            unsafe { nowait_write(&iov) }
        } else {
            wait_ready(1, libc::POLLOUT, &self.cancel).map_err(|e| std::io::Error::other(e.to_string()))?;
            // SAFETY: as above; after POLLOUT at most PIPE_BUF bytes fit without blocking.
            unsafe { libc::write(1, buf.as_ptr().cast(), buf.len().min(libc::PIPE_BUF)) }
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => Ok(None),
            Some(libc::EAGAIN) if self.stream => Ok(None),
            Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL) if self.stream && !self.small => {
                self.small = true;
                Ok(None)
            }
            _ => Err(e),
        }
    }
}

/// A write to fd 1 that fails with `EAGAIN` instead of blocking (`EOPNOTSUPP` where the kernel
/// cannot).
///
/// # Safety
/// `iov` must describe readable memory.
#[cfg(target_os = "linux")]
unsafe fn nowait_write(iov: &libc::iovec) -> isize {
    // SAFETY: the caller passes an iovec over readable memory.
    unsafe { libc::pwritev2(1, iov, 1, -1, libc::RWF_NOWAIT) }
}

#[cfg(not(target_os = "linux"))]
unsafe fn nowait_write(_iov: &libc::iovec) -> isize {
    unreachable!("Stdout::new sets `small` where there is no pwritev2")
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            if self.cancel.is_cancelled() {
                return Err(std::io::Error::other("interrupted"));
            }
            match self.try_write(buf)? {
                Some(n) => return Ok(n),
                None if self.stream && !self.small => {
                    wait_ready(1, libc::POLLOUT, &self.cancel).map_err(|e| std::io::Error::other(e.to_string()))?
                }
                None => {}
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `data` as UTF-8; the error names `what`, the line (counting from `line0`, the number of the
/// first line of `data`) and the byte (counting from `byte0`).
pub fn utf8_at<'a>(data: &'a [u8], what: &str, line0: usize, byte0: usize) -> Result<&'a str> {
    std::str::from_utf8(data).map_err(|e| {
        let at = e.valid_up_to();
        let line = line0 + data[..at].iter().filter(|&&c| c == b'\n').count();
        Error::Format(format!("{what}: line {line}: not valid UTF-8 (byte {})", byte0 + at))
    })
}

/// The whole of `input` as bytes (stdin read to its end in blocks, with cancellation).
pub fn read_bytes<'a>(input: &Input<'a>) -> Result<Cow<'a, [u8]>> {
    match input {
        Input::Path(p) => crate::files::read_file(p).map(Cow::Owned),
        Input::Bytes(b) => Ok(Cow::Borrowed(b)),
        Input::Stdin => read_stdin_to_end().map(Cow::Owned),
    }
}

/// All of stdin. The buffer grows by `reserve` (a `realloc`, which moves large blocks by
/// remapping pages, not copying) and is read into its spare capacity, so memory is the input
/// plus untouched (not resident) slack; a regular file (`< file`) is sized up front.
fn read_stdin_to_end() -> Result<Vec<u8>> {
    const CHUNK: usize = 1 << 20;
    let mut buf: Vec<u8> = Vec::with_capacity(stdin_size_hint().map_or(CHUNK, |n| n + 1));
    let cancel = cancel_token();
    loop {
        if buf.capacity() - buf.len() < CHUNK / 4 {
            buf.reserve(buf.len().max(CHUNK)); // geometric growth
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: the spare capacity is valid for `spare.len()` bytes of writes (`MaybeUninit<u8>`
        // has the layout of `u8`); only the `n` bytes `read` reports become part of the vector.
        let n = unsafe { read_stdin_into(spare.as_mut_ptr().cast::<u8>(), spare.len(), &cancel)? };
        if n == 0 {
            buf.shrink_to_fit();
            return Ok(buf);
        }
        // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
    }
}

/// The text of all `inputs` one after another, each checked as UTF-8 (errors name the input
/// and line); a newline is put between inputs where the earlier one lacks its last, so files
/// never run into each other. One input is returned as read (no copy).
pub fn read_text(inputs: &[Input<'_>]) -> Result<String> {
    let mut all: Vec<u8> = Vec::new();
    for (i, inp) in inputs.iter().enumerate() {
        let b = read_bytes(inp)?;
        utf8_at(&b, &inp.name(), 1, 0)?;
        if i == 0 {
            all = b.into_owned();
        } else {
            if !all.is_empty() && !all.ends_with(b"\n") {
                all.push(b'\n');
            }
            all.extend_from_slice(&b);
        }
    }
    Ok(String::from_utf8(all).expect("each part was checked"))
}

/// A source of bytes: fills the buffer it is given, 0 at the end.
type ReadFn<'a> = Box<dyn FnMut(&mut [u8]) -> Result<usize> + 'a>;

/// Call `f(text, first_line)` on consecutive blocks of `input`'s text, each about `block`
/// bytes and made of whole lines (the last one may lack its newline at the end of the input),
/// in order. UTF-8 is checked block by block; the error names the input, line and byte.
pub fn for_each_block(input: &Input<'_>, block: usize, mut f: impl FnMut(&str, usize) -> Result<()>) -> Result<()> {
    let name = input.name();
    let (mut line0, mut byte0) = (1usize, 0usize);
    let mut emit = |text: &[u8], line0: &mut usize, byte0: &mut usize| -> Result<()> {
        let s = utf8_at(text, &name, *line0, *byte0)?;
        f(s, *line0)?;
        *line0 += memchr_count(text);
        *byte0 += text.len();
        Ok(())
    };
    let cancel = cancel_token();
    let mut file;
    let mut read: ReadFn<'_> = match input {
        Input::Bytes(b) => {
            // already in memory: cut it in place
            let mut rest: &[u8] = b;
            while !rest.is_empty() {
                cancel.check()?;
                let at =
                    if rest.len() <= block { rest.len() } else { cut_after(&rest[..block]).unwrap_or_else(|| next_line_end(rest, block)) };
                emit(&rest[..at], &mut line0, &mut byte0)?;
                rest = &rest[at..];
            }
            return Ok(());
        }
        Input::Stdin => Box::new(|buf: &mut [u8]| read_stdin(buf, &cancel)),
        Input::Path(p) => {
            file = std::fs::File::open(p).map_err(|e| Error::io("open", p, e))?;
            let p = p.to_path_buf();
            let cancel = cancel.clone();
            Box::new(move |buf: &mut [u8]| {
                cancel.check()?;
                file.read(buf).map_err(|e| Error::io("read", &p, e))
            })
        }
    };
    let mut buf = vec![0u8; 2 * block.max(1)];
    let (mut filled, mut scanned, mut eof) = (0usize, 0usize, false);
    loop {
        // fill to at least `block` bytes, or to the end of the input
        while !eof && filled < block {
            if buf.len() == filled {
                buf.resize(2 * buf.len(), 0);
            }
            match read(&mut buf[filled..])? {
                0 => eof = true,
                n => filled += n,
            }
        }
        let at = if eof { filled } else { cut_after(&buf[scanned..filled]).map_or(0, |p| scanned + p) };
        if at == 0 {
            if eof {
                return Ok(());
            }
            // a line longer than the buffered bytes: read on (growing the buffer)
            scanned = filled;
            if buf.len() == filled {
                buf.resize(2 * buf.len(), 0);
            }
            match read(&mut buf[filled..])? {
                0 => eof = true,
                n => filled += n,
            }
            continue;
        }
        emit(&buf[..at], &mut line0, &mut byte0)?;
        buf.copy_within(at..filled, 0);
        filled -= at;
        scanned = 0;
        if eof && filled == 0 {
            return Ok(());
        }
    }
}

/// Index just after the last `\n` of `b`.
fn cut_after(b: &[u8]) -> Option<usize> {
    b.iter().rposition(|&c| c == b'\n').map(|p| p + 1)
}

/// Index just after the first `\n` at or after `from` (the end if none).
fn next_line_end(b: &[u8], from: usize) -> usize {
    b[from..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| from + p + 1)
}

fn memchr_count(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(data: &[u8], block: usize) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for_each_block(&Input::Bytes(data), block, |s, l| {
            out.push((s.to_string(), l));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn blocks_are_whole_lines_in_order() {
        let text = "a b\nc\n\nlonger line here\nx";
        for block in [1, 2, 3, 5, 8, 100] {
            let b = blocks(text.as_bytes(), block);
            assert_eq!(b.iter().map(|x| x.0.as_str()).collect::<String>(), text, "block {block}");
            let mut line = 1;
            for (s, l) in &b {
                assert_eq!(*l, line);
                assert!(s.ends_with('\n') || s.ends_with('x'));
                line += s.matches('\n').count();
            }
        }
        assert!(blocks(b"", 4).is_empty());
    }

    #[test]
    fn files_read_in_blocks_equal_the_bytes() {
        let dir = std::env::temp_dir().join(format!("seqfast-stdio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.txt");
        let mut text = String::new();
        for i in 0..5000 {
            text += &"w".repeat(i % 97);
            text += if i % 3 == 0 { "\r\n" } else { "\n" };
        }
        text += "tail";
        std::fs::write(&p, &text).unwrap();
        for block in [7, 64, 1000, 1 << 20] {
            let mut got = String::new();
            let mut lines = vec![];
            for_each_block(&Input::Path(&p), block, |s, l| {
                got += s;
                lines.push(l);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, text, "block {block}");
            assert_eq!(lines[0], 1);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_utf8_names_line_and_byte() {
        let data = b"ok\nfine\nbad \xff here\nmore\n";
        for block in [2, 4, 100] {
            let e = for_each_block(&Input::Bytes(data), block, |_, _| Ok(())).unwrap_err().to_string();
            assert!(e.contains("<stdin>: line 3: not valid UTF-8 (byte 12)"), "{e}");
        }
        let e = read_text(&[Input::Bytes(b"a\n"), Input::Bytes(b"\xc3")]).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn read_text_ends_each_input() {
        let t = read_text(&[Input::Bytes(b"a b"), Input::Bytes(b""), Input::Bytes(b"c\n"), Input::Bytes(b"d")]).unwrap();
        assert_eq!(t, "a b\nc\nd");
    }
}
