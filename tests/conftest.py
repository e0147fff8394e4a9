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


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One real `local[2]` Spark session for every Spark test (Spark starts slowly)."""
    pytest.importorskip("pyspark", reason="the Spark backend needs pyspark: pip install "
                                          "'.[spark]'")
    from unids.distributed import spark as backend

    # Arrow batches of 7 rows: users straddle the batches handed to Python.
    session = backend.session("local[2]", app_name="unids-tests", config={
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "7",
        "spark.driver.memory": "1g",
        # Small file splits: the presorted test reads its log in several partitions.
        "spark.sql.files.maxPartitionBytes": "2048",
        "spark.sql.files.openCostInBytes": "0",
    })
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
