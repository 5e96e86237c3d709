"""Shared by the seqfast.torch tests: tolerances, a tensor comparison and an autouse fixture
that runs torch on one thread (import ``_one_thread`` into a test module to use it). Import only
after ``pytest.importorskip("torch")``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

TOL32, TOL64 = 2e-5, 1e-10  # tests/nn/test_nn_reference_rnn.py: outputs and dx; parameters get 10x


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def close(name, got, want, tol):
    got, want = got.detach().double(), want.detach().double()
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} vs {tuple(want.shape)}"
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=tol, rtol=tol, err_msg=name)
