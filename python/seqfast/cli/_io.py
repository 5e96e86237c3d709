"""What every ``seqfast`` command shares: exit codes, reading inputs and writing outputs,
parsing ids, loading tokenizers, progress on stderr, and the common options (``--threads``:
None or 0 = all threads, as ``num_threads`` in the API)."""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from typing import Optional

import numpy as np

import seqfast
from seqfast import _args, _core
from seqfast._errors import FormatError
from seqfast._batch import as_ids
from seqfast.tokenizer import ENCODINGS, installed_tiktoken_file

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def default_corpus() -> list[str]:
    """The embedded default training corpus: the ``.py`` files of the running interpreter's
    standard library (found with ``sysconfig``, ``site-packages`` excluded), sorted."""
    root = sysconfig.get_paths()["stdlib"]
    out: list[str] = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in ("site-packages", "dist-packages", "__pycache__"))
        out.extend(os.path.join(d, f) for f in sorted(files) if f.endswith(".py"))
    return out




def load_tokenizer(spec: str, pattern: Optional[str] = None) -> seqfast.Tokenizer:
    """``-t`` argument: a ``tokenizer.json``, a ``.tiktoken`` file, or the name of a tiktoken
    encoding whose ranks file an installed package ships (e.g. ``cl100k_base``)."""
    if os.path.exists(spec):
        if os.path.isdir(spec):
            for name in ("tokenizer.json",):
                if os.path.isfile(os.path.join(spec, name)):
                    return seqfast.Tokenizer.from_file(os.path.join(spec, name))
            vocab, merges = os.path.join(spec, "vocab.json"), os.path.join(spec, "merges.txt")
            if os.path.isfile(vocab) and os.path.isfile(merges):
                return seqfast.Tokenizer.from_merges(vocab, merges, pattern or "gpt2")
            raise UsageError(f"{spec} is a directory without tokenizer.json or vocab.json + merges.txt")
        with open(spec, "rb") as f:
            head = f.read(64).lstrip()
        if head.startswith(b"{"):
            return seqfast.Tokenizer.from_file(spec)
        return seqfast.Tokenizer.from_tiktoken(spec, pattern)
    if spec in ENCODINGS:
        try:
            return seqfast.Tokenizer.from_tiktoken(spec, pattern)
        except FileNotFoundError as e:
            raise UsageError(f"tokenizer {spec!r}: {e}") from None
    path = installed_tiktoken_file(spec)
    if path is not None:
        return seqfast.Tokenizer.from_tiktoken(path, pattern)
    raise UsageError(f"tokenizer {spec!r}: no such file, and no installed package ships {spec}.tiktoken "
                     f"(encodings by name: {', '.join(ENCODINGS)})")


class Progress:
    """A one-line progress display on stderr (only on a TTY, never with --quiet)."""

    def __init__(self, quiet: bool):
        self.on = not quiet and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        pct = 100.0 * done / total if total else 100.0
        unit = " MB" if stage == "count" else ""
        scale = 1e6 if stage == "count" else 1
        sys.stderr.write(f"\r{stage:>6}: {pct:5.1f}%  {done / scale:,.0f}/{total / scale:,.0f}{unit}   ")
        sys.stderr.flush()

    def done(self) -> None:
        if self.on:
            sys.stderr.write("\n")


def read_input(path: Optional[str]) -> bytes:
    if path is None or path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def as_text(data: bytes, where: str) -> str:
    return _args.decode_text(data, where)


def write_output(path: Optional[str], data: bytes) -> None:
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with _core.AtomicFile(path) as f:  # temp file + fsync + rename, removed on error
        f.write(data)


def is_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def ids_to_bytes(ids: np.ndarray, fmt: str) -> bytes:
    if fmt == "raw":
        return ids.astype("<u4").tobytes()
    if fmt == "npy":
        import io

        buf = io.BytesIO()
        np.save(buf, ids)
        return buf.getvalue()
    if ids.size == 0:
        return b"\n"
    return (" ".join(map(str, ids.tolist())) + "\n").encode()


def parse_ids(data: bytes, fmt: str, where: str) -> np.ndarray:
    if fmt == "raw":
        if len(data) % 4:
            raise FormatError(f"{where}: raw input has {len(data)} bytes, not a multiple of 4 (uint32 ids)")
        return np.frombuffer(data, dtype="<u4").astype(np.uint32)
    if fmt == "npy":
        import io

        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as e:  # numpy raises several types for corrupt files
            raise FormatError(f"{where}: not a valid .npy file: {e}") from None
        return as_ids(arr.reshape(-1) if arr.ndim > 1 else arr)
    words = data.split()
    try:
        arr = np.array(words, dtype=np.int64) if words else np.zeros(0, dtype=np.int64)
    except (ValueError, OverflowError):
        for i, w in enumerate(words):
            if not w.isdigit() or int(w) > 2**32 - 1:
                shown = w[:24].decode(errors="replace")
                raise FormatError(f"{where}: token {i + 1} is {shown!r}, not a token id (0..{2**32 - 1})") from None
        raise
    return as_ids(arr)


def stream_inputs(inputs) -> list:
    """The command's inputs for the Rust readers (``rust/stdio.rs``): ``None`` for the process's
    own stdin (fd 0, read in Rust), the bytes of a replaced ``sys.stdin`` (an embedding, the
    in-process tests), else the path."""
    out = []
    for p in inputs or ["-"]:
        if p == "-":
            out.append(None if is_fd(sys.stdin, 0) else sys.stdin.buffer.read())
        else:
            out.append(p)
    return out


def to_fd1() -> bool:
    """Whether output goes to the process's own stdout (fd 1), which Rust then writes directly."""
    if not is_fd(sys.stdout, 1):
        return False
    sys.stdout.flush()  # anything Python buffered goes first
    return True


def _int_arg(s: str, lo: int, hi: Optional[int] = None) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v < lo or (hi is not None and v > hi):
        raise argparse.ArgumentTypeError(f"{s} must be {'> 0' if lo == 1 and hi is None else f'between {lo} and {hi}'}")
    return v


def positive_int(s: str) -> int:
    """argparse type: an int > 0."""
    return _int_arg(s, 1)


def threads_arg(s: str) -> int:
    """argparse type of ``--threads``: ``num_threads``'s rule (0: all threads, else 1..1024)."""
    return _int_arg(s, 0, _args.MAX_THREADS)


def add_common(sp: argparse.ArgumentParser, tokenizer: bool = True) -> None:
    """``--threads``, ``-q`` and (``tokenizer``) ``-t`` / ``--pattern``."""
    sp.add_argument("--threads", type=threads_arg, default=None, help="threads (default or 0: all, or SEQFAST_NUM_THREADS)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr")
    if tokenizer:
        sp.add_argument("-t", "--tokenizer", required=True, help="tokenizer.json, .tiktoken file, or an installed encoding name such as cl100k_base")
        sp.add_argument("--pattern", default=None, help="pre-tokenizer for .tiktoken files: gpt2, cl100k, o200k or a regex")
