"""pytest setup shared by the test suite and the docstring examples of every package."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _single_thread_doctests(request):
    """Docstring examples are tiny: one intra-op thread avoids waiting for busy cores on shared CPUs."""
    if isinstance(request.node, pytest.DoctestItem):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)
    else:
        yield
