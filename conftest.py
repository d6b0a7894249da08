"""pytest setup shared by the test suite and the docstring examples of every package."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn headless (netgraph.viz never needs a display)


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    """Tests run many tiny ops: with one intra-op thread they are faster and never wait for a core
    that another process holds (results do not depend on the thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
