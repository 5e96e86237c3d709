"""Per-thread piece caches persist across calls; they must never leak between tokenizers and
never change a result (interleaved tokenizers, clear_caches, threads)."""

from __future__ import annotations

import numpy as np

import seqfast
from conftest import stdlib_py_texts


def test_interleaved_tokenizers_do_not_share_caches():
    texts = [t for _, t in stdlib_py_texts()[:30]]
    a = seqfast.train_bpe(texts=texts[:15], vocab_size=700, pattern="cl100k")
    b = seqfast.train_bpe(texts=texts[15:], vocab_size=900, pattern="cl100k")
    want_a = [a.encode(t, special="text") for t in texts]
    seqfast.Tokenizer.clear_caches()
    want_b = [b.encode(t, special="text") for t in texts]
    for t, wa, wb in zip(texts, want_a, want_b):
        assert np.array_equal(a.encode(t, special="text"), wa)
        assert np.array_equal(b.encode(t, special="text"), wb)
    for threads in (1, 2):
        assert np.array_equal(a.encode_batch(texts, special="text", num_threads=threads).ids, np.concatenate(want_a))
        assert np.array_equal(b.encode_batch(texts, special="text", num_threads=threads).ids, np.concatenate(want_b))


def test_clear_caches_keeps_results(sf_cl100k):
    text = "".join(t for _, t in stdlib_py_texts()[:20])
    first = sf_cl100k.encode(text, special="text")
    seqfast.Tokenizer.clear_caches()
    assert np.array_equal(sf_cl100k.encode(text, special="text"), first)
    assert np.array_equal(sf_cl100k.encode(text, special="text"), first)  # warm


def test_lone_surrogates_like_tiktoken(sf_cl100k, tiktoken_enc):
    for s in ["ab\ud800cd", "\udfff", "x\ud83d", "ok"]:
        assert sf_cl100k.encode(s, special="text").tolist() == tiktoken_enc.encode_ordinary(s)
        assert sf_cl100k.count(s, special="text") == len(tiktoken_enc.encode_ordinary(s))
    batch = sf_cl100k.encode_batch(["a\ud800", "b"], special="text")
    assert batch.to_list() == [tiktoken_enc.encode_ordinary("a\ud800"), tiktoken_enc.encode_ordinary("b")]
