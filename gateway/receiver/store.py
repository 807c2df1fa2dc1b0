"""The inbox's names as they were before the store became a URL (kept for imports).

The store itself is :mod:`gateway.store`: :class:`~gateway.store.Store` is the interface,
:class:`SQLiteInbox` the embedded SQLite engine.
"""

from __future__ import annotations

from gateway.store import (
    Delivery,
    Job,
    JobRow,
    NewEvent,
    Outcome,
    Recorded,
)
from gateway.store import Store as Inbox
from gateway.store.sqlite import SQLiteStore as SQLiteInbox

__all__ = ["Delivery", "Inbox", "Job", "JobRow", "NewEvent", "Outcome", "Recorded", "SQLiteInbox"]
