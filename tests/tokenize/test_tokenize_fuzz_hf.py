"""Fuzzing ``tokenizer.json`` loading: random structural edits and byte mutations of real
pipeline files (every model kind and component family) never crash or panic seqfast.

A document either loads or raises a seqfast error (``FormatError`` for a bad file, ``VocabError``
for an inconsistent vocabulary, ``SeqfastError`` for a bad regex); a document that loads encodes
and decodes any text, or raises a seqfast error. No other exception (and no PanicException) may
escape, whatever the input.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("tokenizers")

import seqfast

import _hf_shapes as shapes

FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
# One shape per model kind and per component family (no converters needed).
NAMES = ("gpt2", "roberta", "bert_uncased", "llama3", "qwen2", "whisper", "wordlevel", "openai_gpt", "extras_added",
         "metaspace_always", "split_invert", "ctc", "bert_trunc_pad")
TEXTS = ("hello world", "Héllo wörld 日本語 😀", "", "  \n\t x", "<s> [CLS] <mask> a1b2")


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    out = {}
    for n in NAMES:
        if n in shapes.SHAPES:
            b = shapes.build(n, d)
            with open(b.path, encoding="utf-8") as f:
                out[n] = json.load(f)
    return out


def _paths(doc, prefix=()):
    """Every (path) into the JSON tree, vocabularies and merges sampled sparsely."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("vocab", "merges") and isinstance(v, (dict, list)) and len(v) > 8:
                items = list(v.items())[:4] if isinstance(v, dict) else list(enumerate(v[:4]))
                for kk, vv in items:
                    yield from _paths(vv, prefix + (k, kk))
                continue
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            yield from _paths(v, prefix + (i,))


REPLACEMENTS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 2**33), st.floats(allow_nan=True), st.text(max_size=6),
    st.sampled_from([[], {}, {"type": "Qzqz"}, {"type": "Sequence"}, {"String": "a"}, {"Regex": "(("}, {"Regex": ""},
                     "Removed", "Isolated", "Contiguous", "always", "first", "Left", ["a", 1], [[]], "\u2581", "##"])
)


def _apply(doc, path, value, delete):
    if not path:
        return value
    node = doc
    for k in path[:-1]:
        node = node[k]
    k = path[-1]
    if delete and isinstance(node, dict):
        node.pop(k, None)
    else:
        node[k] = value
    return doc


def _exercise(text: str) -> None:
    try:
        tok = seqfast.Tokenizer.from_str(text)
    except seqfast.SeqfastError:
        return
    for s in TEXTS:
        try:
            ids, offsets = tok.encode(s, return_offsets=True)
            assert len(ids) == len(offsets)
            tok.decode(ids)
            tok.decode(ids, skip_special_tokens=True)
            tok.encode_batch([s, s], pair=[s, "x"], return_word_ids=True, return_overflowing=True)
        except seqfast.SeqfastError:
            pass
    try:
        tok.decode(list(range(min(tok.vocab_size + 3, 400))))
    except seqfast.SeqfastError:
        pass


@given(data=st.data())
@FUZZ
def test_structural_edits_never_crash(docs, data):
    name = data.draw(st.sampled_from(sorted(docs)))
    doc = copy.deepcopy(docs[name])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = data.draw(st.sampled_from(paths))
        # A copy: sampled_from hands out the same list/dict objects to every test case, and a
        # later edit inside the inserted value would change them for the next case (hypothesis
        # then sees data generation differ between runs: FlakyStrategyDefinition).
        value = copy.deepcopy(data.draw(REPLACEMENTS))
        doc = _apply(doc, path, value, data.draw(st.booleans()))
    _exercise(json.dumps(doc))


@given(data=st.data())
@FUZZ
def test_byte_mutations_never_crash(docs, data):
    name = data.draw(st.sampled_from(sorted(docs)))
    raw = bytearray(json.dumps(docs[name]).encode())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["set", "del", "ins"]))
        b = data.draw(st.integers(0, 255))
        if op == "set":
            raw[pos] = b
        elif op == "del":
            del raw[pos]
        else:
            raw.insert(pos, b)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    _exercise(text)


@given(text=st.text(max_size=200))
@FUZZ
def test_random_text_documents(text):
    _exercise(text)
