"""Work shared by the pipeline-safety tests (fork, pools, threads, signals): small models built
in a few seconds and, per family, its heaviest parallel call on inputs large enough to run in
parallel. Module-level functions so ``multiprocessing`` (fork and spawn) can call them by name.

Import with ``import _pipeline_work`` (``pythonpath = ["tests"]`` in pyproject.toml puts this
directory on ``sys.path``; spawned children inherit ``sys.path``).
"""

from __future__ import annotations

import functools

import numpy as np

import seqfast
from seqfast import ngram, nn, search


def zipf_text(words: int, vocab: int = 50_000, seed: int = 0, line: int = 12, letters: bool = False) -> str:
    """Whitespace-separated words with Zipf frequencies, ``line`` words a line: real enough for
    Kneser-Ney's discounts (singletons, doubletons ... at every order). Words are ``w<k>``, or
    with ``letters`` the base-26 spelling of k in a-z (varied enough to keep BPE training busy)."""
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.3, words) % vocab

    def spell(k: int) -> str:
        s = ""
        while True:
            s, k = s + chr(97 + k % 26), k // 26
            if k == 0:
                return s

    names = np.array([spell(i * 7919 % vocab) if letters else f"w{i}" for i in range(vocab)])
    toks = names[ids]
    lines = [" ".join(toks[i : i + line]) for i in range(0, words, line)]
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=None)
def fixtures() -> dict:
    """Tokenizer, texts, n-gram model and recurrent weights (deterministic)."""
    text = zipf_text(150_000)
    lines = text.splitlines()
    tok = seqfast.train_bpe(texts=lines, vocab_size=600)
    lm = ngram.NgramLM.fit(text, order=3)
    rng = np.random.default_rng(1)
    lstm = nn.LSTM(32, 48, num_layers=2, seed=3)
    x = rng.standard_normal((16, 40, 32)).astype(np.float32)
    q = rng.standard_normal((4, 2, 64, 16)).astype(np.float32)
    return {"text": text, "lines": lines, "tok": tok, "lm": lm, "lstm": lstm, "x": x, "q": q}


def encode(texts: list) -> np.ndarray:
    f = fixtures()
    return f["tok"].encode_batch(texts, num_threads=2).ids


def score(lines: list) -> np.ndarray:
    return fixtures()["lm"].score_batch(lines, num_threads=2)["total"]


def heavy_calls() -> dict:
    """Each family's heaviest parallel call; the arrays to compare between processes."""
    f = fixtures()
    tok, lm, lines = f["tok"], f["lm"], f["lines"]
    out = {}
    b = tok.encode_batch(lines, num_threads=2)
    out["encode_batch"] = b.ids
    out["encode_batch_default_pool"] = tok.encode_batch(lines).ids
    out["encode_large"] = tok.encode_large(f["text"], num_threads=2)
    out["train_bpe"] = np.array(seqfast.train_bpe(texts=lines[:2000], vocab_size=400, num_threads=2).encode(lines[0]))
    counts = ngram.count(b, order=3, num_threads=2)
    out["ngram_count"] = counts.ngrams(3)[1]
    parts = [ngram.count_words("\n".join(lines[i::3]) + "\n", order=3, num_threads=2) for i in range(3)]
    out["count_merge"] = ngram.NgramCounts.merge(parts).ngrams(3)[1]  # the core's k-way merge
    out["count_add"] = (parts[0] + parts[1]).ngrams(2)[1]  # pairwise, with vocabulary remapping
    fitted = ngram.NgramLM.fit(f["text"], order=3, num_threads=2)
    out["lm_fit"] = np.frombuffer(fitted.to_arpa().encode(), np.uint8)
    out["score_batch"] = lm.score_batch(lines, num_threads=2)["tokens"]
    hyps = search.beam_search(search.NgramScorer(lm), batch_size=4, beam_width=4, max_len=8, num_threads=2)
    out["beam_search"] = np.concatenate([h.tokens for item in hyps for h in item])
    y, h, c, cache = nn.lstm_forward(f["x"], f["lstm"].parameters(), num_threads=2)
    dx, _, _, dw = nn.lstm_backward(cache, np.ones_like(y), num_threads=2)
    out["lstm_forward"], out["lstm_backward"] = y, dx
    q = f["q"]
    o, acache = nn.attention_forward(q, q, q, causal=True, num_threads=2)
    out["attention"] = o
    out["attention_backward"] = nn.attention_backward(acache, np.ones_like(o), num_threads=2)[0]
    return out


def compare(a: dict, b: dict) -> list:
    """Names whose arrays differ (bit for bit)."""
    bad = [k for k in a if k not in b or a[k].shape != b[k].shape or not np.array_equal(a[k], b[k], equal_nan=True)]
    return bad + [k for k in b if k not in a]
