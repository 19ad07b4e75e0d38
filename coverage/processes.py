"""Worker pools whose workers die with the process that started them.

A prediction or planning pool forks workers that share the parent's read-only arrays. When the
parent is killed (the kernel's OOM killer, ``kill -9``), its workers would otherwise be re-parented
to PID 1 and keep their memory (the probe of issue 21 found three holding 48 GB). On Linux each
worker asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere,
and for a parent that died before the request took effect, the worker checks its parent's pid and
exits.

A child forked while another thread of the parent held a lock inherits that lock held. The child
therefore does nothing that takes a process-wide lock before it runs its task: ``prctl`` is looked
up here, in the parent, not with a ``dlopen`` in the child (the loader's lock is one such lock). And
a worker that still hangs (one hung at exit in one of five test runs) must not hang the parent: when
the pool closes, workers that have not exited within ``EXIT_GRACE_S`` are killed (the pool's tasks
are all done by then, or cancelled).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from multiprocessing.connection import wait
from typing import Any, cast

__all__ = ["die_with_parent", "forked_pool", "owner_id"]

_PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
EXIT_GRACE_S = 30.0


def owner_id() -> str:
    """This process as job and run records name their owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def die_with_parent(parent_pid: int | None) -> None:
    """In a forked child: be killed when its parent dies (``parent_pid``, the forking process; None
    for a child of the fork server, which itself exits when the process that started it does).

    Linux delivers SIGKILL on the death of the parent *thread* that forked the child; the pools
    here are created and used by one thread for their whole life, so that is the parent's life.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _init_child(parent_pid: int | None, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
                ) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


class _Pool(ProcessPoolExecutor):
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # interrupted (an error, Ctrl-C, SIGTERM): drop the queued tasks instead of computing them all
        manager: threading.Thread | None = getattr(self, "_executor_manager_thread", None)
        processes = list((self._processes or {}).values())
        self.shutdown(wait=False, cancel_futures=exc_type is not None)
        # a worker's sentinel is readable once it has exited (reaped or not): wait on those, not on
        # join(), which would race the pool's own thread reaping the same pids
        running = {process.sentinel: process for process in processes}
        deadline = time.monotonic() + EXIT_GRACE_S
        while running and (left := deadline - time.monotonic()) > 0:
            for sentinel in wait(list(running), left):
                running.pop(cast(int, sentinel))
        for process in running.values():  # hung (e.g. on a lock inherited at fork), with no work left
            process.kill()  # not exited, so not reaped: the pid is still this worker's
        if manager is not None:
            manager.join()


def forked_pool(workers: int, initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = (), *, require_fork: bool = False) -> ProcessPoolExecutor:
    """A process pool of ``workers`` whose workers die with this process.

    The workers are forked from this process when it runs no other thread (they share its memory,
    nothing is copied). When other threads run (a server's job runner, a lease heartbeat), a fork
    could copy a lock another thread holds: in one of five test runs a worker hung for good while
    the child's copy of another thread's PROJ context was freed under such a lock. Then the workers
    come from the fork server (a clean process started for the purpose), and ``initializer`` and
    ``initargs`` reach them pickled. ``require_fork`` keeps forking whatever runs (tasks that need the
    parent's memory as it is, e.g. closures); the exit grace below still applies.

    Leaving its ``with`` block by an exception cancels the tasks not yet started.
    """
    if require_fork or threading.active_count() == 1:
        return _Pool(max_workers=workers, mp_context=get_context("fork"), initializer=_init_child,
                     initargs=(os.getpid(), initializer, initargs))
    return _Pool(max_workers=workers, mp_context=get_context("forkserver"), initializer=_init_child,
                 initargs=(None, initializer, initargs))
