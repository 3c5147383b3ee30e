"""A TCP proxy in front of PostgreSQL that counts what crosses the wire.

It reads the protocol's messages as they pass (they are forwarded untouched) and counts, for
everything that connects through it: round trips (the server's ReadyForQuery answers: one per
simple query or Sync the client waited for), statements (CommandComplete of anything but
transaction control), empty queries (a driver's liveness ping), commits (explicit COMMITs and
statements run outside a transaction block) and, of those, the commits of transactions that
wrote a row. This sees every statement whatever the driver or layer sent it (ORM, Core, raw
asyncpg, a pool's pre-ping), which engine events in the hub cannot. It refuses TLS so that it
can read the messages; it is meant for a counting run, not for the timed one.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from dataclasses import dataclass, fields

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104
CONTROL = {"BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PREPARE", "END"}
WRITES = {"INSERT", "UPDATE", "DELETE", "MERGE", "COPY"}


@dataclass
class Counts:
    """What went through the proxy (totals, or the difference of two snapshots)."""

    round_trips: int = 0
    statements: int = 0
    empty_queries: int = 0
    begins: int = 0
    commits: int = 0
    writing_commits: int = 0
    rollbacks: int = 0
    connections: int = 0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def per(self, operations: int) -> dict[str, float]:
        """Each count divided by the number of operations."""
        return {f.name: getattr(self, f.name) / max(operations, 1) for f in fields(self)}


class _Session:
    """The server's side of one connection: its messages, parsed as they stream by."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = b""
        self.in_block = False  # from the last ReadyForQuery: inside BEGIN ... COMMIT
        self.wrote = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 5:
            kind = self.buffer[0:1]
            (length,) = struct.unpack("!I", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            body, self.buffer = self.buffer[5 : 1 + length], self.buffer[1 + length :]
            self._message(kind, body)

    def _message(self, kind: bytes, body: bytes) -> None:
        c = self.counts
        if kind == b"Z":
            c.round_trips += 1
            self.in_block = body[:1] in (b"T", b"E")
        elif kind == b"I":
            c.empty_queries += 1
        elif kind == b"C":
            words = body.rstrip(b"\0").decode("ascii", "replace").split()
            tag = words[0] if words else ""
            if tag in ("BEGIN", "START"):
                c.begins += 1
            elif tag in ("COMMIT", "END"):
                c.commits += 1
                c.writing_commits += self.wrote
                self.wrote = False
            elif tag == "ROLLBACK":
                c.rollbacks += 1
                self.wrote = False
            elif tag not in CONTROL:
                c.statements += 1
                wrote = tag in WRITES and words[-1].isdigit() and int(words[-1]) > 0
                if not self.in_block:  # a statement on its own is its own transaction
                    c.commits += 1
                    c.writing_commits += wrote
                else:
                    self.wrote = self.wrote or wrote


class CountingProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to the server, counting as it goes.
    Runs its own event loop in a thread; `snapshot()` may be called from any thread."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.counts = Counts()
        self.port = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def snapshot(self) -> Counts:
        """The totals so far."""
        with self._lock:
            return self.counts - Counts()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            startup = await self._startup(reader, writer)
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            return
        with self._lock:
            self.counts.connections += 1
        up_writer.write(startup)
        session = _Session(self.counts)
        await asyncio.gather(
            self._pipe(reader, up_writer, None),
            self._pipe(up_reader, writer, session),
            return_exceptions=True,
        )

    async def _startup(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """The client's startup message, after saying no to TLS and GSS encryption."""
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!II", head)
            if code in (SSL_REQUEST, GSS_REQUEST) and length == 8:
                writer.write(b"N")
                await writer.drain()
                continue
            return head + await reader.readexactly(length - 8)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, session: _Session | None
    ) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                if session is not None:
                    with self._lock:
                        session.feed(data)
                await writer.drain()
        finally:
            writer.close()
