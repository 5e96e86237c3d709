"""``seqfast train | encode | decode | count | info`` and ``seqfast ngram count``: tokenizers and
n-gram counts from the command line."""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time

import seqfast
from seqfast._errors import SeqfastError
from seqfast.cli import _io
from seqfast.cli._io import (
    EXIT_OK,
    Progress,
    UsageError,
    add_common,
    as_text,
    ids_to_bytes,
    is_fd,
    load_tokenizer,
    parse_ids,
    positive_int,
    read_input,
    stream_inputs,
    write_output,
)


def cmd_train(a: argparse.Namespace) -> int:
    progress = Progress(a.quiet)
    specials = a.special or []
    if not a.files:
        files = _io.default_corpus()  # looked up at call time: tests replace it
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
            texts=[as_text(read_input("-"), "<stdin>")],
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
    text = as_text(read_input(a.input), a.input or "<stdin>")
    if a.lines:
        lines = text.splitlines()
        batch = tok.encode_batch(lines, special=a.special, num_threads=a.threads)
        if a.format == "text":
            out = "".join(" ".join(map(str, row.tolist())) + "\n" for row in batch).encode()
        else:
            out = ids_to_bytes(batch.pad(pad_id=a.pad_id)[0], a.format)  # (lines, L), padded
        write_output(a.output, out)
        return EXIT_OK
    ids = tok.encode_large(text, special=a.special, num_threads=a.threads)
    write_output(a.output, ids_to_bytes(ids, a.format))
    return EXIT_OK


def cmd_encode(a: argparse.Namespace) -> int:
    """text/raw stream through the Rust encoder in constant memory; npy and --lines need the
    whole input (an .npy header states the length up front)."""
    inp_std, out_std = a.input in (None, "-"), a.output in (None, "-")
    if a.lines or a.format == "npy" or (inp_std and not is_fd(sys.stdin, 0)) or (out_std and not is_fd(sys.stdout, 1)):
        return _encode_in_memory(a)  # also when stdin/stdout are not the process's own (embedding, tests)
    tok = load_tokenizer(a.tokenizer, a.pattern)
    inp = None if a.input in (None, "-") else a.input
    out = None if a.output in (None, "-") else a.output
    sys.stdout.flush()
    tok.encode_file(inp, out, format=a.format, special=a.special, num_threads=a.threads)
    return EXIT_OK


def cmd_decode(a: argparse.Namespace) -> int:
    tok = load_tokenizer(a.tokenizer, a.pattern)
    ids = parse_ids(read_input(a.input), a.format, a.input or "<stdin>")
    if a.errors == "bytes":
        write_output(a.output, tok.decode_bytes(ids))
    else:
        write_output(a.output, tok.decode(ids, errors=a.errors).encode("utf-8", errors="surrogateescape"))
    return EXIT_OK


def cmd_count(a: argparse.Namespace) -> int:
    tok = load_tokenizer(a.tokenizer, a.pattern)
    inputs = a.inputs or ["-"]
    total = 0
    for p in inputs:
        where = "<stdin>" if p == "-" else p
        n = len(tok.encode_large(as_text(read_input(p), where), special=a.special, num_threads=a.threads))
        total += n
        if len(inputs) > 1:
            print(f"{n}\t{where}")
    print(total if len(inputs) == 1 else f"{total}\ttotal")
    return EXIT_OK


def cmd_ngram_count(a: argparse.Namespace) -> int:
    """Word counts read their text in Rust (``_core.ngram_words_inputs``: no Python string of the
    corpus); counting a tokenizer's ids goes through ``encode_batch`` of the lines."""
    from seqfast import _core, ngram

    inputs = a.inputs or ["-"]
    vocab: list[str] = []
    if a.tokenizer:
        if a.frame:
            raise UsageError("--frame needs word input (no -t): a tokenizer has no <s>/</s> ids")
        text = "".join(as_text(read_input(p), "<stdin>" if p == "-" else p) + "\n" for p in inputs)
        tok = load_tokenizer(a.tokenizer, a.pattern)
        batch = tok.encode_batch([ln for ln in text.splitlines() if ln.strip()], special="text", num_threads=a.threads)
        counts = ngram.count(batch, order=a.order, num_threads=a.threads)
    else:
        ids, offsets, vocab = _core.ngram_words_inputs(stream_inputs(inputs), ["<s>", "</s>"] if a.frame else [], a.threads)
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


def add_parsers(sub) -> None:
    """The tokenizer commands and ``ngram count``."""
    t = sub.add_parser("train", help="train a byte-level BPE tokenizer")
    t.add_argument("files", nargs="*", help="UTF-8 text files ('-' for stdin); none: the Python standard library sources")
    t.add_argument("--vocab-size", type=positive_int, default=32000)
    t.add_argument("-o", "--output", required=True, help="output tokenizer.json (or .tiktoken)")
    t.add_argument("--pattern", default="cl100k", help="pre-tokenizer: gpt2, cl100k, o200k or a regex (default cl100k)")
    t.add_argument("--special", action="append", metavar="TOKEN", help="special token string (repeatable)")
    t.add_argument("--min-frequency", type=int, default=2)
    t.add_argument("--format", choices=["json", "tiktoken"], default=None)
    t.add_argument("--force", action="store_true", help="write .tiktoken even if tiktoken would merge differently")
    add_common(t, tokenizer=False)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("encode", help="text -> token ids")
    e.add_argument("input", nargs="?", help="input file (default stdin)")
    e.add_argument("-o", "--output", help="output file (default stdout)")
    e.add_argument("--format", choices=["text", "npy", "raw"], default="text", help="ids as text, .npy or raw little-endian uint32")
    e.add_argument("--lines", action="store_true", help="encode each line separately (npy/raw: padded (lines, L))")
    e.add_argument("--pad-id", type=int, default=0)
    e.add_argument("--special", choices=["error", "special", "text"], default="error")
    add_common(e)
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="token ids -> text")
    d.add_argument("input", nargs="?", help="input file (default stdin)")
    d.add_argument("-o", "--output", help="output file (default stdout)")
    d.add_argument("--format", choices=["text", "npy", "raw"], default="text")
    d.add_argument("--errors", choices=["strict", "replace", "ignore", "bytes"], default="replace", help="invalid UTF-8 policy ('bytes': write raw bytes)")
    add_common(d)
    d.set_defaults(func=cmd_decode)

    c = sub.add_parser("count", help="count tokens of files or stdin")
    c.add_argument("inputs", nargs="*")
    c.add_argument("--special", choices=["error", "special", "text"], default="text",
                   help="special-token strings in the text: 'text' (default) counts them as ordinary text, as tiktoken's "
                        "encode_ordinary does; 'special' counts each as one special token; 'error' fails on them")
    add_common(c)
    c.set_defaults(func=cmd_count)

    ng = sub.add_parser("ngram", help="n-gram tools")
    ngsub = ng.add_subparsers(dest="ngram_command", metavar="NGRAM_COMMAND", required=True)
    nc = ngsub.add_parser("count", help="count n-grams of text files (words, or a tokenizer's ids)")
    nc.add_argument("inputs", nargs="*", help="UTF-8 text, one sentence per line (default stdin)")
    nc.add_argument("--order", type=positive_int, default=3)
    nc.add_argument("-o", "--output", required=True, help="output .npz (counts per order, plus the word vocabulary)")
    nc.add_argument("-t", "--tokenizer", default=None, help="count a tokenizer's ids instead of whitespace words")
    nc.add_argument("--pattern", default=None)
    nc.add_argument("--frame", action="store_true", help="frame sentences with <s> and </s> (ids 0 and 1)")
    add_common(nc, tokenizer=False)
    nc.set_defaults(func=cmd_ngram_count)


def add_info_parser(sub) -> None:
    i = sub.add_parser("info", help="describe a tokenizer")
    i.add_argument("tokenizer")
    i.add_argument("--pattern", default=None)
    i.set_defaults(func=cmd_info)
