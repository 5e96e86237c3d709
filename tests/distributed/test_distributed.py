"""seqfast.distributed (issue 20): building blocks (pure per-partition functions + exact merges)
and the Dask front ends on a real two-process ``distributed.LocalCluster``.

Every distributed result is compared with the single-process result on the same texts:
``count_words`` / ``NgramLM.fit`` (ARPA bytes) / ``train_bpe`` (the tokenizer's JSON) /
``Tokenizer.encode``, for 1, 2 and 7 partitions. Also: a worker killed in the middle of a job,
the tokenizer reaching each worker once. Bad input is in test_distributed_errors.py, Hugging Face
``datasets`` and Ray Data in test_distributed_parity.py.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqfast
from seqfast.distributed import PieceCounts, encode_texts, merge_counts, piece_counts, split_counts, train_bpe_from_counts, word_counts
from seqfast.ngram import NgramLM, count, count_words

from _dist_cases import FB, SPECIALS, bag, chunks, corpus, whole

# ---- building blocks (no engine) ----------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.text(alphabet="ab c\n<|>é", max_size=20), max_size=12),
    st.integers(1, 5),
    st.sampled_from(["cl100k", "gpt2", r"\S+|\s+"]),
    st.integers(0, 3),
)
def test_piece_counts_train_like_the_whole(texts, n, pattern, min_frequency):
    specials = ["<|>"]
    parts = [piece_counts(p, pattern=pattern, special_tokens=specials) for p in chunks(texts, n)]
    total = PieceCounts.merge(parts)
    assert total == piece_counts(texts, pattern=pattern, special_tokens=specials)
    assert pickle.loads(pickle.dumps(total)) == total
    ref = seqfast.train_bpe(texts=texts, vocab_size=300, pattern=pattern, special_tokens=specials, min_frequency=min_frequency)
    got = train_bpe_from_counts(total, 300, min_frequency=min_frequency)
    assert got.to_str() == ref.to_str()


def test_piece_counts_values_and_pickle():
    c = piece_counts(["ab ab", "ab<pad>x"], pattern="cl100k", special_tokens=["<pad>"])
    assert c.items() == {b"ab": 2, b" ab": 1, b"x": 1}
    assert (len(c), c.total) == (3, 4)
    assert c + PieceCounts("cl100k", ["<pad>"]) == c
    texts = corpus(400)
    big = piece_counts(texts, special_tokens=SPECIALS)
    blob = pickle.dumps(big)
    assert pickle.loads(blob) == big
    # Compact: the front-coded table is smaller than the pieces written out one per line.
    assert len(blob) < sum(len(k) + 3 for k in big.items()) + 200
    # Order of merging does not matter (exact integer sums).
    a, b, cc = (piece_counts(p, special_tokens=SPECIALS) for p in chunks(texts, 3))
    assert (a + b) + cc == a + (b + cc) == cc + a + b == big


@pytest.mark.parametrize("n", [1, 2, 7])
def test_word_counts_blocks(n):
    texts = corpus()
    parts = [word_counts(p, 3, partition=i) for i, p in enumerate(chunks(texts + [""] * 0, n))]
    total = merge_counts(*parts)
    assert total == count_words(whole(texts), 3)
    assert pickle.loads(pickle.dumps(total)) == total
    ref = NgramLM.fit(whole(texts), 3, discount_fallback=FB)
    assert NgramLM.fit_counts(total, discount_fallback=FB).to_arpa() == ref.to_arpa()
    # Empty partitions are neutral.
    assert merge_counts(word_counts([], 3), total, word_counts([], 3)) == total


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(1, 5), st.integers(1, 4), st.integers(0, 10**6))
def test_split_counts_buckets_merge_to_the_whole(n, buckets, order, seed):
    """Bucket k of every partition merged on its own, then the buckets added: the whole's counts.
    Buckets are disjoint, and an n-gram's bucket does not depend on the partition's word ids."""
    texts = corpus(60, seed)
    parts = [word_counts(p, order) for p in chunks(texts, n)]
    split = [split_counts(c, buckets) for c in parts]
    merged = [merge_counts(*[s[k] for s in split]) for k in range(buckets)]
    assert merge_counts(*merged) == count_words(whole(texts), order)
    if buckets > 1:
        for o in range(1, order + 1):
            keys = [{tuple(merged[k].vocab[i] for i in g) for g in merged[k].ngrams(o)[0]} for k in range(buckets)]
            assert sum(map(len, keys)) == len(set().union(*keys))


def test_blocks_encode_and_id_counts(tok):
    texts = [t.replace("<|endoftext|>", "") for t in corpus(60)]
    got = encode_texts(tok, texts)
    assert len(got) == len(texts)
    for a, t in zip(got, texts):
        assert a.dtype == np.uint32 and np.array_equal(a, tok.encode(t))
    assert encode_texts(tok, []) == []
    from seqfast.distributed import id_counts

    parts = [id_counts(tok, p, 3, bos=0, eos=1) for p in chunks(texts, 3)]
    assert merge_counts(*parts) == count(tok.encode_batch(texts), 3, bos=0, eos=1)
    with pytest.raises(seqfast.ArgumentTypeError, match="partition 5, item 2"):
        encode_texts(tok, ["a", "b", None], partition=5)


@pytest.mark.parametrize("kind", ["string", "large_string", "chunked"])
def test_encode_arrow_round_trip(tok, kind, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from seqfast.distributed import encode_arrow

    texts = corpus(80)
    arr = pa.array(texts, type=pa.large_string() if kind == "large_string" else pa.string())
    if kind == "chunked":
        arr = pa.chunked_array([arr[:30], arr[30:]])
    out = encode_arrow(tok, arr, special="special")
    assert out.type == pa.large_list(pa.uint32()) and len(out) == len(texts)
    assert tok.encode_batch(arr, special="special").equals(out)  # Tokenizer.encode_batch takes Arrow too
    flat = out.values.to_numpy()  # zero-copy view of the ids
    offs = out.offsets.to_numpy()
    for i, t in enumerate(texts):
        ids = flat[offs[i] : offs[i + 1]]
        assert np.array_equal(ids, tok.encode(t, special="special"))
        assert tok.decode(ids) == t
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"text": arr, "ids": out}), path)
    back = pq.read_table(path)
    assert back.column("ids").combine_chunks().equals(out)
    # A slice of an array (non-zero offset into its buffers) reads the right texts.
    part = encode_arrow(tok, pa.array(texts)[7:19], special="special")
    assert part.equals(out[7:19] if kind != "chunked" else pa.concat_arrays([out.slice(7, 12)]))
    with pytest.raises(seqfast.SeqfastError, match="partition 1, item 2: null"):
        encode_arrow(tok, pa.array(["a", "b", None]), partition=1)
    with pytest.raises(seqfast.SpecialTokenError, match="partition 3"):
        encode_arrow(tok, pa.array(["a", "x <pad>"]), partition=3)
    # Buffers from a producer that did not validate UTF-8: named, not trusted.
    bad = pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(np.array([0, 1, 3], np.int32)), pa.py_buffer(b"a\xff\xfe")])
    with pytest.raises(seqfast.SeqfastError, match="item 1: not UTF-8"):
        encode_arrow(tok, bad)
    with pytest.raises(seqfast.ArgumentTypeError, match="strings"):
        encode_arrow(tok, pa.array([1, 2]))


# ---- Dask ---------------------------------------------------------------------------------

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
import dask.bag as db  # noqa: E402

import seqfast.distributed as sd  # noqa: E402


@pytest.mark.parametrize("n", [1, 2, 7])
def test_dask_count_and_fit(client, n):
    texts = corpus()
    b = bag(texts, n)
    assert b.npartitions == n
    assert sd.count_ngrams(b, 3) == count_words(whole(texts), 3)
    lm = sd.fit_lm(b, 3, discount_fallback=FB)
    assert lm.to_arpa() == NgramLM.fit(whole(texts), 3, discount_fallback=FB).to_arpa()
    # The shuffle (merge by n-gram hash buckets) gives the same counts and model.
    assert sd.count_ngrams(b, 3, buckets=3) == count_words(whole(texts), 3)
    assert sd.fit_lm(b, 3, discount_fallback=FB, buckets=2).to_arpa() == lm.to_arpa()
    one_line = [t.replace("\n", " ") for t in texts]
    lm2 = sd.fit_lm(bag(one_line, n), 2, "add_k", k=0.5)
    assert pickle.dumps(lm2) == pickle.dumps(NgramLM.fit(one_line, 2, "add_k", k=0.5))


@pytest.mark.parametrize("n", [1, 2, 7])
def test_dask_train_bpe(client, n):
    texts = corpus()
    ref = seqfast.train_bpe(texts=texts, vocab_size=330, special_tokens=SPECIALS, min_frequency=2)
    got = sd.train_bpe(bag(texts, n), 330, special_tokens=SPECIALS, min_frequency=2, split_every=2)
    assert got.to_str() == ref.to_str()


@pytest.mark.parametrize("n", [1, 2, 7])
def test_dask_tokenize(client, tok, n):
    texts = corpus()
    lazy = sd.tokenize(bag(texts, n), tok, special="special")
    got = lazy.compute()
    assert len(got) == len(texts)
    sizes = lazy.map_partitions(lambda b: [(type(b).__name__, len(b), len(b.ids))]).compute()
    assert [s[1] for s in sizes] == [len(p) for p in chunks(texts, n)]
    assert {s[0] for s in sizes} == {"EncodingBatch"} and sum(s[2] for s in sizes) == sum(map(len, got))
    for a, t in zip(got, texts):
        assert a.dtype == np.uint32 and np.array_equal(a, tok.encode(t, special="special"))
    ids = sd.count_ngrams(bag(texts, n), 2, tokenizer=tok, special="special", bos=0, eos=1)
    assert ids == count(tok.encode_batch(texts, special="special"), 2, bos=0, eos=1)


def test_read_text_partitions_per_file(client, tmp_path):
    texts = corpus()
    files = [texts[:100], [], texts[100:101], texts[101:]]
    for i, part in enumerate(files):
        body = "".join(t.replace("\n", " ") + "\n" for t in part)
        if i == 3:
            body = body[:-1]  # no final newline
        (tmp_path / f"f{i}.txt").write_bytes(body.encode())
    lines = [t.replace("\n", " ") for t in texts]
    b = sd.read_text(str(tmp_path / "f*.txt"))
    assert b.npartitions == 4 and b.compute() == lines
    assert sd.count_ngrams(b, 3) == count_words(whole(lines), 3)
    assert sd.read_text([tmp_path / "f2.txt"]).compute() == lines[100:101]
    (tmp_path / "crlf.txt").write_bytes(b"a b\r\nc\r\n")
    assert sd.read_text(tmp_path / "crlf.txt").compute() == ["a b\r", "c\r"]
    (tmp_path / "bad.txt").write_bytes(b"good line\nbad \xff here\n")
    with pytest.raises(seqfast.FormatError, match=r"bad.txt: line 2: not valid UTF-8 \(byte 14\)"):
        sd.read_text(tmp_path / "bad.txt").compute()
    with pytest.raises(seqfast.SeqfastError, match="no file matches"):
        sd.read_text(str(tmp_path / "none*.txt"))


def test_dask_dataframe_column(client, tok):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    texts = corpus()
    df = dd.from_pandas(pd.DataFrame({"text": texts, "n": range(len(texts))}), npartitions=7)
    assert sd.count_ngrams(df, 2, column="text") == count_words(whole(texts), 2)
    assert sd.train_bpe(df["text"], 300, special_tokens=SPECIALS).to_str() == seqfast.train_bpe(texts=texts, vocab_size=300, special_tokens=SPECIALS).to_str()
    enc = sd.tokenize(df["text"], tok, special="special").compute()
    assert list(enc.index) == list(range(len(texts)))
    for a, t in zip(enc, texts):
        assert np.array_equal(a, tok.encode(t, special="special"))
    with pytest.raises(seqfast.SeqfastError, match="column="):
        sd.count_ngrams(df, 2)


def _loads():
    from seqfast.distributed import _dask

    return _dask._SHIP_LOADS["count"]


def _reset():
    from seqfast.distributed import _dask

    _dask._SHIP_LOADS["count"] = 0


def test_tokenizer_shipped_once_per_worker(client, tok):
    client.run(_reset)
    texts = corpus(400)
    got = sd.tokenize(bag(texts, 7), tok, special="special").compute()
    assert len(got) == len(texts)
    loads = client.run(_loads)
    assert len(loads) == 2 and all(v <= 1 for v in loads.values()) and sum(loads.values()) >= 1, loads


def _parts_killing_once(texts, n, marker, victim):
    """A bag whose partition ``victim`` kills its worker process the first time it is made."""

    def make(part, i):
        if i == victim and not os.path.exists(marker):
            open(marker, "x").close()
            os._exit(1)  # the worker dies mid-job; the nanny restarts it
        return part

    return db.from_delayed([dask.delayed(make, pure=True)(p, i) for i, p in enumerate(chunks(texts, n))])


def test_worker_killed_mid_job(client, tmp_path):
    texts = corpus()
    marker = str(tmp_path / "killed")
    got = sd.count_ngrams(_parts_killing_once(texts, 7, marker, victim=4), 3)
    assert os.path.exists(marker)  # a worker really died
    assert got == count_words(whole(texts), 3)
    client.wait_for_workers(2, timeout=60)
    marker2 = str(tmp_path / "killed2")
    lm = sd.fit_lm(_parts_killing_once(texts, 7, marker2, victim=6), 3, discount_fallback=FB)
    assert os.path.exists(marker2)
    assert lm.to_arpa() == NgramLM.fit(whole(texts), 3, discount_fallback=FB).to_arpa()
    client.wait_for_workers(2, timeout=60)
