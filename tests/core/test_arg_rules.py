"""One rule for bad arguments in every family (``python/seqfast/_args.py``, README "Errors"):

wrong type -> ArgumentTypeError, wrong value -> SeqfastError (or a subclass other than these
two), wrong shape -> ShapeError, bad file -> FormatError; ``num_threads`` None or 0 = all threads,
1..1024 exactly, the same in the CLI's ``--threads``.

One case of each rule per family: tokenizer, HF pipeline, sentencepiece, n-gram counts, LM, search,
nn, attention, torch, distributed building blocks, CLI.
"""

import io
import pickle
import random
import sys

import numpy as np
import pytest

import seqfast
import seqfast.cli
import seqfast.distributed as sd
import seqfast.nn as snn
from seqfast import search
from seqfast.ngram import NgramCounts, NgramLM, count, count_words

from _helpers import small_tokenizer, write

ArgumentTypeError, SeqfastError, ShapeError, FormatError = (
    seqfast.ArgumentTypeError, seqfast.SeqfastError, seqfast.ShapeError, seqfast.FormatError)


def wrong_type(fn, *args, **kwargs):
    with pytest.raises(ArgumentTypeError) as e:
        fn(*args, **kwargs)
    assert isinstance(e.value, TypeError)
    return e.value


def wrong_value(fn, *args, exact=False, **kwargs):
    with pytest.raises(SeqfastError) as e:
        fn(*args, **kwargs)
    assert not isinstance(e.value, (ArgumentTypeError, ShapeError, FormatError)), repr(e.value)
    assert not exact or type(e.value) is SeqfastError, repr(e.value)
    return e.value


def wrong_shape(fn, *args, **kwargs):
    with pytest.raises(ShapeError) as e:
        fn(*args, **kwargs)
    return e.value


def bad_file(fn, *args, path=None, **kwargs):
    with pytest.raises(FormatError) as e:
        fn(*args, **kwargs)
    if path is not None:
        assert str(path) in str(e.value)
    return e.value


TEXT = "the cat sat\nthe dog sat\na cat ran\n"


# ---- tokenizer --------------------------------------------------------------------------------


def test_tokenizer(tmp_path):
    tok = small_tokenizer()
    wrong_type(tok.encode, 5)
    wrong_type(seqfast.train_bpe, texts=["a b"], vocab_size="300")
    wrong_value(tok.encode, "x", special="nope")
    wrong_value(seqfast.train_bpe, texts=["a b"], vocab_size=0)
    wrong_shape(tok.decode, np.zeros((2, 2), np.uint32))
    bad = write(tmp_path / "bad.tiktoken", b"not base64 !!\n")
    bad_file(seqfast.Tokenizer.from_tiktoken, bad, path=bad)
    # a token id out of range while decoding: a DecodeError (a SeqfastError subclass)
    with pytest.raises(seqfast.DecodeError):
        tok.decode([-1])


def test_hf_pipeline(tmp_path):
    hf = seqfast.Tokenizer.from_str(small_tokenizer().to_str())
    assert isinstance(hf, seqfast.HFTokenizer)
    wrong_type(hf.encode, "x", add_special_tokens=1)
    wrong_value(hf.enable_truncation, -1)
    wrong_shape(hf.decode, [[1, 2]])
    bad = write(tmp_path / "tokenizer.json", b'{"model": \xff}')
    bad_file(seqfast.Tokenizer.from_file, bad, path=bad)


def test_sentencepiece(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    rng = random.Random(0)
    corpus = write(tmp_path / "c.txt", "".join(" ".join(rng.choice(["ab", "cd", "ef", "abc"]) for _ in range(8)) + "\n" for _ in range(300)))
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=str(tmp_path / "m"), vocab_size=20, minloglevel=2, hard_vocab_limit=False)
    sp = seqfast.Tokenizer.from_sentencepiece(tmp_path / "m.model")
    wrong_type(sp.id_to_token, "3")
    wrong_value(sp.encode_batch, ["ab"], num_threads=-1)
    wrong_shape(sp.decode, np.zeros((2, 2), np.uint32))
    bad = write(tmp_path / "bad.model", b"\x0a\xff\xff\xff")
    bad_file(seqfast.Tokenizer.from_sentencepiece, bad)


# ---- n-grams ----------------------------------------------------------------------------------


def test_ngram_counts(tmp_path):
    ids = np.arange(6, dtype=np.uint32)
    wrong_type(count, ids, order="3")
    wrong_type(count, "text is not ids", order=2)
    wrong_value(count, ids, order=0)
    wrong_value(count, [np.array([-1])], order=2, exact=True)  # not a token id: a value, not a decoding error
    wrong_shape(count(ids, order=2).lookup, np.zeros((2, 5), np.uint32))
    path = tmp_path / "c.npz"
    np.savez(path, grams1=np.zeros((2, 1), np.int64), counts1=np.ones(2, np.uint64))
    bad_file(NgramCounts.load, path, path=path)


def test_lm(tmp_path):
    wrong_type(NgramLM.fit, TEXT, order="2")
    wrong_type(NgramLM.fit, TEXT, prune="1")
    wrong_value(NgramLM.fit, TEXT, smoothing="witten_bell")
    wrong_value(NgramLM.fit, TEXT, k=float("nan"), smoothing="add_k")
    lm = NgramLM.fit(TEXT, order=2, smoothing="mle")
    wrong_type(lm.top_k, "the", k=1.5)
    wrong_shape(lm.score, np.zeros((2, 2), np.uint32))
    bad = write(tmp_path / "m.arpa", "\\data\\\nngram 1=x\n")
    bad_file(NgramLM.from_arpa, bad, path=bad)


# ---- search -----------------------------------------------------------------------------------


def _decoder():
    rng = np.random.default_rng(0)
    H, E, V = 4, 3, 7
    w = {"weight_ih_l0": rng.standard_normal((4 * H, E)), "weight_hh_l0": rng.standard_normal((4 * H, H))}
    return search.LSTMDecoder(rng.standard_normal((V, E)), w, rng.standard_normal((V, H)))


def test_search():
    lm = NgramLM.fit(TEXT, order=2, discount_fallback=(0.5, 1.0, 1.5))
    wrong_type(search.beam_search, lm, beam_width="5")
    wrong_type(search.beam_search, lm, length_penalty=1)
    wrong_value(search.beam_search, lm, beam_width=0)
    wrong_value(search.sample, lm, seed=-1)
    wrong_type(search.Weighted, [(lm, "heavy")])
    dec = _decoder()
    wrong_shape(search.greedy, dec.with_state(h0=np.zeros((1, 3, 4))), batch_size=2, bos=0, eos=1)
    wrong_type(search.LSTMDecoder, np.zeros((7, 3)), [("weight_ih_l0", None)], np.zeros((7, 4)))
    # search reads no files; its pickles are checked like files
    bad_file(pickle.loads, pickle.dumps(dec).replace(b"memory_lengths", b"memory_lengthz"))


# ---- nn ---------------------------------------------------------------------------------------


def _lstm_weights(rng, H=4, D=3):
    return {"weight_ih_l0": rng.standard_normal((4 * H, D)), "weight_hh_l0": rng.standard_normal((4 * H, H)),
            "bias_ih_l0": rng.standard_normal(4 * H), "bias_hh_l0": rng.standard_normal(4 * H)}


def test_nn():
    rng = np.random.default_rng(0)
    w, x = _lstm_weights(rng), rng.standard_normal((2, 5, 3))
    wrong_type(snn.lstm_forward, x.tolist(), w)
    wrong_type(snn.lstm_forward, x, w, lengths=np.array([1.0, 2.0]))
    wrong_value(snn.lstm_forward, x, w, dropout=1.5)
    wrong_value(snn.lstm_forward, x, dict(w, weight_xx_l0=w["bias_ih_l0"]))  # a key is a value
    wrong_value(snn.lstm_forward, x, {k: v for k, v in w.items() if k != "bias_hh_l0"})
    wrong_shape(snn.lstm_forward, x[:, :, :2], w)
    wrong_type(snn.LSTM, 3, "4")
    wrong_value(snn.LSTM, 3, 0)
    wrong_shape(snn.LSTM(3, 4).load_state_dict, dict(w, weight_hh_l0=np.zeros((16, 5))))


def test_attention():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 2, 3, 4))
    wrong_type(snn.attention_forward, q, q, q, mask=np.ones((3, 3)))
    wrong_type(snn.attention_forward, q, q, q, scale="1")
    wrong_value(snn.attention_forward, q, q, q, dropout=-0.5)
    wrong_shape(snn.attention_forward, q, q[..., :2], q)
    x = rng.standard_normal((2, 3, 4))
    w = {"in_proj_weight": rng.standard_normal((12, 4)), "out_proj.weight": rng.standard_normal((4, 4))}
    wrong_value(snn.mha_forward, x, x, x, w, 3)  # 3 heads do not divide 4
    wrong_value(snn.mha_forward, x, x, x, dict(w, bias_k=np.zeros(4)), 2)
    wrong_shape(snn.mha_forward, x, x, x, dict(w, in_proj_weight=np.zeros((12, 3))), 2)
    wrong_value(snn.luong_attention_forward, x, x, kind="concat")


def test_torch():
    torch = pytest.importorskip("torch")
    import seqfast.torch as st

    wrong_type(st.LSTM, 3, 4, num_threads="2")
    wrong_value(st.LSTM, 3, 4, num_threads=-1)
    wrong_value(st.MultiheadAttention, 4, 2, num_threads=2000)
    m = st.LSTM(3, 4, batch_first=True)
    x = torch.zeros(2, 5, 3)
    wrong_shape(m, x, lengths=torch.tensor([5, 5, 5]))
    wrong_type(m, x, lengths=torch.tensor([5.0, 5.0]))
    wrong_value(m, x, lengths=torch.tensor([5, 6]))


# ---- distributed building blocks --------------------------------------------------------------


def test_distributed_blocks(tmp_path):
    wrong_type(sd.piece_counts, "one string, not a partition")
    wrong_type(sd.train_bpe_from_counts, "not counts")
    wrong_value(sd.split_counts, count_words(TEXT, order=2), 0)
    wrong_value(sd.piece_counts, ["a"], num_threads=5000)
    wrong_shape(sd.merge_counts, count_words(TEXT, order=2), count_words(TEXT, order=3))
    bad = write(tmp_path / "bad.txt", b"ok\n\xff\n")
    e = bad_file(sd.read_lines, bad, path=bad)
    assert "line 2" in str(e)


# ---- num_threads: one meaning ------------------------------------------------------------------


def test_num_threads_zero_is_all_threads():
    tok = small_tokenizer()
    texts = ["a b c", "hello world"] * 20
    want = tok.encode_batch(texts).ids
    for n in (0, 1, 2, np.int64(2)):
        assert np.array_equal(tok.encode_batch(texts, num_threads=n).ids, want)
    assert count(want, order=2, num_threads=0) == count(want, order=2)
    wrong_type(tok.encode_batch, texts, num_threads=2.0)
    wrong_type(tok.encode_batch, texts, num_threads=True)
    wrong_value(tok.encode_batch, texts, num_threads=1025)


# ---- CLI --------------------------------------------------------------------------------------


def _cli(monkeypatch, capsys, *argv, stdin=""):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = seqfast.cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli(tmp_path, monkeypatch, capsys):
    tok = tmp_path / "tok.json"
    small_tokenizer().save(tok)
    # --threads follows num_threads: 0 is all threads, a negative count is bad usage (exit 2)
    code, out, _ = _cli(monkeypatch, capsys, "count", "-t", tok, "--threads", "0", stdin="hello world")
    assert code == 0 and int(out) > 0
    code, _, err = _cli(monkeypatch, capsys, "count", "-t", tok, "--threads", "-1", stdin="x")
    assert code == 2 and "--threads" in err
    code, _, err = _cli(monkeypatch, capsys, "encode", "-t", tok, "--threads", "two", stdin="x")
    assert code == 2
    # a wrong value (a special token in the text with --special error): exit 1, one line
    special = tmp_path / "sp.json"
    small_tokenizer(specials=("<|end|>",)).save(special)
    code, _, err = _cli(monkeypatch, capsys, "encode", "-t", special, stdin="a <|end|>")
    assert code == 1 and err.count("\n") == 1
    # a bad file: exit 1 naming the file and the line
    bad = write(tmp_path / "bad.txt", b"a b\n\xff\n")
    code, _, err = _cli(monkeypatch, capsys, "lm", "build", "-o", "2", bad)
    assert code == 1 and f"{bad}: line 2" in err
    code, _, err = _cli(monkeypatch, capsys, "decode", "-t", tok, "--format", "raw", stdin="abc")
    assert code == 1 and "multiple of 4" in err
