"""Shared by the tests/distributed/ files: a corpus with repeats, Unicode, special tokens and
multi-line texts, ways to cut it into partitions, and the fixtures ``tok`` (a small tokenizer) and
``client`` (a Dask client of a two-process LocalCluster on loopback, one per session, started and
stopped by the tests), which tests/conftest.py registers as a plugin."""

from __future__ import annotations

import random

import pytest

import seqfast

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


@pytest.fixture(scope="module")
def tok():
    """A small BPE tokenizer with two special tokens."""
    return seqfast.train_bpe(texts=corpus(400), vocab_size=320, special_tokens=SPECIALS)


@pytest.fixture(scope="session")
def client():
    """A Dask client of a two-process LocalCluster on loopback, shared by the session's tests (skips
    without dask and distributed)."""
    import logging

    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")

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
    import dask
    import dask.bag as db

    return db.from_delayed([dask.delayed(list, pure=True)(p) for p in chunks(texts, n)])
