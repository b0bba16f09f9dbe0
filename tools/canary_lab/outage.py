"""Outages of what the stable and the canary pods share: the database, the monitoring.

- `DatabaseLink`: every pod reaches PostgreSQL through this TCP relay on loopback, as pods
  reach a database Service. `cut()` is a switchover as the pods see it: every open
  connection is reset and new ones are refused until `restore()`. The server itself keeps
  running (it is shared with the rest of the test session).
- A Prometheus outage is the real process stopped and started again on the same port and
  TSDB (`Prometheus.stop()` / `start()`); scrapes missed meanwhile are simply missing.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class DatabaseLink:
    def __init__(self, upstream_url: str, port: int) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.cuts: list[tuple[float, float | None]] = []  # (cut at, restored at), cluster s

    def url(self, database_url: str) -> str:
        """`database_url` pointed at the relay instead of the server."""
        parts = urlsplit(database_url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = (auth + "@" if auth else "") + f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._pipes |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self._pipes -= {writer, up_writer}

    async def cut(self, at: float) -> None:
        """Refuse new connections and reset the open ones."""
        self.cuts.append((at, None))
        server, self._server = self._server, None
        if server is not None:
            server.close()  # stop listening: new connections are refused
        for pipe in list(self._pipes):
            transport = pipe.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()  # an RST, as a failed-over primary gives
            else:
                pipe.close()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def restore(self, at: float) -> None:
        if self.cuts and self.cuts[-1][1] is None:
            self.cuts[-1] = (self.cuts[-1][0], at)
        await self.open()

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for pipe in list(self._pipes):
            pipe.close()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)
