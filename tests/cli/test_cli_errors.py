"""Bad usage and bad input at the ``seqfast`` command line: exit code 2 for usage errors, 1 for
failures, one line on stderr naming what and where, never a traceback; also from the installed
console script."""

from __future__ import annotations

import io

import numpy as np
import pytest

import seqfast
from _cli_cases import assert_one_line_error, _script, _sub
from _helpers import write


def test_usage_errors_exit_2(run, trained):
    assert_one_line_error(run(), 2, "command")
    assert_one_line_error(run("frobnicate"), 2)
    assert_one_line_error(run("encode", stdin="x"), 2, "-t")
    assert_one_line_error(run("decode", stdin="1"), 2, "-t")
    assert_one_line_error(run("count", stdin="x"), 2, "-t")
    assert_one_line_error(run("encode", "-t", trained, "--format", "xml", stdin="x"), 2, "xml")
    assert_one_line_error(run("decode", "-t", trained, "--errors", "explode", stdin="1"), 2)
    assert_one_line_error(run("encode", "-t", trained, "--special", "maybe", stdin="x"), 2)
    assert_one_line_error(run("encode", "-t", trained, "--threads", "-1", stdin="x"), 2)  # 0 is all threads, as num_threads=0
    assert_one_line_error(run("encode", "-t", trained, "--threads", "many", stdin="x"), 2)
    assert_one_line_error(run("train", "--vocab-size", "0", "-o", "x.json"), 2)
    assert_one_line_error(run("train", "--vocab-size", "abc", "-o", "x.json"), 2)
    assert_one_line_error(run("train", "a.txt"), 2, "-o")
    assert_one_line_error(run("info"), 2)


def test_unknown_tokenizer_name_exit_2(run):
    r = run("encode", "-t", "no_such_encoding_base", stdin="x")
    assert_one_line_error(r, 2, "no_such_encoding_base")
    r = run("info", "no_such_encoding_base")
    assert_one_line_error(r, 2, "no_such_encoding_base")


def test_failures_exit_1(run, tmp_path, trained):
    bad_text = write(tmp_path / "latin1.txt", b"line one\nline two\ncaf\xe9\n")
    r = run("encode", bad_text, "-t", trained)
    assert_one_line_error(r, 1, "latin1.txt", "line 3")
    r = run("count", bad_text, "-t", trained)
    assert_one_line_error(r, 1, "latin1.txt", "line 3")
    r = run("encode", "-t", trained, stdin=b"ok\n\xff")
    assert_one_line_error(r, 1, "<stdin>", "line 2")
    r = run("train", bad_text, "--vocab-size", "300", "-o", tmp_path / "t.json")
    assert_one_line_error(r, 1, "latin1.txt", "line 3")
    assert not (tmp_path / "t.json").exists()
    r = run("encode", tmp_path / "missing.txt", "-t", trained)
    assert_one_line_error(r, 1, "missing.txt")
    r = run("train", tmp_path / "missing.txt", "--vocab-size", "300", "-o", tmp_path / "t.json")
    assert_one_line_error(r, 1, "missing.txt")


def test_corrupt_tokenizer_files_exit_1(run, tmp_path, trained):
    text = open(trained, encoding="utf-8").read()
    bad_json = write(tmp_path / "bad.json", text[: len(text) // 2])
    assert_one_line_error(run("encode", "-t", bad_json, stdin="x"), 1, "bad.json")
    assert_one_line_error(run("info", bad_json), 1, "bad.json")
    bad_tt = write(tmp_path / "bad.tiktoken", "YQ== 0\nnot base64!! 1\n")
    assert_one_line_error(run("encode", "-t", bad_tt, stdin="x"), 1, "bad.tiktoken", "line 2")
    empty = write(tmp_path / "empty.tiktoken", b"")
    assert_one_line_error(run("count", "-t", empty, stdin="x"), 1, "empty.tiktoken")
    binary = write(tmp_path / "junk.bin", bytes(range(256)) * 4)
    assert_one_line_error(run("decode", "-t", binary, stdin="1"), 1, "junk.bin")


@pytest.mark.parametrize(
    "fmt, data, needle",
    [
        ("text", b"1 2 abc 4", "abc"),
        ("text", b"1 2 99999999", "99999999"),
        ("text", b"5 -3", "-3"),
        ("text", b"1 2 99999999999999999999999", "token"),
        ("text", b"1.5", "1.5"),
        ("raw", b"\x01\x00\x00", "multiple of 4"),
        ("raw", b"\xff\xff\xff\xff", "4294967295"),
        ("npy", b"not an npy file", "npy"),
    ],
)
def test_decode_invalid_ids_exit_1(run, trained, fmt, data, needle):
    r = run("decode", "-t", trained, "--format", fmt, stdin=data)
    assert_one_line_error(r, 1, needle)
    assert r.out == b""


@pytest.mark.parametrize("pad_id", ["-1", "4294967296"])
def test_encode_lines_bad_pad_id(run, trained, pad_id):
    r = run("encode", "-t", trained, "--lines", "--format", "npy", "--pad-id", pad_id, stdin="a\nbb\n")
    assert r.code in (1, 2), r
    assert_one_line_error(r, r.code, pad_id)


def test_decode_npy_wrong_dtype_exit_1(run, trained):
    buf = io.BytesIO()
    np.save(buf, np.array([1.5, 2.5]))
    r = run("decode", "-t", trained, "--format", "npy", stdin=buf.getvalue())
    assert r.code in (1, 2), r
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    buf = io.BytesIO()
    np.save(buf, np.array([[104, 105], [33, 33]], dtype=np.int64))
    r = run("decode", "-t", trained, "--format", "npy", stdin=buf.getvalue())
    assert r.code == 0 and r.text == seqfast.Tokenizer.from_file(trained).decode([104, 105, 33, 33])


def test_output_to_missing_dir_exit_1(run, tmp_path, trained):
    r = run("encode", "-t", trained, "-o", tmp_path / "no" / "such" / "ids.txt", stdin="hello")
    assert_one_line_error(r, 1)
    r = run("train", write(tmp_path / "a.txt", "hello hello"), "--vocab-size", "260", "-o", tmp_path / "no" / "t.json")
    assert_one_line_error(r, 1)


def test_console_script_errors(tmp_path):
    exe = _script()
    r = _sub([exe])
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    r = _sub([exe, "encode", "-t", str(tmp_path / "nope.json")], stdin=b"x")
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    bad = write(tmp_path / "bad.json", '{"model": ')
    r = _sub([exe, "encode", "-t", bad], stdin=b"x")
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and b"Traceback" not in r.stderr
    assert b"bad.json" in r.stderr
