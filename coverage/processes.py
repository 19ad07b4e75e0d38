"""Forked worker pools whose workers die with the process that forked them.

A prediction or planning pool forks workers that share the parent's read-only arrays. When the
parent is killed (the kernel's OOM killer, ``kill -9``), its workers would otherwise be re-parented
to PID 1 and keep their memory (the probe of issue 21 found three holding 48 GB). On Linux each
worker asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere,
and for a parent that died before the request took effect, the worker checks its parent's pid and
exits.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

__all__ = ["die_with_parent", "forked_pool", "owner_id"]

_PR_SET_PDEATHSIG = 1


def owner_id() -> str:
    """This process as job and run records name their owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def die_with_parent(parent_pid: int) -> None:
    """In a forked child: be killed when ``parent_pid`` (the forking process) dies.

    Linux delivers SIGKILL on the death of the parent *thread* that forked the child; the pools
    here are created and used by one thread for their whole life, so that is the parent's life.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _init_child(parent_pid: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


class _Pool(ProcessPoolExecutor):
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # interrupted (an error, Ctrl-C, SIGTERM): drop the queued tasks instead of computing them all
        self.shutdown(wait=True, cancel_futures=exc_type is not None)


def forked_pool(workers: int, initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A fork-context process pool of ``workers`` whose workers die with this process.

    Leaving its ``with`` block by an exception cancels the tasks not yet started.
    """
    return _Pool(max_workers=workers, mp_context=get_context("fork"), initializer=_init_child,
                 initargs=(os.getpid(), initializer, initargs))
