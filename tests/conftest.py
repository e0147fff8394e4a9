"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models run faster on one thread: hand-offs between threads cost more than the work,
    much more so on a busy machine. Modules of tiny-model tests opt in with
    `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch  # only the modules that ask for it pay for importing torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
