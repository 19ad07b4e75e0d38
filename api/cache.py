"""A small thread-safe LRU for answers that cannot change: those of a published run.

Runs are immutable once published, so a summary, a comparison of runs, a count or an encoded page
of features is cached under the run id, the version of the stored rows it reads (every write of
villages, stations or measurements bumps that kind's version) and the request's options.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LruCache:
    """At most ``size`` entries and ``max_weight`` total weight; the least recently used goes first.

    ``weigh`` gives an entry's weight (default 1); an entry heavier than ``max_weight`` is returned
    but not kept.
    """

    def __init__(self, size: int = 256, *, max_weight: int | None = None,
                 weigh: Callable[[Any], int] | None = None) -> None:
        self.size = size
        self.max_weight = max_weight
        self.weigh = weigh or (lambda _value: 1)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value of ``key``, computed (outside the lock) when missing."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return item[0]
            self.misses += 1
        value = compute()
        weight = self.weigh(value)
        if self.max_weight is not None and weight > self.max_weight:
            return value
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            while len(self._items) > self.size or (self.max_weight is not None and self._weight > self.max_weight):
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped
        return value
