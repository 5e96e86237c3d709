"""seqfast: fast, exact classic sequence modelling on the CPU.

- ``seqfast.Tokenizer`` / ``train_bpe`` / ``get_encoding``: byte-level BPE tokenization, ids
  identical to tiktoken and Hugging Face ``tokenizers``; training; tiktoken, ``tokenizer.json``
  and ``merges.txt`` files.
- ``seqfast.ngram``: exact n-gram counting and language models (Kneser-Ney identical to KenLM's
  ``lmplz``, MLE, add-k, stupid backoff), ARPA in and out, scoring, perplexity, sampling.
- ``seqfast.search``: beam search, greedy decoding and sampling over Python scorers, n-gram
  LMs and native LSTM/GRU decoders.
- ``seqfast.nn``: RNN, LSTM, GRU and attention kernels, forward and backward, with PyTorch's
  semantics and weight layouts.

The work happens in a Rust core; this package is a thin NumPy-facing layer over it.
"""

from seqfast._core import __version__
from seqfast._errors import (
    ArgumentTypeError,
    DecodeError,
    FormatError,
    SeqfastError,
    ShapeError,
    SpecialTokenError,
    VocabError,
)
from seqfast import ngram, nn, search
from seqfast.tokenizer import EncodingBatch, StreamDecoder, Tokenizer, get_encoding, train_bpe
from seqfast._hf import HFTokenizer

__all__ = [
    "__version__",
    "Tokenizer",
    "HFTokenizer",
    "EncodingBatch",
    "StreamDecoder",
    "train_bpe",
    "get_encoding",
    "ngram",
    "nn",
    "search",
    "SeqfastError",
    "ShapeError",
    "VocabError",
    "FormatError",
    "SpecialTokenError",
    "DecodeError",
    "ArgumentTypeError",
]
