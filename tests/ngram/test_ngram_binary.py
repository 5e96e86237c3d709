"""seqfast's binary n-gram format (issue 16, part 1): `NgramLM.save` / `NgramLM.load` round trips
score bit-identically for every smoothing, order and pruning; quantized files stay within their
recorded error bound; truncated, corrupt and foreign files raise `FormatError` naming the
offset and never crash."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import seqfast
from seqfast.ngram import NgramLM

FB = (0.5, 1.0, 1.5)


def corpus(seed: int = 0, lines: int = 1500) -> str:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(800)] + ["é", "日本", "x-y"])
    p = 1.0 / np.arange(1, vocab.size + 1)
    return "".join(" ".join(rng.choice(vocab, size=rng.integers(0, 14), p=p / p.sum())) + "\n" for _ in range(lines))


TEXT = corpus()
HELD = corpus(1, 200).splitlines() + ["unseen words here", "", "w1 w2 w3 w4 w5 w6 w7"]



def all_scores(lm: NgramLM):
    return [lm.token_scores(s).view(np.uint32).tolist() for s in HELD]


MODELS = [
    ("kneser_ney", {"discount_fallback": FB}),
    ("kneser_ney", {"discount_fallback": FB, "prune": [0, 1, 1]}),
    ("mle", {}),
    ("add_k", {"k": 0.1}),
    ("stupid_backoff", {"alpha": 0.4}),
]


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("which", range(len(MODELS)))
def test_round_trip_bit_identical(tmp_path, order, which):
    smoothing, opts = MODELS[which]
    if "prune" in opts:
        opts = {**opts, "prune": [0, 1, 1, 2, 2, 3][:order]}
    lm = NgramLM.fit(TEXT, order, smoothing, **opts)
    path = tmp_path / "m.sfb"
    lm.save(path)
    want = all_scores(lm)
    for verify in (False, True):
        back = NgramLM.load(path, verify=verify)
        assert all_scores(back) == want
        assert (back.order, back.vocab, back.smoothing, back.num_ngrams()) == (lm.order, lm.vocab, lm.smoothing, lm.num_ngrams())
        assert back.quantization_error == 0.0
    if smoothing == "kneser_ney":
        assert NgramLM.load(path).to_arpa() == lm.to_arpa()
    # pickles go through the same format (without the query tables)
    assert all_scores(pickle.loads(pickle.dumps(NgramLM.load(path)))) == want
    # a mapped model saves again to the same bytes
    path2 = tmp_path / "again.sfb"
    NgramLM.load(path).save(path2)
    assert path2.read_bytes() == path.read_bytes()


def test_from_arpa_and_kenlm_compat(tmp_path):
    lm = NgramLM.fit(TEXT, 4, discount_fallback=FB)
    arpa = tmp_path / "m.arpa"
    lm.to_arpa(arpa)
    a = NgramLM.from_arpa(arpa)
    a.save(tmp_path / "a.sfb")
    b = NgramLM.load(tmp_path / "a.sfb")
    assert all_scores(a) == all_scores(b)
    from seqfast.ngram import kenlm_compat

    m1, m2 = kenlm_compat.Model(str(arpa)), kenlm_compat.Model(str(tmp_path / "a.sfb"))
    for s in HELD[:50]:
        assert m1.score(s) == m2.score(s)
        assert list(m1.full_scores(s)) == list(m2.full_scores(s))


@pytest.mark.parametrize("smoothing,opts", [MODELS[0], MODELS[2], MODELS[4]])
def test_quantized_error_bound(tmp_path, smoothing, opts):
    lm = NgramLM.fit(TEXT, 4, smoothing, **opts)
    path = tmp_path / "q.sfb"
    lm.save(path, quantize=True)
    full = tmp_path / "f.sfb"
    lm.save(full)
    assert path.stat().st_size < full.stat().st_size / 2.5
    q = NgramLM.load(path)
    e = q.quantization_error
    assert 0 < e < 0.05
    for s in HELD:
        a, b = lm.token_scores(s), q.token_scores(s)
        assert np.array_equal(np.isneginf(a), np.isneginf(b))
        fin = np.isfinite(a)
        assert np.all(np.abs(a[fin] - b[fin]) <= lm.order * e * (1 + 1e-6) + 1e-6), s
    # markers stay exact: MLE's -inf for unseen continuations
    if smoothing == "mle":
        assert np.isneginf(q.logprob("w1", ["w1", "w1", "w1"])) == np.isneginf(lm.logprob("w1", ["w1", "w1", "w1"]))


def test_truncated_and_corrupt_files(tmp_path):
    lm = NgramLM.fit(corpus(2, 300), 3, discount_fallback=FB)
    path = tmp_path / "m.sfb"
    lm.save(path)
    data = path.read_bytes()
    bad = tmp_path / "bad.sfb"
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(1, len(data), size=150).tolist()) | {1, 8, 12, 23, 24, 100, len(data) - 1})
    for cut in cuts:
        bad.write_bytes(data[:cut])
        with pytest.raises(seqfast.FormatError, match="offset"):
            NgramLM.load(bad)
    bad.write_bytes(data + b"\0" * 64)
    with pytest.raises(seqfast.FormatError, match="offset"):
        NgramLM.load(bad)
    caught = 0
    for _ in range(300):
        b = bytearray(data)
        at = int(rng.integers(0, len(b)))
        b[at] ^= int(rng.integers(1, 256))
        bad.write_bytes(bytes(b))
        with pytest.raises(seqfast.FormatError):
            NgramLM.load(bad, verify=True)
        try:
            m = NgramLM.load(bad)  # unverified: may load; must never crash
        except seqfast.FormatError:
            caught += 1
            continue
        m.score_batch(HELD[:20])
        try:
            m.to_arpa()
        except seqfast.SeqfastError:
            pass
    assert caught > 0
    for foreign in (b"", b"hello world\n" * 10, b"\\data\\\nngram 1=1\n"):
        bad.write_bytes(foreign)
        with pytest.raises(seqfast.FormatError, match="offset 0"):
            NgramLM.load(bad)
    with pytest.raises(FileNotFoundError):
        NgramLM.load(tmp_path / "missing.sfb")


def test_save_is_atomic(tmp_path):
    lm = NgramLM.fit(corpus(3, 200), 3, discount_fallback=FB)
    path = tmp_path / "m.sfb"
    path.write_bytes(b"previous")
    with pytest.raises(FileNotFoundError, match="no/such/dir"):
        lm.save(tmp_path / "no" / "such" / "dir" / "m.sfb")
    lm.save(path)
    assert NgramLM.load(path).num_ngrams() == lm.num_ngrams()
    assert [p.name for p in tmp_path.iterdir()] == ["m.sfb"]  # no temp file left behind


def test_mapped_model_survives_file_replacement(tmp_path):
    """An atomic save over a mapped file replaces the name, not the mapped inode."""
    a = NgramLM.fit(corpus(4, 300), 3, discount_fallback=FB)
    b = NgramLM.fit(corpus(5, 300), 3, discount_fallback=FB)
    path = tmp_path / "m.sfb"
    a.save(path)
    loaded = NgramLM.load(path)
    want = all_scores(a)
    b.save(path)
    assert all_scores(loaded) == want
    assert all_scores(NgramLM.load(path)) == all_scores(b)
