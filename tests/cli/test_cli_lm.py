"""The n-gram commands of the seqfast CLI (lm build, score, ppl) against the Python API."""

from __future__ import annotations

import os

import pytest

from seqfast.ngram import NgramLM

from _ngram_data import DATA, arpa_lines, arpa_text


def test_cli_lm_build_score_ppl(tmp_path, capsys):
    from seqfast.cli import main

    out = tmp_path / "m.arpa"
    assert main(["lm", "build", "-o", "3", os.path.join(DATA, "zipf.txt"), "--arpa", str(out), "-q"]) == 0
    assert arpa_lines(out.read_text()) == arpa_lines(arpa_text("zipf.o3"))
    pruned = tmp_path / "p.arpa"
    assert main(["lm", "build", "-o", "3", os.path.join(DATA, "zipf.txt"), "--prune", "0", "1", "--arpa", str(pruned), "-q"]) == 0
    assert arpa_lines(pruned.read_text()) == arpa_lines(arpa_text("zipf.o3.p01"))
    assert main(["lm", "build", "-o", "3", os.path.join(DATA, "zipf.txt"), "--prune", "1", "--arpa", str(pruned), "-q"]) == 1
    assert "unigrams cannot be pruned" in capsys.readouterr().err
    held = tmp_path / "held.txt"
    held.write_text("bo ge sa\nzzz ba\n")
    assert main(["lm", "score", "-m", str(out), str(held)]) == 0
    lines = capsys.readouterr().out.split()
    lm = NgramLM.from_arpa(out)
    assert [float(x) for x in lines] == pytest.approx([lm.score("bo ge sa"), lm.score("zzz ba")], abs=1e-5)
    assert main(["lm", "ppl", "-m", str(out), str(held)]) == 0
    assert "oov: 1" in capsys.readouterr().out
    assert main(["lm", "build", "-o", "3", str(held), "--arpa", str(tmp_path / "x.arpa")]) == 1  # no discounts
    assert "discount" in capsys.readouterr().err
    assert main(["lm", "build"]) == 2
    assert main(["lm", "ppl", "-m", str(tmp_path / "missing.arpa"), str(held)]) == 1
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"bo ge\nsa \xff ba\n")
    assert main(["lm", "build", "-o", "2", str(bad), "--arpa", str(tmp_path / "y.arpa")]) == 1
    assert f"{bad}: line 2: not valid UTF-8" in capsys.readouterr().err
