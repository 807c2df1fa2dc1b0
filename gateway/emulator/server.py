"""Run ASGI apps (the emulator, the receiver) with uvicorn on free loopback ports."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

from gateway.log import install_log_redaction


class LoopbackServer:
    """uvicorn on 127.0.0.1 (``port`` 0: a free one): the port is known before the app
    is built."""

    def __init__(self, port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind(("127.0.0.1", port))
        except OSError:
            self._sock.close()
            raise
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def _make(self, app: Any) -> Any:
        import uvicorn

        install_log_redaction()
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        return self._server.serve(sockets=[self._sock])

    # In the caller's event loop (the demo) --------------------------------------------

    async def start(self, app: Any) -> None:
        self._task = asyncio.create_task(self._make(app))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raise the startup error
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._sock.close()

    def listen(self) -> None:
        """Accept connections from now on (they wait until the app serves them)."""
        self._sock.listen(2048)

    def run(self, app: Any) -> None:
        """Serve in the foreground until Ctrl-C (the preview command)."""
        try:  # uvicorn stops gracefully, then raises the signal again: Ctrl-C ends quietly
            asyncio.run(self._make(app))
        except KeyboardInterrupt:
            pass
        finally:
            self._sock.close()

    # In a background thread (tests, the pytest plugin) ------------------------------

    def start_thread(self, app: Any) -> None:
        serve = self._make(app)
        self._thread = threading.Thread(target=asyncio.run, args=(serve,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)

    def stop_thread(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
