"""Exception classes. The Rust extension defines them; this module adds the Python-only one."""

from seqfast._core import (  # noqa: F401  (re-exported)
    DecodeError,
    FormatError,
    SeqfastError,
    ShapeError,
    SpecialTokenError,
    VocabError,
)


class ArgumentTypeError(SeqfastError, TypeError):
    """An argument has the wrong type. Both a :class:`SeqfastError` and a :class:`TypeError`."""


__all__ = [
    "SeqfastError",
    "ShapeError",
    "VocabError",
    "FormatError",
    "SpecialTokenError",
    "DecodeError",
    "ArgumentTypeError",
]
