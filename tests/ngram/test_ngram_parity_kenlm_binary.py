"""NgramLM.load on KenLM's own binary files: build_binary (run here, at test time) turns ARPA
models into every KenLM format (probing, probing with rest costs, trie, quantised trie, trie
with array-compressed pointers, both), and the loaded model must score every token exactly as
``kenlm.Model`` does on the same file (same float32 bits, same n-gram length).

build_binary comes from $SEQFAST_BUILD_BINARY, else ./.lmplz/bin/build_binary (made by
``bash benches/build_lmplz.sh``), else PATH; the tests skip, saying so, when none is found.
Order 1 is not covered: KenLM's binary formats need at least a bigram model (build_binary
refuses an order-1 ARPA).

Three small binaries are committed (tests/data/ngram, x86-64 little-endian, made by kenlm 0.3.0's
build_binary from KenLM's own test models) so that part of this runs without build_binary:
    build_binary -s kenlm_test.arpa kenlm_test.probing.binary
    build_binary -s -S 16M -q 8 -b 8 -a 64 trie kenlm_test.arpa kenlm_test.trie_q8b8a64.binary
    build_binary -s -S 16M trie kenlm_test_nounk.arpa kenlm_test_nounk.trie.binary
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess

import numpy as np
import pytest

from seqfast import FormatError
from seqfast.ngram import NgramLM

from _ngram_data import DATA, FALLBACK, arpa_path, sentences
from _paths import ROOT

kenlm = pytest.importorskip("kenlm")

def _find_build_binary():
    env = os.environ.get("SEQFAST_BUILD_BINARY")
    if env:
        return env if os.access(env, os.X_OK) else None
    for base in (os.getcwd(), ROOT):
        p = os.path.join(base, ".lmplz", "bin", "build_binary")
        if os.access(p, os.X_OK):
            return p
    return shutil.which("build_binary")


BUILD_BINARY = _find_build_binary()
needs_build_binary = pytest.mark.skipif(
    BUILD_BINARY is None,
    reason="KenLM's build_binary not found (set SEQFAST_BUILD_BINARY, or run bash benches/build_lmplz.sh)",
)

# format name -> build_binary arguments before the input and output paths
# (tries sort in at most 64 MB: the default is 80% of the machine's memory)
FORMATS = {
    "probing": ["probing"],
    "probing_mmap_p3": ["-w", "mmap", "-p", "3.0", "probing"],
    "trie": ["-S", "64M", "trie"],
    "trie_q8b8": ["-S", "64M", "-q", "8", "-b", "8", "trie"],
    "trie_a22": ["-S", "64M", "-a", "22", "trie"],
    "trie_q10b6_a64": ["-S", "64M", "-q", "10", "-b", "6", "-a", "64", "trie"],
    "trie_q4b2_a8": ["-S", "64M", "-q", "4", "-b", "2", "-a", "8", "trie"],
}


def build_binary(arpa: str, out: str, fmt: str, rest=None) -> str:
    """Run build_binary; ``rest`` (lower-order ARPA files) makes probing with rest costs."""
    args = ["-r", " ".join(rest), "probing"] if fmt == "rest_probing" else FORMATS[fmt]
    r = subprocess.run([BUILD_BINARY, "-s", *args, arpa, out], capture_output=True, text=True)
    assert r.returncode == 0, f"build_binary {fmt} failed: {r.stderr[-2000:]}"
    return out


def corpus(seed: int, n: int, vocab: int) -> list:
    """Sentences with Zipf-distributed words and some deterministic word-to-word structure (so
    higher orders have repeated n-grams)."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(vocab)]
    out = []
    for _ in range(n):
        words, prev = [], rng.randrange(vocab)
        for _ in range(rng.randint(0, 14)):
            prev = (prev * 7 + 3) % vocab if rng.random() < 0.5 else rng.choices(range(vocab), weights)[0]
            words.append(f"w{prev}")
        out.append(" ".join(words))
    return out


def probe_sentences(train: list, vocab: list) -> list:
    """Training sentences, shuffled word salads of known words, OOVs, specials, empty."""
    rng = random.Random(7)
    out = list(train[:150])
    for _ in range(150):
        out.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12))))
    out += ["", "oov_word", "w0 oov w1 oov2 w2", "<unk> w1", "w1 </s> w2", "<s> w3", "x " * 20]
    return out


def assert_same_scores(path: str, sents: list):
    k = kenlm.Model(path)
    m = NgramLM.load(path)
    assert m.order == k.order
    res = m.score_batch(sents)
    off = res["offsets"]
    for i, s in enumerate(sents):
        full = list(k.full_scores(s))
        want = np.array([p for p, _, _ in full], dtype=np.float32)
        got = res["tokens"][off[i] : off[i + 1]]
        assert got.tobytes() == want.tobytes(), (path, s, got, want)
        lens = [n for _, n, _ in full]
        assert list(res["ngram_length"][off[i] : off[i + 1]]) == lens, (path, s)
        assert res["oov"][i] == sum(o for _, _, o in full), (path, s)
        # kenlm sums in float32, seqfast in float64
        assert res["total"][i] == pytest.approx(k.score(s), rel=1e-6, abs=1e-4), (path, s)
        assert m.score(s) == pytest.approx(k.score(s), rel=1e-6, abs=1e-4)
    # no bos/eos, as kenlm's score(s, bos=False, eos=False)
    for s in sents[:40]:
        assert m.score(s, bos=False, eos=False) == pytest.approx(k.score(s, bos=False, eos=False), rel=1e-6, abs=1e-4)
    return m


KENLM_TEST_VOCAB = ["looking", "on", "a", "little", "more", "loin", "also", "would", "consider", "higher", "to", "look",
                    "good", "unknown", "the", "screening", "foo", "bar", "in", "<unk>", ",", ".", "biarritz", "call"]


def kenlm_test_sentences() -> list:
    rng = random.Random(5)
    train = [" ".join(rng.choice(KENLM_TEST_VOCAB) for _ in range(i % 11)) for i in range(300)]
    return probe_sentences(train, KENLM_TEST_VOCAB)


@pytest.mark.parametrize("name", ["kenlm_test.probing", "kenlm_test.trie_q8b8a64", "kenlm_test_nounk.trie"])
def test_committed_binaries_score_like_kenlm(name):
    path = os.path.join(DATA, name + ".binary")
    m = assert_same_scores(path, kenlm_test_sentences())
    a = NgramLM.from_arpa(arpa_path(name.split(".")[0]))
    for s in kenlm_test_sentences()[:100]:
        assert m.score(s) == pytest.approx(a.score(s), abs=1e-5)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """ARPA files of seqfast models on generated text: orders 2-6, and a pruned one."""
    d = tmp_path_factory.mktemp("kbin")
    train = corpus(3, 2500, 400)
    models = {}
    for order in (2, 3, 4, 5, 6):
        lm = NgramLM.fit(train, order=order, discount_fallback=FALLBACK)
        models[f"o{order}"] = lm
    models["o4_pruned"] = NgramLM.fit(train, order=4, discount_fallback=FALLBACK, prune=(0, 1, 1, 2))
    models["o1"] = NgramLM.fit(train, order=1, discount_fallback=FALLBACK)
    paths = {}
    for name, lm in models.items():
        p = str(d / f"{name}.arpa")
        lm.to_arpa(p)
        paths[name] = p
    vocab = sorted({w for s in train for w in s.split()})
    return d, paths, probe_sentences(train, vocab)


@needs_build_binary
@pytest.mark.parametrize("fmt", [*FORMATS, "rest_probing"])
@pytest.mark.parametrize("model", ["o2", "o3", "o4", "o5", "o6", "o4_pruned"])
def test_generated_models_score_like_kenlm(generated, model, fmt):
    d, paths, sents = generated
    order = int(model[1])
    # rest costs come from the lower-order models of the same text (same vocabulary order)
    rest = [paths[f"o{n}"] for n in range(1, order)] if fmt == "rest_probing" else None
    out = build_binary(paths[model], str(d / f"{model}.{fmt}.binary"), fmt, rest)
    m = assert_same_scores(out, sents)
    if not fmt.startswith("trie_q"):
        # unquantised: the very numbers of the ARPA-read model
        a = NgramLM.from_arpa(paths[model])
        for s in sents[:60]:
            assert m.score(s) == pytest.approx(a.score(s), abs=1e-4)


# KenLM's own test models (n-grams whose suffix is missing, so KenLM inserts it; a model without
# <unk>), and lmplz's golden models, unpruned and pruned.
GOLDEN = ["kenlm_test", "kenlm_test_nounk", "zipf.o2", "zipf.o3", "zipf.o5", "zipf.o5.p0012", "zipf.o3.p01", "students.o3.p01"]


@needs_build_binary
@pytest.mark.parametrize("fmt", ["probing", "trie", "trie_q8b8", "trie_q10b6_a64"])
@pytest.mark.parametrize("name", GOLDEN)
def test_golden_models_score_like_kenlm(tmp_path, name, fmt):
    out = build_binary(arpa_path(name), str(tmp_path / f"{name}.{fmt}.binary"), fmt)
    corpus_name = name.split(".")[0]
    if corpus_name.startswith("kenlm_test"):
        assert_same_scores(out, kenlm_test_sentences())
        return
    else:
        train = [" ".join(s) for s in sentences(corpus_name)[:300]]
        vocab = sorted({w for s in train for w in s.split()}) or ["a"]
    assert_same_scores(out, probe_sentences(train, vocab))


@pytest.fixture(scope="module")
def small_binaries(tmp_path_factory):
    """Small files of every format, for the corruption tests."""
    d = tmp_path_factory.mktemp("kbin_small")
    text = corpus(5, 120, 30)
    arpas = []
    for order in (1, 2, 3):
        arpas.append(str(d / f"small{order}.arpa"))
        NgramLM.fit(text, order=order, discount_fallback=FALLBACK).to_arpa(arpas[-1])
    out = {}
    for fmt in ("probing", "rest_probing", "trie", "trie_q8b8", "trie_a22", "trie_q4b2_a8"):
        p = build_binary(arpas[2], str(d / f"small.{fmt}.binary"), fmt, arpas[:2])
        with open(p, "rb") as f:
            out[fmt] = f.read()
    return d, out


def _cut_points(n: int) -> list:
    pts = set(range(0, min(n, 200)))  # every offset through the header
    pts.update(range(0, n, max(1, n // 300)))
    pts.update(range(max(0, n - 64), n))  # the word strings' end
    return sorted(p for p in pts if p < n)


@needs_build_binary
@pytest.mark.parametrize("fmt", ["probing", "rest_probing", "trie", "trie_q8b8", "trie_a22", "trie_q4b2_a8"])
def test_truncated_files_raise_format_error(small_binaries, fmt):
    d, files = small_binaries
    data = files[fmt]
    p = d / f"cut.{fmt}"
    for cut in _cut_points(len(data)):
        p.write_bytes(data[:cut])
        with pytest.raises(FormatError, match="offset [0-9]+"):
            NgramLM.load(str(p))


@needs_build_binary
@pytest.mark.parametrize("fmt", ["probing", "trie", "trie_q8b8", "trie_a22"])
def test_flipped_bytes_never_crash(small_binaries, fmt):
    """A flipped byte either still loads (a changed value cannot always be detected; the model
    must then still score) or raises FormatError naming the offset."""
    d, files = small_binaries
    data = files[fmt]
    p = d / f"flip.{fmt}"
    rng = random.Random(11)
    positions = list(range(0, 140)) + [rng.randrange(len(data)) for _ in range(250)]
    errors = 0
    for pos in positions:
        b = bytearray(data)
        b[pos] ^= 1 << rng.randrange(8)
        p.write_bytes(bytes(b))
        try:
            m = NgramLM.load(str(p))
        except FormatError as e:
            assert "offset" in str(e)
            errors += 1
            continue
        m.score_batch(["w1 w2 w3", "", "oov w4"])
    assert errors > len(positions) // 4  # the header and structure checks do fire


@pytest.mark.parametrize("name", ["kenlm_test.probing", "kenlm_test_nounk.trie"])
def test_foreign_and_incomplete_headers(tmp_path, name):
    with open(os.path.join(DATA, name + ".binary"), "rb") as f:
        data = f.read()
    cases = {
        "incomplete": b"mmap lm http://kheafield.com/code incomplete\n" + b"\0" * 200,
        "version4": data.replace(b"format version 5", b"format version 4", 1),
        "bad_type": data[:96] + (7).to_bytes(4, "little") + data[100:],
        "probing_as_trie": data[:96] + (2 if "probing" in name else 0).to_bytes(4, "little") + data[100:],
        "huge_count": data[:108] + (2**60).to_bytes(8, "little") + data[116:],
        "cut_words": data[:-3],
        "no_vocab": data[:100] + b"\0" + data[101:],
        "order_0": data[:88] + b"\0" + data[89:],
    }
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(FormatError, match="offset [0-9]+"):
            NgramLM.load(str(p))
