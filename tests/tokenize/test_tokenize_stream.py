"""Streaming encode (`Tokenizer.encode_file`, `seqfast encode` text/raw): ids equal `encode` of
the whole input however the input is cut into blocks, errors name line / position in the whole
stream, and the output file is replaced atomically."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import seqfast
from conftest import stdlib_py_texts


@pytest.fixture(scope="module")
def big_text():
    # > 2 blocks of 8 MiB, so cuts happen; mixes code, prose, CJK and slashes at line starts.
    parts, size = [], 0
    for _, t in stdlib_py_texts():
        parts.append(t)
        size += len(t)
        if size > 18 << 20:
            break
    return "".join(parts) + "日本語のテキスト\n/path\n" * 1000


def test_encode_file_equals_encode(sf_cl100k, big_text, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text(big_text, encoding="utf-8")
    want = sf_cl100k.encode(big_text, special="text")
    out = tmp_path / "ids.raw"
    n = sf_cl100k.encode_file(src, out, format="raw", special="text", num_threads=2)
    assert n == len(want)
    assert np.array_equal(np.fromfile(out, dtype="<u4"), want)
    txt = tmp_path / "ids.txt"
    sf_cl100k.encode_file(src, txt, format="text", special="text")
    assert np.array_equal(np.array(txt.read_text().split(), dtype=np.uint32), want)
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_cli_stream_stdin_stdout(sf_cl100k, tmp_path):
    text = "".join(t for _, t in stdlib_py_texts()[:50])
    p = subprocess.run(
        [sys.executable, "-m", "seqfast", "encode", "-t", "cl100k_base", "--special", "text", "--format", "raw"],
        input=text.encode(), capture_output=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.frombuffer(p.stdout, dtype="<u4"), sf_cl100k.encode(text, special="text"))


def test_stream_errors_name_the_whole_stream(sf_cl100k, tmp_path):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"line one\n" * 3 + b"bad \xff here\n")
    with pytest.raises(seqfast.FormatError, match=r"line 4: not valid UTF-8 \(byte 31\)"):
        sf_cl100k.encode_file(src, tmp_path / "o.txt")
    assert not (tmp_path / "o.txt").exists()
    src.write_text("é" * 5 + " <|endoftext|>", encoding="utf-8")
    with pytest.raises(seqfast.SpecialTokenError, match="at character 6"):
        sf_cl100k.encode_file(src, tmp_path / "o.txt")
    p = subprocess.run([sys.executable, "-m", "seqfast", "encode", "-t", "cl100k_base", str(src)], capture_output=True, timeout=120)
    assert p.returncode == 1 and p.stderr.decode().count("\n") == 1 and "at character 6" in p.stderr.decode()


def test_failed_stream_keeps_old_output(sf_cl100k, tmp_path):
    out = tmp_path / "ids.txt"
    out.write_text("old")
    src = tmp_path / "bad.txt"
    src.write_bytes(b"ok\n\xff")
    with pytest.raises(seqfast.FormatError):
        sf_cl100k.encode_file(src, out)
    assert out.read_text() == "old"
