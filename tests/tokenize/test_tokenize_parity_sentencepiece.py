"""sentencepiece `.model` files: seqfast against `SentencePieceProcessor` itself.

Models (BPE, Unigram, char, word; with and without byte_fallback; nmt_nfkc, identity and a
custom rule-table normalization; user-defined and control symbols, split_digits, no dummy
prefix, whitespace as suffix) are trained at test time on a small generated corpus. For each,
ids and decoded text must equal sentencepiece's on hypothesis text of every kind (all Unicode
planes, combining marks, CJK, emoji, control characters, long whitespace runs). Corrupted and
truncated model bytes must raise `seqfast.FormatError` (or load a model that still works),
never crash. The slow pure-Python Unigram reference is checked against HF `tokenizers` too.
"""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _paths import DATA
from conftest import TEXT_STRATEGIES

import seqfast
from seqfast._sentencepiece import SentencePieceTokenizer, from_sentencepiece

spm = pytest.importorskip("sentencepiece")

CHECK = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))

_WORDS = ["hello", "world", "the", "quick", "brown", "fox", "naïve", "café", "日本語", "テキスト", "中文", "한국어",
          "12345", "2024", "3.14", "emoji😀", "👍🏽", "straße", "ｆｕｌｌ", "ﬁne", "Ωμέγα", "привет", "e\u0301t\u0301e",
          "don't", "x=1;", "<sep>", "\u3000", "tab\tx", "①②", "™"]

CONFIGS = {
    "unigram": dict(model_type="unigram", vocab_size=500),
    "bpe": dict(model_type="bpe", vocab_size=500),
    "unigram_byte_fallback": dict(model_type="unigram", vocab_size=500, byte_fallback=True),
    "bpe_byte_fallback": dict(model_type="bpe", vocab_size=500, byte_fallback=True),
    "unigram_identity": dict(model_type="unigram", vocab_size=500, normalization_rule_name="identity"),
    "bpe_identity": dict(model_type="bpe", vocab_size=500, normalization_rule_name="identity", byte_fallback=True),
    "bpe_user": dict(model_type="bpe", vocab_size=500, user_defined_symbols=["<sep>", "fox", "日本", " x"],
                     split_digits=True, control_symbols=["<ctl>"]),
    "unigram_user": dict(model_type="unigram", vocab_size=500, user_defined_symbols=["<sep>", "fox", "日本"],
                         split_digits=True, control_symbols=["<ctl>"]),
    "unigram_nfkc_cf": dict(model_type="unigram", vocab_size=500, normalization_rule_name="nmt_nfkc_cf"),
    "unigram_rules": dict(model_type="unigram", vocab_size=500,
                          normalization_rule_tsv=str(DATA / "charsmap_rules.tsv")),
    "unigram_raw_spaces": dict(model_type="unigram", vocab_size=500, add_dummy_prefix=False,
                               remove_extra_whitespaces=False),
    "bpe_suffix": dict(model_type="bpe", vocab_size=500, treat_whitespace_as_suffix=True),
    "char": dict(model_type="char", vocab_size=400),
    "word": dict(model_type="word", vocab_size=400),
}


def _corpus(path: str) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(4000):
            f.write(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 12))) + "\n")


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("spm")
    corpus = str(d / "corpus.txt")
    _corpus(corpus)
    out = {}
    for name, kw in CONFIGS.items():
        prefix = str(d / name)
        spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, minloglevel=2, hard_vocab_limit=False,
                                       character_coverage=0.98, **kw)
        path = prefix + ".model"
        out[name] = (path, spm.SentencePieceProcessor(model_file=path), from_sentencepiece(path))
    return out


def _same(ref, ours, text: str) -> None:
    want = ref.encode(text)
    got = ours.encode(text)
    assert got.dtype == np.uint32
    assert got.tolist() == want, (text, ref.encode(text, out_type=str), [ours.id_to_token(i) for i in got.tolist()])
    assert ours.decode(got) == ref.decode(want), text


FIXED = ["", " ", "   ", "hello world", "  hello   world  ", "naïve café 日本語 テキスト", "x<sep>y fox日本語",
         "ﬁne ｆｕｌｌ 2024 12345 ①②", "emoji😀😀 \t tab\nnewline", "unknown ☃ ☃☃ ä 𝔘𝔫𝔦", "\x00a\x01b\x7f",
         "e\u0301 Å ｘｙ ™", "<ctl> <s> </s> <unk>", " " * 500 + "a" + "\u3000" * 50, "a" * 3000]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fixed_texts(models, name):
    _, ref, ours = models[name]
    assert ours.vocab_size == ref.get_piece_size()
    for t in FIXED:
        _same(ref, ours, t)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("kind", list(TEXT_STRATEGIES) + ["all_planes", "controls"])
def test_hypothesis_text(models, name, kind):
    _, ref, ours = models[name]
    if kind == "all_planes":
        strat = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
    elif kind == "controls":
        strat = st.text(st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f", "\x85", "a", " ", "日", "\u200b"]), max_size=40)
    else:
        strat = TEXT_STRATEGIES[kind]

    @CHECK
    @given(text=strat)
    def check(text):
        _same(ref, ours, text)

    check()


@pytest.mark.parametrize("name", ["unigram_byte_fallback", "bpe", "word"])
def test_decode_random_ids(models, name):
    _, ref, ours = models[name]
    rng = random.Random(1)
    n = ref.get_piece_size()
    for _ in range(200):
        ids = [rng.randrange(n) for _ in range(rng.randint(0, 12))]
        assert ours.decode(ids) == ref.decode(ids), ids
    with pytest.raises(seqfast.SeqfastError):
        ours.decode([n])


@pytest.mark.parametrize("name", ["unigram", "bpe_byte_fallback"])
def test_batch_and_threads(models, name):
    _, ref, ours = models[name]
    rng = random.Random(2)
    texts = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    b1 = ours.encode_batch(texts, num_threads=1)
    b2 = ours.encode_batch(texts, num_threads=2)
    assert isinstance(b1, seqfast.tokenizer.EncodingBatch)
    assert np.array_equal(b1.ids, b2.ids) and np.array_equal(b1.row_offsets, b2.row_offsets)
    assert [r.tolist() for r in b1] == ref.encode(texts)
    assert len(ours.encode_batch([]).ids) == 0
    with pytest.raises(seqfast.ArgumentTypeError):
        ours.encode_batch("a str")
    with pytest.raises(seqfast.ArgumentTypeError):
        ours.encode_batch(["a", 3])


def test_api_and_pickle(models):
    path, ref, ours = models["bpe_user"]
    assert isinstance(ours, SentencePieceTokenizer)
    assert "bpe" in repr(ours)
    assert ours.model_type == "bpe"
    for i in range(ref.get_piece_size()):
        p = ref.id_to_piece(i)
        assert ours.id_to_token(i) == p
        assert ours.token_to_id(p) == i
        assert ours.piece_to_id(p) == ref.piece_to_id(p)
    assert ours.token_to_id("not a piece at all") is None
    assert ours.piece_to_id("not a piece at all") == ref.piece_to_id("not a piece at all") == ours.unk_id
    assert ours.id_to_token(10**6) is None
    assert ours.bos_id == ref.bos_id() and ours.eos_id == ref.eos_id() and ref.pad_id() == -1 and ours.pad_id is None
    assert ours.normalize(" Hello  ｆｕｌｌ ") == ref.normalize(" Hello  ｆｕｌｌ ")
    back = pickle.loads(pickle.dumps(ours))
    assert back.encode("fox日本語 <sep> 123").tolist() == ours.encode("fox日本語 <sep> 123").tolist()
    assert len(pickle.dumps(ours)) < os.path.getsize(path) + 300
    with open(path, "rb") as f:
        assert SentencePieceTokenizer.from_bytes(f.read()).vocab_size == ours.vocab_size
    assert seqfast.Tokenizer.from_sentencepiece(path).encode("hello").tolist() == ref.encode("hello")
    with pytest.raises(seqfast.ArgumentTypeError):
        ours.encode(b"bytes")
    with pytest.raises(FileNotFoundError):
        from_sentencepiece(os.path.join(os.path.dirname(path), "missing.model"))


def _load_mutated(data: bytes):
    try:
        m = SentencePieceTokenizer.from_bytes(data, "mutated.model")
    except seqfast.FormatError as e:
        assert "mutated.model" in str(e)
        return
    # It loaded: it must still encode and decode without crashing.
    for t in ["hello world", "日本語 ①", "", "\x00 x"]:
        try:
            ids = m.encode(t)
        except seqfast.SeqfastError:
            continue
        m.decode(ids)


@pytest.mark.parametrize("name", ["unigram_byte_fallback", "bpe_user", "unigram_nfkc_cf"])
def test_corrupted_models_never_crash(models, name):
    path = models[name][0]
    with open(path, "rb") as f:
        data = f.read()

    @FUZZ
    @given(edits=st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=6),
           cut=st.integers(0, len(data)))
    def check(edits, cut):
        b = bytearray(data[:cut] if cut % 3 == 0 else data)
        for i, v in edits:
            if i < len(b):
                b[i] = v
        _load_mutated(bytes(b))

    check()
    for n in list(range(0, 64)) + list(range(len(data) - 64, len(data))):
        _load_mutated(data[:n])


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(data):
    _load_mutated(data)


def test_reference_unigram_matches_hf():
    tokenizers = pytest.importorskip("tokenizers")
    from reference.unigram import UnigramRef

    rng = random.Random(3)
    alpha = ["a", "b", "c", "é", "日", "<", ">", "x", "😀"]
    for _ in range(200):
        vocab = [("".join(rng.choice(alpha) for _ in range(rng.randint(1, 4))), round(rng.uniform(-8, 2), 1))
                 for _ in range(rng.randint(1, 20))]
        unk = rng.choice([None] + list(range(len(vocab))))
        bf = rng.random() < 0.5
        if bf:
            vocab += [(f"<0x{b:02X}>", -3.0) for b in (0x61, 0xE6, 0x97, 0xA5, 0x78)]
        ref = UnigramRef(vocab, unk, bf)
        hf = tokenizers.Tokenizer(tokenizers.models.Unigram(vocab, unk, bf))
        for _ in range(10):
            s = "".join(rng.choice(alpha + ["q", "<unk>"]) for _ in range(rng.randint(0, 10)))
            try:
                want = hf.encode(s).ids
            except Exception:
                with pytest.raises(KeyError):
                    ref.encode(s)
                continue
            assert ref.encode(s) == want, (vocab, unk, bf, s)
