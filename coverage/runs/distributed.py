"""Running partitions on Dask (dask.distributed): a local cluster of worker processes, or an
existing scheduler.

Dask is imported inside the functions, so the rest of :mod:`coverage` works without it. Tasks are
submitted a few at a time (twice the worker threads), each scattered to the cluster only when it
is submitted: the inputs held by the workers at any moment are a few partitions, not the nation.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import Any, TypeVar

from coverage.errors import ConfigError, bi

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None,
                memory_limit: str = "auto") -> Iterator[Any]:
    """A ``dask.distributed.Client``: on ``scheduler`` (an address such as ``tcp://host:8786``) when
    given, else on a new ``LocalCluster`` of ``workers`` single-threaded processes, closed on exit."""
    if (workers is None) == (scheduler is None):
        raise ConfigError(bi("请指定进程数（--workers）或调度器地址（--scheduler）之一",
                             "give either a number of workers or a scheduler address"))
    if workers is not None and workers < 1:
        raise ConfigError(bi("进程数应不小于 1", "workers must be at least 1"))
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a declared dependency
        raise ConfigError("partitioned runs need dask[distributed]: pip install 'dask[distributed]'") from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in the workers' environment; setting it switches off
    # glibc's dynamic mmap threshold, so every tile-sized numpy temporary is mmapped and page-faulted
    # afresh: the prediction ran about 1.5x slower. Workers keep glibc's defaults instead.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                          "distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               # a random port: the scheduler serves HTTP even without a dashboard, and 8787
                               # may be another cluster's
                               dashboard_address=":0", memory_limit=memory_limit, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def dask_map(client: Any, *, window: int | None = None,
             progress: Callable[[str], None] | None = None) -> Callable[[Callable[[T], R], Iterable[T]], Iterator[R]]:
    """A ``map_fn`` for :func:`coverage.runs.partition.run_partitions` running on ``client``.

    At most ``window`` tasks (default twice the cluster's threads) are in flight, and tasks are taken
    from their iterable only when submitted, so the coordinator holds no more of them than that;
    results are yielded as they complete (not in the tasks' order), each released by the cluster
    once it is taken.
    """
    from dask.distributed import as_completed

    def map_fn(fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        threads = sum(client.nthreads().values()) or 1
        limit = window or 2 * threads
        total = len(tasks) if isinstance(tasks, Sized) else None
        source = iter(tasks)

        def submit(task: T) -> Any:
            # hash=False: no token computed from the data (Dask would pickle every geometry for it)
            [data] = client.scatter([task], hash=False)
            return client.submit(fn, data, pure=False)

        running = as_completed([submit(task) for task in itertools.islice(source, limit)])
        for done, future in enumerate(running, start=1):
            result = future.result()
            future.release()
            if progress:
                of = total if total is not None else "?"
                progress(bi(f"分区 {done}/{of} 已完成", f"partition {done}/{of} done"))
            following = next(source, None)
            if following is not None:
                running.add(submit(following))
            yield result

    return map_fn
