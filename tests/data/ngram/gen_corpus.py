"""Deterministic synthetic corpus for the n-gram language-model golden files.

Writes ``n`` sentences (one per line, words separated by single spaces) over a
fixed vocabulary of pronounceable made-up words ("ba", "be", ..., "bazo"):

* an inventory of 500 "phrases" of 1-4 words is drawn first, each word with a
  Zipf distribution (weight 1 / (rank + 1));
* a sentence is 1-5 parts; each part is, with probability 0.15, one word drawn
  uniformly (this gives the long tail of rare words that modified Kneser-Ney
  needs for its discounts), otherwise a phrase drawn with Zipf weights
  1 / (rank + 1) ** 0.9 (repeated phrases make higher-order n-grams repeat).

Only a tiny 64-bit LCG is used (no ``random``), so the output is identical on
every Python version and platform.  Usage::

    python gen_corpus.py [n_sentences] [n_types] > corpus.txt
"""

from __future__ import annotations

import bisect
import sys

MASK = (1 << 64) - 1


class Lcg:
    """Knuth's MMIX LCG; ``uniform()`` returns a float in [0, 1)."""

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK

    def uniform(self) -> float:
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.state >> 11) / float(1 << 53)


def make_words(n_types: int) -> list[str]:
    onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
    vowels = ["a", "e", "i", "o", "u"]
    syllables = [o + v for o in onsets for v in vowels]  # 70 syllables
    words = []
    i = 0
    while len(words) < n_types:
        a, b = divmod(i, len(syllables))
        words.append(syllables[b] if a == 0 else syllables[a - 1] + syllables[b])
        i += 1
    return words


def zipf_cumulative(n: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 0..n-1 with weight 1 / (rank + 1) ** exponent."""
    cumulative = []
    total = 0.0
    for rank in range(n):
        total += 1.0 / (rank + 1) ** exponent
        cumulative.append(total)
    return cumulative


def draw(rng: Lcg, cumulative: list[float]) -> int:
    """A rank drawn from the (unnormalised) cumulative weights."""
    return min(bisect.bisect_right(cumulative, rng.uniform() * cumulative[-1]), len(cumulative) - 1)


def generate(
    n_sentences: int = 2000,
    n_types: int = 300,
    n_phrases: int = 500,
    word_exponent: float = 1.0,
    phrase_exponent: float = 0.9,
    p_random_word: float = 0.15,
    seed: int = 20240531,
) -> list[list[str]]:
    rng = Lcg(seed)
    words = make_words(n_types)
    word_cum = zipf_cumulative(n_types, word_exponent)
    phrase_cum = zipf_cumulative(n_phrases, phrase_exponent)
    phrases = [
        [words[draw(rng, word_cum)] for _ in range(1 + int(rng.uniform() * 4))] for _ in range(n_phrases)
    ]
    sentences = []
    for _ in range(n_sentences):
        n_parts = 1 + int(rng.uniform() * rng.uniform() * 5)
        sentence: list[str] = []
        for _ in range(n_parts):
            if rng.uniform() < p_random_word:
                sentence.append(words[int(rng.uniform() * n_types)])
            else:
                sentence.extend(phrases[draw(rng, phrase_cum)])
        sentences.append(sentence)
    return sentences


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    v = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    out = sys.stdout
    for s in generate(n, v):
        out.write(" ".join(s) + "\n")
