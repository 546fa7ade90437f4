"""`free_idle_pool` finds torch's libgomp on Linux and frees the calling thread's pool."""

import sys
import threading

import pytest
import torch

from prefbench.core.omp_pool import free_idle_pool


@pytest.mark.skipif(
    sys.platform != "linux" or "OpenMP" not in torch.__config__.parallel_info(),
    reason="torch parallelises with GNU OpenMP on Linux builds only",
)
def test_frees_the_pool_of_a_thread_that_ran_torch_and_torch_still_works() -> None:
    x = torch.randn(64, 64)
    expected = x @ x
    results: list[object] = []

    def worker() -> None:
        torch.mm(x, x)  # the thread gets a pool of workers
        results.append(free_idle_pool())
        results.append(torch.mm(x, x))  # and a new one on demand

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    freed, product = results
    assert freed is True
    torch.testing.assert_close(product, expected)
    assert free_idle_pool()  # a thread without a pool: nothing to do, no error
