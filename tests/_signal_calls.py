"""Run in a subprocess by test_signals.py: each long call gets SIGINT 0.3 s after it starts,
must raise KeyboardInterrupt, and afterwards the objects it used must still give the right
answers. Prints one JSON line per call: name, latency (s from the signal to the exception),
completed (True if the call ended before the signal was sent: the input was too small), ok (the
follow-up call agreed with the reference computed before).

    python tests/_signal_calls.py WORKDIR
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import numpy as np

import _pipeline_work as work  # the script's folder (tests/) is sys.path[0]
import seqfast
from seqfast import ngram, nn, search

DELAY = 0.3
LIMIT = 0.2  # test_signals.py's bound: a call slower than this is run once more (see below)


def interrupted(name: str, fn, check=lambda: True) -> None:
    """Interrupt fn() 0.3 s in. The signal lands at a random point between two checks, and this
    2-core machine sometimes stalls a thread for 100 ms, so a latency above LIMIT is measured
    once more: a call that is really too coarse fails twice."""
    first = _interrupted_once(fn, check)
    row = first if first["latency"] is None or first["latency"] < LIMIT else dict(_interrupted_once(fn, check), first=first["latency"])
    print(json.dumps(dict(row, name=name)), flush=True)


def _interrupted_once(fn, check) -> dict:
    sent = []

    def fire():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(DELAY, fire)
    t0 = time.monotonic()
    timer.start()
    completed, latency = False, None
    try:
        fn()
        # Finished before the signal was even sent: the input is too small to test. (Finished
        # after it was sent is the race this test accepts: the call ended between two checks,
        # and the KeyboardInterrupt then arrives right after it; its latency still counts.)
        completed = not sent
        timer.join()
        time.sleep(0.5)  # let a late KeyboardInterrupt land here, not in the next call
    except KeyboardInterrupt:
        latency = time.monotonic() - sent[0] if sent else None
    timer.join()
    took = time.monotonic() - t0
    return {"latency": latency, "completed": completed, "took": took, "ok": bool(check())}


def only(workdir: str, names: list, output: str = None, last_line: bytes = b"") -> bool:
    """No temporary file was left beside the inputs, and the output is absent, or complete (a
    signal in the microseconds between the last check and the rename lets the write finish)."""
    extra = sorted(set(os.listdir(workdir)) - set(names))
    if not extra:
        return True
    if extra != [output]:
        return False
    with open(os.path.join(workdir, output), "rb") as f:
        f.seek(max(0, os.path.getsize(f.name) - 64))
        ok = f.read().rstrip(b"\n").endswith(last_line)
    os.unlink(os.path.join(workdir, output))
    return ok


def main(workdir: str) -> None:
    text = work.zipf_text(3_000_000, seed=5)
    lines = text.splitlines()
    small = lines[:3000]
    tok = seqfast.train_bpe(texts=lines[:20000], vocab_size=2000)
    ref_ids = tok.encode_batch(small).ids
    lm = ngram.NgramLM.fit("\n".join(small) + "\n", order=3)
    ref_scores = lm.score_batch(small)["total"]

    rng = np.random.default_rng(0)
    big_ids = (rng.zipf(1.3, 50_000_000) % 200_000).astype(np.uint32)
    ref_counts = ngram.count(big_ids[:100_000], order=3).ngrams(3)[1]
    interrupted("ngram.count (50M tokens, order 3)", lambda: ngram.count(big_ids, order=3),
                lambda: np.array_equal(ngram.count(big_ids[:100_000], order=3).ngrams(3)[1], ref_counts))
    interrupted("ngram.count (50M tokens, order 5)", lambda: ngram.count(big_ids, order=5),
                lambda: np.array_equal(ngram.count(big_ids[:100_000], order=3).ngrams(3)[1], ref_counts))
    del big_ids

    spelled = work.zipf_text(3_000_000, vocab=2_000_000, seed=6, letters=True).splitlines()
    interrupted("train_bpe (6M words, vocab 100000)", lambda: seqfast.train_bpe(texts=spelled * 2, vocab_size=100_000),
                lambda: np.array_equal(tok.encode_batch(small).ids, ref_ids))
    many = lines * 4
    interrupted(f"encode_batch ({len(many)} texts)", lambda: tok.encode_batch(many),
                lambda: np.array_equal(tok.encode_batch(small).ids, ref_ids))
    interrupted("encode (one 66 MB text)", lambda: tok.encode(text * 3),
                lambda: np.array_equal(tok.encode_batch(small).ids, ref_ids))
    path = os.path.join(workdir, "big.txt")
    with open(path, "w") as f:
        f.write(text * 3)
    out = os.path.join(workdir, "ids.txt")
    interrupted("encode_file (66 MB)", lambda: tok.encode_file(path, out),
                lambda: only(workdir, ["big.txt"], "ids.txt") and np.array_equal(tok.encode_batch(small).ids, ref_ids))

    interrupted("NgramLM.fit (3M words, order 5)", lambda: ngram.NgramLM.fit(text, order=5),
                lambda: np.array_equal(lm.score_batch(small)["total"], ref_scores))
    big_lm = ngram.NgramLM.fit(text, order=5)  # its to_arpa takes ~0.5 s here (order 4: 0.31 s, too close to the 0.3 s delay)
    arpa = os.path.join(workdir, "m.arpa")
    interrupted("to_arpa", lambda: big_lm.to_arpa(arpa), lambda: only(workdir, ["big.txt"], "m.arpa", b"\\end\\"))
    big_lm.to_arpa(arpa)
    interrupted("from_arpa", lambda: ngram.NgramLM.from_arpa(arpa), lambda: np.array_equal(lm.score_batch(small)["total"], ref_scores))
    interrupted("score_batch", lambda: [big_lm.score_batch(lines) for _ in range(20)],
                lambda: np.array_equal(lm.score_batch(small)["total"], ref_scores))
    del big_lm

    x = rng.standard_normal((128, 400, 512)).astype(np.float32)
    m = nn.LSTM(512, 512, seed=1)
    xs = x[:2, :20]
    ref_y = nn.lstm_forward(xs, m.parameters(), requires_grad=False)[0]
    interrupted("lstm_forward (B=128, T=400, 512)", lambda: nn.lstm_forward(x, m.parameters(), requires_grad=False),
                lambda: np.array_equal(nn.lstm_forward(xs, m.parameters(), requires_grad=False)[0], ref_y))
    del x

    emb = rng.standard_normal((4000, 256)).astype(np.float32) * 0.1
    w = {k: v for k, v in nn.LSTM(256, 512, seed=2).parameters().items()}
    dec = search.LSTMDecoder(emb, w, rng.standard_normal((4000, 512)).astype(np.float32) * 0.1)
    interrupted("beam_search (native LSTM decoder)", lambda: search.beam_search(dec, batch_size=64, beam_width=8, max_len=400, bos=0, eos=1))


if __name__ == "__main__":
    main(sys.argv[1])
