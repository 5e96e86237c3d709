//! Streaming encode: read text from any reader, write ids to any writer, in constant memory.
//!
//! Input is read in blocks; each block is cut after its last newline that sits between two
//! non-space ASCII characters (the cut [`super::pattern::safe_chunks`] proves harmless for the
//! built-in patterns), encoded with all threads, written, and the tail carried into the next
//! block. Ids therefore equal `encode` of the whole input. Patterns without that guarantee
//! (custom regexes, prefix spaces, specials containing a newline) read the whole input first.

use std::io::{Read, Write};

use super::encode::{char_pos, special_error};
use super::special::SpecialPolicy;
use super::Tokenizer;
use crate::error::{Error, Result};

/// How ids are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// Decimal ids separated by spaces, newline-terminated.
    Text,
    /// Little-endian uint32.
    Raw,
}

impl IdFormat {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "text" => Ok(IdFormat::Text),
            "raw" => Ok(IdFormat::Raw),
            _ => Err(crate::value_err!("format={s:?} is not one of 'text', 'raw'")),
        }
    }
}

const BLOCK: usize = 8 << 20;

/// Byte index just after the last safe cut in `b` (0 if none).
fn last_cut(b: &[u8]) -> usize {
    let plain = |c: u8| c < 0x80 && !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut p = b.len().saturating_sub(1);
    while p >= 1 {
        if b[p] == b'\n' && p + 1 < b.len() && plain(b[p - 1]) && plain(b[p + 1]) && b[p + 1] != b'/' {
            return p + 1;
        }
        p -= 1;
    }
    0
}

struct Sink<W: Write> {
    w: W,
    fmt: IdFormat,
    buf: Vec<u8>,
    first: bool,
    n: u64,
}

impl<W: Write> Sink<W> {
    fn put(&mut self, ids: &[u32]) -> std::io::Result<()> {
        self.buf.clear();
        match self.fmt {
            IdFormat::Raw => ids.iter().for_each(|i| self.buf.extend_from_slice(&i.to_le_bytes())),
            IdFormat::Text => {
                let mut d = [0u8; 10];
                for &i in ids {
                    if !self.first {
                        self.buf.push(b' ');
                    }
                    self.first = false;
                    let (mut v, mut k) = (i, d.len());
                    loop {
                        k -= 1;
                        d[k] = b'0' + (v % 10) as u8;
                        v /= 10;
                        if v == 0 {
                            break;
                        }
                    }
                    self.buf.extend_from_slice(&d[k..]);
                }
            }
        }
        self.n += ids.len() as u64;
        self.w.write_all(&self.buf)
    }
}

/// Encode everything `r` yields, writing ids to `w`; returns the number of ids. `what` names
/// the input in error messages (invalid UTF-8 is reported with its line and byte offset).
pub fn encode_stream<R: Read, W: Write>(
    tok: &Tokenizer,
    mut r: R,
    w: W,
    fmt: IdFormat,
    policy: SpecialPolicy,
    num_threads: Option<usize>,
    what: &str,
) -> Result<u64> {
    let io_err = |e: std::io::Error| Error::Io { msg: format!("{what}: {e}"), kind: e.kind() };
    let chunkable = tok.pretokenizer().line_cuts_are_safe() && !tok.pretokenizer().add_prefix_space() && !tok.specials().any_contains('\n');
    let mut sink = Sink { w, fmt, buf: Vec::new(), first: true, n: 0 };
    let mut buf: Vec<u8> = Vec::new();
    let (mut bytes_before, mut lines_before, mut chars_before) = (0usize, 0usize, 0usize);
    let mut eof = false;
    let cancel = crate::parallel::cancel_token();
    while !eof {
        cancel.check()?;
        if chunkable {
            // Top the buffer up to a block (at least 64 KiB more, so a line longer than a block
            // still makes progress); a short read means end of input.
            let need = BLOCK.saturating_sub(buf.len()).max(1 << 16);
            let got = (&mut r).take(need as u64).read_to_end(&mut buf).map_err(io_err)?;
            eof = got < need;
        } else {
            r.read_to_end(&mut buf).map_err(io_err)?;
            eof = true;
        }
        let cut = if eof { buf.len() } else { last_cut(&buf) };
        if cut == 0 && !eof {
            continue; // no safe cut yet: read more (a line can be longer than a block)
        }
        let text = std::str::from_utf8(&buf[..cut]).map_err(|e| {
            let at = e.valid_up_to();
            let line = lines_before + buf[..at].iter().filter(|&&c| c == b'\n').count() + 1;
            Error::Format(format!("{what}: line {line}: not valid UTF-8 (byte {})", bytes_before + at))
        })?;
        if policy == SpecialPolicy::Error {
            if let Some((a, b, _)) = tok.specials().find_iter(text).next() {
                return Err(special_error(&text[a..b], chars_before + char_pos(text, a)));
            }
        }
        let ids = tok.encode_large(text, policy, num_threads)?;
        sink.put(&ids).map_err(io_err)?;
        bytes_before += cut;
        lines_before += text.bytes().filter(|&c| c == b'\n').count();
        chars_before += text.chars().count();
        buf.drain(..cut);
    }
    if fmt == IdFormat::Text {
        sink.w.write_all(b"\n").map_err(io_err)?;
    }
    sink.w.flush().map_err(io_err)?;
    Ok(sink.n)
}

/// [`encode_stream`] between files: `None` input is stdin, `None` output is stdout. A file
/// output is written atomically ([`crate::files::AtomicFile`]).
pub fn encode_path(
    tok: &Tokenizer,
    input: Option<&std::path::Path>,
    output: Option<&std::path::Path>,
    fmt: IdFormat,
    policy: SpecialPolicy,
    num_threads: Option<usize>,
) -> Result<u64> {
    let what = input.map_or("<stdin>".to_string(), |p| p.display().to_string());
    let reader: Box<dyn Read> = match input {
        Some(p) => Box::new(std::fs::File::open(p).map_err(|e| Error::io("open", p, e))?),
        None => Box::new(std::io::stdin().lock()),
    };
    let reader = std::io::BufReader::with_capacity(1 << 20, reader);
    match output {
        None => {
            let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            encode_stream(tok, reader, out, fmt, policy, num_threads, &what)
        }
        Some(path) => {
            let mut f = crate::files::AtomicFile::create(path)?;
            let n = encode_stream(tok, reader, &mut f, fmt, policy, num_threads, &what)?;
            f.commit()?;
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{Pretokenizer, Vocab};

    fn tok() -> Tokenizer {
        let v: Vec<(Vec<u8>, u32)> = (0u32..256).map(|b| (vec![b as u8], b)).collect();
        Tokenizer::new(Vocab::from_ranks(v, "t").unwrap(), Pretokenizer::new("cl100k").unwrap(), vec![("<|x|>".into(), 300)]).unwrap()
    }

    #[test]
    fn text_and_raw() {
        let t = tok();
        let mut out = Vec::new();
        let n = encode_stream(&t, &b"ab\ncd"[..], &mut out, IdFormat::Text, SpecialPolicy::Error, Some(1), "x").unwrap();
        assert_eq!(n, 5);
        assert_eq!(out, b"97 98 10 99 100\n");
        let mut raw = Vec::new();
        encode_stream(&t, &b"ab"[..], &mut raw, IdFormat::Raw, SpecialPolicy::Error, Some(1), "x").unwrap();
        assert_eq!(raw, [97, 0, 0, 0, 98, 0, 0, 0]);
    }

    #[test]
    fn cuts_never_change_ids() {
        let text = "line one\nline two  \n\nx/y\n//z\n".repeat(2000);
        let t = tok();
        let whole = t.encode(&text, SpecialPolicy::Error).unwrap();
        assert!(last_cut(text.as_bytes()) > 0);
        let mut out = Vec::new();
        encode_stream(&t, text.as_bytes(), &mut out, IdFormat::Raw, SpecialPolicy::Error, Some(2), "x").unwrap();
        let got: Vec<u32> = out.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(got, whole);
    }

    #[test]
    fn custom_patterns_read_everything() {
        let v: Vec<(Vec<u8>, u32)> = (0u32..256).map(|b| (vec![b as u8], b)).collect();
        let t = Tokenizer::new(Vocab::from_ranks(v, "t").unwrap(), Pretokenizer::new(r"\w+").unwrap(), vec![]).unwrap();
        let mut out = Vec::new();
        let n = encode_stream(&t, &b"ab cd\nef"[..], &mut out, IdFormat::Text, SpecialPolicy::Error, None, "x").unwrap();
        assert_eq!(n, 8);
    }

    #[test]
    fn errors_name_line_and_position() {
        let t = tok();
        let e = encode_stream(&t, &b"ok\nbad \xff\n"[..], Vec::new(), IdFormat::Text, SpecialPolicy::Error, None, "in.txt").unwrap_err();
        assert!(e.to_string().contains("in.txt: line 2"), "{e}");
        let e = encode_stream(&t, "é <|x|>".as_bytes(), Vec::new(), IdFormat::Text, SpecialPolicy::Error, None, "in").unwrap_err();
        assert!(e.to_string().contains("at character 2"), "{e}");
    }
}
