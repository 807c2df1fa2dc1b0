"""Group commit: concurrent writers share one write (the receiver's inbox, the worker's
marks and results)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
R = TypeVar("R")


class GroupCommit(Generic[Item, R]):
    """Items submitted while a batch is being written wait for the next batch, and the
    whole batch is written at once (one transaction): concurrent callers share the cost
    of a commit. ``write`` returns one result per item, in order; its exception is every
    caller's."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[list[R]]]) -> None:
        self._write = write
        self._pending: list[tuple[Item, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flusher = None

    async def drain(self) -> None:
        """Wait for the writes under way (a graceful stop)."""
        flusher = self._flusher
        if flusher is not None:
            await asyncio.gather(flusher, return_exceptions=True)
