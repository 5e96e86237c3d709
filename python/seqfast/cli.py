"""The ``seqfast`` command line tool.

stdin to stdout by default; errors are one line on stderr; exit codes 0 ok, 1 failed, 2 bad
usage. Progress goes to stderr, only on a TTY and without ``--quiet``.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from typing import Optional, Sequence

import numpy as np

import seqfast
from seqfast._errors import ArgumentTypeError, SeqfastError
from seqfast.tokenizer import ENCODINGS
from seqfast.tokenizer import installed_tiktoken_file as _installed_tiktoken_file

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


# ---- helpers --------------------------------------------------------------------------------


def default_corpus() -> list[str]:
    """The embedded default training corpus: the ``.py`` files of the running interpreter's
    standard library (found with ``sysconfig``, ``site-packages`` excluded), sorted."""
    root = sysconfig.get_paths()["stdlib"]
    out = []
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
    path = _installed_tiktoken_file(spec)
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


def _read_input(path: Optional[str]) -> bytes:
    if path is None or path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _as_text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SeqfastError(f"{where}: line {line}: not valid UTF-8 (byte {e.start})") from None


def _write_output(path: Optional[str], data: bytes) -> None:
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with seqfast._core.AtomicFile(path) as f:  # temp file + fsync + rename, removed on error
        f.write(data)


def _is_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def _ids_to_bytes(ids: np.ndarray, fmt: str) -> bytes:
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


def _parse_ids(data: bytes, fmt: str, where: str) -> np.ndarray:
    if fmt == "raw":
        if len(data) % 4:
            raise SeqfastError(f"{where}: raw input has {len(data)} bytes, not a multiple of 4 (uint32 ids)")
        return np.frombuffer(data, dtype="<u4").astype(np.uint32)
    if fmt == "npy":
        import io

        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as e:  # numpy raises several types for corrupt files
            raise SeqfastError(f"{where}: not a valid .npy file: {e}") from None
        return seqfast.tokenizer.as_ids(arr.reshape(-1) if arr.ndim > 1 else arr)
    words = data.split()
    try:
        arr = np.array(words, dtype=np.int64) if words else np.zeros(0, dtype=np.int64)
    except (ValueError, OverflowError):
        for i, w in enumerate(words):
            if not w.isdigit() or int(w) > 2**32 - 1:
                shown = w[:24].decode(errors="replace")
                raise SeqfastError(f"{where}: token {i + 1} is {shown!r}, not a token id (0..{2**32 - 1})") from None
        raise
    return seqfast.tokenizer.as_ids(arr)


# ---- commands -------------------------------------------------------------------------------


def cmd_train(a: argparse.Namespace) -> int:
    progress = Progress(a.quiet)
    specials = a.special or []
    if not a.files:
        files = default_corpus()
        if not files:
            raise SeqfastError("no input files and the default corpus (the Python standard library) was not found")
        if not a.quiet:
            print(f"training on the default corpus: {len(files)} .py files of {sysconfig.get_paths()['stdlib']}", file=sys.stderr)
        skip = True
    else:
        files = a.files
        skip = False
    t0 = time.perf_counter()
    if files == ["-"]:
        tok = seqfast.train_bpe(
            texts=[_as_text(_read_input("-"), "<stdin>")],
            vocab_size=a.vocab_size,
            pattern=a.pattern,
            special_tokens=specials,
            min_frequency=a.min_frequency,
            num_threads=a.threads,
            progress=progress,
        )
    else:
        tok = seqfast.train_bpe(
            files,
            a.vocab_size,
            pattern=a.pattern,
            special_tokens=specials,
            min_frequency=a.min_frequency,
            num_threads=a.threads,
            progress=progress,
            skip_invalid_files=skip,
        )
    progress.done()
    dt = time.perf_counter() - t0
    fmt = a.format or ("tiktoken" if a.output.endswith(".tiktoken") else "json")
    if fmt == "tiktoken":
        tok.save_tiktoken(a.output, force=a.force)
    else:
        tok.save(a.output)
    if not a.quiet:
        print(f"trained {tok.vocab_size} ids ({tok.n_merges} merges) in {dt:.2f} s -> {a.output}", file=sys.stderr)
    return EXIT_OK


def _encode_in_memory(a: argparse.Namespace) -> int:
    tok = load_tokenizer(a.tokenizer, a.pattern)
    text = _as_text(_read_input(a.input), a.input or "<stdin>")
    if a.lines:
        lines = text.splitlines()
        batch = tok.encode_batch(lines, special=a.special, num_threads=a.threads)
        if a.format == "text":
            out = "".join(" ".join(map(str, row.tolist())) + "\n" for row in batch).encode()
        else:
            ids, mask = batch.pad(pad_id=a.pad_id)
            if a.format == "raw":
                out = ids.astype("<u4").tobytes()
            else:
                import io

                buf = io.BytesIO()
                np.save(buf, ids)
                out = buf.getvalue()
        _write_output(a.output, out)
        return EXIT_OK
    ids = tok.encode_large(text, special=a.special, num_threads=a.threads)
    _write_output(a.output, _ids_to_bytes(ids, a.format))
    return EXIT_OK


def cmd_encode(a: argparse.Namespace) -> int:
    """text/raw stream through the Rust encoder in constant memory; npy and --lines need the
    whole input (an .npy header states the length up front)."""
    inp_std, out_std = a.input in (None, "-"), a.output in (None, "-")
    if a.lines or a.format == "npy" or (inp_std and not _is_fd(sys.stdin, 0)) or (out_std and not _is_fd(sys.stdout, 1)):
        return _encode_in_memory(a)  # also when stdin/stdout are not the process's own (embedding, tests)
    tok = load_tokenizer(a.tokenizer, a.pattern)
    inp = None if a.input in (None, "-") else a.input
    out = None if a.output in (None, "-") else a.output
    sys.stdout.flush()
    tok.encode_file(inp, out, format=a.format, special=a.special, num_threads=a.threads)
    return EXIT_OK


def cmd_decode(a: argparse.Namespace) -> int:
    tok = load_tokenizer(a.tokenizer, a.pattern)
    ids = _parse_ids(_read_input(a.input), a.format, a.input or "<stdin>")
    if a.errors == "bytes":
        _write_output(a.output, tok.decode_bytes(ids))
    else:
        _write_output(a.output, tok.decode(ids, errors=a.errors).encode("utf-8", errors="surrogateescape"))
    return EXIT_OK


def cmd_count(a: argparse.Namespace) -> int:
    tok = load_tokenizer(a.tokenizer, a.pattern)
    inputs = a.inputs or ["-"]
    total = 0
    for p in inputs:
        where = "<stdin>" if p == "-" else p
        n = len(tok.encode_large(_as_text(_read_input(p), where), special=a.special, num_threads=a.threads))
        total += n
        if len(inputs) > 1:
            print(f"{n}\t{where}")
    print(total if len(inputs) == 1 else f"{total}\ttotal")
    return EXIT_OK


def cmd_ngram_count(a: argparse.Namespace) -> int:
    """Word counts read their text in Rust (``_core.ngram_words_inputs``: no Python string of the
    corpus); counting a tokenizer's ids goes through ``encode_batch`` of the lines."""
    from seqfast import _core, ngram
    from seqfast._cli_lm import stream_inputs
    from seqfast.tokenizer import _check_threads

    inputs = a.inputs or ["-"]
    vocab: list[str] = []
    if a.tokenizer:
        if a.frame:
            raise UsageError("--frame needs word input (no -t): a tokenizer has no <s>/</s> ids")
        text = "".join(_as_text(_read_input(p), "<stdin>" if p == "-" else p) + "\n" for p in inputs)
        tok = load_tokenizer(a.tokenizer, a.pattern)
        batch = tok.encode_batch([ln for ln in text.splitlines() if ln.strip()], special="text", num_threads=a.threads)
        counts = ngram.count(batch, order=a.order, num_threads=a.threads)
    else:
        ids, offsets, vocab = _core.ngram_words_inputs(stream_inputs(inputs), ["<s>", "</s>"] if a.frame else [], _check_threads(a.threads))
        bos, eos = (0, 1) if a.frame else (None, None)
        counts = ngram.count((ids, offsets), order=a.order, bos=bos, eos=eos, num_threads=a.threads)
    counts.save(a.output, vocab=vocab)
    if not a.quiet:
        for n in range(1, counts.order + 1):
            print(f"{n}-grams: {counts.num_ngrams(n):,} distinct, {counts.total(n):,} total", file=sys.stderr)
    return EXIT_OK


def cmd_info(a: argparse.Namespace) -> int:
    tok = load_tokenizer(a.tokenizer, a.pattern)
    print(f"vocab_size:     {tok.vocab_size}")
    print(f"merges:         {tok.n_merges}")
    print(f"merge rule:     {tok.merge_rule}")
    print(f"pattern:        {tok.pattern}")
    if tok.pattern != tok.pattern_regex:
        print(f"pattern regex:  {tok.pattern_regex}")
    specials = tok.special_tokens
    print(f"special tokens: {len(specials)}")
    for s, i in sorted(specials.items(), key=lambda x: x[1]):
        print(f"  {i}\t{s}")
    return EXIT_OK


# ---- parser ---------------------------------------------------------------------------------


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{s} must be > 0")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seqfast",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fast, exact classic sequence modelling on the CPU: byte-level BPE tokenizers (train, encode, decode,\n"
        "count; tiktoken and Hugging Face files), n-gram counts and language models (Kneser-Ney identical to KenLM's\n"
        "lmplz, ARPA in and out, scoring, perplexity) and decoding (beam search, sampling). The recurrent and\n"
        "attention kernels are in the Python API (seqfast.nn).",
        epilog="examples:\n"
        "  seqfast train --vocab-size 4096 -o tok.json      # BPE on the default corpus (the stdlib sources)\n"
        "  seqfast count -t cl100k_base README.md           # tokens of a file with an installed encoding\n"
        "  seqfast lm build -o 3 train.txt --arpa lm.arpa    # a Kneser-Ney model, like lmplz\n"
        "run 'seqfast COMMAND --help' for a command's options",
    )
    p.add_argument("--version", action="version", version=f"seqfast {seqfast.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp, tokenizer: bool = True):
        sp.add_argument("--threads", type=_positive_int, default=None, help="threads (default: all, or SEQFAST_NUM_THREADS)")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr")
        if tokenizer:
            sp.add_argument("-t", "--tokenizer", required=True, help="tokenizer.json, .tiktoken file, or an installed encoding name such as cl100k_base")
            sp.add_argument("--pattern", default=None, help="pre-tokenizer for .tiktoken files: gpt2, cl100k, o200k or a regex")

    t = sub.add_parser("train", help="train a byte-level BPE tokenizer")
    t.add_argument("files", nargs="*", help="UTF-8 text files ('-' for stdin); none: the Python standard library sources")
    t.add_argument("--vocab-size", type=_positive_int, default=32000)
    t.add_argument("-o", "--output", required=True, help="output tokenizer.json (or .tiktoken)")
    t.add_argument("--pattern", default="cl100k", help="pre-tokenizer: gpt2, cl100k, o200k or a regex (default cl100k)")
    t.add_argument("--special", action="append", metavar="TOKEN", help="special token string (repeatable)")
    t.add_argument("--min-frequency", type=int, default=2)
    t.add_argument("--format", choices=["json", "tiktoken"], default=None)
    t.add_argument("--force", action="store_true", help="write .tiktoken even if tiktoken would merge differently")
    common(t, tokenizer=False)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("encode", help="text -> token ids")
    e.add_argument("input", nargs="?", help="input file (default stdin)")
    e.add_argument("-o", "--output", help="output file (default stdout)")
    e.add_argument("--format", choices=["text", "npy", "raw"], default="text", help="ids as text, .npy or raw little-endian uint32")
    e.add_argument("--lines", action="store_true", help="encode each line separately (npy/raw: padded (lines, L))")
    e.add_argument("--pad-id", type=int, default=0)
    e.add_argument("--special", choices=["error", "special", "text"], default="error")
    common(e)
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="token ids -> text")
    d.add_argument("input", nargs="?", help="input file (default stdin)")
    d.add_argument("-o", "--output", help="output file (default stdout)")
    d.add_argument("--format", choices=["text", "npy", "raw"], default="text")
    d.add_argument("--errors", choices=["strict", "replace", "ignore", "bytes"], default="replace", help="invalid UTF-8 policy ('bytes': write raw bytes)")
    common(d)
    d.set_defaults(func=cmd_decode)

    c = sub.add_parser("count", help="count tokens of files or stdin")
    c.add_argument("inputs", nargs="*")
    c.add_argument("--special", choices=["error", "special", "text"], default="text",
                   help="special-token strings in the text: 'text' (default) counts them as ordinary text, as tiktoken's "
                        "encode_ordinary does; 'special' counts each as one special token; 'error' fails on them")
    common(c)
    c.set_defaults(func=cmd_count)

    ng = sub.add_parser("ngram", help="n-gram tools")
    ngsub = ng.add_subparsers(dest="ngram_command", metavar="NGRAM_COMMAND", required=True)
    nc = ngsub.add_parser("count", help="count n-grams of text files (words, or a tokenizer's ids)")
    nc.add_argument("inputs", nargs="*", help="UTF-8 text, one sentence per line (default stdin)")
    nc.add_argument("--order", type=_positive_int, default=3)
    nc.add_argument("-o", "--output", required=True, help="output .npz (counts per order, plus the word vocabulary)")
    nc.add_argument("-t", "--tokenizer", default=None, help="count a tokenizer's ids instead of whitespace words")
    nc.add_argument("--pattern", default=None)
    nc.add_argument("--frame", action="store_true", help="frame sentences with <s> and </s> (ids 0 and 1)")
    nc.add_argument("--threads", type=_positive_int, default=None)
    nc.add_argument("-q", "--quiet", action="store_true")
    nc.set_defaults(func=cmd_ngram_count)

    from seqfast._cli_lm import add_parsers as add_lm_parsers

    add_lm_parsers(sub, _positive_int)

    i = sub.add_parser("info", help="describe a tokenizer")
    i.add_argument("tokenizer")
    i.add_argument("--pattern", default=None)
    i.set_defaults(func=cmd_info)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as e:  # argparse: 2 on bad usage, 0 on --help
        return int(e.code or 0)
    if not getattr(a, "command", None):
        parser.print_usage(sys.stderr)
        print("seqfast: error: a command is required", file=sys.stderr)
        return EXIT_USAGE
    try:
        return a.func(a)
    except UsageError as e:
        print(f"seqfast {a.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ArgumentTypeError, TypeError) as e:
        print(f"seqfast {a.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `seqfast encode ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except (SeqfastError, OSError, ValueError, OverflowError) as e:
        print(f"seqfast {a.command}: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print(f"seqfast {a.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
