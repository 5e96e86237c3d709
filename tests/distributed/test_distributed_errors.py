"""Bad input to seqfast.distributed: building blocks that do not merge (different settings,
bad bucket counts), a partition whose text is bad (the error names the partition and the item)
and wrong arguments to the Dask front ends."""

from __future__ import annotations


import pytest

import seqfast
import seqfast.distributed as sd
from seqfast.distributed import PieceCounts, merge_counts, piece_counts, split_counts, train_bpe_from_counts
from seqfast.ngram import count, count_words

from _dist_cases import bag, chunks, corpus


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


def test_split_counts_ids_and_errors():
    texts = [[1, 2, 3, 2, 1], [3, 3, 4]]
    whole_ids = count(texts, 3, bos=0, eos=5)
    parts = split_counts(whole_ids, 3)
    assert len(parts) == 3 and all(p.bos == 0 and p.eos == 5 and p.vocab is None for p in parts)
    assert merge_counts(*parts) == whole_ids
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(seqfast.SeqfastError, match="buckets"):
            split_counts(whole_ids, bad)


def test_bad_input_names_partition_and_item(client, tok):
    dask = pytest.importorskip("dask")
    import dask.bag as db

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
