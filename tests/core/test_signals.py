"""Ctrl-C during long native calls: KeyboardInterrupt within 0.2 s of the signal, no partial
output file, and the objects still give the right answers afterwards (the calls and their
checks are in _signal_calls.py, run in a subprocess that signals itself); the CLI exits with
130 within 0.5 s, printing one line, and leaves no output file.

The measured latencies are printed (they show in CI's log).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import _pipeline_work as work
from _cli_cases import CTRL_C_LIMIT, ctrl_c_twice
from _paths import TESTS

LIMIT = 0.2  # seconds from the signal to the KeyboardInterrupt


def _report(capsys, lines):
    with capsys.disabled():
        print()
        for line in lines:
            print(f"    SIGINT latency {line}")


def test_long_calls_raise_keyboard_interrupt_promptly(tmp_path, capsys):
    p = subprocess.run([sys.executable, str(TESTS / "_signal_calls.py"), str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert len(rows) >= 12, p.stdout
    _report(capsys, [(f"{r['name']:<40} {1000 * r['latency']:7.1f} ms" if r["latency"] is not None else f"{r['name']:<40} (no interrupt)")
                     + (f" (first try {1000 * r['first']:.1f} ms)" if "first" in r else "") for r in rows])
    for r in rows:
        assert not r["completed"], f"{r['name']} finished before the signal: the input is too small to test"
        assert r["latency"] is not None and r["latency"] < LIMIT, r
        assert r["ok"], f"{r['name']}: wrong answer or a leftover file after the interrupt"


def _cli_interrupt(args, cwd, min_wait: float = 1.0):
    """Start `seqfast args`, SIGINT it once it has started the work, return (code, seconds from
    the signal to the exit, stderr)."""
    p = subprocess.Popen([sys.executable, "-m", "seqfast", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(min_wait)  # past Python's start-up and the imports
        assert p.poll() is None, "the command ended before the signal: the input is too small"
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        return p.returncode, time.monotonic() - t, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("cmd", ["lm build", "train"])
def test_cli_ctrl_c_exits_130(tmp_path, capsys, cmd):
    text = tmp_path / "in.txt"
    if cmd == "lm build":
        text.write_text(work.zipf_text(4_000_000, seed=3))
        args = ["lm", "build", "-o", "5", str(text), "--arpa", str(tmp_path / "out.arpa")]
    else:
        # ~3 s of training on a quiet machine (6M words took 1.2 s: it could end before the 1 s wait)
        text.write_text(work.zipf_text(12_000_000, vocab=2_000_000, seed=4, letters=True))
        args = ["train", str(text), "--vocab-size", "100000", "-o", str(tmp_path / "tok.json"), "-q"]
    code, took, err, first = ctrl_c_twice(lambda: _cli_interrupt(args, tmp_path))
    _report(capsys, [f"seqfast {cmd:<33} {1000 * took:7.1f} ms to exit {code}" + (f" (first try {1000 * first:.1f} ms)" if first != took else "")])
    assert code == 130, err
    assert took < CTRL_C_LIMIT, took
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert sorted(os.listdir(tmp_path)) == ["in.txt"], "a partial output or temporary file was left"
