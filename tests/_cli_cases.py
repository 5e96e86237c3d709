"""Shared by the tests/cli/ files: the result of an in-process CLI run, the check that an error is
one line on stderr, the console script in a subprocess, and the fixtures ``run`` (the CLI
in-process, output captured), ``corpus_files`` and the tokenizers the CLI trained from them
(``trained``, ``trained_special``; module-scoped), which tests/conftest.py registers as a plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import io
import sys
import types

import pytest

import seqfast.cli as cli

from _helpers import CORPUS, SPECIAL, write

SAMPLE = "hello world, the quick brown fox\nhéllo wörld 🎉 日本語\n\ndef add(x, y):\n    return x + y\n"


class Run:
    """Result of one in-process CLI run."""

    def __init__(self, code: int, out: bytes, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")

    def __repr__(self) -> str:
        return f"Run(code={self.code}, out={self.out[:200]!r}, err={self.err!r})"


def assert_one_line_error(r: Run, code: int, *needles: str) -> None:
    assert r.code == code, r
    assert "Traceback" not in r.err, r.err
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    if code == 1:
        assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    else:  # argparse prints its (possibly wrapped) usage before the one error line
        assert sum("error:" in ln for ln in lines) == 1, lines
        assert all(ln.startswith(("usage:", " ")) for ln in lines[:-1]), lines
    msg = lines[-1]
    assert msg.startswith("seqfast"), msg
    assert "error" in msg or "usage" in msg, msg
    for n in needles:
        assert n in r.err, (n, r.err)


# Seconds from SIGINT to the CLI's exit (the pipelines-safety bound).
CTRL_C_LIMIT = 0.5


def ctrl_c_twice(run):
    """``run()`` -> (code, took, err): a second run when the first exited on the signal (130) but
    slower than CTRL_C_LIMIT, since a busy machine can stall any one process for longer (the
    other checks hold on every run). Returns (code, took, err, the first run's took)."""
    code, took, err = run()
    first = took
    if code == 130 and took >= CTRL_C_LIMIT:
        code, took, err = run()
    return code, took, err, first


def _script() -> str:
    """The installed ``seqfast`` console script (skips when there is none)."""
    exe = shutil.which("seqfast")
    if exe is None:
        cand = os.path.join(os.path.dirname(sys.executable), "seqfast")
        exe = cand if os.path.exists(cand) else None
    if exe is None:
        pytest.skip("seqfast console script not on PATH")
    return exe


def _sub(argv, stdin: bytes = b"", timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a command with UTF-8 stdio, output captured."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=env)


@pytest.fixture()
def run(capsysbinary, monkeypatch):
    """run(*argv, stdin=b"...") -> Run; stdout captured as bytes, stderr as text."""

    def _run(*argv, stdin: bytes | str | None = None) -> Run:
        data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
        fake = types.SimpleNamespace(buffer=io.BytesIO(data), read=lambda: data.decode(), isatty=lambda: False)
        monkeypatch.setattr(sys, "stdin", fake)
        capsysbinary.readouterr()  # drop anything earlier
        try:
            code = cli.main([str(a) for a in argv])
        except BaseException as e:  # noqa: B036 - the CLI must not raise (or panic) at all
            pytest.fail(f"cli.main raised {type(e).__name__}: {e}")
        sys.stdout.flush()
        cap = capsysbinary.readouterr()
        return Run(code, cap.out, cap.err.decode("utf-8", "replace"))

    return _run


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    paths = []
    for i, t in enumerate(CORPUS):
        paths.append(write(d / f"c{i}.txt", t))
    return paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus_files):
    """A tokenizer.json trained by the CLI (module-scoped; also a check of `train` itself)."""
    d = tmp_path_factory.mktemp("tok")
    out = d / "tok.json"
    code = cli.main(["train", *corpus_files, "--vocab-size", "400", "-o", str(out), "-q"])
    assert code == 0
    return str(out)


@pytest.fixture(scope="module")
def trained_special(tmp_path_factory, corpus_files):
    d = tmp_path_factory.mktemp("toks")
    out = d / "tok.json"
    code = cli.main(["train", *corpus_files, "--vocab-size", "400", "--special", SPECIAL, "-o", str(out), "-q"])
    assert code == 0
    return str(out)
