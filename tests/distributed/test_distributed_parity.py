"""seqfast.distributed with the engines people already use: Hugging Face ``datasets.Dataset.map``
(batched, two processes) and Ray Data (``map_batches``), each equal to single-process seqfast.
Skips the engines that are not installed."""

from __future__ import annotations


import pytest

import seqfast
import seqfast.distributed as sd
from seqfast.ngram import NgramLM, count_words

from _dist_cases import FB, SPECIALS, corpus, whole


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
