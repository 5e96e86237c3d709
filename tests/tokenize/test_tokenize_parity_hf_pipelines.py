"""Every Hugging Face tokenizer.json pipeline, differentially against ``tokenizers`` (issue 15).

Each shape of ``tests/_hf_shapes.py`` (GPT-2, RoBERTa, BERT cased/uncased, Llama 2, Mistral,
Llama 3, Qwen2, Gemma, T5, mT5, XLM-R, ALBERT, Whisper, WordLevel and the component exercises) is
built at test time, saved as tokenizer.json, and loaded by both ``tokenizers.Tokenizer.from_file``
and ``seqfast.Tokenizer.from_file``. Every test is parametrized by shape, so a failure names the
family (``test_encode_hard_strings[llama2]``). What is compared with HF:

* ``encode(text)`` ids (HF's defaults: post-processor specials added, added tokens matched),
  with ``add_special_tokens=False``, with a pair, and ``return_offsets=True`` offsets;
* ``encode_batch`` with every metadata array (offsets, type ids, special-tokens mask, word ids,
  attention mask), single texts and pairs, against HF ``encode_batch``;
* ``encode_batch`` == a loop of ``encode``, at 1 and 2 threads;
* ``decode(ids, skip_special_tokens=...)`` both ways, on HF's ids and on random id lists;
* ``save`` -> HF loads the file and answers as the original; seqfast reloads it too;
* truncation / padding read from the file; overflow pieces (xfail until the API settles);
* an unknown component type -> ``seqfast.FormatError`` naming it and its place;

on hand-picked hard strings with each shape's added tokens glued to words, on the generated
multilingual corpus, and on hypothesis text (all planes, combining marks, CJK, emoji, whitespace
runs, digits, added-token fragments).

HF's ``Tokenizer.decode`` defaults to ``skip_special_tokens=True``; seqfast's to False: the
tests always pass it explicitly.
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")

import seqfast
from conftest import TEXT_STRATEGIES, mixed_text

import _hf_shapes as shapes
from _paths import ROOT

pytestmark = pytest.mark.peer

SHAPE_NAMES = list(shapes.SHAPES)
HYP = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
FEW = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))

META = ("offsets", "type_ids", "special_tokens_mask", "word_ids", "attention_mask")
ALL_META = dict(return_offsets=True, return_type_ids=True, return_special_tokens_mask=True, return_word_ids=True,
                return_attention_mask=True)


# ---------------------------------------------------------------------------
# Fixtures: one built shape (HF side) and its seqfast twin per parameter, cached per session
# ---------------------------------------------------------------------------


def _needs(name: str) -> None:
    if name in shapes.SPM_SHAPES:
        pytest.importorskip("sentencepiece")
        pytest.importorskip("google.protobuf")
        pytest.importorskip("transformers.convert_slow_tokenizer")


_BUILT: dict[str, shapes.Built] = {}


def _build(name: str, tmp_path_factory) -> shapes.Built:
    _needs(name)
    if name not in _BUILT:
        _BUILT[name] = shapes.build(name, tmp_path_factory.mktemp(f"hf_{name}"))
    return _BUILT[name]


@pytest.fixture(scope="session", params=SHAPE_NAMES)
def built(request, tmp_path_factory) -> shapes.Built:
    return _build(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def sf(built):
    """seqfast's tokenizer from the very file HF loaded."""
    return seqfast.Tokenizer.from_file(built.path)


# ---------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------


def _glued(added: list[str]) -> list[str]:
    """Each added token glued to words, spaced, doubled, at the ends, next to newlines."""
    out = []
    for a in added[:12]:
        out += [a, f"x{a}y", f"word{a}", f"{a}word", f" {a} ", f"  {a}  tail", f"{a}{a}", f"a {a}b", f"\n{a}\n",
                f"{a}\t{a} ", f"Hé{a}日本{a}😀", f"{a[:-1]}", f"{a[1:]}", a.upper(), f"{a} {a.lower()}"]
    if len(added) > 1:
        out.append("".join(added[:8]))
        out.append(" ".join(added[:8]) + " end")
    return out


def hard_texts(b: shapes.Built) -> list[str]:
    return shapes.HARD_STRINGS + _glued(b.added)


def hard_pairs(b: shapes.Built) -> list[tuple[str, str]]:
    texts = hard_texts(b)
    rot = texts[7:] + texts[:7]
    return [(a, p) for a, p in zip(texts, rot)][:60] + [("", ""), ("a", ""), ("", "b")]


def corpus_texts() -> list[str]:
    lines = list(shapes.generated_corpus())[:400]
    docs = ["".join(lines[i:i + 20]) for i in range(0, len(lines), 20)]
    return docs + [t[:3000] for t in shapes.stdlib_corpus(8)]


_PIECES = ["", " ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \t ", "▁", "▁▁", "##", "</w>", "<0x41>", "e\u0301", "\u0301",
           "日本", "語", "😀", "👨\u200d👩\u200d👧", "👍🏽", "🇫🇷", "\x00", "\x7f", "\x1c", "\u200b", "\ufeff", "\xa0", "\u3000",
           "ß", "İ", "ﬁ", "Σ", "ǅ", "123", "4", "١٢", "½", "'s", "'LL", ".", ",", "|", "-", "_", "Hello", "hello", "HELLO",
           "world", "wörld", "café", "a", "Z", "क्ष", "ก่", "مر", "Ё"]


# Every plane (private use, tags, noncharacters included); surrogates cannot cross into Rust.
ALL_PLANES = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)


def text_strategy(b: shapes.Built):
    pieces = st.sampled_from(_PIECES + b.added[:40])
    glued = st.lists(st.one_of(pieces, pieces, mixed_text), max_size=12).map("".join)
    return st.one_of(
        glued,
        glued,
        ALL_PLANES,
        TEXT_STRATEGIES["broad"],
        TEXT_STRATEGIES["mixed"],
        TEXT_STRATEGIES["emoji"],
        TEXT_STRATEGIES["combining"],
        TEXT_STRATEGIES["cjk"],
        TEXT_STRATEGIES["whitespace"],
        TEXT_STRATEGIES["digits"],
        TEXT_STRATEGIES["contractions"],
    )


# ---------------------------------------------------------------------------
# HF and seqfast answers as plain rows
# ---------------------------------------------------------------------------


def _hf_row(e) -> dict:
    return {
        "ids": list(e.ids),
        "offsets": [tuple(o) for o in e.offsets],
        "type_ids": list(e.type_ids),
        "special_tokens_mask": list(e.special_tokens_mask),
        "word_ids": [-1 if w is None else w for w in e.word_ids],
        "attention_mask": list(e.attention_mask),
        "tokens": list(e.tokens),
    }


def hf_rows(hf, texts, pairs=None, add_special_tokens=True) -> list[dict]:
    inputs = list(zip(texts, pairs)) if pairs is not None else list(texts)
    return [_hf_row(e) for e in hf.encode_batch(inputs, add_special_tokens=add_special_tokens)]


def _field(batch, name):
    v = getattr(batch, name, None)
    assert v is not None, f"EncodingBatch has no {name!r} although it was requested"
    return np.asarray(v)


def sf_rows(batch, n: int, fields=("ids",) + META) -> list[dict]:
    ids = _field(batch, "ids")
    rows = _field(batch, "row_offsets")
    assert ids.dtype == np.uint32, ids.dtype
    assert rows.dtype == np.int64 and rows.shape == (n + 1,), (rows.dtype, rows.shape)
    assert rows[0] == 0 and rows[-1] == len(ids)
    arrays = {}
    for f in fields:
        if f == "ids":
            continue
        a = _field(batch, f)
        want_dtype = {"offsets": np.int64, "type_ids": np.uint32, "special_tokens_mask": np.uint8, "word_ids": np.int64,
                      "attention_mask": np.uint8}[f]
        assert a.dtype == want_dtype, f"{f}: dtype {a.dtype}, expected {np.dtype(want_dtype)}"
        assert len(a) == len(ids), f"{f}: {len(a)} entries for {len(ids)} ids"
        if f == "offsets":
            assert a.shape == (len(ids), 2), a.shape
        arrays[f] = a
    out = []
    for i in range(n):
        s, e = int(rows[i]), int(rows[i + 1])
        r = {"ids": ids[s:e].tolist()}
        for f, a in arrays.items():
            r[f] = [tuple(x) for x in a[s:e].tolist()] if f == "offsets" else a[s:e].tolist()
        out.append(r)
    return out


def _first_diff(got: list, want: list) -> int:
    return next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))


def compare_rows(name: str, inputs: list, got: list[dict], want: list[dict], fields=("ids",) + META) -> None:
    """Assert every requested field of every row equal; the message shows the first few bad rows
    with HF's tokens around the first difference."""
    assert len(got) == len(want), f"{len(got)} rows, HF has {len(want)}"
    bad = []
    for i, (g, w) in enumerate(zip(got, want)):
        for f in fields:
            if f in g and g[f] != w[f]:
                k = _first_diff(g[f], w[f])
                lo = max(0, k - 3)
                bad.append(
                    f"[{name}] input {i} {inputs[i]!r:.90}: {f} differ at token {k} (lengths {len(g[f])} vs {len(w[f])})\n"
                    f"      seqfast {g[f][lo:k + 4]}\n      HF      {w[f][lo:k + 4]}\n"
                    f"      HF tokens {w['tokens'][lo:k + 4]}"
                )
                break
    assert not bad, f"{len(bad)} of {len(got)} inputs differ:\n" + "\n".join(bad[:6])


def hf_decode(hf, ids, skip: bool):
    """HF's decode, or None where HF fails: its Strip decoder with a right count panics on an
    empty token (``decoders.Strip(" ", 0, 1).decode([""])``, so decoding ``[]`` after Fuse), and
    pyo3's PanicException is a BaseException. There seqfast must answer or raise its own error."""
    try:
        return hf.decode(list(ids), skip_special_tokens=skip)
    except (Exception, BaseException) as e:  # noqa: B036
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return None


def sf_decode(sf, ids, skip: bool, want):
    if want is not None:
        return sf.decode(np.asarray(ids, dtype=np.uint32), skip_special_tokens=skip)
    try:
        sf.decode(np.asarray(ids, dtype=np.uint32), skip_special_tokens=skip)
    except seqfast.SeqfastError:
        pass
    return None


def _decode_mismatches(sf, hf, id_lists, flags=(False, True)) -> list[str]:
    bad = []
    for ids in id_lists:
        for skip in flags:
            want = hf_decode(hf, ids, skip)
            got = sf_decode(sf, ids, skip, want)
            if got != want:
                bad.append(f"ids {list(ids)[:16]} skip_special_tokens={skip}: seqfast {got!r:.80} HF {want!r:.80}")
    return bad


def _pads_batch(b: shapes.Built) -> bool:
    """Padding to the batch's longest row: encode_batch != a loop of encode there."""
    pad = b.json.get("padding")
    return bool(pad) and pad.get("strategy") == "BatchLongest"


# ---------------------------------------------------------------------------
# The HF side alone: the shapes are what they claim to be (passes without seqfast's support)
# ---------------------------------------------------------------------------

# (model, normalizer, pre_tokenizer, post_processor, decoder) of each shape's file; "-" = none.
EXPECTED_TYPES = {
    "gpt2": ("BPE", "-", "ByteLevel", "ByteLevel", "ByteLevel"),
    "roberta": ("BPE", "-", "ByteLevel", "RobertaProcessing", "ByteLevel"),
    "roberta_prefix": ("BPE", "-", "ByteLevel", "RobertaProcessing", "ByteLevel"),
    "bert_uncased": ("WordPiece", "BertNormalizer", "BertPreTokenizer", "TemplateProcessing", "WordPiece"),
    "bert_cased": ("WordPiece", "BertNormalizer", "BertPreTokenizer", "TemplateProcessing", "WordPiece"),
    "wordpiece_bertproc": ("WordPiece", "BertNormalizer", "BertPreTokenizer", "BertProcessing", "WordPiece"),
    "llama2": ("BPE", "Sequence", "-", "TemplateProcessing", "Sequence"),
    "mistral": ("BPE", "-", "Metaspace", "TemplateProcessing", "Sequence"),
    "metaspace_first": ("BPE", "-", "Metaspace", "-", "Metaspace"),
    "metaspace_always": ("Unigram", "-", "Metaspace", "-", "Metaspace"),
    "metaspace_never": ("BPE", "-", "Metaspace", "-", "Metaspace"),
    "llama3": ("BPE", "-", "Sequence", "Sequence", "ByteLevel"),
    "qwen2": ("BPE", "NFC", "Sequence", "ByteLevel", "ByteLevel"),
    "gemma": ("BPE", "Replace", "-", "TemplateProcessing", "Sequence"),
    "t5": ("Unigram", "Sequence", "Metaspace", "TemplateProcessing", "Metaspace"),
    "mt5_legacy": ("Unigram", "Precompiled", "Sequence", "TemplateProcessing", "Metaspace"),
    "xlmr": ("Unigram", "Sequence", "Metaspace", "TemplateProcessing", "Metaspace"),
    "albert": ("Unigram", "Sequence", "Metaspace", "TemplateProcessing", "Metaspace"),
    "whisper": ("BPE", "-", "ByteLevel", "TemplateProcessing", "ByteLevel"),
    "wordlevel": ("WordLevel", "-", "Whitespace", "-", "-"),
    "openai_gpt": ("BPE", "Sequence", "BertPreTokenizer", "-", "BPEDecoder"),
    "clip": ("BPE", "Sequence", "Sequence", "RobertaProcessing", "ByteLevel"),
    "extras_added": ("WordPiece", "Sequence", "Sequence", "-", "WordPiece"),
    "split_removed": ("BPE", "-", "Split", "-", "Sequence"),
    "split_isolated": ("BPE", "-", "Split", "-", "Replace"),
    "split_merged_with_previous": ("BPE", "-", "Split", "-", "-"),
    "split_merged_with_next": ("BPE", "-", "Split", "-", "-"),
    "split_contiguous": ("BPE", "-", "Split", "-", "-"),
    "split_invert": ("BPE", "-", "Split", "-", "Replace"),
    "char_delimiter": ("BPE", "-", "Sequence", "-", "Sequence"),
    "unicode_scripts": ("WordPiece", "Sequence", "Sequence", "-", "WordPiece"),
    "ctc": ("WordLevel", "Sequence", "Split", "-", "CTC"),
    "bert_trunc_pad": ("WordPiece", "BertNormalizer", "BertPreTokenizer", "TemplateProcessing", "WordPiece"),
    "llama3_trunc_pad_left": ("BPE", "-", "Sequence", "Sequence", "ByteLevel"),
}


def test_shape_files_are_what_they_claim(built):
    j = built.json
    got = (j["model"]["type"],) + tuple((j[k] or {}).get("type", "-") for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder"))
    assert got == EXPECTED_TYPES[built.name]
    assert built.hf.get_vocab_size(with_added_tokens=True) > 50
    contents = {a["content"] for a in j["added_tokens"]}
    for a in built.added:
        assert a in contents or a.lower() in contents, a
    # The pieces the shapes are about (checked on HF's own output).
    name, hf = built.name, built.hf
    if name == "llama2":
        assert j["model"]["byte_fallback"] and j["model"]["fuse_unk"]
        assert any(k.startswith("<0x") for k in hf.get_vocab())
    if name in ("t5", "xlmr", "albert"):
        assert any(n["type"] == "Precompiled" for n in j["normalizer"]["normalizers"])
    if name == "roberta":
        mask = next(a for a in j["added_tokens"] if a["content"] == "<mask>")
        assert mask["lstrip"] and mask["special"]
    if name == "bert_trunc_pad":
        assert j["truncation"]["max_length"] == 12 and j["padding"]["pad_to_multiple_of"] == 8
    if name == "llama3_trunc_pad_left":
        assert j["truncation"]["direction"] == "Left" and j["padding"]["direction"] == "Left"
    if name in ("llama2", "gemma"):  # converted as the real files were: sentencepiece's own ids
        spm = pytest.importorskip("sentencepiece")
        sp = spm.SentencePieceProcessor(model_file=os.path.join(os.path.dirname(built.path), f"{name.replace('2', '')}.model"))
        lines = list(shapes.generated_corpus())[:300]
        assert [sp.encode(t) for t in lines] == [hf.encode(t, add_special_tokens=False).ids for t in lines]
    # HF reloads its own file identically.
    again = tokenizers.Tokenizer.from_str(hf.to_str())
    for t in hard_texts(built)[:40]:
        assert again.encode(t).ids == hf.encode(t).ids


# ---------------------------------------------------------------------------
# seqfast against HF
# ---------------------------------------------------------------------------


def test_loads(built, sf):
    assert sf is not None


def test_encode_hard_strings(built, sf):
    texts = hard_texts(built)
    want = [built.hf.encode(t).ids for t in texts]
    got = [sf.encode(t).tolist() for t in texts]
    compare_rows(built.name, texts, [{"ids": g} for g in got],
                 [{"ids": w, "tokens": built.hf.encode(t).tokens} for w, t in zip(want, texts)], fields=("ids",))


def test_encode_returns_uint32(built, sf):
    ids = sf.encode("Hello world")
    assert isinstance(ids, np.ndarray) and ids.dtype == np.uint32 and ids.ndim == 1
    ids, offsets = sf.encode("Hello world", return_offsets=True)
    assert ids.dtype == np.uint32 and offsets.dtype == np.int64 and offsets.shape == (len(ids), 2)


def test_encode_offsets_hard_strings(built, sf):
    texts = hard_texts(built)
    got, want = [], []
    for t in texts:
        ids, offsets = sf.encode(t, return_offsets=True)
        got.append({"ids": ids.tolist(), "offsets": [tuple(o) for o in np.asarray(offsets).tolist()]})
        want.append(_hf_row(built.hf.encode(t)))
    compare_rows(built.name, texts, got, want, fields=("ids", "offsets"))


def test_encode_without_special_tokens(built, sf):
    texts = hard_texts(built)
    want = [_hf_row(built.hf.encode(t, add_special_tokens=False)) for t in texts]
    got = []
    for t in texts:
        ids, offsets = sf.encode(t, add_special_tokens=False, return_offsets=True)
        got.append({"ids": ids.tolist(), "offsets": [tuple(o) for o in np.asarray(offsets).tolist()]})
    compare_rows(built.name, texts, got, want, fields=("ids", "offsets"))


def test_encode_pair(built, sf):
    pairs = hard_pairs(built)
    got, want = [], []
    for a, b in pairs:
        ids, offsets = sf.encode(a, pair=b, return_offsets=True)
        got.append({"ids": ids.tolist(), "offsets": [tuple(o) for o in np.asarray(offsets).tolist()]})
        want.append(_hf_row(built.hf.encode(a, b)))
    compare_rows(built.name, pairs, got, want, fields=("ids", "offsets"))


def test_batch_metadata_hard_strings(built, sf):
    texts = hard_texts(built)
    batch = sf.encode_batch(texts, **ALL_META)
    compare_rows(built.name, texts, sf_rows(batch, len(texts)), hf_rows(built.hf, texts))


def test_batch_metadata_pairs(built, sf):
    pairs = hard_pairs(built)
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    batch = sf.encode_batch(a, pair=b, **ALL_META)
    compare_rows(built.name, pairs, sf_rows(batch, len(pairs)), hf_rows(built.hf, a, b))


def test_batch_metadata_without_special_tokens(built, sf):
    texts = hard_texts(built)
    batch = sf.encode_batch(texts, add_special_tokens=False, **ALL_META)
    compare_rows(built.name, texts, sf_rows(batch, len(texts)), hf_rows(built.hf, texts, add_special_tokens=False))


def test_batch_metadata_corpus(built, sf):
    texts = corpus_texts()
    batch = sf.encode_batch(texts, **ALL_META)
    compare_rows(built.name, texts, sf_rows(batch, len(texts)), hf_rows(built.hf, texts))


BENCH_DATA = str(ROOT / "bench-data")


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["en", "multi", "mixed"])
def test_batch_metadata_bench_corpora(built, sf, corpus):
    """The corpora of ../shared/corpus/build.sh (``bash ../shared/corpus/build.sh bench-data``):
    the first 256 KB of each, as ~4 KB documents, every metadata array equal to HF's."""
    path = os.path.join(BENCH_DATA, f"{corpus}.txt")
    if not os.path.isfile(path):
        pytest.skip(f"{path} not built (bash ../shared/corpus/build.sh bench-data)")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(256 << 10)
    docs = [text[i:i + 4096] for i in range(0, len(text), 4096)]
    batch = sf.encode_batch(docs, **ALL_META)
    compare_rows(built.name, docs, sf_rows(batch, len(docs)), hf_rows(built.hf, docs))


def test_batch_only_requested_metadata(built, sf):
    texts = ["Hello world", "", "日本語 😀"]
    batch = sf.encode_batch(texts)
    rows = sf_rows(batch, len(texts), fields=("ids",))
    assert [r["ids"] for r in rows] == [r["ids"] for r in hf_rows(built.hf, texts)]
    batch = sf.encode_batch(texts, return_word_ids=True)
    rows = sf_rows(batch, len(texts), fields=("ids", "word_ids"))
    assert [r["word_ids"] for r in rows] == [r["word_ids"] for r in hf_rows(built.hf, texts)]


@pytest.mark.parametrize("num_threads", [1, 2])
def test_batch_equals_loop(built, sf, num_threads):
    if _pads_batch(built):
        pytest.skip("padding to the batch's longest row: a batch differs from a loop by design (HF too)")
    texts = hard_texts(built) + corpus_texts()[:10]
    batch = sf.encode_batch(texts, return_offsets=True, num_threads=num_threads)
    rows = sf_rows(batch, len(texts), fields=("ids", "offsets"))
    bad = []
    for i, t in enumerate(texts):
        ids, offsets = sf.encode(t, return_offsets=True)
        if rows[i]["ids"] != ids.tolist() or rows[i]["offsets"] != [tuple(o) for o in np.asarray(offsets).tolist()]:
            bad.append(f"text {i} {t!r:.60}")
    assert not bad, f"encode_batch(num_threads={num_threads}) != encode loop for: " + "; ".join(bad[:8])


def test_decode_hard_strings(built, sf):
    texts = hard_texts(built)
    id_lists = [built.hf.encode(t).ids for t in texts] + [built.hf.encode(t, add_special_tokens=False).ids for t in texts]
    id_lists += [built.hf.encode(a, b).ids for a, b in hard_pairs(built)[:20]] + [[]]
    bad = _decode_mismatches(sf, built.hf, id_lists)
    assert not bad, f"[{built.name}] {len(bad)} decodes differ:\n" + "\n".join(bad[:8])


def test_decode_random_ids(built, sf):
    hf = built.hf
    n = hf.get_vocab_size(with_added_tokens=True)
    special = sorted({hf.token_to_id(a) for a in built.added if hf.token_to_id(a) is not None})
    pick = st.one_of(st.integers(0, n - 1), st.integers(0, min(n, 300) - 1), st.sampled_from(special or [0]))

    @HYP
    @given(ids=st.lists(pick, max_size=40))
    def check(ids):
        bad = _decode_mismatches(sf, hf, [ids])
        assert not bad, bad[0]

    check()


def test_hypothesis_text(built, sf):
    hf = built.hf

    @HYP
    @given(text=text_strategy(built))
    def check(text):
        e = hf.encode(text)
        ids, offsets = sf.encode(text, return_offsets=True)
        assert ids.tolist() == e.ids, f"{text!r}: ids seqfast {ids.tolist()[:20]} HF {e.ids[:20]} HF tokens {e.tokens[:20]}"
        got_off = [tuple(o) for o in np.asarray(offsets).tolist()]
        assert got_off == [tuple(o) for o in e.offsets], f"{text!r}: offsets seqfast {got_off[:20]} HF {e.offsets[:20]}"
        for skip in (False, True):
            want = hf_decode(hf, e.ids, skip)
            assert sf_decode(sf, ids, skip, want) == want, (text, skip)

    check()


def test_hypothesis_metadata_pairs(built, sf):
    hf = built.hf
    strat = text_strategy(built)

    @FEW
    @given(a=strat, b=strat, add=st.booleans())
    def check(a, b, add):
        batch = sf.encode_batch([a, b], pair=[b, ""], add_special_tokens=add, **ALL_META)
        compare_rows(built.name, [(a, b), (b, "")], sf_rows(batch, 2), hf_rows(hf, [a, b], [b, ""], add_special_tokens=add))

    check()


def test_save_round_trip(built, sf, tmp_path):
    path = tmp_path / "saved.json"
    sf.save(path)
    hf2 = tokenizers.Tokenizer.from_file(str(path))
    texts = hard_texts(built)
    compare_rows(built.name, texts, hf_rows(hf2, texts), hf_rows(built.hf, texts))
    pairs = hard_pairs(built)[:20]
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    compare_rows(built.name, pairs, hf_rows(hf2, a, b), hf_rows(built.hf, a, b))
    ids = [built.hf.encode(t).ids for t in texts]
    for i in ids:
        for skip in (False, True):
            assert hf_decode(hf2, i, skip) == hf_decode(built.hf, i, skip)
    sf2 = seqfast.Tokenizer.from_file(path)
    assert [sf2.encode(t).tolist() for t in texts] == [built.hf.encode(t).ids for t in texts]


# ---------------------------------------------------------------------------
# Truncation and padding from the file
# ---------------------------------------------------------------------------

TRUNC_SHAPES = list(shapes.TRUNC_PAD_SHAPES)


@pytest.fixture(scope="session", params=TRUNC_SHAPES)
def built_tp(request, tmp_path_factory) -> shapes.Built:
    return _build(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def sf_tp(built_tp):
    return seqfast.Tokenizer.from_file(built_tp.path)


_TP_TEXTS = ["", "a", "short text", "The quick brown fox jumps over the lazy dog. " * 3, "日本語のテキスト、中文字符。" * 4,
             "x " * 40, "Hello [MASK] <|eot_id|> world again and again"]


def test_trunc_pad_single(built_tp, sf_tp):
    got, want = [], []
    for t in _TP_TEXTS:
        ids, offsets = sf_tp.encode(t, return_offsets=True)
        got.append({"ids": ids.tolist(), "offsets": [tuple(o) for o in np.asarray(offsets).tolist()]})
        want.append(_hf_row(built_tp.hf.encode(t)))
    compare_rows(built_tp.name, _TP_TEXTS, got, want, fields=("ids", "offsets"))


def test_trunc_pad_batch(built_tp, sf_tp):
    batch = sf_tp.encode_batch(_TP_TEXTS, **ALL_META)
    compare_rows(built_tp.name, _TP_TEXTS, sf_rows(batch, len(_TP_TEXTS)), hf_rows(built_tp.hf, _TP_TEXTS))


def test_trunc_pad_pairs(built_tp, sf_tp):
    a = _TP_TEXTS
    b = _TP_TEXTS[3:] + _TP_TEXTS[:3]
    batch = sf_tp.encode_batch(a, pair=b, **ALL_META)
    compare_rows(built_tp.name, list(zip(a, b)), sf_rows(batch, len(a)), hf_rows(built_tp.hf, a, b))


def test_trunc_pad_hypothesis(built_tp, sf_tp):
    hf = built_tp.hf

    @FEW
    @given(texts=st.lists(text_strategy(built_tp), min_size=1, max_size=4))
    def check(texts):
        batch = sf_tp.encode_batch(texts, **ALL_META)
        compare_rows(built_tp.name, texts, sf_rows(batch, len(texts)), hf_rows(hf, texts))

    check()


def test_trunc_pad_save_round_trip(built_tp, sf_tp, tmp_path):
    path = tmp_path / "saved.json"
    sf_tp.save(path)
    saved = json.loads(path.read_text("utf-8"))
    orig = built_tp.json
    assert saved["truncation"] == orig["truncation"] and saved["padding"] == orig["padding"]
    hf2 = tokenizers.Tokenizer.from_file(str(path))
    compare_rows(built_tp.name, _TP_TEXTS, hf_rows(hf2, _TP_TEXTS), hf_rows(built_tp.hf, _TP_TEXTS))


def _overflow_pieces(result) -> list:
    """Overflow pieces as ``[[ids, ...] per input]`` from whatever seqfast returns (the API is not
    settled in issue 15): an ``overflowing`` list per row, or flat ``overflow_ids`` /
    ``overflow_row_offsets`` / ``overflow_source`` arrays."""
    ov = getattr(result, "overflowing", None)
    if ov is not None:
        return [[np.asarray(p).tolist() for p in row] for row in ov]
    ids = getattr(result, "overflow_ids", None)
    if ids is not None:
        rows, src = np.asarray(result.overflow_row_offsets), np.asarray(result.overflow_source)
        out = [[] for _ in range(len(np.asarray(result.row_offsets)) - 1)]
        for k, s in enumerate(src.tolist()):
            out[s].append(np.asarray(ids)[rows[k]:rows[k + 1]].tolist())
        return out
    raise AssertionError("no overflow pieces in the result")


def test_trunc_overflow(built_tp, sf_tp):
    # seqfast's form: with return_overflowing=True, each text's overflowing pieces follow its row,
    # and overflow_to_sample names the text of every row (transformers' convention).
    texts = _TP_TEXTS
    hf = built_tp.hf.encode_batch(texts)
    want_rows = []
    for e in hf:
        want_rows.append(e.ids)
        want_rows.extend(o.ids for o in e.overflowing)
    want_sample = [i for i, e in enumerate(hf) for _ in range(1 + len(e.overflowing))]
    result = sf_tp.encode_batch(texts, return_overflowing=True)
    assert result.to_list() == want_rows
    assert result.overflow_to_sample.tolist() == want_sample
    # the single-text form: its first row is encode's result
    one = sf_tp.encode_batch(texts[:1], return_overflowing=True, return_offsets=True)
    h1 = built_tp.hf.encode_batch(texts[:1])[0]
    want_off = [list(o) for o in h1.offsets] + [list(o) for x in h1.overflowing for o in x.offsets]
    assert one.offsets.tolist() == want_off


# ---------------------------------------------------------------------------
# Unsupported components
# ---------------------------------------------------------------------------

_BAD_PLACES = {
    "normalizer": lambda j: j.__setitem__("normalizer", {"type": "FooNormalizer"}),
    "normalizer_nested": lambda j: j.__setitem__("normalizer", {"type": "Sequence", "normalizers": [
        {"type": "Lowercase"}, {"type": "FooNestedNormalizer"}]}),
    "pre_tokenizer": lambda j: j.__setitem__("pre_tokenizer", {"type": "BarPreTokenizer"}),
    "pre_tokenizer_nested": lambda j: j.__setitem__("pre_tokenizer", {"type": "Sequence", "pretokenizers": [
        {"type": "Whitespace"}, {"type": "BarNestedPreTokenizer"}]}),
    "model": lambda j: j["model"].__setitem__("type", "BazModel"),
    "post_processor": lambda j: j.__setitem__("post_processor", {"type": "QuxProcessing"}),
    "decoder": lambda j: j.__setitem__("decoder", {"type": "QuuxDecoder"}),
    "decoder_nested": lambda j: j.__setitem__("decoder", {"type": "Sequence", "decoders": [
        {"type": "Fuse"}, {"type": "QuuxNestedDecoder"}]}),
}


@pytest.fixture(scope="module")
def base_json(tmp_path_factory) -> dict:
    return _build("gpt2", tmp_path_factory).json


@pytest.mark.parametrize("place", list(_BAD_PLACES))
def test_unknown_component_is_a_format_error(base_json, tmp_path, place):
    j = copy.deepcopy(base_json)
    _BAD_PLACES[place](j)
    path = tmp_path / f"bad_{place}.json"
    path.write_text(json.dumps(j), "utf-8")
    with pytest.raises(Exception):  # HF refuses these files too
        tokenizers.Tokenizer.from_file(str(path))
    with pytest.raises(seqfast.FormatError) as e:
        seqfast.Tokenizer.from_file(path)
    msg = str(e.value)
    name = next(v for v in _iter_types(j) if v.startswith(("Foo", "Bar", "Baz", "Qux", "Quux")))
    assert name in msg, f"message does not name the component {name!r}: {msg}"
    key = place.split("_nested")[0]
    assert key in msg, f"message does not name where it is ({key!r}): {msg}"
    with pytest.raises(seqfast.FormatError):
        seqfast.Tokenizer.from_str(json.dumps(j))


def _iter_types(j):
    if isinstance(j, dict):
        if isinstance(j.get("type"), str):
            yield j["type"]
        for v in j.values():
            yield from _iter_types(v)
    elif isinstance(j, list):
        for v in j:
            yield from _iter_types(v)
