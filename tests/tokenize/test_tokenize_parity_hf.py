"""seqfast against Hugging Face ``tokenizers`` (the peer), both directions, plus file round trips.

* HF -> seqfast: byte-level BPE tokenizers trained by HF at test time (GPT-2 style ByteLevel with
  and without ``add_prefix_space``; Llama-3 style Split(regex) + ByteLevel(use_regex=False), with
  and without ``ignore_merges``; the same Split with tiktoken's cl100k / gpt2 regexes verbatim, as
  transformers' TikTokenConverter writes them), saved as ``tokenizer.json`` and loaded with
  ``seqfast.Tokenizer.from_file``: same ids as HF ``encode(text, add_special_tokens=False)``.
* seqfast -> HF: ``seqfast.train_bpe`` (gpt2 / cl100k / o200k, tiktoken's cl100k regex given
  literally, a custom regex using ``$``) and the cl100k tiktoken tokenizer, saved with
  ``Tokenizer.save`` and loaded with ``tokenizers.Tokenizer.from_file``.
* Round trips without a peer: save/from_file, to_str/from_str, pickle, save_tiktoken/from_tiktoken.

HF always splits added (special) tokens out of the text, so seqfast is called with
``special="special"`` wherever the text may contain one.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import seqfast
from conftest import TEXT_STRATEGIES, mixed_text, stdlib_sample

from reference import bpe

DEFAULT = settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SMALL = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))

EOT = "<|endoftext|>"

# Llama-3's pre-tokenizer regex (cl100k-like; no possessive quantifiers, no `$`).
LLAMA3_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# A user's regex: `$` is the end of the text for seqfast (Rust regex); Oniguruma (HF) reads it
# as the end of a line, so a faithful tokenizer.json must spell it differently.
CUSTOM_DOLLAR = r"[^\s\p{N}]+|\p{N}{1,3}|\s+$|\s"
# A corpus whose texts end in runs of whitespace, so that `\s+$` pieces become tokens.
_DOLLAR_CORPUS = ["word  ", "more   ", "x\t ", "a b c  ", "end \n ", "twice  \n"] * 10
_DOLLAR_TEXTS = ["a  \nb", "x   \n\ny", "end  ", "a \t\nb  ", "  \n  \n", "line  \r\nnext"]

_GENERATED = [
    "héllo wörld ünïcode naïve café résumé Ǆungla ",
    "日本語のテキスト、中文文本。한국어 텍스트 ",
    "emoji 🎉🎉 🙂🙂 👍🏽 👨‍👩‍👧 and flags 🇫🇷 ",
    "numbers 12345 67890 3.14159 2**32 0xFF ١٢٣ ",
    "   spaces   and\ttabs\t\tand\r\nCRLF\r\n lines\n\n\n  \u00a0 \u3000 ",
    "don't I'LL we've THEY'RE it's 'S ",
    f"first document{EOT}second document {EOT} third",
]


def _train_corpus() -> list[str]:
    return [t for _, t in stdlib_sample(40, max_chars=20_000)] + [g * 20 for g in _GENERATED]


def _sample_texts() -> list[str]:
    return [t for _, t in stdlib_sample(150, max_chars=8_000)] + [g * 3 for g in _GENERATED] + ["", " ", "\n", "a"]


def _first_diff(got: list[int], want: list[int]) -> str:
    n = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return f"first difference at token {n}: seqfast {got[max(0, n - 3):n + 4]} vs HF {want[max(0, n - 3):n + 4]} (lengths {len(got)} vs {len(want)})"


def _hf_ids(hf, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]


def _assert_same_as_hf(sf, hf, texts: list[str], special: str = "special") -> None:
    want = _hf_ids(hf, texts)
    batch = sf.encode_batch(texts, special=special)
    bad = []
    for i, (text, ids, w) in enumerate(zip(texts, batch, want)):
        got = ids.tolist()
        if got != w:
            bad.append(f"text {i} {text[:60]!r}: {_first_diff(got, w)}")
    assert not bad, f"{len(bad)} of {len(texts)} texts differ:\n" + "\n".join(bad[:8])


# Hypothesis text for the HF comparisons: fragments, the special token, broad characters.
_HF_FRAGMENTS = st.sampled_from([EOT, "<|", "|>", "<|endof", " ", "  ", "\n", "\r\n", "\t", "a", "é", "日", "😀", "'s", "'LL", "123"])
hf_text = st.one_of(
    st.lists(st.one_of(_HF_FRAGMENTS, mixed_text), max_size=10).map("".join),
    TEXT_STRATEGIES["broad"],
    TEXT_STRATEGIES["whitespace"],
    TEXT_STRATEGIES["contractions"],
    TEXT_STRATEGIES["digits"],
    TEXT_STRATEGIES["emoji"],
    TEXT_STRATEGIES["combining"],
    TEXT_STRATEGIES["cjk"],
)


def _EXAMPLES(f):
    """Always-tried examples (regex corner cases: digit runs, whitespace before newlines)."""
    for text in ["0000", "1234567", "a  \nb", "x \n\n y", "end  ", f"a{EOT}b", " 'S 'll", "\r\n\r\n  x"]:
        f = example(text=text)(f)
    return f


# ---------------------------------------------------------------------------
# HF-trained tokenizers loaded into seqfast
# ---------------------------------------------------------------------------

HF_VARIANTS = ["bytelevel", "bytelevel_prefix_space", "llama3", "llama3_ignore_merges", "cl100k_regex", "gpt2_regex"]

# Split regexes by variant. tiktoken's own cl100k / gpt2 regexes verbatim: HF runs them with
# Oniguruma (Ruby syntax: `$` also matches before a newline, and `\p{N}{1,3}+` is a repeated
# interval, not a possessive one), and seqfast must do what HF does with the file it is given.
_SPLIT_PATTERNS = {
    "llama3": LLAMA3_PATTERN,
    "llama3_ignore_merges": LLAMA3_PATTERN,
    "cl100k_regex": bpe.PATTERNS["cl100k"],
    "gpt2_regex": bpe.PATTERNS["gpt2"],
}


def _train_hf(variant: str):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers

    hf = tokenizers.Tokenizer(models.BPE(ignore_merges=variant.endswith("ignore_merges")))
    if variant.startswith("bytelevel"):
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=variant.endswith("prefix_space"))
    else:
        hf.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(_SPLIT_PATTERNS[variant]), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[EOT],
        show_progress=False,
    )
    hf.train_from_iterator(_train_corpus(), trainer)
    return hf


@pytest.fixture(scope="module", params=HF_VARIANTS)
def hf_trained(request, tmp_path_factory):
    """(variant, HF tokenizer, seqfast tokenizer loaded from HF's saved tokenizer.json, path)."""
    hf = _train_hf(request.param)
    path = tmp_path_factory.mktemp("hf") / f"{request.param}.json"
    hf.save(str(path))
    if request.param.endswith("ignore_merges"):
        assert json.loads(path.read_text("utf-8"))["model"]["ignore_merges"] is True
    sf = seqfast.Tokenizer.from_file(path)
    return request.param, hf, sf, path


@pytest.mark.peer
def test_hf_trained_loads(hf_trained):
    _, hf, sf, _ = hf_trained
    assert sf.special_tokens == {EOT: hf.token_to_id(EOT)}
    assert sf.vocab_size == hf.get_vocab_size()
    # Every HF token (stored in GPT-2's byte-level alphabet) has the same id in seqfast.
    to_byte = bpe.unicode_to_bytes()
    for token, i in hf.get_vocab().items():
        raw = token.encode() if token == EOT else bytes(to_byte[c] for c in token)
        assert sf.token_to_id(raw) == i, token
        assert sf.token_to_id(token) == i, token
        assert sf.id_to_token(i) == token  # HF's token string (the byte-level alphabet)


@pytest.mark.peer
def test_hf_trained_stdlib(hf_trained):
    _, hf, sf, _ = hf_trained
    _assert_same_as_hf(sf, hf, _sample_texts())


@pytest.mark.peer
def test_hf_trained_hypothesis(hf_trained):
    _, hf, sf, _ = hf_trained

    @DEFAULT
    @given(text=hf_text)
    @_EXAMPLES
    def check(text):
        want = hf.encode(text, add_special_tokens=False).ids
        got = sf.encode(text, special="special").tolist()
        assert got == want, f"{text!r}: {_first_diff(got, want)}"
        assert sf.decode(got) == hf.decode(want, skip_special_tokens=False)

    check()


@pytest.mark.peer
def test_hf_trained_resave_loads_in_hf(hf_trained, tmp_path):
    """HF file -> seqfast -> seqfast.save -> HF: still HF's ids."""
    _, hf, sf, _ = hf_trained
    tokenizers = pytest.importorskip("tokenizers")
    path = tmp_path / "resaved.json"
    sf.save(path)
    hf2 = tokenizers.Tokenizer.from_file(str(path))
    texts = _sample_texts()[::3]
    assert _hf_ids(hf2, texts) == _hf_ids(hf, texts)
    sf2 = seqfast.Tokenizer.from_file(path)
    assert sf2.encode_batch(texts, special="special").to_list() == sf.encode_batch(texts, special="special").to_list()


# ---------------------------------------------------------------------------
# seqfast-trained tokenizers loaded into HF
# ---------------------------------------------------------------------------


# Patterns for seqfast.train_bpe: the built-in names, tiktoken's cl100k regex given literally
# (possessive quantifiers, `$`), and a custom regex whose `$` means end of text.
SF_PATTERNS = {
    "gpt2": "gpt2",
    "cl100k": "cl100k",
    "o200k": "o200k",
    "cl100k_literal": bpe.PATTERNS["cl100k"],
    "custom_dollar": CUSTOM_DOLLAR,
}


@pytest.fixture(scope="module", params=list(SF_PATTERNS))
def sf_trained(request, tmp_path_factory):
    """(pattern, seqfast tokenizer trained at test time, its saved tokenizer.json path)."""
    pattern = SF_PATTERNS[request.param]
    tok = seqfast.train_bpe(texts=_train_corpus(), vocab_size=1000, pattern=pattern, special_tokens=[EOT])
    assert tok.vocab_size == 1000
    path = tmp_path_factory.mktemp("sf") / f"{request.param}.json"
    tok.save(path)
    return request.param, tok, path


@pytest.mark.peer
def test_sf_trained_in_hf_stdlib(sf_trained):
    tokenizers = pytest.importorskip("tokenizers")
    _, tok, path = sf_trained
    hf = tokenizers.Tokenizer.from_file(str(path))
    assert hf.get_vocab_size() == tok.vocab_size
    assert hf.token_to_id(EOT) == tok.special_tokens[EOT]
    _assert_same_as_hf(tok, hf, _sample_texts())


@pytest.mark.peer
def test_sf_trained_in_hf_hypothesis(sf_trained):
    tokenizers = pytest.importorskip("tokenizers")
    _, tok, path = sf_trained
    hf = tokenizers.Tokenizer.from_file(str(path))

    @DEFAULT
    @given(text=hf_text)
    @_EXAMPLES
    def check(text):
        want = hf.encode(text, add_special_tokens=False).ids
        got = tok.encode(text, special="special").tolist()
        assert got == want, f"{text!r}: {_first_diff(got, want)}"

    check()


@pytest.fixture(scope="module")
def hf_cl100k(sf_cl100k, tmp_path_factory):
    """The 100k-vocab tiktoken tokenizer saved by seqfast as tokenizer.json, loaded by HF."""
    tokenizers = pytest.importorskip("tokenizers")
    path = tmp_path_factory.mktemp("cl100k") / "cl100k.json"
    sf_cl100k.save(path)
    return tokenizers.Tokenizer.from_file(str(path))


_CL100K_EXTRA = ["a \n\nb", "x   \n  y", "trailing spaces   \n   ", "foo\r\n\r\nbar", "  \n\n  \t\n", "end   "]


@pytest.mark.peer
def test_cl100k_saved_loads_in_hf(sf_cl100k, tiktoken_enc, hf_cl100k):
    """HF on seqfast's cl100k tokenizer.json gives tiktoken's ids (modest sample, ordinary text)."""
    texts = [t for _, t in stdlib_sample(25, max_chars=5_000)] + [g * 2 for g in _GENERATED if EOT not in g] + _CL100K_EXTRA
    _assert_same_as_hf(sf_cl100k, hf_cl100k, texts, special="text")
    for text in texts:
        assert sf_cl100k.encode(text, special="text").tolist() == tiktoken_enc.encode_ordinary(text)


@pytest.mark.peer
def test_cl100k_saved_specials_in_hf(sf_cl100k, tiktoken_enc, hf_cl100k):
    """cl100k's special ids have a gap (100261..100275 unused): HF must still see 100257..100276."""
    assert {s: hf_cl100k.token_to_id(s) for s in sf_cl100k.special_tokens} == sf_cl100k.special_tokens
    texts = [f"a{s}b {s}" for s in sf_cl100k.special_tokens] + [g * 2 for g in _GENERATED]
    _assert_same_as_hf(sf_cl100k, hf_cl100k, texts)
    for text in texts:
        assert sf_cl100k.encode(text, special="special").tolist() == tiktoken_enc.encode(text, allowed_special="all")


@pytest.mark.peer
def test_custom_regex_with_dollar_in_hf():
    """A user regex with `$` (end of text in seqfast) must keep its meaning in tokenizer.json."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = seqfast.train_bpe(texts=_DOLLAR_CORPUS, vocab_size=300, pattern=CUSTOM_DOLLAR, min_frequency=1)
    assert tok.token_to_id(b"  ") is not None
    # seqfast's own encoding follows the reference pre-tokenizer (`$` = end of text).
    ids = tok.encode("a  \nb").tolist()
    assert [tok.id_to_token(i) for i in ids] == [b"a", b" ", b" ", b"\n", b"b"]
    hf = tokenizers.Tokenizer.from_str(tok.to_str())
    _assert_same_as_hf(tok, hf, _DOLLAR_TEXTS)


# ---------------------------------------------------------------------------
# Round trips (seqfast only)
# ---------------------------------------------------------------------------


def _same_tokenizer(a, b, texts: list[str]) -> None:
    assert a.vocab_size == b.vocab_size
    assert a.special_tokens == b.special_tokens
    # (pattern_regex may be spelled differently, e.g. gpt2 comes back as HF's ByteLevel regex)
    assert a.encode_batch(texts, special="special").to_list() == b.encode_batch(texts, special="special").to_list()


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k", "o200k", r"\S+|\s+", bpe.PATTERNS["cl100k"], CUSTOM_DOLLAR])
def test_trained_save_load_round_trip(tmp_path, pattern):
    tok = seqfast.train_bpe(texts=_train_corpus(), vocab_size=700, pattern=pattern, special_tokens=[EOT, "<pad>"])
    path = tmp_path / "tok.json"
    tok.save(path)
    texts = _sample_texts()[::2]
    loaded = seqfast.Tokenizer.from_file(path)
    _same_tokenizer(tok, loaded, texts)
    assert loaded.vocab() == tok.vocab()
    assert tok.to_str() == path.read_text("utf-8")
    _same_tokenizer(tok, seqfast.Tokenizer.from_str(tok.to_str()), texts)
    _same_tokenizer(tok, pickle.loads(pickle.dumps(tok)), texts)
    # Saving the loaded one again gives the same document.
    assert loaded.to_str() == tok.to_str()


def test_custom_regex_with_dollar_round_trip(tmp_path):
    tok = seqfast.train_bpe(texts=_DOLLAR_CORPUS, vocab_size=300, pattern=CUSTOM_DOLLAR, min_frequency=1)
    path = tmp_path / "tok.json"
    tok.save(path)
    _same_tokenizer(tok, seqfast.Tokenizer.from_file(path), _DOLLAR_TEXTS)


def test_cl100k_save_load_round_trip(sf_cl100k, tmp_path):
    path = tmp_path / "cl100k.json"
    sf_cl100k.save(path)
    loaded = seqfast.Tokenizer.from_file(path)
    texts = [t for _, t in stdlib_sample(100, max_chars=10_000)] + [g * 2 for g in _GENERATED]
    _same_tokenizer(sf_cl100k, loaded, texts)


@SMALL
@given(text=hf_text)
def test_cl100k_save_load_round_trip_hypothesis(sf_cl100k, cl100k_reloaded, text):
    assert cl100k_reloaded.encode(text, special="special").tolist() == sf_cl100k.encode(text, special="special").tolist()


@pytest.fixture(scope="module")
def cl100k_reloaded(sf_cl100k, tmp_path_factory):
    path = tmp_path_factory.mktemp("cl") / "cl100k.json"
    sf_cl100k.save(path)
    return seqfast.Tokenizer.from_file(path)


def test_cl100k_pickle_round_trip(sf_cl100k):
    loaded = pickle.loads(pickle.dumps(sf_cl100k))
    texts = [t for _, t in stdlib_sample(60, max_chars=10_000)] + [g * 2 for g in _GENERATED]
    _same_tokenizer(sf_cl100k, loaded, texts)
    assert loaded.special_tokens == sf_cl100k.special_tokens


def test_cl100k_save_tiktoken_round_trip(sf_cl100k, cl100k_path, tmp_path):
    path = tmp_path / "cl100k_base.tiktoken"
    sf_cl100k.save_tiktoken(path)
    with open(cl100k_path, "rb") as f:
        original = f.read()
    saved = path.read_bytes()
    assert len(saved) == len(original)
    assert sorted(saved.split(b"\n")) == sorted(original.split(b"\n"))  # identical modulo line order
    loaded = seqfast.Tokenizer.from_tiktoken(path, "cl100k")
    assert loaded.merge_rule == "ranks"
    texts = [t for _, t in stdlib_sample(100, max_chars=10_000)] + [g * 2 for g in _GENERATED]
    _same_tokenizer(sf_cl100k, loaded, texts)
    ids = loaded.encode("hello world", special="special")
    assert isinstance(ids, np.ndarray) and ids.dtype == np.uint32
