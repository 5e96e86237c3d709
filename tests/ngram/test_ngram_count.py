"""n-gram counting against a collections.Counter reference (issue 4, first part)."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqfast
from seqfast import ngram

SETTINGS = settings(max_examples=150, deadline=None, database=None)


def reference(seqs, order, bos=None, eos=None):
    out = [Counter() for _ in range(order)]
    for s in seqs:
        s = ([bos] if bos is not None else []) + list(s) + ([eos] if eos is not None else [])
        for n in range(1, order + 1):
            out[n - 1].update(tuple(s[i : i + n]) for i in range(len(s) - n + 1))
    return out


def as_counter(c: ngram.NgramCounts, n: int) -> Counter:
    grams, counts = c.ngrams(n)
    return Counter({tuple(int(x) for x in g): int(k) for g, k in zip(grams, counts)})


def test_students_opened_their():
    words = "the students opened their".split()
    ids = np.arange(len(words), dtype=np.uint32)
    c = ngram.count(ids, order=4)
    assert [c.num_ngrams(n) for n in (1, 2, 3, 4)] == [4, 3, 2, 1]
    assert c[[1, 2, 3]] == 1 and c[[0, 1, 2, 3]] == 1 and c[[3, 2]] == 0


@SETTINGS
@given(
    seqs=st.lists(st.lists(st.integers(0, 12), max_size=15), max_size=8),
    order=st.integers(1, 5),
    frame=st.booleans(),
)
def test_equals_counter(seqs, order, frame):
    bos, eos = (100, 101) if frame else (None, None)
    arrays = [np.asarray(s, dtype=np.uint32) for s in seqs]
    c = ngram.count(arrays, order=order, bos=bos, eos=eos)
    want = reference(seqs, order, bos, eos)
    for n in range(1, order + 1):
        assert as_counter(c, n) == want[n - 1]
        grams, _ = c.ngrams(n)
        assert grams.dtype == np.uint32 and grams.shape[1] == n
    for g, k in list(want[order - 1].items())[:5]:
        assert c[list(g)] == k


@SETTINGS
@given(seqs=st.lists(st.lists(st.integers(0, 50), max_size=30), min_size=1, max_size=10), split=st.integers(0, 10))
def test_shards_merge_exactly(seqs, split):
    arrays = [np.asarray(s, dtype=np.uint32) for s in seqs]
    whole = ngram.count(arrays, order=3)
    a, b = ngram.count(arrays[:split], order=3), ngram.count(arrays[split:], order=3)
    merged = a + b
    for n in (1, 2, 3):
        assert as_counter(merged, n) == as_counter(whole, n)
    assert as_counter(ngram.NgramCounts.merge([a, b, a]), 2) == as_counter(whole, 2) + as_counter(a, 2)


def test_threads_inputs_pickle_save(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 1000, size=rng.integers(0, 200), dtype=np.uint32) for _ in range(300)]
    one = ngram.count(seqs, order=5, num_threads=1)
    two = ngram.count(seqs, order=5, num_threads=2)
    flat = np.concatenate(seqs)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    csr = ngram.count((flat, offsets), order=5)
    for n in range(1, 6):
        for other in (two, csr, pickle.loads(pickle.dumps(one))):
            assert np.array_equal(one.ngrams(n)[0], other.ngrams(n)[0])
            assert np.array_equal(one.ngrams(n)[1], other.ngrams(n)[1])
    one.save(tmp_path / "c.npz")
    back = ngram.NgramCounts.load(tmp_path / "c.npz")
    assert np.array_equal(back.ngrams(3)[1], one.ngrams(3)[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temp file left
    assert one.total(1) == len(flat)
    # a 2-D batch is B sequences of length L; an EncodingBatch works directly
    box = rng.integers(0, 9, size=(4, 6), dtype=np.uint32)
    assert as_counter(ngram.count(box, order=2), 2) == reference(box.tolist(), 2)[1]
    tok = seqfast.train_bpe(texts=["a b c a b"] * 10, vocab_size=260, pattern="gpt2")
    batch = tok.encode_batch(["a b c", "b c a"])
    assert as_counter(ngram.count(batch, order=2), 1) == reference(batch.to_list(), 1)[0]


def test_atomic_file(tmp_path):
    """Python's saves go through seqfast._core.AtomicFile: a failed write keeps the old file and
    leaves no temp file behind; a committed one replaces it."""
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with seqfast._core.AtomicFile(target) as f:
            f.write(b"x" * (3 << 20))  # past the write buffer: the temp file holds bytes
            assert len(list(tmp_path.iterdir())) == 2
            raise RuntimeError("failed half-way")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with seqfast._core.AtomicFile(str(target)) as f:
        assert f.write(bytearray(b"abcd")) == 4 and f.write(memoryview(b"ef")) == 2
        f.seek(1)
        f.write(b"B")
        assert f.tell() == 2 and f.seek(0, 2) == 6
    assert target.read_bytes() == b"aBcdef" and f.closed
    with pytest.raises(seqfast.SeqfastError, match="closed"):
        f.write(b"more")
    g = seqfast._core.AtomicFile(target)
    g.write(b"dropped")
    g.discard()
    del g
    assert target.read_bytes() == b"aBcdef" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with pytest.raises(IsADirectoryError):
        seqfast._core.AtomicFile(tmp_path).commit()  # renaming a file over a directory fails
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_words_and_cli(tmp_path):
    ids, offsets, vocab = ngram.words("a the b\n\n  the a \n", ["<s>", "</s>"])
    assert vocab == ["<s>", "</s>", "a", "the", "b"]
    assert ids.tolist() == [2, 3, 4, 3, 2] and offsets.tolist() == [0, 3, 5]
    src = tmp_path / "t.txt"
    src.write_text("the cat sat\nthe cat ran\n", encoding="utf-8")
    from seqfast import cli

    assert cli.main(["ngram", "count", str(src), "--order", "3", "--frame", "-o", str(tmp_path / "c.npz"), "-q"]) == 0
    c = ngram.NgramCounts.load(tmp_path / "c.npz")
    vocab = list(np.load(tmp_path / "c.npz")["vocab"])
    w = {s: i for i, s in enumerate(vocab)}
    assert c[[w["<s>"], w["the"], w["cat"]]] == 2 and c[[w["cat"], w["ran"], w["</s>"]]] == 1
    assert cli.main(["ngram", "count", str(src), "-t", "nope", "--frame", "-o", str(tmp_path / "x.npz")]) == 2


def test_lookup_many():
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 20, size=50, dtype=np.uint32) for _ in range(20)]
    c = ngram.count(seqs, order=3)
    ref = reference([s.tolist() for s in seqs], 3)[2]
    queries = rng.integers(0, 20, size=(500, 3), dtype=np.uint32)
    got = c.lookup(queries)
    assert got.dtype == np.uint64
    assert got.tolist() == [ref[tuple(q)] for q in queries.tolist()]
    with pytest.raises(seqfast.ShapeError):
        c.lookup(np.zeros((2, 4), dtype=np.uint32))
