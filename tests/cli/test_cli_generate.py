"""``seqfast generate`` (n-gram generation from the CLI) against seqfast.search on the same model."""

from __future__ import annotations

import subprocess
import sys


from seqfast import search
from seqfast.ngram import NgramLM



def test_cli_generate(tmp_path):
    text = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n"
    lm = NgramLM.fit(text, order=3, discount_fallback=(0.5, 1.0, 1.5))
    arpa = tmp_path / "m.arpa"
    lm.to_arpa(arpa)
    run = lambda *args, inp: subprocess.run([sys.executable, "-m", "seqfast", "generate", "--lm", str(arpa), *args],  # noqa: E731
                                            input=inp, capture_output=True, text=True)
    r = run("--beam", "3", "--max-len", "10", inp="the cat\n\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("the cat ")
    want = search.beam_search(search.NgramScorer(lm, [["the", "cat"], []]), batch_size=2, beam_width=3, max_len=10, n_best=1)
    assert lines[1] == " ".join(lm.vocab[t] for t in want[1][0].tokens.tolist() if t != lm.eos)
    r = run("--sample", "--seed", "3", "--n-best", "1", inp="a\n")
    assert r.returncode == 0 and r.stdout.startswith("a")
    r = run("--beam", "2", inp="zebra\n")
    assert r.returncode == 0  # unknown prompt words map to <unk>
    r = subprocess.run([sys.executable, "-m", "seqfast", "generate", "--lm", str(tmp_path / "missing.arpa")], input="", capture_output=True, text=True)
    assert r.returncode == 1 and "missing.arpa" in r.stderr
