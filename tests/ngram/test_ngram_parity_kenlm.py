"""seqfast's n-gram models against the `kenlm` module (the peer): kenlm reads the ARPA files seqfast
writes (fitted, pruned, and re-written golden files) and scores every held-out sentence as seqfast
does. Skips without kenlm. (kenlm's API: test_ngram_parity_kenlm_compat.py; KenLM's binary
formats: test_ngram_parity_kenlm_binary.py; lmplz's golden ARPA files: test_ngram_lm.py.)"""

from __future__ import annotations

import random

import numpy as np
import pytest

from seqfast.ngram import NgramLM

from _ngram_data import arpa_path, heldout, text


@pytest.mark.peer
def test_kenlm_on_pruned_model(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    lm = NgramLM.fit(text("zipf"), order=4, prune=[0, 1, 2])
    lm.to_arpa(tmp_path / "m.arpa")
    k = kenlm.Model(str(tmp_path / "m.arpa"))
    for s in heldout(lm.vocab, random.Random(8), 200):
        assert lm.score(s) == pytest.approx(k.score(s), abs=1e-4)


@pytest.mark.peer
@pytest.mark.parametrize("arpa", ["zipf.o5", "kenlm_test", "kenlm_test_nounk"])
def test_kenlm_reads_and_agrees(arpa, tmp_path):
    kenlm = pytest.importorskip("kenlm")
    lm = NgramLM.from_arpa(arpa_path(arpa))
    out = tmp_path / "rt.arpa"
    lm.to_arpa(out)  # kenlm loads what seqfast writes
    k = kenlm.Model(str(out))
    rng = random.Random(2)
    sents = heldout(lm.vocab, rng, 200)
    batch = lm.score_batch(sents)
    for i, s in enumerate(sents):
        assert batch["total"][i] == pytest.approx(k.score(s, bos=True, eos=True), abs=1e-4)
        full = [x[0] for x in k.full_scores(s, bos=True, eos=True)]
        got = batch["tokens"][batch["offsets"][i] : batch["offsets"][i + 1]]
        assert np.allclose(got, full, atol=1e-4)
        assert batch["oov"][i] == sum(x[2] for x in k.full_scores(s))


@pytest.mark.peer
def test_kenlm_on_fitted_model(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    lm = NgramLM.fit(text("zipf"), order=4)
    lm.to_arpa(tmp_path / "m.arpa")
    k = kenlm.Model(str(tmp_path / "m.arpa"))
    for s in heldout(lm.vocab, random.Random(3), 200):
        for bos, eos in ((True, True), (False, False), (True, False)):
            assert lm.score(s, bos=bos, eos=eos) == pytest.approx(k.score(s, bos=bos, eos=eos), abs=1e-4)
