"""The stubs of the extension cover all of it (``.ci/run`` also runs ``mypy.stubtest``, which
checks every signature against the built module), and the package says it is typed."""

import ast
import pathlib

import seqfast
from seqfast import _core

PKG = pathlib.Path(seqfast.__file__).parent


def test_core_stub_names_every_export():
    tree = ast.parse((PKG / "_core.pyi").read_text(encoding="utf-8"))
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    names |= {t.id for n in tree.body if isinstance(n, (ast.AnnAssign, ast.Assign))
              for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    assert set(_core.__all__) <= names, sorted(set(_core.__all__) - names)


def test_py_typed_marker():
    assert (PKG / "py.typed").exists()
