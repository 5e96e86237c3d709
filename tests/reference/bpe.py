"""Slow, readable reference implementation of byte-level BPE.

This module is the *semantic specification* that seqfast's Rust tokenizer is
tested against.  Everything here favours obviousness over speed: every loop
recomputes from scratch instead of maintaining clever incremental state.
Do not optimise it; if the fast code and this file disagree, this file is the
one that says what the answer should be (and ``tests/tokenize/test_reference_bpe.py``
checks this file itself against tiktoken).

Vocabulary of terms used below
------------------------------
piece
    One match of the pre-tokenization regex, as ``str``; BPE runs on its UTF-8
    bytes and never across piece boundaries.
ranks
    tiktoken's ``mergeable_ranks``: ``dict[bytes, int]`` mapping a token's bytes
    to its id.  The rank *is* the merge priority (lower merges first).
merges
    Hugging Face's ordered merge list ``[(left_bytes, right_bytes), ...]``;
    priority is the index in the list.
word
    In training, one piece's bytes as a tuple of token ids.

Regex semantics
---------------
Pre-tokenization uses the third-party ``regex`` module (not ``re``) because
the patterns need ``\\p{..}`` classes and possessive quantifiers.  Its ``\\s``
is the Unicode ``White_Space`` property (like Rust's ``regex``/``fancy_regex``),
NOT ``str.isspace()`` (which also accepts U+001C..U+001F).  ``$`` is used only
after the possessive ``\\s++`` in the patterns below, where Python's
"end or before a final newline" meaning of ``$`` cannot differ from the
"end of text" meaning, because the newline would have been consumed by
``\\s++`` anyway.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import regex

__all__ = [
    "PATTERNS",
    "bytes_to_unicode",
    "unicode_to_bytes",
    "pretokenize",
    "encode_piece_ranks",
    "encode_piece_merges",
    "merges_from_ranks",
    "encode_ordinary",
    "split_special",
    "encode",
    "decode_bytes",
    "train_bpe",
]


# ---------------------------------------------------------------------------
# Pre-tokenization patterns (copied verbatim from tiktoken_ext/openai_public.py)
# ---------------------------------------------------------------------------

_O200K_PARTS = [
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
]

PATTERNS: dict[str, str] = {
    # tiktoken's r50k_base / p50k_base / GPT-2 pattern.
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    # tiktoken's cl100k_base pattern.
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    # tiktoken's o200k_base pattern.
    "o200k": "|".join(_O200K_PARTS),
}


# ---------------------------------------------------------------------------
# GPT-2 byte <-> unicode table
# ---------------------------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """Return GPT-2's reversible map from every byte value 0..255 to a printable char.

    Printable Latin-1 bytes (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) map to
    themselves; the remaining 68 bytes (controls, space, DEL, NBSP, soft hyphen,
    ...) map, in increasing byte order, to U+0100, U+0101, ...  This is the
    alphabet Hugging Face ``tokenizer.json`` files (ByteLevel) store tokens in.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table: dict[int, str] = {}
    next_extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + next_extra)
            next_extra += 1
    return table


def unicode_to_bytes() -> dict[str, int]:
    """Inverse of :func:`bytes_to_unicode` (char -> byte value)."""
    return {ch: b for b, ch in bytes_to_unicode().items()}


# ---------------------------------------------------------------------------
# Pre-tokenization
# ---------------------------------------------------------------------------


def pretokenize(text: str, pattern: str) -> list[str]:
    """Split ``text`` into pieces: exactly ``regex.findall(pattern, text)``.

    ``pattern`` may be a key of :data:`PATTERNS` or a literal regex.  Matches
    are found left to right, non-overlapping, on the whole text (so ``$`` and
    lookaheads see the real end of text).  Characters not covered by any match
    are dropped (the built-in patterns cover every character).  The pattern
    must not contain capture groups, otherwise ``findall`` would return groups.
    Empty matches are returned as empty strings, as ``findall`` does; they
    encode to no tokens.
    """
    pattern = PATTERNS.get(pattern, pattern)
    return regex.findall(pattern, text)


# ---------------------------------------------------------------------------
# BPE on one piece
# ---------------------------------------------------------------------------


def _merge_parts_by_rank(parts: list[bytes], ranks: dict[bytes, int], max_rank: int | None = None) -> list[bytes]:
    """tiktoken's merge loop on a list of byte strings.

    Repeatedly: among adjacent pairs whose concatenation is in ``ranks`` (and,
    if given, has rank < ``max_rank``), merge the one with the smallest rank,
    the leftmost one on ties.  Stops when no such pair exists.
    """
    parts = list(parts)
    while True:
        best_rank = None
        best_index = None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is None or (max_rank is not None and rank >= max_rank):
                continue
            if best_rank is None or rank < best_rank:  # strict '<' keeps the leftmost on ties
                best_rank = rank
                best_index = i
        if best_index is None:
            return parts
        parts[best_index : best_index + 2] = [parts[best_index] + parts[best_index + 1]]


def encode_piece_ranks(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """Encode one piece with tiktoken semantics.

    1. If the whole piece is a token, return ``[ranks[piece]]`` (tiktoken's
       shortcut; it can differ from running the merges, see
       ``encode_piece_merges(ignore_merges=...)``).
    2. Otherwise start from single bytes and repeatedly merge the adjacent pair
       whose concatenation has the smallest rank (leftmost pair on ties) until
       no adjacent concatenation is in ``ranks``.
    3. Map each remaining part to its rank.  Every single byte must be in
       ``ranks`` (``KeyError`` otherwise).

    The empty piece encodes to ``[]``.
    """
    if not piece:
        return []
    if piece in ranks:
        return [ranks[piece]]
    parts = _merge_parts_by_rank([bytes([b]) for b in piece], ranks)
    return [ranks[p] for p in parts]


def encode_piece_merges(
    piece: bytes,
    token_to_id: dict[bytes, int],
    merges: list[tuple[bytes, bytes]],
    ignore_merges: bool = False,
) -> list[int]:
    """Encode one piece with Hugging Face ``tokenizers`` BPE semantics.

    Start from single bytes.  Repeatedly look at every adjacent pair of parts
    ``(left, right)`` that appears in ``merges``; merge the pair with the lowest
    index in ``merges``, leftmost on ties (e.g. with merge ``(a, a)``, ``aaa``
    becomes ``[aa, a]``).  Stop when no adjacent pair is a listed merge.  Only
    the listed *pair* matters: ``[a, bc]`` is not merged by the merge
    ``(ab, c)`` even though both would produce ``abc`` -- this is the one real
    difference from :func:`encode_piece_ranks`.

    If ``ignore_merges`` is true and the whole piece is a token, return it
    directly (HF's ``ignore_merges`` option, used by Llama-3 style files).

    Parts are mapped to ids with ``token_to_id`` (``KeyError`` if missing).
    """
    if not piece:
        return []
    if ignore_merges and piece in token_to_id:
        return [token_to_id[piece]]
    priority: dict[tuple[bytes, bytes], int] = {}
    for index, pair in enumerate(merges):
        priority.setdefault(pair, index)  # a duplicated merge keeps its first (best) index
    parts = [bytes([b]) for b in piece]
    while True:
        best = None
        best_index = None
        for i in range(len(parts) - 1):
            p = priority.get((parts[i], parts[i + 1]))
            if p is not None and (best is None or p < best):
                best = p
                best_index = i
        if best_index is None:
            break
        parts[best_index : best_index + 2] = [parts[best_index] + parts[best_index + 1]]
    return [token_to_id[p] for p in parts]


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover an HF merge list from tiktoken ranks (what converters do).

    For every multi-byte token, in increasing rank order, run the tiktoken merge
    loop on its bytes using only ranks strictly below its own; the result must
    be exactly two parts, and that pair is the token's merge.  Tokens for which
    this does not give two parts cannot be produced by merging and are skipped
    (tiktoken can still emit them through the whole-piece shortcut).

    Quadratic-ish and slow: meant for small hand-made vocabularies.
    """
    merges: list[tuple[bytes, bytes]] = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = _merge_parts_by_rank([bytes([b]) for b in token], ranks, max_rank=rank)
        if len(parts) == 2:
            merges.append((parts[0], parts[1]))
    return merges


# ---------------------------------------------------------------------------
# Whole-text encoding
# ---------------------------------------------------------------------------


def encode_ordinary(text: str, pattern: str, ranks: dict[bytes, int]) -> list[int]:
    """tiktoken's ``encode_ordinary``: pretokenize, then BPE each piece's UTF-8 bytes.

    Special-token strings get no special treatment here: they are ordinary text.
    """
    ids: list[int] = []
    for piece in pretokenize(text, pattern):
        ids.extend(encode_piece_ranks(piece.encode("utf-8"), ranks))
    return ids


def split_special(text: str, specials: Iterable[str]) -> list[tuple[str, bool]]:
    """Split ``text`` at occurrences of special-token strings.

    Matching is leftmost-longest: scan left to right; at the first position
    where any special string starts, take the longest special string starting
    there; continue after it.  Returns ``[(segment, is_special), ...]`` in
    order, whose concatenation is ``text``.  Ordinary segments are never
    empty; adjacent specials produce adjacent ``(s, True)`` entries.

    ``specials`` may be a ``dict[str, int]`` (its keys are used) or any
    iterable of strings; empty strings are ignored.

    Note: tiktoken itself builds ``"|".join(map(re.escape, specials))``, which
    is leftmost-*first-listed* rather than leftmost-longest; the two only differ
    when one special string is a prefix of another.
    """
    candidates = sorted({s for s in specials if s}, key=len, reverse=True)
    out: list[tuple[str, bool]] = []
    segment_start = 0
    i = 0
    while i < len(text):
        match = next((s for s in candidates if text.startswith(s, i)), None)
        if match is None:
            i += 1
            continue
        if i > segment_start:
            out.append((text[segment_start:i], False))
        out.append((match, True))
        i += len(match)
        segment_start = i
    if segment_start < len(text):
        out.append((text[segment_start:], False))
    return out


def encode(text: str, pattern: str, ranks: dict[bytes, int], specials: dict[str, int]) -> list[int]:
    """Encode allowing every special token: split at specials, then ``encode_ordinary``.

    Equivalent to tiktoken's ``encode(text, allowed_special="all")`` whenever no
    special string is a proper prefix of another (see :func:`split_special`).
    """
    ids: list[int] = []
    for segment, is_special in split_special(text, specials):
        if is_special:
            ids.append(specials[segment])
        else:
            ids.extend(encode_ordinary(segment, pattern, ranks))
    return ids


def decode_bytes(ids: Iterable[int], id_to_bytes: dict[int, bytes] | list[bytes]) -> bytes:
    """Concatenate the bytes of each id (``id_to_bytes`` is a list or a dict)."""
    return b"".join(id_to_bytes[i] for i in ids)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def _count_words(texts: Iterable[str], pattern: str, special_tokens: list[str]) -> Counter:
    """Count words (tuples of byte ids) over all texts, specials cut out."""
    words: Counter = Counter()
    for text in texts:
        for segment, is_special in split_special(text, special_tokens):
            if is_special:
                continue
            for piece in pretokenize(segment, pattern):
                data = piece.encode("utf-8")
                if data:
                    words[tuple(data)] += 1
    return words


def _count_pairs(words: Counter) -> Counter:
    """Count every adjacent (left, right) pair, weighted by the word's count.

    Overlapping occurrences all count: the word ``a a a`` contributes 2 to
    ``(a, a)`` even though only one of them can be merged.
    """
    pairs: Counter = Counter()
    for word, count in words.items():
        for left, right in zip(word, word[1:]):
            pairs[(left, right)] += count
    return pairs


def _replace_pair(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace occurrences of ``pair`` left to right, non-overlapping."""
    out: list[int] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train_bpe(
    texts: list[str],
    vocab_size: int,
    pattern: str,
    special_tokens: list[str] = (),
    min_frequency: int = 2,
) -> tuple[list[tuple[int, int]], list[bytes]]:
    """Learn byte-level BPE merges.  THE semantic spec of seqfast's trainer.

    Input handling
        Each text is split at occurrences of the special-token strings
        (leftmost-longest, :func:`split_special`); the special strings
        themselves are dropped and never learned from.  Each remaining segment
        is pre-tokenized with ``pattern`` (a :data:`PATTERNS` key or a regex;
        ``regex.findall`` semantics) and each non-empty piece's UTF-8 bytes is
        a *word*.  Words are counted over all texts; pieces never merge across
        boundaries.

    Vocabulary
        Ids 0..255 are the single bytes (id == byte value).  Merge ``k``
        (0-based) creates the next free id, whose bytes are the concatenation
        of its two parts -- unless those bytes are already a token (``(ab, c)``
        and later ``(a, bc)``), in which case the merge maps to the existing id
        and no id is used (Hugging Face does the same).  Special tokens get the
        ids after the last token, in the given order.

    Loop (naive, recounts everything each step)
        1. Count every adjacent pair ``(left_id, right_id)`` over all words,
           weighted by word count (overlapping occurrences all count).
        2. Stop if there is no pair, if the best count < ``min_frequency``, or
           if ``len(tokens) + len(special_tokens) >= vocab_size``.
        3. Best pair = highest count; ties broken by the smallest
           ``(left_id, right_id)`` tuple.
        4. Append it to ``merges`` and, in every word, replace its
           occurrences left to right, non-overlapping (``(a, a)`` on ``aaa``
           gives ``[aa, a]``).

    Returns
        ``(merges, id_to_bytes)``: merges as ``[(left_id, right_id), ...]`` and
        ``id_to_bytes`` covering every non-special id (specials are not
        included; their ids follow, in order).

    Raises
        ``ValueError`` if ``vocab_size < 256 + len(special_tokens)``, or if a
        special token is empty or repeated.

    """
    special_tokens = list(special_tokens)
    if any(not s for s in special_tokens):
        raise ValueError("special tokens must be non-empty strings")
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError("special tokens must be distinct")
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than 256 bytes + {len(special_tokens)} special tokens"
        )

    words = _count_words(texts, pattern, special_tokens)
    id_to_bytes: list[bytes] = [bytes([b]) for b in range(256)]
    bytes_to_id: dict[bytes, int] = {b: i for i, b in enumerate(id_to_bytes)}
    merges: list[tuple[int, int]] = []

    while True:
        if len(id_to_bytes) + len(special_tokens) >= vocab_size:
            break
        pairs = _count_pairs(words)
        if not pairs:
            break
        # Highest count first, then the smallest (left, right) tuple.
        best_pair = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best_pair] < min_frequency:
            break
        merged = id_to_bytes[best_pair[0]] + id_to_bytes[best_pair[1]]
        new_id = bytes_to_id.get(merged)
        if new_id is None:  # a merge that recreates an existing token reuses its id
            new_id = len(id_to_bytes)
            id_to_bytes.append(merged)
            bytes_to_id[merged] = new_id
        merges.append(best_pair)
        new_words: Counter = Counter()
        for word, count in words.items():
            new_words[_replace_pair(word, best_pair, new_id)] += count
        words = new_words

    return merges, id_to_bytes
