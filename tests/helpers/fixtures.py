"""Fixtures several test modules share; a module opts in by importing one (pytest finds it there)."""
from __future__ import annotations

import pytest


@pytest.fixture()
def one_torch_thread():
    """torch on one thread for the test (the shared 2-core machine), restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
