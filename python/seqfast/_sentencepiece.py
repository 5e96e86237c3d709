"""sentencepiece ``.model`` files: the Python face of ``rust/tokenize/sentencepiece``.

``SentencePieceTokenizer.encode(text)`` gives exactly ``SentencePieceProcessor.encode(text)``
and ``decode(ids)`` its ``decode``, without the C++ library. Everything here normalises
arguments and calls the Rust core.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Optional, Union

import numpy as np

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, FormatError
from seqfast._args import PathLike
from seqfast._batch import EncodingBatch, as_ids


class SentencePieceTokenizer:
    """A sentencepiece model (Unigram, BPE, char or word) loaded from its ``.model`` bytes.

    Encoding follows ``SentencePieceProcessor`` exactly: its normalizer (precompiled charsmap,
    ``add_dummy_prefix``, ``remove_extra_whitespaces``, whitespace as U+2581), user-defined
    symbols kept whole, the model's own algorithm (Unigram Viterbi; BPE by piece score), unknown
    runs as one ``<unk>`` or, with ``byte_fallback``, as ``<0xXX>`` byte pieces. No BOS/EOS is
    added (as ``SentencePieceProcessor.encode`` by default); ``bos_id``/``eos_id`` are there
    to add them yourself.
    """

    __slots__ = ("_m", "_name")

    def __init__(self, core: "_core.SentencePiece", name: str = "<bytes>"):
        if not isinstance(core, _core.SentencePiece):
            raise ArgumentTypeError("use seqfast.Tokenizer.from_sentencepiece(path) to load a sentencepiece model")
        self._m = core
        self._name = name

    @classmethod
    def from_file(cls, path: PathLike) -> "SentencePieceTokenizer":
        """Load a ``.model`` file (a serialized ``ModelProto``)."""
        p = os.fspath(path)
        if not isinstance(p, str):
            raise ArgumentTypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
        return cls(_core.SentencePiece.from_file(p), os.path.basename(p))

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview], name: str = "<bytes>") -> "SentencePieceTokenizer":
        """Load a serialized ``ModelProto`` held in memory (``name`` appears in errors)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ArgumentTypeError(f"data must be bytes, not {type(data).__name__}")
        return cls(_core.SentencePiece.from_bytes(bytes(data), _args.text(name, "name")), name)

    # ---- encoding -----------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text`` as a uint32 array (``SentencePieceProcessor.encode``'s)."""
        return _args.retry_surrogates(self._m.encode, _args.text(text))

    def encode_batch(self, texts: Iterable[str], *, num_threads: Optional[int] = None) -> EncodingBatch:
        """Encode many texts in parallel (GIL released): flat ``ids`` + ``row_offsets``."""
        texts = _args.text_list(texts)
        threads = _args.threads(num_threads)
        return EncodingBatch(*_args.call_texts(lambda t: self._m.encode_batch(t, threads), texts))

    @staticmethod
    def clear_caches() -> None:
        """Drop every thread's BPE word cache (it refills on the next encode; for cold-cache
        benchmarks)."""
        _core.SentencePiece.clear_caches()

    def normalize(self, text: str) -> str:
        """sentencepiece's normalized form of ``text`` (with U+2581 for spaces)."""
        return _args.retry_surrogates(self._m.normalize, _args.text(text))

    # ---- decoding -----------------------------------------------------------------------
    def decode(self, ids) -> str:
        """Text of ``ids`` (``SentencePieceProcessor.decode``'s): U+2581 as space, control
        pieces dropped, byte pieces regrouped into characters."""
        return self._m.decode(as_ids(ids))

    # ---- inspection ---------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._m.vocab_size

    def __len__(self) -> int:
        return self._m.vocab_size

    @property
    def model_type(self) -> str:
        """"unigram", "bpe", "char" or "word"."""
        return self._m.model_type

    @property
    def byte_fallback(self) -> bool:
        return self._m.byte_fallback

    @property
    def unk_id(self) -> int:
        return self._m.unk_id

    @property
    def bos_id(self) -> Optional[int]:
        """Id of the BOS control piece, None if the model has none (sentencepiece says -1)."""
        return self._m.bos_id

    @property
    def eos_id(self) -> Optional[int]:
        return self._m.eos_id

    @property
    def pad_id(self) -> Optional[int]:
        return self._m.pad_id

    def token_to_id(self, token: str) -> Optional[int]:
        """Id of the piece ``token``; None if it is not a piece."""
        return self._m.find_piece(_args.text(token, "token"))

    def piece_to_id(self, piece: str) -> int:
        """sentencepiece's ``piece_to_id``: the unknown id for a string that is not a piece."""
        return self._m.piece_to_id(_args.text(piece, "piece"))

    def id_to_token(self, id: int) -> Optional[str]:
        """The piece of ``id``; None when out of range."""
        id = _args.integer("id", id)
        return self._m.id_to_piece(id) if 0 <= id <= _args.U32_MAX else None

    id_to_piece = id_to_token

    def piece_type(self, id: int) -> Optional[str]:
        """"normal", "unknown", "control", "user_defined", "unused" or "byte"."""
        id = _args.integer("id", id)
        return self._m.piece_type(id) if 0 <= id <= _args.U32_MAX else None

    def vocab(self) -> dict[str, int]:
        """Every piece as ``{piece: id}``."""
        # id_to_piece is None only outside 0..vocab_size-1, so the filter keeps every id
        return {p: i for i in range(self._m.vocab_size) if (p := self._m.id_to_piece(i)) is not None}

    def model_bytes(self) -> bytes:
        """The serialized model (what :meth:`from_bytes` reads)."""
        return self._m.model_bytes()

    def __reduce__(self):
        return (_restore, (self._m.model_bytes(), self._name))

    def __repr__(self) -> str:
        return (f"SentencePieceTokenizer(model_type={self.model_type!r}, vocab_size={self.vocab_size}, "
                f"byte_fallback={self.byte_fallback})")


def _restore(data, name="<pickle>") -> SentencePieceTokenizer:
    if not isinstance(data, bytes):
        raise FormatError("SentencePieceTokenizer pickle: the model must be bytes")
    return SentencePieceTokenizer.from_bytes(data, name if isinstance(name, str) else "<pickle>")


def from_sentencepiece(path: PathLike) -> SentencePieceTokenizer:
    """Load a sentencepiece ``.model`` file; ``encode`` equals ``SentencePieceProcessor.encode``."""
    return SentencePieceTokenizer.from_file(path)
