"""Slow, readable Unigram tokenization with Hugging Face `tokenizers` semantics.

The reference for `rust/tokenize/pipeline/unigram.rs`. A piece is split into the sequence of
vocabulary pieces of maximal total score (Viterbi over UTF-8 byte positions, as HF's
`encode_optimized`):

- for each character start p (left to right), every vocabulary piece that starts at p offers
  best[p] + score to best[p + len(piece)], which takes it only when unset or strictly smaller;
- when no piece is exactly the character at p, the unknown token offers
  best[p] + min_score - 10 (min over all pieces) to the character's end (an error if the
  model has no unk id and that offer would be taken);
- the path is read back from the end; consecutive nodes whose id is the unk id are fused into
  one token; a token's id is the id of its string (the last id for a repeated piece), else
  with byte_fallback one `<0xXX>` token per UTF-8 byte when all exist, else the unk id.

Tokens are (id, start, end) with byte offsets into the piece; every byte token of a fused run
spans the whole run.
"""

from __future__ import annotations


class UnigramRef:
    def __init__(self, pieces: list[tuple[str, float]], unk_id: int | None, byte_fallback: bool = False):
        if unk_id is not None and not (0 <= unk_id < len(pieces)):
            raise ValueError("unk_id out of range")
        self.pieces = list(pieces)
        self.unk_id = unk_id
        self.byte_fallback = byte_fallback
        self.ids = {}
        for i, (s, _) in enumerate(pieces):
            self.ids[s.encode()] = i  # the last id wins for a repeated piece
        self.min_score = min((s for _, s in pieces), default=float("inf"))
        self.max_len = max((len(s.encode()) for s, _ in pieces), default=0)

    def tokenize(self, piece: str) -> list[tuple[int, int, int]]:
        text = piece.encode()
        n = len(text)
        if n == 0:
            return []
        # best[i] = (score, start, id) of the best path ending at byte i; start None = unset.
        best: list[list] = [[0.0, None, 0] for _ in range(n + 1)]
        starts = [i for i in range(n) if text[i] & 0xC0 != 0x80]
        for k, p in enumerate(starts):
            clen = (starts[k + 1] if k + 1 < len(starts) else n) - p
            till = best[p][0]
            single = False
            for q in range(p + 1, min(n, p + self.max_len) + 1):
                i = self.ids.get(text[p:q])
                if i is None:
                    continue
                cand = till + self.pieces[i][1]
                if best[q][1] is None or cand > best[q][0]:
                    best[q] = [cand, p, i]
                if q - p == clen:
                    single = True
            if not single:
                cand = till + (self.min_score - 10.0)  # HF adds a precomputed unk score
                q = p + clen
                if best[q][1] is None or cand > best[q][0]:
                    if self.unk_id is None:
                        raise KeyError(f"unknown character at byte {p} and no unk id")
                    best[q] = [cand, p, self.unk_id]
        # Read the path back, then fuse runs of unk nodes.
        path = []
        end = n
        while end > 0:
            _, start, i = best[end]
            path.append((start, end, i))
            end = start
        path.reverse()
        out: list[tuple[int, int, int]] = []
        k = 0
        while k < len(path):
            start, end, i = path[k]
            if i == self.unk_id:
                while k + 1 < len(path) and path[k + 1][2] == self.unk_id:
                    k += 1
                    end = path[k][1]
                out.extend(self._fused(text[start:end], start, end))
            else:
                out.append((i, start, end))
            k += 1
        return out

    def _fused(self, s: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
        if s in self.ids:
            return [(self.ids[s], start, end)]
        if self.byte_fallback:
            byte_ids = [self.ids.get(f"<0x{b:02X}>".encode()) for b in s]
            if all(i is not None for i in byte_ids):
                return [(i, start, end) for i in byte_ids]
        if self.unk_id is None:
            raise KeyError(f"unknown characters at byte {start} and no unk id")
        return [(self.unk_id, start, end)]

    def encode(self, piece: str) -> list[int]:
        return [t[0] for t in self.tokenize(piece)]
