"""HTML a page writes the same way for the same inputs, kept in the process and reused.

For parts of a page that cost many template nodes and depend only on a few values (a chart of
counts, a certificate's decoded details): the caller names every input in the key (the active
language and time zone included, when the part is translated or shows times), so a kept part
is exactly what writing it again would give. Public data only: nothing a person may not see
on any page of theirs, never key material.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from django.utils.safestring import SafeString


class KeptHtml:
    """Up to ``kept`` parts by key, the least recently used dropped first; thread-safe (a
    part written twice at once is kept once)."""

    def __init__(self, *, kept: int) -> None:
        self._kept = kept
        self._parts: OrderedDict[Hashable, SafeString] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_write(self, key: Hashable, write: Callable[[], SafeString]) -> SafeString:
        """The part kept for ``key``, else ``write()``'s, kept."""
        with self._lock:
            part = self._parts.get(key)
            if part is not None:
                self._parts.move_to_end(key)
                return part
        part = write()
        with self._lock:
            self._parts[key] = part
            self._parts.move_to_end(key)
            while len(self._parts) > self._kept:
                self._parts.popitem(last=False)
        return part

    def clear(self) -> None:
        with self._lock:
            self._parts.clear()
