"""Ray Data front ends: the building blocks of ``_blocks.py`` through ``Dataset.map_batches``
on Arrow batches (``pip install 'ray[data]'``).

* :func:`ray_tokenize` adds a ``large_list<uint32>`` column of ids (``encode_arrow``: the text
  is read in place from each batch's Arrow buffers), in the dataset's order.
* :func:`ray_count_ngrams` / :func:`ray_fit_lm` count each batch, then merge the counts in the
  dataset's order (Ray is asked to preserve it, which word vocabularies need).
* :func:`ray_train_bpe` sums piece counts (order-free) and trains once.

Recipe (a cluster, or a laptop with ``ray.init()``)::

    import ray, seqfast.distributed as sd
    ds = ray.data.read_parquet("s3://bucket/corpus/")          # a "text" column
    ids = sd.ray_tokenize(ds, tok)                             # -> ds with an "ids" column
    ids.write_parquet("s3://bucket/ids/")
    lm = sd.ray_fit_lm(ds, order=5)                            # == NgramLM.fit(all texts)
"""

from __future__ import annotations

import pickle
from typing import Optional

from seqfast import _args
from seqfast.distributed import _blocks
from seqfast.tokenizer import train_args


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:  # pragma: no cover
        raise ImportError("the Ray front ends need Ray Data: pip install 'ray[data]'") from e
    return ray


def _texts(batch, column: str):
    return batch.column(column)


def ray_tokenize(ds, tokenizer, *, column: str = "text", output: str = "ids", special: _args.Special = "error"):
    """``ds`` with a ``large_list<uint32>`` column ``output`` of each text's ids.

    >>> import ray.data  # doctest: +SKIP
    >>> ds = ray.data.from_items([{"text": t} for t in ["the cat sat", "the dog sat"]])  # doctest: +SKIP
    >>> tok = seqfast.train_bpe(texts=["the cat sat"] * 5, vocab_size=262)
    >>> ray_tokenize(ds, tok).take(1)[0]["ids"].tolist() == tok.encode("the cat sat").tolist()  # doctest: +SKIP
    True
    """
    import pyarrow as pa

    def enc(batch: pa.Table) -> pa.Table:
        return batch.append_column(output, _blocks.encode_arrow(tokenizer, _texts(batch, column), special=special, num_threads=1))

    return ds.map_batches(enc, batch_format="pyarrow")


def _take_in_order(ds) -> list:
    """All rows of ``ds`` in the dataset's order. Ray may reorder blocks unless the dataset's
    own context (a copy each Dataset keeps, ``_context``) asks it not to; the option is set
    for this run and put back after."""
    ray = _ray()
    ctx = getattr(ds, "_context", None) or ray.data.DataContext.get_current()
    opts = ctx.execution_options
    old = opts.preserve_order
    opts.preserve_order = True
    try:
        return ds.take_all()
    finally:
        opts.preserve_order = old


def ray_count_ngrams(ds, order: int = 3, *, column: str = "text", batch_size: Optional[int] = 4096):
    """Word-level counts of all texts, equal to ``count_words("\\n".join(texts) + "\\n", order)``.

    >>> import ray.data  # doctest: +SKIP
    >>> ds = ray.data.from_items([{"text": t} for t in ["the cat sat", "the dog sat"]])  # doctest: +SKIP
    >>> ray_count_ngrams(ds, order=2) == seqfast.ngram.count_words("the cat sat\\nthe dog sat\\n", order=2)  # doctest: +SKIP
    True
    """
    import pyarrow as pa

    def count(batch: pa.Table) -> pa.Table:
        c = _blocks.word_counts(_texts(batch, column).to_pylist(), order, num_threads=1)
        return pa.table({"counts": pa.array([pickle.dumps(c, protocol=5)], type=pa.large_binary())})

    rows = _take_in_order(ds.map_batches(count, batch_format="pyarrow", batch_size=batch_size))
    parts = [pickle.loads(r["counts"]) for r in rows]
    if not parts:
        return _blocks.word_counts([], order)
    return _blocks.merge_counts(*parts)


def ray_fit_lm(ds, order: int = 3, smoothing: _args.Smoothing = "kneser_ney", *, column: str = "text", **options):
    """``NgramLM.fit("\\n".join(texts) + "\\n", order, smoothing, **options)`` via counts.

    >>> import ray.data  # doctest: +SKIP
    >>> ds = ray.data.from_items([{"text": t} for t in ["the cat sat", "the dog sat"]])  # doctest: +SKIP
    >>> ray_fit_lm(ds, order=2, discount_fallback=(0.5, 1.0, 1.5)).order  # doctest: +SKIP
    2
    """
    from seqfast.ngram import NgramLM

    return NgramLM.fit_counts(_blocks.aligned(ray_count_ngrams(ds, order, column=column)), smoothing, **options)


def ray_train_bpe(
    ds, vocab_size: int = 32000, *, column: str = "text", pattern: str = "cl100k", special_tokens=(), min_frequency: int = 2
):
    """``seqfast.train_bpe(texts=<all texts>, ...)`` from piece counts summed over batches.

    >>> import ray.data  # doctest: +SKIP
    >>> ds = ray.data.from_items([{"text": t} for t in ["the cat sat", "the dog sat"]])  # doctest: +SKIP
    >>> ray_train_bpe(ds, vocab_size=262).vocab_size  # doctest: +SKIP
    262
    """
    import pyarrow as pa

    specials = list(special_tokens)
    vocab_size, min_frequency = train_args(vocab_size, min_frequency)

    def count(batch: pa.Table) -> pa.Table:
        c = _blocks.piece_counts(_texts(batch, column).to_pylist(), pattern=pattern, special_tokens=specials, num_threads=1)
        return pa.table({"counts": pa.array([c.to_bytes()], type=pa.large_binary())})

    rows = ds.map_batches(count, batch_format="pyarrow").take_all()
    total = _blocks.PieceCounts.merge([_blocks.PieceCounts.from_bytes(r["counts"], pattern, specials) for r in rows] or [_blocks.PieceCounts(pattern, specials)])
    return _blocks.train_bpe_from_counts(total, vocab_size, min_frequency=min_frequency)
