"""Counting in shards and fitting from counts (issue 16, part 5): `count_words` of consecutive
pieces of a text, summed, give exactly the counts of the whole text, and `NgramLM.fit_counts`
gives exactly the model `NgramLM.fit` gives (ARPA bytes for Kneser-Ney, the model's binary
bytes for every smoothing)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqfast
from seqfast.ngram import NgramCounts, NgramLM, count, count_words

FB = (0.5, 1.0, 1.5)
SMOOTHINGS = [("kneser_ney", {"discount_fallback": FB}), ("mle", {}), ("add_k", {"k": 0.25}), ("stupid_backoff", {"alpha": 0.3})]

words = st.sampled_from(["a", "b", "c", "d", "é", "日本", "x1", "y"])
lines = st.lists(st.lists(words, max_size=7).map(" ".join), min_size=1, max_size=14)


def shards_of(text_lines: list[str], cuts: list[int]) -> list[str]:
    """The text cut at line boundaries `cuts` (sorted line indices)."""
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(text_lines))), len(text_lines)]
    return ["".join(line + "\n" for line in text_lines[a:b]) for a, b in zip(bounds, bounds[1:])]


def same_model(a: NgramLM, b: NgramLM) -> bool:
    return pickle.dumps(a) == pickle.dumps(b)


@settings(max_examples=60, deadline=None)
@given(lines, st.lists(st.integers(0, 14), max_size=6), st.integers(1, 4), st.sampled_from(range(len(SMOOTHINGS))))
def test_shards_fit_like_the_whole_text(text_lines, cuts, order, which):
    smoothing, opts = SMOOTHINGS[which]
    text = "".join(line + "\n" for line in text_lines)
    if not text.split():
        return  # no words: fit refuses (tested below)
    parts = [p for p in shards_of(text_lines, cuts)]
    counts = NgramCounts.merge(count_words(p, order) for p in parts)
    assert counts == count_words(text, order)
    try:
        whole = NgramLM.fit(text, order, smoothing, **opts)
    except seqfast.SeqfastError as e:  # the same refusal from counts
        with pytest.raises(type(e)):
            NgramLM.fit_counts(counts, smoothing, **opts)
        return
    got = NgramLM.fit_counts(counts, smoothing, **opts)
    assert same_model(got, whole)
    if smoothing == "kneser_ney":
        assert got.to_arpa() == whole.to_arpa()


@pytest.mark.parametrize("n_shards", [1, 2, 7])
def test_kenlm_style_corpus_in_shards(n_shards, tmp_path):
    rng = np.random.default_rng(n_shards)
    vocab = np.array([f"w{i}" for i in range(5000)])
    p = 1.0 / np.arange(1, vocab.size + 1)  # Zipf-like, as real text: rare words give KN its counts of counts
    text_lines = [" ".join(rng.choice(vocab, size=rng.integers(0, 12), p=p / p.sum())) for _ in range(2000)]
    text = "".join(line + "\n" for line in text_lines)
    cuts = sorted(rng.choice(np.arange(1, len(text_lines)), size=n_shards - 1, replace=False).tolist())
    parts = shards_of(text_lines, cuts)
    assert len(parts) == n_shards
    paths = []
    for i, p in enumerate(parts):
        paths.append(tmp_path / f"part{i}.txt")
        paths[-1].write_text(p, encoding="utf-8")
    counts = NgramCounts.merge(count_words(p, 4) for p in paths)  # from files, read in Rust
    whole = NgramLM.fit(text, 4, prune=[0, 1, 1, 2], discount_fallback=FB)
    got = NgramLM.fit_counts(counts, prune=[0, 1, 1, 2], discount_fallback=FB)
    assert got.to_arpa() == whole.to_arpa()
    # counts travel: pickled and saved with their vocabulary
    again = pickle.loads(pickle.dumps(counts))
    assert again == counts and again.vocab == counts.vocab
    counts.save(tmp_path / "c.npz")
    assert NgramCounts.load(tmp_path / "c.npz") == counts


def test_word_lookup_and_inputs():
    c = count_words(["the cat sat", "the dog sat"], order=2)
    assert c.vocab == ["<unk>", "<s>", "</s>", "the", "cat", "sat", "dog"]
    assert (c["the"], c["the cat"], c[["<s>", "the"]], c["unseen"], c[[3]]) == (2, 1, 2, 0, 2)
    assert c.total(1) == 2 * 5  # <s> and </s> counted per sentence, as fit frames them
    assert count_words(b"the cat sat\nthe dog sat\n", 2) == c
    assert count_words("the cat sat\nthe dog sat", 2) == c  # no final newline: same sentences


@pytest.mark.parametrize("bos,eos", [(None, None), (7, 8), (0, 1)])
def test_id_counts_fit_like_ids(bos, eos):
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, 6, size=rng.integers(1, 9)).astype(np.uint32) for _ in range(400)]
    v = 6
    whole = NgramLM.fit(seqs, 3, vocab_size=v, discount_fallback=FB)
    if bos is None:
        c = count(seqs[:100], 3, bos=v + 1, eos=v + 2) + count(seqs[100:], 3, bos=v + 1, eos=v + 2)
        assert same_model(NgramLM.fit_counts(c, vocab_size=v, discount_fallback=FB), whole)
        with pytest.raises(seqfast.SeqfastError, match="framed"):
            NgramLM.fit_counts(count(seqs, 3))
    elif bos >= v:
        # framing ids elsewhere than fit's V+1, V+2 are relabelled
        c = count(seqs, 3, bos=bos, eos=eos)
        assert same_model(NgramLM.fit_counts(c, vocab_size=v, discount_fallback=FB), whole)
    else:
        # framing ids inside the word range: the counts hold them as words, so not equal
        # to a fit of the ids, but still a model; and an id beyond vocab_size is refused
        c = count([s + 2 for s in seqs], 3, bos=bos, eos=eos)
        NgramLM.fit_counts(c, discount_fallback=FB)
        with pytest.raises(seqfast.SeqfastError, match="outside vocab_size"):
            NgramLM.fit_counts(c, vocab_size=3, discount_fallback=FB)


def test_errors():
    w = count_words("a b\n", 2)
    i = count([np.array([0, 1], dtype=np.uint32)], 2, bos=5, eos=6)
    with pytest.raises(seqfast.SeqfastError, match="word-level"):
        w + i
    with pytest.raises(seqfast.SeqfastError, match="framed differently"):
        i + count([np.array([0, 1], dtype=np.uint32)], 2, bos=6, eos=5)
    with pytest.raises(seqfast.ShapeError):
        w + count_words("a b\n", 3)
    # The same rules for many parts at once (one core call for words, a pairwise tree for ids).
    with pytest.raises(seqfast.ShapeError, match="order 2 and 3"):
        NgramCounts.merge([w, w, count_words("a b\n", 3)])
    with pytest.raises(seqfast.SeqfastError, match="word-level"):
        NgramCounts.merge([w, w, i])
    with pytest.raises(seqfast.ArgumentTypeError, match="NgramCounts"):
        NgramCounts.merge([w, w, "a b"])
    seqs = [np.array(x, dtype=np.uint32) for x in ([0, 1, 2], [2, 2], [1], [0, 2, 1, 2], [3])]
    parts = [count([s], 3, bos=5, eos=6) for s in seqs]
    folded = parts[0]
    for p in parts[1:]:
        folded = folded + p
    assert NgramCounts.merge(parts) == folded == count(seqs, 3, bos=5, eos=6)
    with pytest.raises(seqfast.ArgumentTypeError):
        NgramLM.fit_counts("a b")
    with pytest.raises(seqfast.ArgumentTypeError):
        count_words(3)
    with pytest.raises(seqfast.SeqfastError, match="reserves"):
        count_words("a <s> b\n")
    with pytest.raises(seqfast.SeqfastError, match="empty corpus"):
        NgramLM.fit_counts(count_words("\n\n") + count_words(""), discount_fallback=FB)
    with pytest.raises(seqfast.SeqfastError, match="line 2"):
        count_words(b"a b\n\xff\n")
    bad = NgramCounts([w.ngrams(1), w.ngrams(2)], ["<unk>", "<s>", "</s>", "a", "a"])
    with pytest.raises(seqfast.SeqfastError, match="twice"):
        NgramLM.fit_counts(bad)
