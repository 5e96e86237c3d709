"""n-gram counting and n-gram language models.

- :func:`count` (token ids) and :func:`count_words` (text) give :class:`NgramCounts`: one sorted
  table per order, exact and identical for every thread count; counts of pieces of a text add up
  (``a + b``) to the counts of the whole.
- :class:`NgramLM`: Kneser-Ney identical to KenLM's ``lmplz``, MLE, add-k, stupid backoff;
  ARPA in and out, seqfast's memory-mapped binary format and KenLM ``.binary`` files; scoring,
  perplexity, sampling.
- :mod:`seqfast.ngram.kenlm_compat`: ``kenlm.Model``'s API on a seqfast model.

>>> from seqfast.ngram import NgramLM, count_words
>>> text = "the cat sat\\nthe dog sat\\n"
>>> count_words(text, order=2)["the cat"]
1
>>> round(NgramLM.fit(text, order=2, smoothing="mle").logprob("cat", "the"), 3)
-0.301

Counts are built in ``_counts.py``, models in ``_lm.py``; this module is their public face.
"""

import sys

from seqfast import _kenlm_compat as kenlm_compat
from seqfast._counts import NgramCounts, _restore_counts, count, count_words, words  # noqa: F401  (_restore_counts: old pickles)
from seqfast._lm import NgramLM

__all__ = ["NgramCounts", "NgramLM", "count", "count_words", "words", "kenlm_compat"]

# `import seqfast.ngram.kenlm_compat` and `from seqfast.ngram.kenlm_compat import Model` work too.
sys.modules[__name__ + ".kenlm_compat"] = kenlm_compat
