"""The app as the HTTP benchmarks run it: uvicorn (one worker unless told) on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def running_app(
    env: dict[str, str] | None = None, *, wrapper: Sequence[str] = (), workers: int = 1
) -> AsyncIterator[str]:
    """Start the app (without the scheduler or mail), wait for /healthz, yield its base URL, and
    stop it on the way out. `wrapper` runs the server under another command (py-spy record …);
    `workers` > 1 runs that many uvicorn worker processes, as `kippu serve --workers` does."""
    port = free_port()
    command = [*wrapper, sys.executable, "-m", "uvicorn", "--factory", "app.server:app_factory",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {}), "RUN_SCHEDULER": "false", "SMTP_HOST": ""})
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as probe:
            for _ in range(150):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError("the app did not start")
        yield base_url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
