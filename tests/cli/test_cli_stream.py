"""The streaming CLI (`seqfast lm build | score | ppl`, `ngram count` through stdin/stdout,
read and written in Rust: rust/stdio.rs, rust/ngram/stream.rs).

The pipe output equals the file-path output byte for byte (build, score, ppl; the same arrays
for count) on plain text, text without its last newline, CRLF text, empty input and a line of
bad UTF-8 (the error names the line, with `<stdin>` instead of the path); build's ARPA has
the lines of lmplz's golden file; score's lines equal the Python API's numbers formatted by Python; a reader
that closes the pipe early ends the command quietly; Ctrl-C while stdin is idle or while stdout
is blocked exits 130 promptly.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import seqfast.cli as cli
from _cli_cases import CTRL_C_LIMIT, ctrl_c_twice
from _ngram_data import DATA
from _pipeline_work import zipf_text
from seqfast.ngram import NgramLM

ZIPF = open(os.path.join(DATA, "zipf.txt"), "rb").read()
EXTRA = "héllo wörld 日本語 w1 w2\n\n  w3\tw1  \n".encode()
BASE = EXTRA + ZIPF
_LINES = BASE.split(b"\n")
BAD_LINE = 13
VARIANTS = {
    "plain": BASE,
    "no_final_newline": BASE.rstrip(b"\n"),
    "crlf": BASE.replace(b"\n", b"\r\n"),
    "empty": b"",
    "bad_utf8": b"\n".join(_LINES[: BAD_LINE - 1] + [b"w1 \xff w2"] + _LINES[BAD_LINE - 1 :]),
}


def _seqfast(args, stdin=None, input=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "seqfast", *args], stdin=stdin, input=input, capture_output=True, timeout=timeout)


def _three_ways(tmp_path, name, data, args):
    """Run `seqfast args` on `data` as a file path, as `< file` (stdin a regular file) and through
    a pipe; return the three results."""
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    by_path = _seqfast([*args, str(path)])
    with open(path, "rb") as f:
        redirected = _seqfast(args, stdin=f)
    piped = _seqfast(args, input=data)
    return path, by_path, redirected, piped


def _same(path, by_path, *others):
    for r in others:
        assert r.returncode == by_path.returncode, (r.stderr, by_path.stderr)
        assert r.stdout == by_path.stdout
        assert r.stderr == by_path.stderr.replace(str(path).encode(), b"<stdin>")
    assert b"Traceback" not in by_path.stderr


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    p = tmp_path_factory.mktemp("model") / "m.arpa"
    NgramLM.fit(BASE, order=3).to_arpa(p)
    return p


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_build_pipe_equals_file_path(tmp_path, name):
    data = VARIANTS[name]
    path, by_path, redirected, piped = _three_ways(tmp_path, name, data, ["lm", "build", "-o", "3", "-q"])
    _same(path, by_path, redirected, piped)
    arpa = tmp_path / "out.arpa"
    to_file = _seqfast(["lm", "build", "-o", "3", "-q", "--arpa", str(arpa)], input=data)
    assert to_file.returncode == by_path.returncode and to_file.stdout == b""
    if name in ("empty", "bad_utf8"):
        assert by_path.returncode == 1 and len(by_path.stderr.splitlines()) == 1, by_path.stderr
        assert not arpa.exists()
        if name == "bad_utf8":
            assert f"{path}: line {BAD_LINE}: not valid UTF-8".encode() in by_path.stderr, by_path.stderr
        return
    assert by_path.returncode == 0, by_path.stderr
    assert arpa.read_bytes() == by_path.stdout
    assert by_path.stdout == NgramLM.fit(data.decode(), order=3).to_arpa().encode()


def test_build_several_inputs(tmp_path):
    """Files never run into each other: `a b -` equals the joined text, each part ended."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(ZIPF[:9000].rstrip(b"\n"))  # no final newline
    b.write_bytes(ZIPF[9000:])
    r = _seqfast(["lm", "build", "-o", "3", "-q", str(a), "-", str(b)], input=EXTRA)
    assert r.returncode == 0, r.stderr
    joined = a.read_bytes() + b"\n" + EXTRA + b.read_bytes()
    assert r.stdout == NgramLM.fit(joined, order=3).to_arpa().encode()


def _py_score_lines(model, data: bytes, per_token: bool, bos=True, eos=True) -> bytes:
    """What the CLI printed when it scored in Python: sentences split on "\\n", each total as
    %.6f, or each token as %.6g."""
    lm = NgramLM.from_arpa(model)
    sentences = data.decode().split("\n")
    if sentences and sentences[-1] == "":
        sentences.pop()
    s = lm.score_batch(sentences, bos=bos, eos=eos)
    if per_token:
        tok, off = s["tokens"], s["offsets"]
        return "".join(" ".join(f"{x:.6g}" for x in tok[off[i] : off[i + 1]].tolist()) + "\n" for i in range(len(s["total"]))).encode()
    return "".join(f"{x:.6f}\n" for x in s["total"].tolist()).encode()


@pytest.mark.parametrize("per_token", [False, True])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_score_pipe_equals_file_path(tmp_path, model, name, per_token):
    args = ["lm", "score", "-m", str(model)] + (["--per-token"] if per_token else [])
    path, by_path, redirected, piped = _three_ways(tmp_path, name, VARIANTS[name], args)
    _same(path, by_path, redirected, piped)
    if name == "empty":
        assert by_path.returncode == 1 and b"no sentences to score" in by_path.stderr
    elif name == "bad_utf8":
        assert by_path.returncode == 1 and f"{path}: line {BAD_LINE}: not valid UTF-8".encode() in by_path.stderr
    else:
        assert by_path.returncode == 0, by_path.stderr
        assert by_path.stdout == _py_score_lines(model, VARIANTS[name], per_token)


@pytest.mark.parametrize("flags", [[], ["--no-bos"], ["--no-eos"], ["--no-bos", "--no-eos"]])
def test_score_flags_and_oovs(tmp_path, model, flags):
    data = b"w1 w2 unseenword\n\nzzz\n" + ZIPF[:3000]
    args = ["lm", "score", "-m", str(model), "--per-token", *flags]
    path, by_path, redirected, piped = _three_ways(tmp_path, "x", data, args)
    _same(path, by_path, redirected, piped)
    assert by_path.stdout == _py_score_lines(model, data, True, bos="--no-bos" not in flags, eos="--no-eos" not in flags)


def test_score_many_blocks(tmp_path, model):
    """More than one 4 MB block, so sentences are scored and printed block by block."""
    data = (ZIPF * 160).replace(b"\n", b"\r\n", 100)
    assert len(data) > 4 << 20
    path, by_path, redirected, piped = _three_ways(tmp_path, "big", data, ["lm", "score", "-m", str(model)])
    _same(path, by_path, redirected, piped)
    assert by_path.stdout == _py_score_lines(model, data, False)


@pytest.mark.parametrize("quantize", [False, True])
def test_binary_model_scores_like_arpa(tmp_path, model, quantize):
    """`lm binary` writes seqfast's binary model; `-m` reads it (by its first bytes) and scores
    exactly as the ARPA does (a quantized one within its error bound)."""
    sfb = tmp_path / "m.sfb"
    r = _seqfast(["lm", "binary", str(model), str(sfb), "-q"] + (["--quantize"] if quantize else []))
    assert r.returncode == 0 and r.stdout == b"" and r.stderr == b"", r.stderr
    data = VARIANTS["plain"]
    by_arpa = _seqfast(["lm", "score", "-m", str(model), "--per-token"], input=data)
    by_bin = _seqfast(["lm", "score", "-m", str(sfb), "--per-token"], input=data)
    assert by_bin.returncode == 0, by_bin.stderr
    if not quantize:
        assert by_bin.stdout == by_arpa.stdout
    else:
        a = np.array(by_arpa.stdout.split(), dtype=np.float64)
        b = np.array(by_bin.stdout.split(), dtype=np.float64)
        assert a.shape == b.shape and np.abs(a - b).max() <= 3 * NgramLM.load(sfb).quantization_error + 1e-5
    bad = _seqfast(["lm", "ppl", "-m", str(tmp_path / "missing.sfb")], input=data)
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_ppl_pipe_equals_file_path(tmp_path, model, name):
    path, by_path, redirected, piped = _three_ways(tmp_path, name, VARIANTS[name], ["lm", "ppl", "-m", str(model)])
    _same(path, by_path, redirected, piped)
    if name in ("empty", "bad_utf8"):
        assert by_path.returncode == 1
        return
    fields = dict(f.split(": ") for f in by_path.stdout.decode().strip().split("\t"))
    lm = NgramLM.from_arpa(model)
    sentences = VARIANTS[name].decode().split("\n")
    if sentences[-1] == "":
        sentences.pop()
    s = lm.score_batch(sentences)
    assert int(fields["sentences"]) == len(sentences)
    assert int(fields["tokens"]) == len(s["tokens"])
    assert int(fields["oov"]) == int(s["oov"].sum())
    assert float(fields["log10"]) == pytest.approx(float(s["total"].sum()), abs=5e-5)
    assert float(fields["perplexity"]) == pytest.approx(lm.perplexity(sentences), abs=5e-5)  # printed with 4 decimals


@pytest.mark.parametrize("frame", [False, True])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_ngram_count_pipe_equals_file_path(tmp_path, name, frame):
    path = tmp_path / f"{name}.txt"
    path.write_bytes(VARIANTS[name])
    flags = ["--order", "3", "-q"] + (["--frame"] if frame else [])
    outs = {}
    for how in ("path", "redirected", "piped"):
        out = tmp_path / f"{how}.npz"
        if how == "path":
            r = _seqfast(["ngram", "count", str(path), *flags, "-o", str(out)])
        elif how == "redirected":
            with open(path, "rb") as f:
                r = _seqfast(["ngram", "count", *flags, "-o", str(out)], stdin=f)
        else:
            r = _seqfast(["ngram", "count", *flags, "-o", str(out)], input=VARIANTS[name])
        outs[how] = (r, out)
    r0, out0 = outs["path"]
    for r, out in (outs["redirected"], outs["piped"]):
        assert r.returncode == r0.returncode and r.stderr == r0.stderr.replace(str(path).encode(), b"<stdin>"), (r.stderr, r0.stderr)
        if r0.returncode == 0:
            with np.load(out0) as a, np.load(out) as b:
                assert sorted(a.files) == sorted(b.files)
                for k in a.files:
                    np.testing.assert_array_equal(a[k], b[k])
    if name == "bad_utf8":
        assert r0.returncode == 1 and f"line {BAD_LINE}: not valid UTF-8".encode() in r0.stderr
    elif name != "empty":
        assert r0.returncode == 0, r0.stderr


# ---- in-process (sys.stdin/sys.stdout replaced): the same bytes -----------------------------


def _in_process(monkeypatch, capsysbinary, argv, data: bytes):
    fake = types.SimpleNamespace(buffer=io.BytesIO(data), isatty=lambda: False)
    monkeypatch.setattr(sys, "stdin", fake)
    capsysbinary.readouterr()
    code = cli.main(argv)
    sys.stdout.flush()
    cap = capsysbinary.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize("cmd", ["build", "score", "score-per-token", "ppl"])
def test_in_process_equals_subprocess(monkeypatch, capsysbinary, model, cmd):
    args = {"build": ["lm", "build", "-o", "3", "-q"], "score": ["lm", "score", "-m", str(model)],
            "score-per-token": ["lm", "score", "-m", str(model), "--per-token"], "ppl": ["lm", "ppl", "-m", str(model)]}[cmd]
    for data in (VARIANTS["crlf"], VARIANTS["bad_utf8"]):
        code, out, err = _in_process(monkeypatch, capsysbinary, args, data)
        r = _seqfast(args, input=data)
        assert (code, out) == (r.returncode, r.stdout), err
        assert err.strip() == r.stderr.strip()


# ---- closed stdout, Ctrl-C -------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["build", "score"])
def test_closed_stdout_is_quiet(tmp_path, model, cmd):
    """`seqfast lm build ... | head -c 100`: the reader goes away; no traceback, exit 0."""
    text = tmp_path / "in.txt"
    text.write_text(zipf_text(300_000, seed=1))
    args = ["lm", "build", "-o", "3", "-q", str(text)] if cmd == "build" else ["lm", "score", "-m", str(model), "--per-token", str(text)]
    p = subprocess.Popen([sys.executable, "-m", "seqfast", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(p.stdout.read(100)) == 100
    p.stdout.close()
    err = p.stderr.read()
    code = p.wait(timeout=120)
    assert err == b"", err
    assert code == 0


def _interrupt(p, wait: float = 1.0) -> tuple[int, float, bytes]:
    try:
        time.sleep(wait)  # past the start-up and imports
        assert p.poll() is None, "the command ended before the signal"
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        code = p.wait(timeout=30)
        took = time.monotonic() - t
        return code, took, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ctrl_c_while_stdin_is_idle(tmp_path):
    """`seqfast lm build` waiting on a pipe nobody writes to: Ctrl-C ends it (the read polls)."""

    def run():
        p = subprocess.Popen([sys.executable, "-m", "seqfast", "lm", "build", "-o", "3"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        p.stdin.write(b"a b c\n")
        p.stdin.flush()
        try:
            return _interrupt(p)
        finally:
            p.stdin.close()

    code, took, err, _ = ctrl_c_twice(run)
    assert code == 130, err
    assert took < CTRL_C_LIMIT, took
    assert err.strip().splitlines() == [b"seqfast lm: interrupted"], err


def test_ctrl_c_while_stdout_is_blocked(tmp_path):
    """ARPA to a pipe whose reader does not read: the write waits in poll and Ctrl-C ends it."""
    text = tmp_path / "in.txt"
    text.write_text(zipf_text(300_000, seed=2))

    def run():
        p = subprocess.Popen([sys.executable, "-m", "seqfast", "lm", "build", "-o", "3", str(text)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            return _interrupt(p, wait=3.0)
        finally:
            p.stdout.close()

    code, took, err, _ = ctrl_c_twice(run)
    assert code == 130, err
    assert took < CTRL_C_LIMIT, took
    assert err.strip().splitlines() == [b"seqfast lm: interrupted"], err


def test_build_pipe_equals_lmplz():
    """zipf.txt through a pipe gives lmplz's golden ARPA (tests/data/ngram/zipf.o3.arpa): the
    same lines (lmplz orders the n-grams of a section differently)."""
    r = _seqfast(["lm", "build", "-o", "3", "-q"], input=ZIPF)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(DATA, "zipf.o3.arpa"), "rb") as f:
        assert sorted(r.stdout.splitlines()) == sorted(f.read().splitlines())
