"""pyctcdecode with a seqfast-backed language model gives the same beams as with kenlm
(issue 16, acceptance).

pyctcdecode (pure Python, on PyPI) pins numpy < 2, so it runs in its own virtualenv, made here
once and cached in ``~/.cache/seqfast-tests`` (``SEQFAST_TEST_CACHE`` to move it): created with
``--system-site-packages`` (kenlm comes from the system), ``pip install pyctcdecode "numpy<2"``.
seqfast itself is the one under test: a link to its package goes first on ``PYTHONPATH``, and
the child checks that it imports it under numpy 1.x. The test skips with the reason when kenlm is missing
or pip cannot install pyctcdecode (no network).

The model: an order-3 Kneser-Ney ARPA that seqfast fits on generated text (a Markov chain over
30 made-up words, so the context matters). The logits: per seed, either noisy spellings of a
generated sentence (some words replaced by unknown ones) or pure noise, over the labels
``["", " ", "a", ..., "h"]``. Three decoders run on every logits matrix:

* ``kenlm``: ``build_ctcdecoder(labels, kenlm_model_path=arpa)`` with the real kenlm, in its
  own process;
* ``dropin``: the same call in a process where ``import kenlm`` gives
  ``seqfast.ngram.kenlm_compat`` (``sys.modules``), so pyctcdecode runs on seqfast unchanged;
* ``object``: in that process, ``BeamSearchDecoderCTC(alphabet, LanguageModel(
  kenlm_compat.Model(NgramLM.from_arpa(arpa)), unigrams))``, the model object injected.

Every beam of ``decode_beams`` must agree: text, word frames, and the logit and LM scores bit
for bit (both read the same float32 numbers from the ARPA). A decoder without the LM checks
that the LM changes some best beams (else the comparison would prove little).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import seqfast
from seqfast.ngram import NgramLM

LETTERS = "abcdefgh"
LABELS = ["", " "] + list(LETTERS)
PIP_TIMEOUT = 600

CHILD = textwrap.dedent(
    r'''
    import json, sys
    mode, spec_path, out_path = sys.argv[1:4]
    spec = json.load(open(spec_path))
    if mode != "kenlm":
        import seqfast.ngram
        sys.modules["kenlm"] = seqfast.ngram.kenlm_compat  # pyctcdecode's `import kenlm` gets seqfast
    import numpy as np
    import kenlm
    import pyctcdecode
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    from pyctcdecode.language_model import LanguageModel

    def beams(decoder, logits):
        out = []
        for b in decoder.decode_beams(logits, beam_width=spec["beam_width"]):
            text, _state, frames, logit_score, lm_score = b[:5]
            out.append([text, [[w, list(f)] for w, f in frames], float(logit_score), float(lm_score)])
        return out

    kw = dict(alpha=spec["alpha"], beta=spec["beta"])
    decoders = {mode: pyctcdecode.build_ctcdecoder(spec["labels"], kenlm_model_path=spec["arpa"],
                                                   unigrams=spec["unigrams"], **kw)}
    if mode == "kenlm":
        decoders["nolm"] = pyctcdecode.build_ctcdecoder(spec["labels"])
    info = {"numpy": np.__version__, "kenlm": getattr(kenlm, "__file__", "?"), "pyctcdecode": pyctcdecode.__file__}
    if mode != "kenlm":
        from seqfast.ngram import NgramLM, kenlm_compat
        info["seqfast"] = seqfast.__file__
        model = kenlm_compat.Model(NgramLM.from_arpa(spec["arpa"]))
        decoders["object"] = BeamSearchDecoderCTC(Alphabet.build_alphabet(spec["labels"]),
                                                  LanguageModel(model, spec["unigrams"], **kw))
    results = {name: [beams(d, np.load(p)) for p in spec["logits"]] for name, d in decoders.items()}
    json.dump({"info": info, "results": results}, open(out_path, "w"))
    '''
)


def _cache_dir() -> str:
    root = os.environ.get("SEQFAST_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "seqfast-tests")
    return os.path.join(root, f"pyctcdecode-py{sys.version_info[0]}{sys.version_info[1]}")


def _venv_python(d: str) -> str:
    return os.path.join(d, "bin", "python")


@pytest.fixture(scope="module")
def ctc_python():
    """The cached virtualenv's python, with pyctcdecode and numpy < 2 (made now if missing)."""
    pytest.importorskip("kenlm")
    d = _cache_dir()
    os.makedirs(os.path.dirname(d), exist_ok=True)
    with open(d + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker at a time (parallel test runs)
        py = _venv_python(d)
        probe = [py, "-c", "import pyctcdecode, numpy, kenlm; assert numpy.__version__ < '2'"]
        if os.path.exists(py) and subprocess.run(probe, capture_output=True).returncode == 0:
            return py
        base = getattr(sys, "_base_executable", sys.executable)
        r = subprocess.run([base, "-m", "venv", "--clear", "--system-site-packages", d], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"could not create a virtualenv for pyctcdecode: {r.stderr.strip()[-300:]}")
        try:
            r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "pyctcdecode", "numpy<2"],
                               capture_output=True, text=True, timeout=PIP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.skip(f"pip install pyctcdecode took over {PIP_TIMEOUT} s (no network?)")
        if r.returncode != 0:
            pytest.skip(f"pip could not install pyctcdecode (no network?): {r.stderr.strip()[-300:]}")
        r = subprocess.run(probe, capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"pyctcdecode's virtualenv lacks kenlm or numpy < 2: {r.stderr.strip()[-300:]}")
        return py


def _corpus(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Made-up words and sentences from a sparse Markov chain over them."""
    words = sorted({"".join(rng.choice(list(LETTERS), size=rng.integers(2, 6))) for _ in range(40)})[:30]
    nxt = [rng.choice(len(words), size=4, replace=False) for _ in words]
    sents = []
    for _ in range(3000):
        w = int(rng.integers(len(words)))
        s = [words[w]]
        for _ in range(int(rng.integers(1, 8))):
            w = int(nxt[w][min(int(rng.geometric(0.5)) - 1, 3)]) if rng.random() < 0.9 else int(rng.integers(len(words)))
            s.append(words[w])
        sents.append(" ".join(s))
    return words, sents


def _logits(rng: np.random.Generator, sentence: str | None, frames: int = 60) -> np.ndarray:
    """Log-probabilities (T, C): noisy CTC spellings of `sentence`, or pure noise if None."""
    C = len(LABELS)
    if sentence is None:
        x = rng.normal(0.0, 2.0, size=(frames, C))
    else:
        path = [0]
        for ch in sentence:
            k = LABELS.index(ch)
            path += [k] * int(rng.integers(1, 3)) + ([0] if rng.random() < 0.5 else [])
        path.append(0)
        x = rng.normal(0.0, 1.5, size=(len(path), C))
        x[np.arange(len(path)), path] += 3.0
    x = x - x.max(axis=1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=1, keepdims=True))).astype(np.float32)


def _run(py: str, mode: str, spec_path: str, out_path: str, script: str, path_dir: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = path_dir + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([py, script, mode, spec_path, out_path], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, f"{mode} run failed:\n{r.stderr[-3000:]}"
    return json.load(open(out_path))


def _compare(want: list, got: list, name: str) -> None:
    """Every beam equal: text, word frames, logit and LM scores (floats bit for bit)."""
    assert len(want) == len(got)
    for i, (a, b) in enumerate(zip(want, got)):
        assert [x[0] for x in a] == [x[0] for x in b], f"{name}, logits {i}: texts differ"
        for x, y in zip(a, b):
            assert x == y, f"{name}, logits {i}, beam {x[0]!r}: kenlm {x[1:]} != seqfast {y[1:]}"


def _parity(ctc_python, tmp_path, seeds: int, beam_width: int):
    rng = np.random.default_rng(16)
    words, sents = _corpus(rng)
    lm = NgramLM.fit(sents, order=3, discount_fallback=(0.5, 1.0, 1.5))
    arpa = str(tmp_path / "lm.arpa")
    lm.to_arpa(arpa)
    paths = []
    for s in range(seeds):
        r = np.random.default_rng(s)
        if s % 3 == 2:
            sentence = None
        else:
            ws = sents[int(r.integers(len(sents)))].split()
            # an unknown word now and then
            ws = [w if r.random() < 0.8 else "".join(r.choice(list(LETTERS), size=3)) for w in ws]
            sentence = " ".join(ws)
        p = str(tmp_path / f"logits{s}.npy")
        np.save(p, _logits(r, sentence))
        paths.append(p)
    spec = {"arpa": arpa, "labels": LABELS, "unigrams": words, "logits": paths, "beam_width": beam_width,
            "alpha": 0.5, "beta": 1.0}
    spec_path, script = str(tmp_path / "spec.json"), str(tmp_path / "child.py")
    json.dump(spec, open(spec_path, "w"))
    open(script, "w").write(CHILD)
    # only seqfast goes on the child's path (a link to the package under test): the directory
    # that holds it may be a site-packages whose numpy 2 would shadow the virtualenv's numpy 1
    path_dir = tmp_path / "path"
    path_dir.mkdir()
    os.symlink(os.path.dirname(os.path.abspath(seqfast.__file__)), path_dir / "seqfast")
    ref = _run(ctc_python, "kenlm", spec_path, str(tmp_path / "kenlm.json"), script, str(path_dir))
    sf = _run(ctc_python, "dropin", spec_path, str(tmp_path / "seqfast.json"), script, str(path_dir))
    assert "kenlm_compat" not in ref["info"]["kenlm"], ref["info"]
    assert "kenlm_compat" in sf["info"]["kenlm"], sf["info"]
    assert sf["info"]["numpy"] < "2", sf["info"]
    assert os.path.realpath(sf["info"]["seqfast"]) == os.path.realpath(seqfast.__file__), sf["info"]
    want = ref["results"]["kenlm"]
    n = sum(len(b) for b in want)
    assert n > seeds, "too few beams to compare"
    texts = {b[0] for bs in want for b in bs}
    assert len(texts) > seeds, "the beams should not all be alike"
    # the LM matters: without it some best texts differ
    assert any(a[0][0] != b[0][0] for a, b in zip(want, ref["results"]["nolm"])), "the LM never changed the best beam"
    for name in ("dropin", "object"):
        _compare(want, sf["results"][name], name)


def test_pyctcdecode_beams_equal_kenlm(ctc_python, tmp_path):
    _parity(ctc_python, tmp_path, seeds=6, beam_width=16)


@pytest.mark.slow
def test_pyctcdecode_beams_equal_kenlm_wide(ctc_python, tmp_path):
    _parity(ctc_python, tmp_path, seeds=24, beam_width=100)
