"""The ``seqfast`` command line tool: commands, formats, exit codes and error reporting.

Most tests call ``seqfast.cli.main(argv)`` in-process; a few run the real console script and
``python -m seqfast`` in a subprocess. Conventions checked (DESIGN.md): stdin to stdout by
default; exit codes 0 ok / 1 failed / 2 bad usage; an error is one line on stderr, never a
traceback.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import seqfast
import seqfast.cli as cli
from _cli_cases import SAMPLE, assert_one_line_error, _script, _sub
from _helpers import CORPUS, SPECIAL, need_cl100k, write


# ---------------------------------------------------------------------------------------------
# train / info
# ---------------------------------------------------------------------------------------------


def test_train_on_files(run, tmp_path, corpus_files):
    out = tmp_path / "tok.json"
    r = run("train", *corpus_files, "--vocab-size", "350", "-o", out)
    assert r.code == 0, r
    assert r.out == b""  # nothing on stdout
    assert "350" in r.err and str(out) in r.err  # summary on stderr
    tok = seqfast.Tokenizer.from_file(out)
    assert tok.vocab_size == 350
    assert tok.pattern == "cl100k"
    assert tok.decode(tok.encode(SAMPLE)) == SAMPLE
    assert sorted(os.listdir(tmp_path)) == ["tok.json"]  # no temp files left
    # same as the library
    lib = seqfast.train_bpe(corpus_files, 350)
    assert tok.encode(SAMPLE).tolist() == lib.encode(SAMPLE).tolist()


def test_train_quiet_and_options(run, tmp_path, corpus_files):
    out = tmp_path / "tok.json"
    r = run("train", *corpus_files, "--vocab-size", "300", "--pattern", "gpt2", "--special", "<s>", "--special", "</s>",
            "--min-frequency", "3", "--threads", "1", "-q", "-o", out)
    assert r.code == 0 and r.err == "" and r.out == b"", r
    tok = seqfast.Tokenizer.from_file(out)
    assert set(tok.special_tokens) == {"<s>", "</s>"}
    assert tok.vocab_size <= 300


def test_train_from_stdin(run, tmp_path):
    out = tmp_path / "tok.json"
    r = run("train", "-", "--vocab-size", "270", "-q", "-o", out, stdin=" ".join(CORPUS))
    assert r.code == 0, r
    assert seqfast.Tokenizer.from_file(out).vocab_size == 270


def test_train_tiktoken_output(run, tmp_path, corpus_files):
    out = tmp_path / "tok.tiktoken"
    r = run("train", *corpus_files, "--vocab-size", "400", "-q", "-o", out)
    if r.code == 1:  # merges tiktoken would not reproduce: refused with a hint
        assert_one_line_error(r, 1, "force")
        assert not out.exists()
        r = run("train", *corpus_files, "--vocab-size", "400", "-q", "--force", "-o", out)
    assert r.code == 0, r
    t = seqfast.Tokenizer.from_tiktoken(out)
    assert t.merge_rule == "ranks" and t.vocab_size == 400
    out2 = tmp_path / "tok2.json"
    r = run("train", *corpus_files, "--vocab-size", "300", "-q", "--force", "--format", "tiktoken", "-o", out2)
    assert r.code == 0, r
    assert seqfast.Tokenizer.from_tiktoken(out2).vocab_size == 300


def test_info(run, trained, trained_special):
    r = run("info", trained)
    assert r.code == 0, r
    assert re.search(r"vocab_size:\s+400\b", r.text), r.text
    assert re.search(r"merge rule:\s+merges\b", r.text), r.text
    assert re.search(r"pattern:\s+cl100k\b", r.text), r.text
    assert re.search(r"special tokens:\s+0\b", r.text), r.text
    r = run("info", trained_special)
    assert r.code == 0, r
    assert re.search(r"special tokens:\s+1\b", r.text) and SPECIAL in r.text


def test_info_cl100k(run):
    need_cl100k()
    r = run("info", "cl100k_base")
    assert r.code == 0, r
    assert re.search(r"vocab_size:\s+100277\b", r.text), r.text
    assert "<|endoftext|>" in r.text and "100257" in r.text
    assert re.search(r"merge rule:\s+ranks\b", r.text), r.text


# ---------------------------------------------------------------------------------------------
# encode / decode / count
# ---------------------------------------------------------------------------------------------


def test_encode_text_stdin_stdout(run, trained):
    tok = seqfast.Tokenizer.from_file(trained)
    r = run("encode", "-t", trained, stdin=SAMPLE)
    assert r.code == 0, r
    assert r.text.endswith("\n") and r.text.count("\n") == 1
    assert [int(x) for x in r.text.split()] == tok.encode(SAMPLE).tolist()
    assert r.err == ""


def test_encode_empty_input(run, trained):
    r = run("encode", "-t", trained, stdin=b"")
    assert r.code == 0 and r.text.strip() == "", r
    r = run("encode", "-t", trained, "--format", "npy", stdin=b"")
    assert r.code == 0
    assert np.load(io.BytesIO(r.out)).size == 0


@pytest.mark.parametrize("fmt", ["text", "npy", "raw"])
def test_encode_decode_round_trip_files(run, tmp_path, trained, fmt):
    tok = seqfast.Tokenizer.from_file(trained)
    src = write(tmp_path / "in.txt", SAMPLE)
    ids_path = tmp_path / f"ids.{fmt}"
    r = run("encode", src, "-t", trained, "--format", fmt, "-o", ids_path)
    assert r.code == 0 and r.out == b"", r
    data = ids_path.read_bytes()
    want = tok.encode(SAMPLE)
    if fmt == "npy":
        got = np.load(io.BytesIO(data))
        assert got.dtype == np.uint32
    elif fmt == "raw":
        got = np.frombuffer(data, dtype="<u4")
    else:
        got = np.array(data.split(), dtype=np.int64)
    assert got.tolist() == want.tolist()
    # decode the file back, to a file and to stdout
    out = tmp_path / "out.txt"
    r = run("decode", ids_path, "-t", trained, "--format", fmt, "-o", out)
    assert r.code == 0, r
    assert out.read_text(encoding="utf-8") == SAMPLE
    r = run("decode", "-t", trained, "--format", fmt, stdin=data)
    assert r.code == 0, r
    assert r.text == SAMPLE
    assert sorted(os.listdir(tmp_path)) == sorted(["in.txt", f"ids.{fmt}", "out.txt"])


@pytest.mark.parametrize("fmt", ["npy", "raw"])
def test_encode_binary_to_stdout(run, trained, fmt):
    tok = seqfast.Tokenizer.from_file(trained)
    r = run("encode", "-t", trained, "--format", fmt, stdin=SAMPLE)
    assert r.code == 0, r
    got = np.load(io.BytesIO(r.out)) if fmt == "npy" else np.frombuffer(r.out, dtype="<u4")
    assert got.tolist() == tok.encode(SAMPLE).tolist()


def test_encode_lines_text(run, trained):
    tok = seqfast.Tokenizer.from_file(trained)
    lines = SAMPLE.splitlines()
    r = run("encode", "-t", trained, "--lines", stdin=SAMPLE)
    assert r.code == 0, r
    out_lines = r.text.split("\n")[:-1]
    assert len(out_lines) == len(lines)
    for ln, row in zip(lines, out_lines):
        assert [int(x) for x in row.split()] == tok.encode(ln).tolist()


@pytest.mark.parametrize("fmt", ["npy", "raw"])
def test_encode_lines_padded(run, trained, fmt):
    tok = seqfast.Tokenizer.from_file(trained)
    lines = SAMPLE.splitlines()
    r = run("encode", "-t", trained, "--lines", "--format", fmt, "--pad-id", "7", stdin=SAMPLE)
    assert r.code == 0, r
    L = max(len(tok.encode(ln)) for ln in lines)
    if fmt == "npy":
        arr = np.load(io.BytesIO(r.out))
    else:
        arr = np.frombuffer(r.out, dtype="<u4").reshape(len(lines), L)
    assert arr.shape == (len(lines), L)
    for ln, row in zip(lines, arr):
        ids = tok.encode(ln).tolist()
        assert row[: len(ids)].tolist() == ids
        assert (row[len(ids):] == 7).all()


def test_decode_errors_policies(run, trained):
    tok = seqfast.Tokenizer.from_file(trained)
    bad = tok.token_to_id(b"\xc3")
    ids = tok.encode("ab").tolist() + [bad] + tok.encode("cd").tolist()
    text = " ".join(map(str, ids))
    r = run("decode", "-t", trained, stdin=text)
    assert r.code == 0 and r.text == "ab\ufffdcd", r
    r = run("decode", "-t", trained, "--errors", "ignore", stdin=text)
    assert r.code == 0 and r.text == "abcd", r
    r = run("decode", "-t", trained, "--errors", "bytes", stdin=text)
    assert r.code == 0 and r.out == b"ab\xc3cd", r
    r = run("decode", "-t", trained, "--errors", "strict", stdin=text)
    assert_one_line_error(r, 1, "byte 2")
    assert r.out == b""


def test_count_one_and_many(run, tmp_path, trained):
    tok = seqfast.Tokenizer.from_file(trained)
    a = write(tmp_path / "a.txt", SAMPLE)
    b = write(tmp_path / "b.txt", CORPUS[3])
    na, nb = len(tok.encode(SAMPLE)), len(tok.encode(CORPUS[3]))
    r = run("count", a, "-t", trained)
    assert r.code == 0, r
    assert r.text == f"{na}\n"
    r = run("count", "-t", trained, stdin=SAMPLE)
    assert r.code == 0 and r.text == f"{na}\n", r
    r = run("count", a, b, "-t", trained)
    assert r.code == 0, r
    assert r.text.splitlines() == [f"{na}\t{a}", f"{nb}\t{b}", f"{na + nb}\ttotal"]


def test_special_policy_flag(run, trained_special):
    tok = seqfast.Tokenizer.from_file(trained_special)
    text = f"before {SPECIAL} after"
    r = run("encode", "-t", trained_special, stdin=text)
    assert_one_line_error(r, 1, SPECIAL)
    r = run("encode", "-t", trained_special, "--special", "special", stdin=text)
    assert r.code == 0, r
    ids = [int(x) for x in r.text.split()]
    assert tok.special_tokens[SPECIAL] in ids
    r = run("encode", "-t", trained_special, "--special", "text", stdin=text)
    assert r.code == 0 and tok.special_tokens[SPECIAL] not in [int(x) for x in r.text.split()]
    # count: special-token strings are ordinary text by default (tiktoken's encode_ordinary)
    r = run("count", "-t", trained_special, stdin=text)
    assert r.code == 0 and int(r.text) == len(tok.encode(text, special="text")), r
    r = run("count", "-t", trained_special, "--special", "error", stdin=text)
    assert_one_line_error(r, 1, SPECIAL)
    r = run("count", "-t", trained_special, "--special", "special", stdin=text)
    assert r.code == 0 and int(r.text) == len(tok.encode(text, special="special"))
    assert "encode_ordinary" in run("count", "--help").text


def test_tokenizer_from_directory(run, tmp_path, trained):
    d = tmp_path / "model"
    d.mkdir()
    shutil.copy(trained, d / "tokenizer.json")
    r = run("encode", "-t", d, stdin="hello")
    assert r.code == 0, r
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("encode", "-t", empty, stdin="hello")
    assert_one_line_error(r, 2, "directory")


def test_tiktoken_file_as_tokenizer(run, tmp_path, trained):
    tok = seqfast.Tokenizer.from_file(trained)
    p = tmp_path / "mine.tiktoken"
    tok.save_tiktoken(p, force=True)
    r = run("encode", "-t", p, stdin="hello world")
    assert r.code == 0, r
    assert [int(x) for x in r.text.split()] == seqfast.Tokenizer.from_tiktoken(p).encode("hello world").tolist()


# ---------------------------------------------------------------------------------------------
# the default corpus (the Python standard library)
# ---------------------------------------------------------------------------------------------


def test_default_corpus_is_the_stdlib():
    files = cli.default_corpus()
    assert len(files) > 300, len(files)
    assert all(f.endswith(".py") and os.path.isfile(f) for f in files[:50] + files[-50:])
    assert not any("site-packages" in f.split(os.sep) for f in files)
    assert files == sorted(files) or len(set(files)) == len(files)
    assert any(f.endswith(os.sep + "os.py") for f in files)
    assert cli.default_corpus() == files  # deterministic


def test_train_default_corpus_fast(run, tmp_path, monkeypatch, corpus_files):
    """No input files -> the default corpus; invalid UTF-8 files in it are skipped."""
    bad = write(tmp_path / "latin1.py", "caf\xe9 = 1\n".encode("latin-1"))
    monkeypatch.setattr(cli._io, "default_corpus", lambda: [*corpus_files[:4], bad])
    out = tmp_path / "tok.json"
    r = run("train", "--vocab-size", "300", "-o", out)
    assert r.code == 0, r
    assert "default corpus" in r.err
    want = seqfast.train_bpe(corpus_files[:4], 300)
    assert seqfast.Tokenizer.from_file(out).encode(SAMPLE).tolist() == want.encode(SAMPLE).tolist()


def test_train_default_corpus_empty(run, tmp_path, monkeypatch):
    monkeypatch.setattr(cli._io, "default_corpus", lambda: [])
    r = run("train", "--vocab-size", "300", "-o", tmp_path / "tok.json")
    assert_one_line_error(r, 1, "default corpus")
    assert not (tmp_path / "tok.json").exists()


def test_train_default_corpus_real(run, tmp_path):
    out = tmp_path / "std.json"
    r = run("train", "--vocab-size", "300", "-o", out)
    assert r.code == 0, r
    assert "default corpus" in r.err
    tok = seqfast.Tokenizer.from_file(out)
    assert tok.vocab_size == 300
    src = "def __init__(self):\n    return None\n"
    assert tok.decode(tok.encode(src)) == src
    assert len(tok.encode(src)) < len(src.encode())  # learned something about Python


# ---------------------------------------------------------------------------------------------
# cl100k_base by name
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# exit codes and error messages
# ---------------------------------------------------------------------------------------------


def test_help_and_version_exit_0(run):
    r = run("--help")
    assert r.code == 0 and b"usage" in r.out
    r = run("--version")
    assert r.code == 0 and seqfast.__version__ in r.text


# ---------------------------------------------------------------------------------------------
# real processes: the console script and python -m seqfast
# ---------------------------------------------------------------------------------------------


def test_console_script_round_trip(tmp_path, corpus_files):
    exe = _script()
    out = tmp_path / "tok.json"
    r = _sub([exe, "train", *corpus_files, "--vocab-size", "330", "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert b"Traceback" not in r.stderr
    r = _sub([exe, "encode", "-t", str(out)], stdin=SAMPLE.encode())
    assert r.returncode == 0, r.stderr
    assert [int(x) for x in r.stdout.split()] == seqfast.Tokenizer.from_file(out).encode(SAMPLE).tolist()
    r2 = _sub([exe, "decode", "-t", str(out)], stdin=r.stdout)
    assert r2.returncode == 0 and r2.stdout.decode() == SAMPLE
    r = _sub([exe, "--version"])
    assert r.returncode == 0 and seqfast.__version__.encode() in r.stdout


def test_python_dash_m(tmp_path, corpus_files):
    out = tmp_path / "tok.json"
    r = _sub([sys.executable, "-m", "seqfast", "train", *corpus_files[:3], "--vocab-size", "300", "-q", "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    r = _sub([sys.executable, "-m", "seqfast", "count", "-t", str(out)], stdin=b"hello world")
    assert r.returncode == 0 and int(r.stdout) == len(seqfast.Tokenizer.from_file(out).encode("hello world"))
    r = _sub([sys.executable, "-m", "seqfast", "decode", "-t", str(out)], stdin=b"99999")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and b"99999" in r.stderr
    r = _sub([sys.executable, "-m", "seqfast", "bogus"])
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_broken_pipe_is_quiet(tmp_path, corpus_files):
    """`seqfast encode big.txt | head -c 10`: no traceback when the reader goes away."""
    exe = _script()
    tok = tmp_path / "tok.json"
    seqfast.train_bpe(corpus_files, 300).save(tok)
    big = write(tmp_path / "big.txt", SAMPLE * 20000)
    p = subprocess.Popen([exe, "encode", big, "-t", str(tok)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read()
    code = p.wait(timeout=60)
    assert b"Traceback" not in err, err
    assert code in (0, 1, 120, -13), code  # 120: interpreter failed to flush at exit
