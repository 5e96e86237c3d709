"""BPE dropout in tokenizer.json models: seeded, so reproducible (HF's own draws are not)."""

from __future__ import annotations

import json

import pytest

tokenizers = pytest.importorskip("tokenizers")

import seqfast  # noqa: E402


@pytest.fixture(scope="module")
def doc():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    hf = Tokenizer(models.BPE(unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 50 + ["hello world"] * 20,
                           trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"]))
    return json.loads(hf.to_str())


def _with_dropout(doc, p):
    d = json.loads(json.dumps(doc))
    d["model"]["dropout"] = p
    return seqfast.Tokenizer.from_str(json.dumps(d))


def test_dropout_zero_and_unseeded_are_plain_bpe(doc):
    plain = seqfast.Tokenizer.from_str(json.dumps(doc))
    hf = tokenizers.Tokenizer.from_str(json.dumps(doc))
    text = "the quick brown fox jumps over the lazy dog hello world"
    assert plain.encode(text).tolist() == hf.encode(text).ids
    assert _with_dropout(doc, 0.0).encode(text, seed=3).tolist() == hf.encode(text).ids
    # without a seed, dropout is off (deterministic encoding)
    assert _with_dropout(doc, 0.5).encode(text).tolist() == hf.encode(text).ids


def test_dropout_is_seeded_and_drops_merges(doc):
    tok = _with_dropout(doc, 0.5)
    text = "the quick brown fox jumps over the lazy dog " * 4
    a, b = tok.encode(text, seed=7).tolist(), tok.encode(text, seed=7).tolist()
    assert a == b
    plain = _with_dropout(doc, 0.0).encode(text).tolist()
    assert len(a) > len(plain)  # some merges skipped
    assert "".join(tok.decode(a).split()) == "".join(tok.decode(plain).split())  # no decoder: tokens joined by spaces
    assert any(tok.encode(text, seed=s).tolist() != a for s in range(8, 12))
    # dropout 1.0 skips every merge: one token per character
    full = _with_dropout(doc, 1.0).encode("hello", seed=1)
    assert len(full) == 5
