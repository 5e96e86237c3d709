//! A small protobuf decoder for the fields of sentencepiece's `ModelProto` that encoding and
//! decoding need (`sentencepiece_model.proto`, proto2).
//!
//! Wire format: a message is a sequence of `(key varint = field << 3 | wire type, payload)`;
//! payloads are a varint (0), 8 bytes (1), a varint length then that many bytes (2), a group
//! up to its end marker (3/4, skipped), or 4 bytes (5). As protobuf's own parser does, a
//! repeated field appends, a scalar field seen twice keeps the last value, a sub-message seen
//! twice is merged, a known field with an unexpected wire type or an enum value outside the
//! enum is left as unknown (the field keeps its value), and unknown fields are skipped.
//!
//! Every length and varint is checked against the bytes that remain; errors are
//! `Error::Format` naming the source and the byte offset. Strings must be UTF-8 (protobuf's
//! proto2 C++ parser does not check; no real model has other bytes, and a piece that is not
//! UTF-8 could never match text). Cost: linear in the input; nesting is at most 3 deep (plus
//! skipped groups, capped at 64).

use crate::error::{Error, Result};

/// A proto2 enum: the variants with their wire numbers, and `from_wire` (None for a number
/// outside the enum, which the parser leaves unset).
macro_rules! proto_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $n:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($variant = $n),+
        }

        impl $name {
            fn from_wire(x: i32) -> Option<Self> {
                match x {
                    $($n => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

proto_enum!(
    /// `ModelProto.SentencePiece.Type`.
    PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }
);

proto_enum!(
    /// `TrainerSpec.ModelType`.
    ModelType { Unigram = 1, Bpe = 2, Word = 3, Char = 4 }
);

#[derive(Clone, Debug)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// The `TrainerSpec` fields used at encode/decode time (plus a few reported by `info`).
#[derive(Clone, Debug)]
pub struct TrainerSpec {
    pub model_type: ModelType,
    pub vocab_size: i32,
    pub byte_fallback: bool,
    pub treat_whitespace_as_suffix: bool,
    pub split_digits: bool,
    pub unk_id: i32,
    pub bos_id: i32,
    pub eos_id: i32,
    pub pad_id: i32,
    pub unk_piece: Option<String>,
    pub bos_piece: Option<String>,
    pub eos_piece: Option<String>,
    pub pad_piece: Option<String>,
    pub unk_surface: Option<String>,
}

impl Default for TrainerSpec {
    fn default() -> Self {
        TrainerSpec {
            model_type: ModelType::Unigram,
            vocab_size: 8000,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            split_digits: false,
            unk_id: 0,
            bos_id: 1,
            eos_id: 2,
            pad_id: -1,
            unk_piece: None,
            bos_piece: None,
            eos_piece: None,
            pad_piece: None,
            unk_surface: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NormalizerSpec {
    pub name: String,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        NormalizerSpec {
            name: String::new(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ModelProto {
    pub pieces: Vec<Piece>,
    pub trainer_spec: TrainerSpec,
    pub normalizer_spec: NormalizerSpec,
    pub denormalizer_spec: Option<NormalizerSpec>,
}

/// A cursor over one message's bytes; `base` is their offset in the whole input.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    src: &'a str,
}

impl<'a> Reader<'a> {
    fn err(&self, at: usize, what: &str) -> Error {
        Error::Format(format!("{}: not a sentencepiece model: {what} at byte {}", self.src, self.base + at))
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.data.get(self.pos) else { return Err(self.err(start, "truncated varint")) };
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err(start, "varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.data.len() - self.pos {
            return Err(self.err(self.pos, &format!("{what} of {n} bytes runs past the end")));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// `(field, wire type)` of the next key.
    fn key(&mut self) -> Result<(u64, u8)> {
        let at = self.pos;
        let k = self.varint()?;
        let (field, wire) = (k >> 3, (k & 7) as u8);
        if field == 0 || field > (1 << 29) - 1 {
            return Err(self.err(at, &format!("field number {field}")));
        }
        if wire > 5 {
            return Err(self.err(at, &format!("wire type {wire}")));
        }
        Ok((field, wire))
    }

    /// A length-delimited payload.
    fn bytes(&mut self) -> Result<(usize, &'a [u8])> {
        let n = self.varint()?;
        let at = self.pos;
        let n = usize::try_from(n).map_err(|_| self.err(at, "length too large"))?;
        Ok((self.base + at, self.take(n, "length-delimited field")?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let (at, b) = self.bytes()?;
        String::from_utf8(b.to_vec())
            .map_err(|e| Error::Format(format!("{}: {what} is not UTF-8 at byte {}", self.src, at + e.utf8_error().valid_up_to())))
    }

    /// Skip the payload of a field of wire type `wire` (whose key was just read).
    fn skip(&mut self, wire: u8, field: u64, depth: usize) -> Result<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8, "fixed64 field").map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.take(4, "fixed32 field").map(|_| ()),
            3 => {
                if depth >= 64 {
                    return Err(self.err(self.pos, "groups nested too deep"));
                }
                loop {
                    if self.done() {
                        return Err(self.err(self.pos, "unterminated group"));
                    }
                    let (f, w) = self.key()?;
                    if w == 4 {
                        return if f == field { Ok(()) } else { Err(self.err(self.pos, "mismatched end of group")) };
                    }
                    self.skip(w, f, depth + 1)?;
                }
            }
            _ => Err(self.err(self.pos, "unexpected end of group")),
        }
    }

    fn sub(&self, at: usize, data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0, base: at, src: self.src }
    }
}

/// Parse a serialized `ModelProto`; `src` names it in errors.
pub fn parse(data: &[u8], src: &str) -> Result<ModelProto> {
    let mut r = Reader { data, pos: 0, base: 0, src };
    let mut m = ModelProto::default();
    while !r.done() {
        let (f, w) = r.key()?;
        match (f, w) {
            (1, 2) => {
                let (at, b) = r.bytes()?;
                m.pieces.push(piece(&mut r.sub(at, b))?);
            }
            (2, 2) => {
                let (at, b) = r.bytes()?;
                trainer(&mut r.sub(at, b), &mut m.trainer_spec)?;
            }
            (3, 2) => {
                let (at, b) = r.bytes()?;
                normalizer(&mut r.sub(at, b), &mut m.normalizer_spec)?;
            }
            (5, 2) => {
                let (at, b) = r.bytes()?;
                normalizer(&mut r.sub(at, b), m.denormalizer_spec.get_or_insert_with(NormalizerSpec::default))?;
            }
            _ => r.skip(w, f, 0)?,
        }
    }
    Ok(m)
}

fn piece(r: &mut Reader<'_>) -> Result<Piece> {
    let mut p = Piece { piece: String::new(), score: 0.0, kind: PieceType::Normal };
    while !r.done() {
        let (f, w) = r.key()?;
        match (f, w) {
            (1, 2) => p.piece = r.string("a piece")?,
            (2, 5) => {
                let b = r.take(4, "score")?;
                p.score = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            (3, 0) => {
                p.kind = PieceType::from_wire(r.varint()? as i32).unwrap_or(p.kind);
            }
            _ => r.skip(w, f, 0)?,
        }
    }
    Ok(p)
}

fn trainer(r: &mut Reader<'_>, t: &mut TrainerSpec) -> Result<()> {
    while !r.done() {
        let (f, w) = r.key()?;
        match (f, w) {
            (3, 0) => {
                t.model_type = ModelType::from_wire(r.varint()? as i32).unwrap_or(t.model_type);
            }
            (4, 0) => t.vocab_size = r.varint()? as i32,
            (35, 0) => t.byte_fallback = r.varint()? != 0,
            (24, 0) => t.treat_whitespace_as_suffix = r.varint()? != 0,
            (25, 0) => t.split_digits = r.varint()? != 0,
            (40, 0) => t.unk_id = r.varint()? as i32,
            (41, 0) => t.bos_id = r.varint()? as i32,
            (42, 0) => t.eos_id = r.varint()? as i32,
            (43, 0) => t.pad_id = r.varint()? as i32,
            (44, 2) => t.unk_surface = Some(r.string("unk_surface")?),
            (45, 2) => t.unk_piece = Some(r.string("unk_piece")?),
            (46, 2) => t.bos_piece = Some(r.string("bos_piece")?),
            (47, 2) => t.eos_piece = Some(r.string("eos_piece")?),
            (48, 2) => t.pad_piece = Some(r.string("pad_piece")?),
            _ => r.skip(w, f, 0)?,
        }
    }
    Ok(())
}

fn normalizer(r: &mut Reader<'_>, n: &mut NormalizerSpec) -> Result<()> {
    while !r.done() {
        let (f, w) = r.key()?;
        match (f, w) {
            (1, 2) => n.name = String::from_utf8_lossy(r.bytes()?.1).into_owned(),
            (2, 2) => n.precompiled_charsmap = r.bytes()?.1.to_vec(),
            (3, 0) => n.add_dummy_prefix = r.varint()? != 0,
            (4, 0) => n.remove_extra_whitespaces = r.varint()? != 0,
            (5, 0) => n.escape_whitespaces = r.varint()? != 0,
            _ => r.skip(w, f, 0)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field(f: u64, w: u64, out: &mut Vec<u8>) {
        varint(f << 3 | w, out);
    }
    fn lenf(f: u64, b: &[u8], out: &mut Vec<u8>) {
        field(f, 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn sample() -> Vec<u8> {
        let mut m = Vec::new();
        for (s, sc, t) in [("<unk>", 0.0f32, 2u64), ("▁a", -1.5, 1), ("b", -2.0, 9)] {
            let mut p = Vec::new();
            lenf(1, s.as_bytes(), &mut p);
            field(2, 5, &mut p);
            p.extend_from_slice(&sc.to_le_bytes());
            field(3, 0, &mut p);
            varint(t, &mut p);
            lenf(1, &p, &mut m);
        }
        let mut t = Vec::new();
        field(3, 0, &mut t);
        varint(2, &mut t);
        field(35, 0, &mut t);
        varint(1, &mut t);
        field(43, 0, &mut t);
        varint(u64::MAX, &mut t); // -1 as int32 on the wire
        lenf(2, &t, &mut m);
        let mut n = Vec::new();
        field(3, 0, &mut n);
        varint(0, &mut n);
        lenf(3, &n, &mut m);
        // An unknown group and an unknown fixed64 field are skipped.
        field(9, 3, &mut m);
        field(1, 0, &mut m);
        varint(5, &mut m);
        field(9, 4, &mut m);
        field(10, 1, &mut m);
        m.extend_from_slice(&[0; 8]);
        m
    }

    #[test]
    fn parses_fields() {
        let m = parse(&sample(), "t").unwrap();
        assert_eq!(m.pieces.len(), 3);
        assert_eq!(m.pieces[1].piece, "▁a");
        assert_eq!(m.pieces[1].score, -1.5);
        assert_eq!(m.pieces[0].kind, PieceType::Unknown);
        assert_eq!(m.pieces[2].kind, PieceType::Normal); // 9 is not a Type: left unset
        assert_eq!(m.trainer_spec.model_type, ModelType::Bpe);
        assert!(m.trainer_spec.byte_fallback);
        assert_eq!(m.trainer_spec.pad_id, -1);
        assert!(!m.normalizer_spec.add_dummy_prefix);
        assert!(m.normalizer_spec.remove_extra_whitespaces);
        assert!(m.denormalizer_spec.is_none());
    }

    #[test]
    fn truncations_are_errors() {
        let s = sample();
        for n in 0..s.len() {
            // Every prefix either parses (it ends between fields) or is a FormatError.
            match parse(&s[..n], "t") {
                Ok(_) | Err(Error::Format(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        let e = parse(&[0x0a, 0x05, 1], "m.model").unwrap_err().to_string();
        assert!(e.contains("m.model") && e.contains("byte 2"), "{e}");
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&data, "fuzz");
        }
        #[test]
        fn mutations_never_panic(i in 0usize..64, b in any::<u8>()) {
            let mut s = sample();
            let i = i % s.len();
            s[i] = b;
            let _ = parse(&s, "fuzz");
        }
    }
}
