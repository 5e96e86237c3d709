"""Hugging Face ``tokenizer.json`` pipelines of every kind: the Python face of ``rust/tokenize/pipeline``.

:meth:`seqfast.Tokenizer.from_file` returns an :class:`HFTokenizer`: ids, offsets, type ids,
masks, word ids, truncation, padding and decoding exactly as Hugging Face ``tokenizers`` gives
them for the same file. Everything here normalises arguments and calls the Rust core.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Optional, Union

import numpy as np

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError
from seqfast._batch import EncodingBatch, as_ids
from seqfast.tokenizer import Tokenizer

_WANT = (
    ("return_offsets", "offsets"),
    ("return_type_ids", "type_ids"),
    ("return_special_tokens_mask", "special_tokens_mask"),
    ("return_attention_mask", "attention_mask"),
    ("return_word_ids", "word_ids"),
    ("return_overflowing", "overflowing"),
)

# Methods of the byte-level core that an HF pipeline answers only when it is byte-level BPE.
_BYTE_LEVEL_ONLY = ("encode_large", "encode_file", "count", "decode_bytes", "save_tiktoken")


def _uint(name: str, v: object, lo: int = 0) -> int:
    return _args.integer(name, v, lo, _args.U32_MAX)


def _utf8(v: object, name: str = "text") -> str:
    """A str argument, lone surrogates replaced (checked per text: the pipeline takes a list)."""
    return _args.retry_surrogates(_encodable, _args.text(v, name))


def _encodable(t: str) -> str:
    t.encode("utf-8")  # raises UnicodeEncodeError on lone surrogates
    return t


class HFTokenizer(Tokenizer, json_loader=True):
    """A Hugging Face ``tokenizer.json`` of any kind (BPE, WordPiece, WordLevel, Unigram).

    ``encode(text)`` returns exactly ``tokenizers.Tokenizer.from_file(path).encode(text).ids``:
    added tokens are matched in the text and the post-processor adds its special tokens.
    Byte-level BPE files also keep the byte-level methods (``encode_large``, ``encode_file``,
    ``special=`` policies, ...), which run on seqfast's byte-level core without the
    post-processor, as before.

    >>> bpe = seqfast.train_bpe(texts=["hello world"] * 10, vocab_size=262)
    >>> tok = seqfast.Tokenizer.from_str(bpe.to_str())  # what from_file gives for a tokenizer.json
    >>> type(tok).__name__, tok.decode(tok.encode("hello world"))
    ('HFTokenizer', 'hello world')
    >>> ids, offsets = tok.encode("hello", return_offsets=True)
    >>> offsets.shape == (len(ids), 2)
    True
    """

    __slots__ = ("_p",)

    def __init__(self, pipe: "_core.Pipeline", fast: Optional["_core.Tokenizer"] = None):
        if not isinstance(pipe, _core.Pipeline):
            raise ArgumentTypeError("use Tokenizer.from_file / from_str to build an HFTokenizer")
        self._p = pipe
        if fast is not None:  # a pipeline that is not byte-level BPE has no byte-level core: ``_t`` stays unset
            self._t = fast

    @classmethod
    def _build(cls, text: str) -> "HFTokenizer":
        pipe = _core.Pipeline.from_str(text)
        return cls(pipe, pipe.byte_level_core())

    @classmethod
    def from_file(cls, path) -> "HFTokenizer":
        """Load a Hugging Face ``tokenizer.json``."""
        p = os.fspath(path)
        with open(p, "rb") as f:
            text = _args.decode_text(f.read(), p)
        try:
            return cls._build(text)
        except SeqfastError as e:
            raise type(e)(str(e).replace("<string>", p, 1)) from None

    @classmethod
    def from_str(cls, json_text: str) -> "HFTokenizer":
        """Parse a ``tokenizer.json`` document held in a string."""
        return cls._build(_args.text(json_text, "json_text"))

    def _byte_level(self, what: str) -> "_core.Tokenizer":
        fast: Optional[_core.Tokenizer] = getattr(self, "_t", None)
        if fast is None:
            raise SeqfastError(f"{what} needs a byte-level BPE tokenizer; this one is {self._p.describe()}")
        return fast

    # ---- encoding -----------------------------------------------------------------------
    def encode(
        self,
        text: str,
        pair: Optional[str] = None,
        add_special_tokens: bool = True,
        return_offsets: bool = False,
        *,
        special: Optional[_args.Special] = None,
        seed: Optional[int] = None,
    ):
        """Token ids of ``text`` (and ``pair``) as HF gives them: a uint32 array, or
        ``(ids, offsets)`` with ``return_offsets=True`` (offsets: (n, 2) int64 character
        offsets into the text the token came from, HF's ``Encoding.offsets``).

        ``special="error"|"special"|"text"`` (byte-level BPE files only) uses the byte-level
        core's special-token policies instead, without the post-processor. ``seed`` seeds BPE
        dropout when the model has it.
        """
        text = _utf8(text)
        if special is not None:
            if pair is not None or return_offsets:
                raise SeqfastError("special= applies to plain byte-level encoding, without pair or offsets")
            return Tokenizer.encode(self._as_byte_level(), text, special=special)
        if pair is not None:
            pair = _utf8(pair, "pair")
        want = "offsets" if _args.boolean("return_offsets", return_offsets) else ""
        d = self._p.encode(text, pair, _args.boolean("add_special_tokens", add_special_tokens), want,
                           None if seed is None else _uint("seed", seed))
        ids = d["ids"][: d["row_offsets"][1]]
        if return_offsets:
            return ids, d["offsets"][: len(ids)]
        return ids

    def _as_byte_level(self) -> Tokenizer:
        return Tokenizer(self._byte_level("special="))

    def encode_batch(
        self,
        texts: Iterable[str],
        pair: Optional[Iterable[str]] = None,
        add_special_tokens: bool = True,
        return_offsets: bool = False,
        return_type_ids: bool = False,
        return_special_tokens_mask: bool = False,
        return_word_ids: bool = False,
        return_attention_mask: bool = False,
        return_overflowing: bool = False,
        *,
        special: Optional[_args.Special] = None,
        num_threads: Optional[int] = None,
    ) -> EncodingBatch:
        """Encode many texts (and pairs) in parallel, the GIL released.

        Returns an :class:`EncodingBatch`: flat ``ids`` and ``row_offsets`` plus the per-token
        arrays asked for. With ``return_overflowing=True`` the pieces truncation cut off become
        extra rows after their text's row, and ``overflow_to_sample`` names each row's text.
        """
        texts = [_utf8(t, f"texts[{i}]") for i, t in enumerate(_args.text_list(texts))]
        if special is not None:
            return Tokenizer.encode_batch(self._as_byte_level(), texts, special=special, num_threads=num_threads)
        if pair is not None:
            pair = [_utf8(t, f"pair[{i}]") for i, t in enumerate(_args.text_list(pair, "pair"))]
        args = dict(return_offsets=return_offsets, return_type_ids=return_type_ids,
                    return_special_tokens_mask=return_special_tokens_mask, return_word_ids=return_word_ids,
                    return_attention_mask=return_attention_mask, return_overflowing=return_overflowing)
        want = ",".join(name for key, name in _WANT if _args.boolean(key, args[key]))
        d = self._p.encode_batch(texts, pair, _args.boolean("add_special_tokens", add_special_tokens), want, _args.threads(num_threads))
        ids, rows = d.pop("ids"), d.pop("row_offsets")
        return EncodingBatch(ids, rows, **d)

    # ---- decoding -----------------------------------------------------------------------
    def decode(self, ids, skip_special_tokens: bool = False, *, errors: Optional[_args.UTF8Errors] = None) -> str:
        """Text of ``ids`` as HF's ``decode`` gives it (unknown ids are skipped, as HF does).

        ``errors=`` (byte-level BPE files only) decodes the raw bytes with that UTF-8 policy.
        """
        if errors is not None:
            return Tokenizer(self._byte_level("errors=")).decode(ids, errors=errors)
        return self._p.decode(as_ids(ids), _args.boolean("skip_special_tokens", skip_special_tokens))

    def decode_batch(self, batch, skip_special_tokens: bool = False, *, num_threads: Optional[int] = None) -> list[str]:
        """Decode every row of an :class:`EncodingBatch` (or a list of id sequences)."""
        if isinstance(batch, EncodingBatch):
            ids, rows = as_ids(batch.ids), np.ascontiguousarray(batch.row_offsets, dtype=np.int64)
        else:
            seqs = [as_ids(x, f"batch[{i}]") for i, x in enumerate(batch)]
            ids = np.concatenate(seqs) if seqs else np.zeros(0, np.uint32)
            rows = np.zeros(len(seqs) + 1, np.int64)
            np.cumsum([len(s) for s in seqs], out=rows[1:])
        return self._p.decode_batch(ids, rows, _args.boolean("skip_special_tokens", skip_special_tokens), _args.threads(num_threads))

    def decoder(self, skip_special_tokens: bool = False, *, errors: Optional[_args.UTF8Errors] = None):
        """A streaming decoder for any model (HF's ``DecodeStream``): ``step(ids)`` returns the
        text those ids complete, never half a character; the pieces add up to ``decode`` of all
        the ids whenever the decoder only appends (every HF decoder but a Strip from the right).

        ``errors=`` (byte-level BPE files only) gives the byte-level :class:`StreamDecoder`.
        """
        if errors is not None:
            return Tokenizer.decoder(Tokenizer(self._byte_level("errors=")), errors=errors)
        return HFStreamDecoder(self, _args.boolean("skip_special_tokens", skip_special_tokens))

    # ---- truncation and padding (HF's names) ----------------------------------------------
    def enable_truncation(self, max_length: int, stride: int = 0, strategy: _args.Truncation = "longest_first",
                          direction: _args.Side = "right") -> None:
        """Truncate encodings to ``max_length`` tokens (special tokens included), as HF does."""
        _args.choice("strategy", strategy, ("longest_first", "only_first", "only_second"))
        _args.choice("direction", direction, ("right", "left"))
        self._p = self._p.with_options((_uint("max_length", max_length), _uint("stride", stride), strategy, direction), None, True, False)

    def no_truncation(self) -> None:
        self._p = self._p.with_options(None, None, True, False)

    def enable_padding(self, direction: _args.Side = "right", pad_id: int = 0, pad_type_id: int = 0, pad_token: str = "[PAD]",
                       length: Optional[int] = None, pad_to_multiple_of: Optional[int] = None) -> None:
        """Pad encodings (to ``length``, or to the longest of a batch), as HF does."""
        _args.choice("direction", direction, ("right", "left"))
        length = None if length is None else _uint("length", length)
        multiple = None if pad_to_multiple_of is None else _uint("pad_to_multiple_of", pad_to_multiple_of, 1)
        pad = (length, direction, multiple, _uint("pad_id", pad_id), _uint("pad_type_id", pad_type_id), _args.text(pad_token, "pad_token"))
        self._p = self._p.with_options(None, pad, False, True)

    def no_padding(self) -> None:
        self._p = self._p.with_options(None, None, False, True)

    @property
    def truncation(self) -> Optional[dict]:
        t = self._p.truncation()
        return None if t is None else dict(zip(("max_length", "stride", "strategy", "direction"), t))

    @property
    def padding(self) -> Optional[dict]:
        p = self._p.padding()
        keys = ("length", "direction", "pad_to_multiple_of", "pad_id", "pad_type_id", "pad_token")
        return None if p is None else dict(zip(keys, p))

    # ---- files and vocabulary -----------------------------------------------------------
    def save(self, path) -> None:
        """Write the ``tokenizer.json`` (atomically); HF loads it and encodes identically."""
        self._p.save(os.fspath(path))

    def to_str(self) -> str:
        return self._p.to_str()

    @property
    def vocab_size(self) -> int:
        """One past the largest id (added tokens included): the rows an embedding table needs."""
        return self._p.id_bound()

    def get_vocab_size(self, with_added_tokens: bool = True) -> int:
        """HF's ``get_vocab_size``: the number of distinct tokens (with or without added ones)."""
        return self._p.vocab_size() if _args.boolean("with_added_tokens", with_added_tokens) else self._p.model_vocab_size()

    def token_to_id(self, token: Union[str, bytes]) -> Optional[int]:
        if isinstance(token, bytes):
            return self._byte_level("token_to_id(bytes)").token_to_id(token)
        return self._p.token_to_id(_args.text(token, "token"))

    def id_to_token(self, id: int) -> Optional[str]:  # type: ignore[override]  # HF's API: str, where Tokenizer's gives bytes
        """The token string (HF's ``id_to_token``), or None."""
        return self._p.id_to_token(_uint("id", id))

    @property
    def added_tokens(self) -> dict[str, int]:
        return {c: i for c, i, _ in self._p.added_tokens()}

    @property
    def special_tokens(self) -> dict[str, int]:
        return {c: i for c, i, s in self._p.added_tokens() if s}

    def __reduce__(self):
        return (_restore_hf, (self._p.to_str(),))

    def __repr__(self) -> str:
        return f"HFTokenizer({self._p.describe()}, vocab_size={self.vocab_size})"


class HFStreamDecoder:
    """Streaming decoder of an :class:`HFTokenizer` (HF's ``DecodeStream`` semantics)."""

    __slots__ = ("_s", "_tok", "_skip")

    def __init__(self, tok: HFTokenizer, skip_special_tokens: bool, state=None):
        self._tok, self._skip = tok, skip_special_tokens
        self._s = tok._p.stream(skip_special_tokens, state)

    def step(self, ids) -> str:
        """Feed one id or many; the text they complete ("" while a character is incomplete)."""
        return self._s.step(as_ids(ids))

    def finish(self) -> str:
        return ""

    def __reduce__(self):
        ids, prefix, index, skip = self._s.state()
        return (_restore_stream, (self._tok, skip, (ids, prefix, index)))

    def __repr__(self) -> str:
        ids, _, _, skip = self._s.state()
        return f"HFStreamDecoder(skip_special_tokens={skip}, window={len(ids)} ids)"


def _restore_stream(tok, skip, state) -> HFStreamDecoder:
    if not isinstance(tok, HFTokenizer) or not isinstance(skip, bool):
        raise FormatError("HFStreamDecoder pickle: expected (HFTokenizer, skip flag, state)")
    return HFStreamDecoder(tok, skip, state)


def _guard(name: str):
    base = getattr(Tokenizer, name)

    def method(self, *args, **kwargs):
        self._byte_level(name)
        return base(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


def _guard_property(name: str):
    base = getattr(Tokenizer, name)

    def get(self):
        self._byte_level(name)
        return base.fget(self)

    return property(get, doc=base.__doc__)


for _name in _BYTE_LEVEL_ONLY:
    setattr(HFTokenizer, _name, _guard(_name))
for _name in ("n_merges", "pattern", "pattern_regex", "merge_rule", "vocab"):
    _wrap = _guard_property if isinstance(getattr(Tokenizer, _name), property) else _guard
    setattr(HFTokenizer, _name, _wrap(_name))


def _restore_hf(text: str) -> HFTokenizer:
    return HFTokenizer._build(text)
