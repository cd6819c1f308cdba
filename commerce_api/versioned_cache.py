"""A small per-process cache of values computed at a version of their source (e.g. catalogue pages
at a ``catalogue_version``): a lookup at another version misses, so a value is never served after
its source changed, provided the version is read before the value is computed."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class VersionedCache(Generic[V]):
    """``get(key, version)`` returns what ``put(key, version, value)`` stored for that version, else None.

    Bounded by ``max_entries``: when full it starts over (cheaper and thread-safer than LRU
    bookkeeping; a catalogue has far fewer distinct pages than that in use at once)."""

    def __init__(self, max_entries: int = 2048) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[int, V]] = {}

    def get(self, key: Hashable, version: int) -> V | None:
        hit = self._entries.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, key: Hashable, version: int, value: V) -> None:
        if len(self._entries) >= self.max_entries and key not in self._entries:
            self._entries = {}
        self._entries[key] = (version, value)

    def __len__(self) -> int:
        return len(self._entries)
