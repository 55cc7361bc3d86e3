"""What one connection to ``colorize serve`` may hold before its request has started.

uvicorn's h11 protocol waits for a request's line and headers for as long as the client
likes: a client that connects and sends nothing, or a byte of a header now and then,
keeps its connection (and a place in uvicorn's ``limit_concurrency``, which counts
connections, so enough of them get every other request a bare 503). :class:`GuardedH11Protocol`
adds what it lacks:

* a deadline for the request line and headers (``head_timeout``), counted from the
  connection's start or from the previous answer: past it the client is answered 408
  and the connection closes;
* a cap on open connections, in all (``connections``) and from one address
  (``per_client``), in place of ``limit_concurrency``. A connection over either makes
  room by closing the one that has waited longest for its request's head or body (it is
  answered 408, saying so): a client that stalls loses its connections to those that
  send, not the other way round. Connections whose request has arrived are never
  closed; when all of them have one, the new connection is answered 503, saying which
  cap it met, when its request arrives.

A body's own deadline is the app's, which can say how much arrived
(:func:`colorize.serve.app.read_upload`).

It extends uvicorn's ``H11Protocol`` through its attributes (``cycle``, ``conn``,
``connections``, ``client``, ``app``), as written against uvicorn 0.54; the slow-client
tests in ``tests/test_serve.py`` fail if a later uvicorn changes them.

    config = uvicorn.Config(app, http=guarded(head_timeout=10, connections=256, per_client=32))
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable

import h11
from starlette.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

from colorize.serve.limits import CONNECTIONS, CONNECTIONS_PER_CLIENT, HEAD_TIMEOUT

__all__ = ["GuardedH11Protocol", "guarded"]


def json_error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 response, ``{"error": message}``, that closes the connection."""
    body = json.dumps({"error": message}).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(body)}",
             "connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def refusal(message: str) -> JSONResponse:
    """An ASGI app (a Starlette response) that answers every request 503 with ``message`` and
    closes the connection."""
    return JSONResponse({"error": message}, status_code=503, headers={"connection": "close", "retry-after": "5"})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head and caps on connections."""

    def __init__(self, *args, head_timeout: float = HEAD_TIMEOUT, connections: int = CONNECTIONS,
                 per_client: int = CONNECTIONS_PER_CLIENT, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # our caps below replace it, with messages that say which
        self.head_timeout, self.max_connections, self.per_client = head_timeout, connections, per_client
        self._head_timer: asyncio.TimerHandle | None = None
        self._connected_at = time.monotonic()
        self._head_at = 0.0  # when the current request's head arrived
        self._next_at: float | None = None  # when the first byte after the last answer arrived

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._connected_at = time.monotonic()
        address = self.client[0] if self.client else None
        others = [c for c in self.connections if c is not self and isinstance(c, GuardedH11Protocol)
                  and not c.transport.is_closing()]  # one closed to make room is no longer counted
        mine = [c for c in others if c.client and c.client[0] == address]
        if len(others) >= self.max_connections and not self._make_room(others):
            self.app = refusal(f"The server has {len(others)} connections open, its limit, and each has a request "
                               f"it is working on. Try again in a few seconds.")
        elif address is not None and len(mine) >= self.per_client and not self._make_room(mine):
            self.app = refusal(f"{address} has {len(mine)} connections open to this server, its limit for one "
                               f"client, and each has a request it is working on. Wait for their answers, or "
                               f"try again in a few seconds.")
        self._arm()

    def waiting_since(self) -> float | None:
        """Since when this connection has waited for a request's head or body to arrive; None
        while it has none to wait for: its request has arrived, or it is idle between requests
        (uvicorn's keep-alive timeout closes those)."""
        if self.transport is None or self.transport.is_closing():
            return None
        if self.cycle is None:
            return self._connected_at
        if not self.cycle.response_complete:
            return self._head_at if self.conn.their_state is h11.SEND_BODY else None
        return self._next_at

    @staticmethod
    def _make_room(pool: list[GuardedH11Protocol]) -> bool:
        """Close the connection in ``pool`` that has waited longest for its request; False if none waits."""
        waiting = [(since, c) for c in pool if (since := c.waiting_since()) is not None]
        if not waiting:
            return False
        since, victim = min(waiting, key=lambda pair: pair[0])
        part = "body" if victim.cycle is not None and not victim.cycle.response_complete else "headers"
        victim.close_late(f"waited {time.monotonic() - since:.1f} s for its request's {part} while another "
                          f"connection needed its place")
        return True

    def close_late(self, why: str) -> None:
        """Answer 408 (this connection ``why``) and close; a request still reading its body sees a disconnect."""
        self.logger.info("%s: %s; closing", self.client, why)
        self._disarm()
        self.transport.write(json_error(408, "Request Timeout", f"This connection {why}, so the server closed "
                                                                f"it. Send the request again."))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.cycle is not None and self.cycle.response_complete and self._next_at is None:
            self._next_at = time.monotonic()
        super().data_received(data)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        """The head timer ran out: unless a request has started meanwhile, answer 408 and close."""
        self._head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        self.close_late(f"did not send a request's headers within {self.head_timeout:g} s, this server's limit")

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's head has arrived: its body's deadline is the app's
            self._disarm()
            self._head_at, self._next_at = time.monotonic(), None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded(head_timeout: float = HEAD_TIMEOUT, connections: int = CONNECTIONS,
            per_client: int = CONNECTIONS_PER_CLIENT) -> Callable[..., GuardedH11Protocol]:
    """The protocol factory for ``uvicorn.Config(http=...)``, with these limits."""
    return functools.partial(GuardedH11Protocol, head_timeout=head_timeout, connections=connections,
                             per_client=per_client)
