"""Corpus-scale work on an existing engine: tokenize, count and fit on Dask.

Two layers:

* **Building blocks** (no engine needed): pure functions of one partition of texts and exact,
  associative merges of their results — :func:`piece_counts` + :class:`PieceCounts` (``+``,
  :meth:`PieceCounts.merge`) + :func:`train_bpe_from_counts` for BPE training;
  :func:`word_counts` / :func:`id_counts` + :func:`merge_counts` (and :func:`split_counts` to merge by n-gram hash buckets) +
  ``NgramLM.fit_counts`` for n-gram LMs; :func:`encode_texts` for tokenization. Map them with any engine.
* **Dask front ends** (``pip install 'seqfast[dask]'``): :func:`read_text` (a bag of the lines
  of files, one partition per file), :func:`tokenize`,
  :func:`count_ngrams`, :func:`train_bpe`, :func:`fit_lm` over a ``dask.bag`` of texts or a
  ``dask.dataframe`` text column, on the current ``distributed`` client. Results equal the
  single-process ones exactly, whatever the number of partitions or workers.

>>> import dask.bag as db, seqfast, seqfast.distributed as sd
>>> texts = ["the cat sat", "the dog sat", "a cat ran"]
>>> bag = db.from_sequence(texts, npartitions=2)
>>> sd.count_ngrams(bag, order=2) == seqfast.ngram.count_words("\\n".join(texts) + "\\n", order=2)
True
"""

from seqfast.distributed import _blocks
from seqfast.distributed._blocks import *  # noqa: F403  (the building blocks: _blocks.__all__)

__all__: list[str] = []
__all__ += _blocks.__all__
__all__ += [
    "read_text",
    "tokenize",
    "count_ngrams",
    "train_bpe",
    "fit_lm",
    "ray_tokenize",
    "ray_count_ngrams",
    "ray_fit_lm",
    "ray_train_bpe",
]


def __getattr__(name):
    # The Dask front ends import Dask only when first used.
    if name in ("read_text", "tokenize", "count_ngrams", "train_bpe", "fit_lm"):
        from seqfast.distributed import _dask

        return getattr(_dask, name)
    if name in ("ray_tokenize", "ray_count_ngrams", "ray_fit_lm", "ray_train_bpe"):
        from seqfast.distributed import _ray

        return getattr(_ray, name)
    raise AttributeError(f"module 'seqfast.distributed' has no attribute {name!r}")
