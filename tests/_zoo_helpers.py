"""Shared fixtures of the netgraph.datasets tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Run zoo training on one thread: the tiny per-step ops of these tests are many times slower
    with two OpenMP threads on a shared 2-core machine, and results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
