"""KenLM's Python API on a seqfast n-gram model, so code written for ``kenlm`` runs unchanged.

    from seqfast.ngram import kenlm_compat as kenlm      # instead of: import kenlm (seqfast.ngram.kenlm_compat)
    model = kenlm.Model("model.arpa")                    # ARPA, or an NgramLM
    model.score("the cat sat", bos=True, eos=True)       # log10, as kenlm.Model.score
    list(model.full_scores("the cat sat"))               # (log10 prob, ngram length, oov) per word and </s>
    s, out = kenlm.State(), kenlm.State()
    model.BeginSentenceWrite(s)                          # or NullContextWrite
    model.BaseScore(s, "the", out)                       # log10 p(the | <s>); out = state after "the"
    r = model.BaseFullScore(out, "cat", s)               # r.log_prob, r.ngram_length, r.oov

Everything follows ``kenlm.Model``: words are split on whitespace; an unknown word scores as
``<unk>`` and has ``oov`` True (as has ``<unk>`` itself, whose id is 0 as in KenLM); ``</s>`` is
scored at the end when ``eos``; ``perplexity`` divides by the words plus one; ``word in model``
is False for unknown words. Scores are the model's float32 numbers, identical to kenlm's on the
same ARPA up to kenlm's own float rounding of the ARPA text (both read the same decimal digits).
"""

from __future__ import annotations

import os
from typing import Iterator, NamedTuple, Optional, Union

import numpy as np

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError
from seqfast._lm import NgramLM

State = _core.LmState
"""The context of the next word (kenlm's ``State``): ``==``, ``hash`` and ``copy.copy`` work."""


class FullScoreReturn(NamedTuple):
    """What ``BaseFullScore`` returns, as kenlm's: log10 probability, the length of the n-gram
    it came from, and whether the word was out of the vocabulary."""

    log_prob: float
    ngram_length: int
    oov: bool


class Config:
    """Accepted for compatibility with ``kenlm.Config``; seqfast has no load options to set."""

    def __init__(self):
        self.load_method = None
        self.arpa_complain = None


class Model:
    """``kenlm.Model(path)`` on seqfast: ``path`` is an ARPA file (or an :class:`NgramLM`)."""

    def __init__(self, path: Union[str, os.PathLike, NgramLM], config: Optional[Config] = None):
        if isinstance(path, NgramLM):
            self._lm, self.path = path, None
        else:
            self.path = os.fspath(path)
            self._lm = NgramLM.load(path) if _is_binary(self.path) else NgramLM.from_arpa(path)
        self._m = self._lm._m
        self._eos = self._lm.eos
        self._unk = self._lm.unk

    @property
    def order(self) -> int:
        return self._lm.order

    def BeginSentenceWrite(self, state: State) -> None:
        """Set ``state`` to the start of a sentence (``<s>`` as context)."""
        self._m.state_begin(state, True)

    def NullContextWrite(self, state: State) -> None:
        """Set ``state`` to no context at all."""
        self._m.state_begin(state, False)

    def BaseScore(self, in_state: State, word: str, out_state: State) -> float:
        """log10 p(word | in_state); ``out_state`` becomes the state after ``word``."""
        return self.BaseFullScore(in_state, word, out_state).log_prob

    def BaseFullScore(self, in_state: State, word: str, out_state: State) -> FullScoreReturn:
        """Like :meth:`BaseScore`, with the n-gram length and the oov flag."""
        _args.text(word, "word")
        wid = self._m.word_id(word)
        p, n = self._m.base_full_score(in_state, wid, out_state)
        return FullScoreReturn(p, n, wid == self._unk)

    def BaseFullScoreBatch(self, states, words):
        r""":meth:`BaseFullScore` for many ``(state, word)`` pairs in one call (a seqfast
        extension; beam-search decoders score every hypothesis's next word this way).

        ``states``: a sequence of :class:`State`; ``words``: as many words (``str``) or word
        ids (an integer array). Returns ``(log_probs float32, ngram_lengths uint8, oovs bool,
        out_states list of State)``; the input states are not changed.

        >>> import numpy as np
        >>> from seqfast.ngram import NgramLM
        >>> m = Model(NgramLM.fit("a b c\na c b\n", order=2, smoothing="mle"))
        >>> s = State(); m.BeginSentenceWrite(s)
        >>> p, n, oov, after = m.BaseFullScoreBatch([s, s], ["a", "zzz"])
        >>> (round(float(p[0]), 4), n.tolist(), oov.tolist(), after[0] == after[1])
        (0.0, [2, 1], [False, True], False)
        """
        states = list(states)
        if not all(isinstance(s, State) for s in states):
            raise ArgumentTypeError("states must be a sequence of State")
        if isinstance(words, np.ndarray):
            ids = _args.ids(words, "words")
        else:
            words = list(words)
            if not all(isinstance(w, str) for w in words):
                raise ArgumentTypeError("words must be str (or pass an array of word ids)")
            ids = np.fromiter((self._m.word_id(w) for w in words), dtype=np.uint32, count=len(words))
        p, n, after = self._m.base_full_score_batch(states, ids)
        return p, n, ids == self._unk, after

    def full_scores(self, sentence: str, bos: bool = True, eos: bool = True) -> Iterator[tuple]:
        """``(log10 prob, ngram length, oov)`` for each word and then ``</s>`` (when ``eos``)."""
        state, out = State(), State()
        self._m.state_begin(state, bool(bos))
        for word in _words(sentence):
            wid = self._m.word_id(word)
            p, n = self._m.base_full_score(state, wid, out)
            yield (p, n, wid == self._unk)
            state, out = out, state
        if eos:
            p, n = self._m.base_full_score(state, self._eos, out)
            yield (p, n, False)

    def score(self, sentence: str, bos: bool = True, eos: bool = True) -> float:
        """log10 probability of the sentence (words split on whitespace), summed in float32
        word by word as kenlm sums it."""
        tokens = self._lm.score_batch([" ".join(_words(sentence))], bos=bool(bos), eos=bool(eos))["tokens"]
        return float(np.cumsum(tokens, dtype=np.float32)[-1]) if len(tokens) else 0.0

    def perplexity(self, sentence: str) -> float:
        """``10 ** (-score / (words + 1))``, as kenlm."""
        return 10.0 ** (-self.score(sentence) / (len(_words(sentence)) + 1))

    def __contains__(self, word: str) -> bool:
        return isinstance(word, str) and self._m.word_id(word) != self._unk

    def __reduce__(self):
        return (_restore_model, (self._lm, self.path))

    def __repr__(self) -> str:
        return f"<Model from {self.path!r}>" if self.path else f"<Model from {self._lm!r}>"


LanguageModel = Model


def _restore_model(lm: NgramLM, path) -> Model:
    m = Model(lm)
    m.path = path
    return m


def _words(sentence) -> list:
    return _args.text(sentence, "sentence").split()


def _is_binary(path: str) -> bool:
    """Whether ``path`` is a binary model (seqfast's or KenLM's), by its first bytes, as
    ``kenlm.Model`` tells ARPA from binary."""
    with open(path, "rb") as f:
        head = f.read(64)
    return head.startswith(b"SQFNGRAM") or head.startswith(b"mmap lm ")
