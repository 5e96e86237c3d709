"""seqfast's cl100k tokenizer against tiktoken (the peer) on the same ranks file.

The acceptance criterion: identical ids to tiktoken's ``encode_ordinary`` on every UTF-8 ``.py``
file of the Python standard library, and ``decode(encode(s)) == s``. Then hypothesis text,
special-token policies, batches and padding, ``encode_large``, and the decode error policies /
streaming decoder.
"""

from __future__ import annotations

import os
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqfast
from conftest import TRICKY_TEXTS, CL100K_SPECIALS, TEXT_STRATEGIES, mixed_text, stdlib_sample

pytestmark = pytest.mark.peer

# No example database (keeps the checkout clean), no deadline (shared, noisy machine).
DEFAULT = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
TARGETED = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SMALL = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))

SPECIALS = list(CL100K_SPECIALS)


def _first_diff(got: list[int], want: list[int]) -> str:
    n = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return f"first difference at token {n}: seqfast {got[max(0, n - 3):n + 4]} vs tiktoken {want[max(0, n - 3):n + 4]} (lengths {len(got)} vs {len(want)})"


def _check_text(sf, enc, text: str) -> None:
    ids = sf.encode(text, special="text")
    assert isinstance(ids, np.ndarray) and ids.dtype == np.uint32 and ids.ndim == 1
    got, want = ids.tolist(), enc.encode_ordinary(text)
    assert got == want, f"{text!r}: {_first_diff(got, want)}"
    assert sf.decode(ids) == text


# ---------------------------------------------------------------------------
# The standard library, every file
# ---------------------------------------------------------------------------


def test_stdlib_every_file(sf_cl100k, tiktoken_enc, stdlib_texts):
    """Acceptance criterion: ids == tiktoken encode_ordinary and exact round trip, every file."""
    chunk = 128
    mismatches, bad_round_trips = [], []
    for start in range(0, len(stdlib_texts), chunk):
        items = stdlib_texts[start : start + chunk]
        texts = [t for _, t in items]
        batch = sf_cl100k.encode_batch(texts, special="text")
        assert batch.ids.dtype == np.uint32
        assert len(batch) == len(texts)
        expected = tiktoken_enc.encode_ordinary_batch(texts)
        for (path, text), ids, want in zip(items, batch, expected):
            got = ids.tolist()
            if got != want:
                mismatches.append(f"{path}: {_first_diff(got, want)}")
            if sf_cl100k.decode(ids) != text:
                bad_round_trips.append(path)
    assert not mismatches, f"{len(mismatches)} of {len(stdlib_texts)} files differ from tiktoken:\n" + "\n".join(mismatches[:10])
    assert not bad_round_trips, f"{len(bad_round_trips)} files do not round-trip: {bad_round_trips[:10]}"


def test_stdlib_sample_single_encode(sf_cl100k, tiktoken_enc, stdlib_texts):
    """The single-text path (not the batch path) on a sample, with the default special policy."""
    for path, text in stdlib_sample(60, max_chars=20_000):
        if any(s in text for s in SPECIALS):
            continue
        got = sf_cl100k.encode(text).tolist()
        want = tiktoken_enc.encode_ordinary(text)
        assert got == want, f"{path}: {_first_diff(got, want)}"


TRICKY = TRICKY_TEXTS


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings(sf_cl100k, tiktoken_enc, text):
    _check_text(sf_cl100k, tiktoken_enc, text)


# ---------------------------------------------------------------------------
# Hypothesis text
# ---------------------------------------------------------------------------


@DEFAULT
@given(text=TEXT_STRATEGIES["broad"])
def test_hypothesis_broad_alphabet(sf_cl100k, tiktoken_enc, text):
    _check_text(sf_cl100k, tiktoken_enc, text)


@DEFAULT
@given(text=mixed_text)
def test_hypothesis_mixed_fragments(sf_cl100k, tiktoken_enc, text):
    _check_text(sf_cl100k, tiktoken_enc, text)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["broad", "mixed"])
def test_hypothesis_many_examples(sf_cl100k, tiktoken_enc, kind):
    """Slow variant of the two tests above: 4000 examples each."""

    @settings(DEFAULT, max_examples=4000)
    @given(text=TEXT_STRATEGIES[kind])
    def check(text):
        _check_text(sf_cl100k, tiktoken_enc, text)

    check()


@pytest.mark.parametrize(
    "kind", ["emoji", "combining", "cjk", "whitespace", "digits", "long_words", "contractions"]
)
def test_hypothesis_targeted(sf_cl100k, tiktoken_enc, kind):
    @TARGETED
    @given(text=TEXT_STRATEGIES[kind])
    def check(text):
        _check_text(sf_cl100k, tiktoken_enc, text)

    check()


# ---------------------------------------------------------------------------
# Special tokens
# ---------------------------------------------------------------------------

_SPECIAL_FRAGMENTS = st.sampled_from(
    SPECIALS + ["<|", "|>", "<|endof", "endoftext|>", "<|fim_", "<|endoftext", "|", "<", ">", " ", "\n", "a", "é", "日", "😀"]
)
special_text = st.lists(st.one_of(_SPECIAL_FRAGMENTS, mixed_text), max_size=10).map("".join)


def _first_special(text: str):
    hits = [(text.find(s), -len(s), s) for s in SPECIALS if s in text]
    if not hits:
        return None
    pos, _, token = min(hits)
    return token, pos


def _numbers(message: str) -> set[int]:
    return {int(m) for m in re.findall(r"\d+", message)}


def test_specials_fixed_text(sf_cl100k, tiktoken_enc):
    text = "héllo <|endoftext|> wörld<|fim_prefix|>x<|endofprompt|><|endoftext|> <|fim_suffix|><|fim_middle|>"
    got = sf_cl100k.encode(text, special="special").tolist()
    assert got == tiktoken_enc.encode(text, allowed_special="all")
    assert got.count(100257) == 2 and 100276 in got
    assert sf_cl100k.encode(text, special="text").tolist() == tiktoken_enc.encode(text, disallowed_special=())
    assert sf_cl100k.special_tokens == CL100K_SPECIALS


@DEFAULT
@given(text=special_text)
def test_specials_hypothesis(sf_cl100k, tiktoken_enc, text):
    assert sf_cl100k.encode(text, special="special").tolist() == tiktoken_enc.encode(text, allowed_special="all")
    assert sf_cl100k.encode(text, special="text").tolist() == tiktoken_enc.encode(text, disallowed_special=())
    first = _first_special(text)
    if first is None:
        assert sf_cl100k.encode(text).tolist() == tiktoken_enc.encode(text)
    else:
        token, pos = first
        with pytest.raises(seqfast.SpecialTokenError) as info:
            sf_cl100k.encode(text)
        assert token in str(info.value)
        assert pos in _numbers(str(info.value)), (str(info.value), pos)
        with pytest.raises(ValueError):  # tiktoken refuses too
            tiktoken_enc.encode(text)


def test_special_error_names_token_and_char_position(sf_cl100k):
    prefix = "日本語 😀 naïve e\u0301 "
    text = prefix + "<|fim_middle|> and later <|endoftext|>"
    char_pos = len(prefix)
    byte_pos = len(prefix.encode("utf-8"))
    assert char_pos != byte_pos
    for call in (
        lambda: sf_cl100k.encode(text),
        lambda: sf_cl100k.count(text),
        lambda: sf_cl100k.encode_large(text),
        lambda: sf_cl100k.encode(text, special="error"),
    ):
        with pytest.raises(seqfast.SpecialTokenError) as info:
            call()
        message = str(info.value)
        assert "<|fim_middle|>" in message
        assert char_pos in _numbers(message), message
        assert byte_pos not in _numbers(message), message
    assert issubclass(seqfast.SpecialTokenError, seqfast.SeqfastError)
    assert issubclass(seqfast.SpecialTokenError, ValueError)


def test_special_error_position_in_large_text(sf_cl100k):
    """encode_large splits the text: the reported position is still the one in the whole text."""
    text = "日本語 text " * 200_000 + "end <|endoftext|> tail"
    pos = text.index("<|endoftext|>")
    assert len(text.encode("utf-8")) > 2_000_000
    for threads in (1, 2):
        with pytest.raises(seqfast.SpecialTokenError) as info:
            sf_cl100k.encode_large(text, num_threads=threads)
        assert "<|endoftext|>" in str(info.value) and pos in _numbers(str(info.value)), str(info.value)


def test_special_error_in_batch(sf_cl100k):
    with pytest.raises(seqfast.SpecialTokenError) as info:
        sf_cl100k.encode_batch(["fine", "also fine", "ü<|endofprompt|>"])
    assert "<|endofprompt|>" in str(info.value)
    assert 1 in _numbers(str(info.value))


# ---------------------------------------------------------------------------
# Batches, counting, padding
# ---------------------------------------------------------------------------


def _batch_texts() -> list[str]:
    return [t for _, t in stdlib_sample(40, max_chars=4000)] + TRICKY + ["", "x", ""]


def test_encode_batch_equals_loop(sf_cl100k):
    texts = _batch_texts()
    for special in ("text", "special"):
        batch = sf_cl100k.encode_batch(texts, special=special)
        assert len(batch) == len(texts)
        assert batch.row_offsets[0] == 0 and batch.row_offsets[-1] == len(batch.ids)
        assert np.all(np.diff(batch.row_offsets) >= 0)
        for i, text in enumerate(texts):
            expected = sf_cl100k.encode(text, special=special)
            np.testing.assert_array_equal(batch[i], expected)
            assert batch.lengths[i] == len(expected)
        assert batch.to_list() == [sf_cl100k.encode(t, special=special).tolist() for t in texts]


def test_encode_batch_with_specials_equals_loop(sf_cl100k, tiktoken_enc):
    texts = ["a<|endoftext|>b", "", "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>", "plain"]
    batch = sf_cl100k.encode_batch(texts, special="special")
    assert batch.to_list() == [tiktoken_enc.encode(t, allowed_special="all") for t in texts]
    batch = sf_cl100k.encode_batch(texts, special="text")
    assert batch.to_list() == [tiktoken_enc.encode_ordinary(t) for t in texts]


@SMALL
@given(texts=st.lists(mixed_text, max_size=12))
def test_encode_batch_equals_loop_hypothesis(sf_cl100k, texts):
    batch = sf_cl100k.encode_batch(texts, special="text", num_threads=2)
    assert batch.to_list() == [sf_cl100k.encode(t, special="text").tolist() for t in texts]


def test_encode_batch_thread_invariance(sf_cl100k):
    texts = _batch_texts() * 3
    one = sf_cl100k.encode_batch(texts, special="text", num_threads=1)
    two = sf_cl100k.encode_batch(texts, special="text", num_threads=2)
    default = sf_cl100k.encode_batch(texts, special="text")
    for other in (two, default):
        np.testing.assert_array_equal(one.ids, other.ids)
        np.testing.assert_array_equal(one.row_offsets, other.row_offsets)


def test_encode_batch_empty(sf_cl100k):
    batch = sf_cl100k.encode_batch([])
    assert len(batch) == 0 and len(batch.ids) == 0
    ids, mask = batch.pad()
    assert ids.shape[0] == 0 and mask.shape[0] == 0


def _check_pad(batch, ids, mask, pad_id, length, side):
    rows = batch.to_list()
    width = max((len(r) for r in rows), default=0) if length is None else length
    assert ids.shape == (len(rows), width) and mask.shape == (len(rows), width)
    assert ids.dtype == np.uint32 and mask.dtype == np.bool_
    for i, row in enumerate(rows):
        kept = row[:width]  # truncation keeps the first tokens
        n = len(kept)
        assert int(mask[i].sum()) == n
        if side == "right":
            assert ids[i, :n].tolist() == kept
            assert mask[i, :n].all() and not mask[i, n:].any()
            assert (ids[i, n:] == pad_id).all()
        else:
            assert ids[i, width - n :].tolist() == kept
            assert mask[i, width - n :].all() and not mask[i, : width - n].any()
            assert (ids[i, : width - n] == pad_id).all()


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad(sf_cl100k, side):
    texts = ["hello world", "", "a much longer text with more tokens than the others, 日本語 😀", "x"]
    batch = sf_cl100k.encode_batch(texts)
    longest = int(batch.lengths.max())
    pad_id = 100257

    ids, mask = batch.pad(pad_id, side=side)
    _check_pad(batch, ids, mask, pad_id, None, side)

    ids, mask = batch.pad(pad_id, length=longest + 5, side=side)
    _check_pad(batch, ids, mask, pad_id, longest + 5, side)

    ids, mask = batch.pad(pad_id, length=longest, side=side)
    _check_pad(batch, ids, mask, pad_id, longest, side)

    for short in (0, 1, 3):
        ids, mask = batch.pad(pad_id, length=short, truncate=True, side=side)
        _check_pad(batch, ids, mask, pad_id, short, side)
        with pytest.raises(seqfast.SeqfastError):
            batch.pad(pad_id, length=short, side=side)


@SMALL
@given(
    texts=st.lists(mixed_text, max_size=8),
    pad_id=st.integers(0, 2**32 - 1),
    length=st.none() | st.integers(0, 40),
    side=st.sampled_from(["right", "left"]),
)
def test_pad_hypothesis(sf_cl100k, texts, pad_id, length, side):
    batch = sf_cl100k.encode_batch(texts, special="text")
    ids, mask = batch.pad(pad_id, length=length, truncate=True, side=side)
    _check_pad(batch, ids, mask, pad_id, length, side)


def test_count_equals_len_encode(sf_cl100k, tiktoken_enc):
    for text in _batch_texts():
        assert sf_cl100k.count(text, special="text") == len(sf_cl100k.encode(text, special="text"))
    text = "a<|endoftext|>b"
    assert sf_cl100k.count(text, special="special") == len(tiktoken_enc.encode(text, allowed_special="all"))
    assert sf_cl100k.count(text, special="text") == len(tiktoken_enc.encode_ordinary(text))


@SMALL
@given(text=special_text)
def test_count_hypothesis(sf_cl100k, text):
    for special in ("text", "special"):
        assert sf_cl100k.count(text, special=special) == len(sf_cl100k.encode(text, special=special))


# ---------------------------------------------------------------------------
# encode_large
# ---------------------------------------------------------------------------


def _large_texts(stdlib_texts) -> dict[str, str]:
    target = 1_200_000
    parts, size = [], 0
    for _, text in stdlib_texts:
        parts.append(text)
        size += len(text)
        if size > target:
            break
    code = "".join(parts)
    rng = random.Random(1234)
    words = ["the", "Quick", "brown", "fox's", "日本語", "naïve", "x1", "1234567", "!!", "😀", "e\u0301"]
    one_line = " ".join(rng.choice(words) for _ in range(220_000))
    spaces = "".join(rng.choice(["  ", " " * 50, "\n", "\r\n", "\t", "a", " b", "\n\n\n", "\u3000", "  \n  "]) for _ in range(400_000))
    return {
        "stdlib_code": code,
        "one_line_words": one_line,
        "whitespace_heavy": spaces,
        "cjk_sentences": "日本語のテキスト中文字符한국어。" * 80_000,
        "one_giant_piece": "ab" * 600_000,
        "with_specials": ("text <|endoftext|> more text\n" * 40_000),
    }


@pytest.mark.parametrize(
    "name", ["stdlib_code", "one_line_words", "whitespace_heavy", "cjk_sentences", "one_giant_piece", "with_specials"]
)
def test_encode_large_equals_encode(sf_cl100k, tiktoken_enc, stdlib_texts, name):
    """encode_large splits one big text over threads; it must never cut inside a piece."""
    text = _large_texts(stdlib_texts)[name]
    assert len(text.encode("utf-8")) > 1_000_000
    giant = name == "one_giant_piece"  # a single 1.2 MB piece: slow, so fewer combinations
    for special in ("text",) if giant else ("text", "special"):
        expected = sf_cl100k.encode(text, special=special)
        for threads in (1, 2) if giant else (1, 2, None):
            got = sf_cl100k.encode_large(text, special=special, num_threads=threads)
            assert got.dtype == np.uint32
            assert len(got) == len(expected) and np.array_equal(got, expected), (name, special, threads)
    if name in ("stdlib_code", "one_line_words"):
        assert sf_cl100k.encode(text, special="text").tolist() == tiktoken_enc.encode_ordinary(text)


# ---------------------------------------------------------------------------
# Decoding: error policies and the streaming decoder
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def byte_ids(sf_cl100k) -> list[int]:
    ids = [sf_cl100k.token_to_id(bytes([b])) for b in range(256)]
    assert all(i is not None for i in ids)
    assert all(sf_cl100k.id_to_token(i) == bytes([b]) for b, i in enumerate(ids))
    return ids


# Bytes that make interesting UTF-8: leads, continuations, overlongs, surrogates, > U+10FFFF.
_UTF8_BYTES = st.sampled_from(
    [0x41, 0x20, 0x0A, 0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xC3, 0xA9, 0xDF, 0xE0, 0xE2, 0x82, 0xAC,
     0xED, 0xA0, 0xEF, 0xF0, 0x9F, 0x98, 0x80, 0xF4, 0x8F, 0x90, 0xF5, 0xF8, 0xFE, 0xFF]
)
byte_strings = st.one_of(
    st.binary(max_size=48),
    st.lists(_UTF8_BYTES, max_size=48).map(bytes),
    st.lists(st.sampled_from(["a", "é", "日", "😀", "\n"]), max_size=12).map(lambda xs: "".join(xs).encode()).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda cut: b[:cut])
    ),
)


@DEFAULT
@given(data=byte_strings)
def test_decode_policies_match_python(sf_cl100k, tiktoken_enc, byte_ids, data):
    ids = [byte_ids[b] for b in data]
    assert sf_cl100k.decode_bytes(ids) == data
    assert sf_cl100k.decode(ids, errors="replace") == data.decode("utf-8", "replace")
    assert sf_cl100k.decode(ids) == data.decode("utf-8", "replace")  # the default
    assert sf_cl100k.decode(ids) == tiktoken_enc.decode(ids)
    assert sf_cl100k.decode(ids, errors="ignore") == data.decode("utf-8", "ignore")
    assert sf_cl100k.decode(np.array(ids, dtype=np.uint32), errors="ignore") == data.decode("utf-8", "ignore")
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(seqfast.DecodeError):
            sf_cl100k.decode(ids, errors="strict")
    else:
        assert sf_cl100k.decode(ids, errors="strict") == expected


@DEFAULT
@given(ids=st.lists(st.integers(0, 100255) | st.sampled_from(list(CL100K_SPECIALS.values())), max_size=40))
def test_decode_random_ids_match_tiktoken(sf_cl100k, tiktoken_enc, ids):
    data = tiktoken_enc.decode_bytes(ids)
    assert sf_cl100k.decode_bytes(ids) == data
    assert sf_cl100k.decode(ids) == tiktoken_enc.decode(ids) == data.decode("utf-8", "replace")
    assert sf_cl100k.decode(ids, errors="ignore") == data.decode("utf-8", "ignore")


def _stream(sf, ids: list[int], chunks: list[int], errors: str) -> list[str]:
    dec = sf.decoder(errors=errors)
    out, i = [], 0
    for size in chunks:
        out.append(dec.step(ids[i : i + size]))
        i += size
    out.append(dec.step(ids[i:]))
    out.append(dec.finish())
    return out


@DEFAULT
@given(data=byte_strings, chunk_sizes=st.lists(st.integers(0, 5), max_size=20), errors=st.sampled_from(["replace", "ignore"]))
def test_stream_decoder_random_bytes(sf_cl100k, byte_ids, data, chunk_sizes, errors):
    ids = [byte_ids[b] for b in data]
    expected = sf_cl100k.decode(ids, errors=errors)
    assert expected == data.decode("utf-8", errors)
    assert "".join(_stream(sf_cl100k, ids, [1] * len(ids), errors)) == expected
    assert "".join(_stream(sf_cl100k, ids, chunk_sizes, errors)) == expected


@DEFAULT
@given(text=mixed_text | TEXT_STRATEGIES["emoji"], chunk_sizes=st.lists(st.integers(0, 4), max_size=20), errors=st.sampled_from(["replace", "ignore", "strict"]))
def test_stream_decoder_valid_text(sf_cl100k, byte_ids, text, chunk_sizes, errors):
    """Valid text, encoded normally and byte by byte: no piece ever holds a replacement char."""
    for ids in (sf_cl100k.encode(text, special="text").tolist(), [byte_ids[b] for b in text.encode()]):
        for chunks in ([1] * len(ids), chunk_sizes):
            pieces = _stream(sf_cl100k, ids, chunks, errors)
            assert "".join(pieces) == text
            if "\ufffd" not in text:
                assert not any("\ufffd" in p for p in pieces), pieces


@SMALL
@given(data=byte_strings, chunk_sizes=st.lists(st.integers(0, 5), max_size=20))
def test_stream_decoder_strict(sf_cl100k, byte_ids, data, chunk_sizes):
    """errors="strict": invalid UTF-8 raises DecodeError (from step or finish), valid passes."""
    ids = [byte_ids[b] for b in data]
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(seqfast.DecodeError):
            _stream(sf_cl100k, ids, chunk_sizes, "strict")
    else:
        assert "".join(_stream(sf_cl100k, ids, chunk_sizes, "strict")) == expected


def test_stream_decoder_split_emoji(sf_cl100k, byte_ids):
    data = "😀".encode()
    dec = sf_cl100k.decoder()
    for k, b in enumerate(data[:-1]):
        assert dec.step([byte_ids[b]]) == ""
        assert dec.pending == data[: k + 1]
    assert dec.step([byte_ids[data[-1]]]) == "😀"
    assert dec.pending == b""
    assert dec.finish() == ""

    # A ZWJ family split into single bytes, then into 2-byte chunks: text appears only when
    # each character is complete.
    family = "a👨‍👩‍👧b"
    ids = [byte_ids[b] for b in family.encode()]
    dec = sf_cl100k.decoder(errors="strict")
    out = [dec.step([i]) for i in ids] + [dec.finish()]
    assert "".join(out) == family
    assert [p for p in out if p] == list(family)

    # An incomplete character at the end: finish() applies the policy.
    ids = [byte_ids[b] for b in b"ok\xf0\x9f\x98"]
    for errors in ("replace", "ignore"):
        dec = sf_cl100k.decoder(errors=errors)
        assert dec.step(ids) == "ok"
        assert dec.pending == b"\xf0\x9f\x98"
        assert dec.finish() == b"\xf0\x9f\x98".decode("utf-8", errors)
    dec = sf_cl100k.decoder(errors="strict")
    assert dec.step(ids) == "ok"
    with pytest.raises(seqfast.DecodeError):
        dec.finish()


# ---------------------------------------------------------------------------------------------
# 100k hypothesis strings: 100 examples of 1000 strings each, batch-encoded on both sides
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.peer
@pytest.mark.skipif(
    not os.environ.get("SEQFAST_HYPOTHESIS_100K"),
    reason="~4 min of hypothesis generation: set SEQFAST_HYPOTHESIS_100K=1 (CI runs the 1k sample)",
)
@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(mixed_text, min_size=1000, max_size=1000))
def test_100k_hypothesis_strings(sf_cl100k, tiktoken_enc, texts):
    batch = sf_cl100k.encode_batch(texts, special="text")
    want = tiktoken_enc.encode_ordinary_batch(texts)
    for i, w in enumerate(want):
        got = batch[i].tolist()
        assert got == w, f"text {i} {texts[i][:60]!r}: {_first_diff(got, w)}"
    assert sf_cl100k.decode(batch.ids) == "".join(texts)


@settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(mixed_text, min_size=200, max_size=200))
def test_1k_hypothesis_strings_fast(sf_cl100k, tiktoken_enc, texts):
    batch = sf_cl100k.encode_batch(texts, special="text")
    assert batch.to_list() == tiktoken_enc.encode_ordinary_batch(texts)
