"""Dask front ends: the building blocks of ``_blocks.py`` mapped over the partitions of a
``dask.bag`` of texts or a ``dask.dataframe`` text column, merged by an ordered tree reduction,
and computed on the current ``distributed`` client (or Dask's default scheduler without one).

Task keys are fresh for every call (``pure=False``): a repeated call recomputes instead of
picking up results of an earlier one still held by the cluster, so timings mean something.
Every task is still a pure function of its partition, so a task lost with a worker is rerun
elsewhere; merges are exact integer sums in text order, so results never depend on the number
of partitions or workers. Tokenizers and models enter the graph as one value (``_Shipped``):
Dask sends it to each worker once, not once per task.
"""

from __future__ import annotations

from typing import Optional

from seqfast import _args
from seqfast._errors import ArgumentTypeError, SeqfastError
from seqfast.distributed import _blocks
from seqfast.tokenizer import Tokenizer, train_args

__all__ = ["read_text", "tokenize", "count_ngrams", "train_bpe", "fit_lm"]

#: How many results each merge task combines (the fan-in of the tree reduction).
SPLIT_EVERY = 8

# Times a shipped object was unpickled in this process (a test reads it on each worker).
_SHIP_LOADS = {"count": 0}


class _Shipped:
    """A picklable object travelling as a single graph value. Unpickling counts itself in
    ``_SHIP_LOADS`` so tests can check a tokenizer reaches each worker once."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __reduce__(self):
        return (_unship, (self.obj,))


def _unship(obj) -> _Shipped:
    _SHIP_LOADS["count"] += 1
    return _Shipped(obj)


def _dask():
    try:
        import dask
        import dask.bag  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("seqfast.distributed needs Dask: pip install 'seqfast[dask]'") from e
    return dask


def _partitions(texts, column: Optional[str]):
    """``(list of Delayed partitions in order, kind, the Series or None)``."""
    dask = _dask()
    import dask.bag as db

    if isinstance(texts, db.Bag):
        if column is not None:
            raise SeqfastError("column= applies to a dask DataFrame, not a Bag")
        return list(texts.to_delayed()), "bag", None
    try:
        import dask.dataframe as dd

        have_dd = True
    except ImportError:  # pragma: no cover
        have_dd = False
    if have_dd and isinstance(texts, dd.DataFrame):
        if column is None:
            raise SeqfastError("a dask DataFrame needs column= (the name of its text column)")
        texts = texts[column]
    elif column is not None:
        raise SeqfastError("column= applies to a dask DataFrame only")
    if have_dd and isinstance(texts, dd.Series):
        return list(texts.to_delayed()), "series", texts
    del dask
    raise ArgumentTypeError(f"texts must be a dask.bag.Bag or a dask.dataframe text column, not {type(texts).__name__}")


def _tree(parts: list, merge, split_every: int):
    """Ordered tree reduction of Delayed values: neighbours merge, so text order is kept."""
    dask = _dask()
    if split_every < 2:
        raise SeqfastError(f"split_every={split_every} must be at least 2")
    level = 0
    while len(parts) > 1:
        level += 1
        parts = [
            dask.delayed(merge, pure=False)(*parts[i : i + split_every]) if len(parts[i : i + split_every]) > 1 else parts[i]
            for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _client(client):
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _compute(obj, client, compute: bool):
    if not compute:
        return obj
    c = _client(client)
    if c is not None:
        return c.compute(obj, sync=True)
    return obj.compute()


def _ship(obj):
    dask = _dask()
    return dask.delayed(_Shipped(obj), pure=False, traverse=False)


# ---- tasks (module-level functions: they pickle by reference) -----------------------------


def _word_counts_task(part, order, partition):
    return _blocks.word_counts(part, order, num_threads=1, partition=partition)


def _id_counts_task(tok, part, order, bos, eos, special, partition):
    return _blocks.id_counts(tok.obj, part, order, bos=bos, eos=eos, special=special, num_threads=1, partition=partition)


def _piece_counts_task(part, pattern, specials, partition):
    return _blocks.piece_counts(part, pattern=pattern, special_tokens=specials, num_threads=1, partition=partition)


def _encode_bag_task(tok, part, special, partition):
    # The partition is the EncodingBatch itself: a sequence of id arrays (len, [i], iter) held
    # as two flat arrays, so nothing is made per text until a consumer asks for the rows.
    return _blocks._encode(tok.obj, part, special, 1, partition)


def _encode_series_task(tok, part, special, partition):
    import pandas as pd

    return pd.Series(_blocks.encode_texts(tok.obj, part, special=special, num_threads=1, partition=partition), index=part.index, name=part.name, dtype=object)


def _fit_task(counts, options):
    from seqfast.ngram import NgramLM

    return NgramLM.fit_counts(_blocks.aligned(counts), **options)


def _train_task(counts, vocab_size, min_frequency):
    return _blocks.train_bpe_from_counts(counts, vocab_size, min_frequency=min_frequency)


# ---- front ends ---------------------------------------------------------------------------


def read_text(paths, *, encoding: str = "utf-8"):
    """A ``dask.bag`` of the lines of text files (without their newlines), one partition per
    file, in the order given (a glob pattern is expanded and sorted). Each file is read and split
    in one task, in C: several times faster than ``dask.bag.read_text(...).map(str.rstrip)``,
    which handles every line in Python. Files are read on the workers, so they must be visible
    there (a shared file system, or ``s3://`` through ``dask.bag.read_text`` instead).

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     _ = open(os.path.join(d, f"part{i}.txt"), "w").write(f"line {i}\\nmore {i}\\n")
    >>> read_text(os.path.join(d, "*.txt")).compute(scheduler="sync")
    ['line 0', 'more 0', 'line 1', 'more 1']
    """
    import glob
    import os

    dask = _dask()
    import dask.bag as db

    if isinstance(paths, (str, os.PathLike)):
        pattern = os.fspath(paths)
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not paths:
            raise SeqfastError(f"no file matches {pattern!r}")
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise SeqfastError("read_text needs at least one path")
    task = dask.delayed(_blocks.read_lines, pure=False)
    return db.from_delayed([task(p, encoding) for p in paths])


def tokenize(texts, tokenizer, *, column: Optional[str] = None, special: _args.Special = "error"):
    """Encode every text; returns a lazy collection in the input's order: for a ``dask.bag``, a
    bag of uint32 id arrays (each partition an :class:`~seqfast.EncodingBatch`, a sequence of
    id arrays stored flat: ``map_partitions`` gets ``batch.ids`` / ``batch.row_offsets``); for a ``dask.dataframe`` column (or ``column=`` of a DataFrame), a
    Series of id arrays with the same index and divisions. Each array equals
    ``tokenizer.encode(text, special=special)``. The tokenizer is shipped once per worker.

    >>> import dask.bag as db
    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> bag = db.from_sequence(texts, npartitions=2)
    >>> tok = seqfast.train_bpe(texts=["the cat sat"] * 5, vocab_size=262)
    >>> [ids.tolist() == tok.encode(t).tolist() for t, ids in zip(texts, tokenize(bag, tok).compute(scheduler="sync"))]
    [True, True, True]
    """
    if not isinstance(tokenizer, Tokenizer):
        raise ArgumentTypeError(f"tokenizer must be a seqfast.Tokenizer, not {type(tokenizer).__name__}")
    dask = _dask()
    parts, kind, series = _partitions(texts, column)
    tok = _ship(tokenizer)
    if kind == "bag":
        import dask.bag as db

        task = dask.delayed(_encode_bag_task, pure=False)
        return db.from_delayed([task(tok, p, special, i) for i, p in enumerate(parts)])
    import dask.dataframe as dd
    import pandas as pd

    task = dask.delayed(_encode_series_task, pure=False)
    meta = pd.Series([], dtype=object, name=series.name)
    # Object columns of id arrays must stay objects: keep Dask from turning them into strings.
    with dask.config.set({"dataframe.convert-string": False}):
        out = dd.from_delayed([task(tok, p, special, i) for i, p in enumerate(parts)], meta=meta, divisions=series.divisions, verify_meta=False)
        out = out.optimize()
    return out


def count_ngrams(
    texts,
    order: int = 3,
    *,
    column: Optional[str] = None,
    tokenizer=None,
    bos: Optional[int] = None,
    eos: Optional[int] = None,
    special: _args.Special = "error",
    split_every: int = SPLIT_EVERY,
    buckets: int = 1,
    client=None,
    compute: bool = True,
):
    """N-gram counts of all the texts, counted per partition and merged in a tree.

    ``buckets=k`` (k > 1) merges by n-gram hash instead, for count tables too big for one
    worker: each partition's counts are cut into k disjoint buckets and each bucket is merged on
    its own (the workers share the large merges), then the buckets are added together. The
    result is the same.

    Without ``tokenizer``: word level, equal to ``seqfast.ngram.count_words("\\n".join(texts) +
    "\\n", order)`` (each text one or more sentences, one per line). With ``tokenizer``: id level,
    equal to ``seqfast.ngram.count(tokenizer.encode_batch(texts), order, bos=bos, eos=eos)``.
    ``compute=False`` returns the Delayed result instead of computing it.

    >>> import dask.bag as db
    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> bag = db.from_sequence(texts, npartitions=2)
    >>> count_ngrams(bag, order=2) == seqfast.ngram.count_words("the cat sat\\nthe dog sat\\na cat ran\\n", order=2)
    True
    """
    order = _args.integer("order", order, 1)
    buckets = _blocks.check_buckets(buckets)
    dask = _dask()
    parts, _, _ = _partitions(texts, column)
    if tokenizer is None:
        if bos is not None or eos is not None:
            raise SeqfastError("bos=/eos= apply to id-level counting (tokenizer=); word counts are framed with <s> and </s>")
        task = dask.delayed(_word_counts_task, pure=False)
        counted = [task(p, order, i) for i, p in enumerate(parts)]
    else:
        tok = _ship(tokenizer)
        task = dask.delayed(_id_counts_task, pure=False)
        counted = [task(tok, p, order, bos, eos, special, i) for i, p in enumerate(parts)]
    return _compute(_reduce_counts(counted, buckets, split_every), client, compute)


def _reduce_counts(counted: list, buckets: int, split_every: int):
    """Merge per-partition counts: one ordered tree, or with ``buckets`` > 1 a shuffle: each
    partition's counts are cut by n-gram hash (``split_counts``), bucket k of every partition is
    merged in its own tree (so the large merges run on different workers, each holding 1/k of
    the table), and the disjoint buckets are added together at the end."""
    if buckets == 1:
        return _tree(counted, _blocks.merge_counts, split_every)
    dask = _dask()
    split = dask.delayed(_blocks.split_counts, pure=False, nout=buckets)
    pieces = [split(c, buckets) for c in counted]
    merged = [_tree([p[k] for p in pieces], _blocks.merge_counts, split_every) for k in range(buckets)]
    return dask.delayed(_blocks.merge_counts, pure=False)(*merged)


def train_bpe(
    texts,
    vocab_size: int = 32000,
    *,
    column: Optional[str] = None,
    pattern: str = "cl100k",
    special_tokens=(),
    min_frequency: int = 2,
    split_every: int = SPLIT_EVERY,
    client=None,
    compute: bool = True,
):
    """Train a byte-level BPE tokenizer: piece counts per partition, merged in a tree, trained on
    one worker. Equal to ``seqfast.train_bpe(texts=<all texts>, vocab_size=..., pattern=...,
    special_tokens=..., min_frequency=...)``.

    >>> import dask.bag as db
    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> bag = db.from_sequence(texts, npartitions=2)
    >>> train_bpe(bag, vocab_size=262).to_str() == seqfast.train_bpe(texts=texts, vocab_size=262).to_str()
    True
    """
    # Check the settings here, before any work is scheduled.
    specials = _blocks.PieceCounts(pattern, special_tokens).special_tokens
    vocab_size, min_frequency = train_args(vocab_size, min_frequency)
    dask = _dask()
    parts, _, _ = _partitions(texts, column)
    task = dask.delayed(_piece_counts_task, pure=False)
    counted = [task(p, pattern, specials, i) for i, p in enumerate(parts)]
    total = _tree(counted, _blocks.merge_counts, split_every)
    return _compute(dask.delayed(_train_task, pure=False)(total, vocab_size, min_frequency), client, compute)


def fit_lm(
    texts,
    order: int = 3,
    smoothing: _args.Smoothing = "kneser_ney",
    *,
    column: Optional[str] = None,
    split_every: int = SPLIT_EVERY,
    buckets: int = 1,
    client=None,
    compute: bool = True,
    **options,
):
    """Fit a word-level n-gram LM: counts per partition, merged in a tree, fitted on one worker.
    Equal (same ARPA bytes) to ``NgramLM.fit("\\n".join(texts) + "\\n", order, smoothing,
    **options)`` (``buckets``: see :func:`count_ngrams`); ``options`` are :meth:`NgramLM.fit_counts`'s (``discount_fallback``,
    ``prune``, ``k``, ``alpha``).

    >>> import dask.bag as db
    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> bag = db.from_sequence(texts, npartitions=2)
    >>> fb = dict(discount_fallback=(0.5, 1.0, 1.5))  # a toy corpus has no n-grams seen 3 times
    >>> fit_lm(bag, order=2, **fb).to_arpa() == seqfast.ngram.NgramLM.fit("\\n".join(texts) + "\\n", order=2, **fb).to_arpa()
    True
    """
    from seqfast._lm import fit_options

    dask = _dask()
    o = options
    fit_options(_args.integer("order", order, 1), smoothing, o.get("k", 1.0), o.get("alpha", 0.4), o.get("discount_fallback"), o.get("prune"), None)
    counts = count_ngrams(texts, order, column=column, split_every=split_every, buckets=buckets, compute=False)
    opts = dict(options, smoothing=smoothing)
    return _compute(dask.delayed(_fit_task, pure=False)(counts, opts), client, compute)
