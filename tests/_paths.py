"""Where things are, for tests in any family folder: ``TESTS`` (this folder, on ``sys.path`` by
``pythonpath = ["tests"]`` in pyproject.toml), ``DATA`` (tests/data) and ``ROOT`` (the repository).

Import with ``from _paths import DATA`` rather than building paths from a test file's
``__file__`` (test files live one folder down, helpers and data here)."""

from __future__ import annotations

import pathlib

TESTS = pathlib.Path(__file__).resolve().parent
DATA = TESTS / "data"
ROOT = TESTS.parent
