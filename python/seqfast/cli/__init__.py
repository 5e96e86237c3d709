"""The ``seqfast`` command line tool: ``seqfast train | encode | decode | count | info | ngram | lm
| generate``.

stdin to stdout by default; errors are one line on stderr; exit codes 0 ok, 1 failed, 2 bad
usage. Progress goes to stderr, only on a TTY and without ``--quiet``. ``--threads`` follows
``num_threads``'s rule: 0 (or no option) uses all threads.

The commands live in ``_tok.py`` (tokenizers, n-gram counts) and ``_lm.py`` (n-gram LMs,
generation); what they share (inputs, outputs, options) in ``_io.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

import seqfast
from seqfast._errors import ArgumentTypeError, SeqfastError
from seqfast.cli import _lm, _tok
from seqfast.cli._io import EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError, default_corpus, load_tokenizer  # noqa: F401  (public)

__all__ = ["main", "build_parser", "default_corpus", "load_tokenizer", "UsageError", "EXIT_OK", "EXIT_FAIL", "EXIT_USAGE"]


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
    _tok.add_parsers(sub)
    _lm.add_parsers(sub)
    _tok.add_info_parser(sub)
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
