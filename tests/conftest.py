"""Fixtures shared by the tests of this folder."""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.workloads import random_weights, skewed_activations


@pytest.fixture
def save_gemm(tmp_path):
    """``save_gemm(M, K, N, seed)``: a skewed uint8 A (M x K) and int8 W (K x N) saved as
    ``A.npy`` / ``W.npy`` in ``tmp_path``; returns ``(tmp_path, A, W)``."""
    def save(M, K, N, seed):
        A = skewed_activations(M, K, seed=seed)
        W = random_weights(K, N, seed=seed)
        np.save(tmp_path / "A.npy", A)
        np.save(tmp_path / "W.npy", W)
        return tmp_path, A, W
    return save
