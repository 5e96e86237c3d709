"""The public API of seqfast.search: the scorer protocol (what a Python scorer is called with) and
an item's result not depending on the batch it is decoded in. Agreement with the reference is in
test_search_reference.py, with a plain torch beam search in test_search_parity_torch.py, bad
input in test_search_errors.py."""

from __future__ import annotations


import numpy as np
import pytest

from seqfast import search

from _search_cases import as_tuples, same
from reference import search as R


@pytest.mark.parametrize("stopping", ["exact", "early"])
def test_item_result_independent_of_batch(stopping):
    V, fn = 7, R.random_table(7, 5)
    prompts = [(i % 3,) for i in range(64)]
    kw = dict(beam_width=4, max_len=8, bos=0, eos=1, vocab_size=V, stopping=stopping, length_penalty="gnmt", alpha=0.7)
    batch = search.beam_search(R.TableScorer(fn, prompts), batch_size=64, **kw)
    for i in (0, 1, 2, 17, 63):
        alone = search.beam_search(R.TableScorer(fn, [prompts[i]]), batch_size=1, **kw)[0]
        same(as_tuples([alone]), as_tuples([batch[i]]))


def test_scorer_sees_the_protocol():
    """tokens/parents follow the documented protocol (TableScorer asserts it) and the first
    call gets bos and the item indices."""
    sc = R.random_scorer(5, 1)
    search.beam_search(sc, batch_size=3, beam_width=2, max_len=4, bos=0, eos=1, vocab_size=5)
    first = sc.calls[0]
    assert first["tokens"].tolist() == [0, 0, 0] and first["parents"].tolist() == [0, 1, 2]
    assert all(c["tokens"].dtype == np.uint32 and c["parents"].dtype == np.int64 for c in sc.calls)
