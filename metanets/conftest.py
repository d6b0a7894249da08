"""pytest setup for the docstring examples of ``netgraph.metanets`` (collected with --doctest-modules).

Examples run with one intra-op thread: on a shared CPU, two threads made these tiny examples
10-30x slower (each parallel op waits for a core another process holds).
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
