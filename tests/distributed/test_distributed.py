"""seqfast.distributed (issue 20): building blocks (pure per-partition functions + exact merges)
and the Dask front ends on a real two-process ``distributed.LocalCluster``.

Every distributed result is compared with the single-process result on the same texts:
``count_words`` / ``NgramLM.fit`` (ARPA bytes) / ``train_bpe`` (the tokenizer's JSON) /
``Tokenizer.encode``, for 1, 2 and 7 partitions. Also: a worker killed in the middle of a job,
bad input in one partition, the tokenizer reaching each worker once.
"""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqfast
from seqfast.distributed import PieceCounts, encode_texts, merge_counts, piece_counts, split_counts, train_bpe_from_counts, word_counts
from seqfast.ngram import NgramCounts, NgramLM, count, count_words

FB = (0.5, 1.0, 1.5)
SPECIALS = ["<|endoftext|>", "<pad>"]
WORDS = ["the", "cat", "sat", "on", "mat", "héllo", "日本語", "naïve", "x1", "42", "don't", "THE", "😀", "a", "b", "ab", "ba"]


def corpus(n: int = 240, seed: int = 0) -> list[str]:
    """Texts with repeats, Unicode, specials, empty texts and a few multi-line texts."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
        if i % 17 == 3:
            t += " <|endoftext|> " + rng.choice(WORDS)
        if i % 23 == 5:
            t += "\n" + " ".join(rng.choice(WORDS) for _ in range(3))
        out.append(t)
    return out


def chunks(texts: list, n: int) -> list[list]:
    """``texts`` cut into ``n`` consecutive parts (some may be empty)."""
    bounds = [len(texts) * i // n for i in range(n + 1)]
    return [texts[a:b] for a, b in zip(bounds, bounds[1:])]


def whole(texts: list) -> str:
    return "\n".join(texts) + "\n"


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


def test_piece_counts_errors():
    a = piece_counts(["x y"], pattern="cl100k")
    with pytest.raises(seqfast.SeqfastError, match="different settings"):
        a + piece_counts(["x y"], pattern="gpt2")
    with pytest.raises(seqfast.SeqfastError, match="different settings"):
        a + piece_counts(["x y"], pattern="cl100k", special_tokens=["<pad>"])
    good = a.to_bytes()
    for bad in (b"", good[:-1], good + b"\0", b"XXXXXXXX" + good[8:]):
        with pytest.raises(seqfast.FormatError):
            PieceCounts.from_bytes(bad)
    with pytest.raises(seqfast.ArgumentTypeError, match="partition 4, item 1"):
        piece_counts(["ok", 7], partition=4)
    with pytest.raises(seqfast.SeqfastError, match="partition 2, item 0.*UTF-8"):
        piece_counts(["\ud800"], partition=2)
    with pytest.raises(seqfast.SeqfastError, match="vocab_size"):
        train_bpe_from_counts(a, 10)


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


def test_split_counts_ids_and_errors():
    texts = [[1, 2, 3, 2, 1], [3, 3, 4]]
    whole_ids = count(texts, 3, bos=0, eos=5)
    parts = split_counts(whole_ids, 3)
    assert len(parts) == 3 and all(p.bos == 0 and p.eos == 5 and p.vocab is None for p in parts)
    assert merge_counts(*parts) == whole_ids
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(seqfast.SeqfastError, match="buckets"):
            split_counts(whole_ids, bad)


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


def _hf_encode(batch, tok):
    import pyarrow as pa

    from seqfast.distributed import encode_arrow

    # With the "arrow" format a batch is a pyarrow Table: text in, a Table of id lists out.
    return pa.table({"ids": encode_arrow(tok, batch["text"], special="special")})


def test_hf_datasets_map_num_proc_2(tok):
    datasets = pytest.importorskip("datasets")
    texts = corpus(120)
    ds = datasets.Dataset.from_dict({"text": texts}).with_format("arrow")
    out = ds.map(_hf_encode, batched=True, batch_size=16, num_proc=2, fn_kwargs={"tok": tok}, load_from_cache_file=False)
    ids = out.with_format(None)["ids"]
    assert len(ids) == len(texts)
    for row, t in zip(ids, texts):
        assert row == tok.encode(t, special="special").tolist()


@pytest.fixture(scope="module")
def tok():
    return seqfast.train_bpe(texts=corpus(400), vocab_size=320, special_tokens=SPECIALS)


# ---- Dask ---------------------------------------------------------------------------------

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
import dask.bag as db  # noqa: E402

import seqfast.distributed as sd  # noqa: E402


@pytest.fixture(scope="module")
def client():
    import logging

    with dask.config.set({"distributed.comm.timeouts.connect": "30s", "distributed.scheduler.allowed-failures": 3}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
        c = distributed.Client(cluster, timeout=60)
        try:
            c.wait_for_workers(2, timeout=60)
            yield c
        finally:
            c.close(timeout=30)
            cluster.close(timeout=30)


def bag(texts, n):
    """A bag of exactly ``n`` partitions (``from_sequence`` may round the count)."""
    return db.from_delayed([dask.delayed(list, pure=True)(p) for p in chunks(texts, n)])


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


def test_bad_input_names_partition_and_item(client, tok):
    texts = corpus(70)
    parts = chunks(texts, 7)
    parts[3] = parts[3][:2] + [None] + parts[3][2:]
    b = db.from_delayed([dask.delayed(list)(p) for p in parts])
    for call in (lambda: sd.count_ngrams(b, 2), lambda: sd.train_bpe(b, 300), lambda: sd.tokenize(b, tok, special="special").compute()):
        with pytest.raises(seqfast.ArgumentTypeError, match="partition 3, item 2: expected a text str, got NoneType"):
            call()
    # A special token's string under special="error": the core names the text, we the partition.
    with pytest.raises(seqfast.SpecialTokenError, match="partition 0"):
        sd.tokenize(bag(["a", "<pad>"], 1), tok).compute()


def test_front_end_argument_errors(client, tok):
    b = bag(["a b"], 1)
    with pytest.raises(seqfast.ArgumentTypeError, match="dask.bag.Bag"):
        sd.count_ngrams(["a b"], 2)
    with pytest.raises(seqfast.SeqfastError, match="vocab_size"):
        sd.train_bpe(b, 10)
    with pytest.raises(seqfast.SeqfastError, match="smoothing"):
        sd.fit_lm(b, 2, "nope")
    with pytest.raises(seqfast.SeqfastError, match="bos="):
        sd.count_ngrams(b, 2, bos=1)
    with pytest.raises(seqfast.ArgumentTypeError, match="Tokenizer"):
        sd.tokenize(b, "tok")
    with pytest.raises(seqfast.SeqfastError, match="buckets"):
        sd.count_ngrams(b, 2, buckets=0)
    lazy = sd.count_ngrams(b, 2, compute=False)
    assert lazy.compute() == count_words("a b\n", 2)


@pytest.mark.slow
def test_ray_data(tok):
    """The same building blocks on Ray Data (a local Ray started and stopped here)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    pa = pytest.importorskip("pyarrow")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        texts = corpus()
        ds = ray.data.from_arrow(pa.table({"text": texts})).repartition(7)
        enc = sd.ray_tokenize(ds, tok, special="special").take_all()
        # Each row keeps its text next to its ids (Ray orders rows only when asked to).
        assert sorted(r["text"] for r in enc) == sorted(texts)
        for r in enc:
            assert list(r["ids"]) == tok.encode(r["text"], special="special").tolist()
        assert sd.ray_count_ngrams(ds, 3, batch_size=50) == count_words(whole(texts), 3)
        lm = sd.ray_fit_lm(ds, 3, discount_fallback=FB)
        assert lm.to_arpa() == NgramLM.fit(whole(texts), 3, discount_fallback=FB).to_arpa()
        got = sd.ray_train_bpe(ds, 330, special_tokens=SPECIALS)
        assert got.to_str() == seqfast.train_bpe(texts=texts, vocab_size=330, special_tokens=SPECIALS).to_str()
    finally:
        ray.shutdown()
