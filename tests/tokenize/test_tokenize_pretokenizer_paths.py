"""The hand-written pre-tokenizers (default) and the regex engine (SEQFAST_PRETOKENIZER=regex)
give identical ids: the environment switch is read once per process, so the regex side runs in
a subprocess on the same texts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import seqfast
from conftest import TRICKY_TEXTS, stdlib_py_texts

TRICKY = TRICKY_TEXTS

CHILD = r"""
import json, sys, seqfast
texts = json.load(sys.stdin)
out = {}
for pattern in ("gpt2", "cl100k", "o200k"):
    tok = seqfast.train_bpe(texts=texts[:40], vocab_size=600, pattern=pattern, min_frequency=1)
    out[pattern] = [tok.to_str(), [tok.encode(t, special="text").tolist() for t in texts]]
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def regex_side():
    texts = TRICKY + [t for _, t in stdlib_py_texts()[:60]]
    env = dict(os.environ, SEQFAST_PRETOKENIZER="regex")
    p = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(texts), capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return texts, json.loads(p.stdout)


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k", "o200k"])
def test_regex_and_fast_paths_agree(pattern, regex_side):
    texts, out = regex_side
    doc, ids_regex = out[pattern]
    # Training under the regex path learned the same vocabulary the fast path learns,
    fast = seqfast.train_bpe(texts=texts[:40], vocab_size=600, pattern=pattern, min_frequency=1)
    assert json.loads(fast.to_str())["model"] == json.loads(doc)["model"]
    # and encoding with it gives the same ids on every text.
    for t, want in zip(texts, ids_regex):
        assert np.array_equal(fast.encode(t, special="text"), np.asarray(want, dtype=np.uint32)), t[:80]
