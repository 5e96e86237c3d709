"""seqfast: fast, exact classic sequence modelling on the CPU.

Byte-level BPE tokenization (tiktoken and Hugging Face compatible), with n-gram language
models, decoders and recurrent/attention kernels to come. The work happens in a Rust core;
this package is a thin NumPy-facing layer over it.
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
from seqfast.tokenizer import EncodingBatch, StreamDecoder, Tokenizer, train_bpe

__all__ = [
    "__version__",
    "Tokenizer",
    "EncodingBatch",
    "StreamDecoder",
    "train_bpe",
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
