"""seqfast: fast, exact classic sequence modelling on the CPU.

- ``seqfast.Tokenizer`` / ``train_bpe`` / ``get_encoding``: byte-level BPE tokenization, ids
  identical to tiktoken and Hugging Face ``tokenizers``; training; tiktoken, ``tokenizer.json``
  and ``merges.txt`` files. ``Tokenizer.from_file`` reads any Hugging Face ``tokenizer.json``
  (:class:`HFTokenizer`: BPE, WordPiece, WordLevel, Unigram, with offsets, truncation and
  padding as HF gives them); ``Tokenizer.from_sentencepiece`` reads sentencepiece ``.model`` files.
- ``seqfast.ngram``: exact n-gram counting and language models (Kneser-Ney identical to KenLM's
  ``lmplz``, MLE, add-k, stupid backoff), ARPA, seqfast's memory-mapped binary format and KenLM
  binaries, scoring, perplexity, sampling; ``seqfast.ngram.kenlm_compat`` has ``kenlm.Model``'s API.
- ``seqfast.search``: beam search, greedy decoding and sampling over Python scorers, n-gram
  LMs and native LSTM/GRU decoders.
- ``seqfast.nn``: RNN, LSTM, GRU and attention kernels, forward and backward, with PyTorch's
  semantics and weight layouts; ``seqfast.torch`` wraps them as ``torch.nn`` modules with autograd.
- ``seqfast.distributed``: building blocks for any engine and Dask / Ray front ends (tokenize,
  count n-grams, train BPE, fit LMs on a cluster, with the single-process results).
- the ``seqfast`` command line tool (``seqfast.cli``).

The work happens in a Rust core; this package is a thin NumPy-facing layer over it. Bad
arguments raise under one rule in every family: wrong type ``ArgumentTypeError``, wrong value
``SeqfastError``, wrong shape ``ShapeError``, bad file ``FormatError``.

>>> import seqfast
>>> tok = seqfast.train_bpe(texts=["the cat sat on the mat"] * 10, vocab_size=270)
>>> batch = tok.encode_batch(["the cat", "the mat sat"])
>>> counts = seqfast.ngram.count(batch, order=2)
>>> len(batch), counts.order, tok.decode(batch[1])
(2, 2, 'the mat sat')
"""

from seqfast._core import __version__
from seqfast import _errors
from seqfast._errors import *  # noqa: F403  (the error classes: _errors.__all__)
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
]
__all__ += _errors.__all__
