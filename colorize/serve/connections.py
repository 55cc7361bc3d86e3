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
  (``per_client``), in place of ``limit_concurrency``: a connection over either is
  answered 503, saying which, when its request arrives, and closed.

A body's own deadline is the app's, which can say how much arrived
(:func:`colorize.serve.app.read_upload`).

    config = uvicorn.Config(app, http=guarded(head_timeout=10, connections=256, per_client=32))
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable

from uvicorn.protocols.http.h11_impl import H11Protocol

from colorize.serve.limits import CONNECTIONS, CONNECTIONS_PER_CLIENT, HEAD_TIMEOUT

__all__ = ["GuardedH11Protocol", "guarded"]


def json_error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 response, ``{"error": message}``, that closes the connection."""
    body = json.dumps({"error": message}).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(body)}",
             "connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def refusal(message: str) -> Callable:
    """An ASGI app that answers every request 503 with ``message`` and closes the connection."""
    async def app(scope, receive, send):
        body = json.dumps({"error": message}).encode("utf-8")
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"retry-after", b"5")]})
        await send({"type": "http.response.body", "body": body})
    return app


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head and caps on connections."""

    def __init__(self, *args, head_timeout: float = HEAD_TIMEOUT, connections: int = CONNECTIONS,
                 per_client: int = CONNECTIONS_PER_CLIENT, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # our caps below replace it, with messages that say which
        self.head_timeout, self.max_connections, self.per_client = head_timeout, connections, per_client
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        total = len(self.connections)
        mine = sum(1 for c in self.connections if (getattr(c, "client", None) or (None,))[0] == address)
        if total > self.max_connections:
            self.app = refusal(f"The server has {total - 1} connections open, its limit. "
                               f"Try again in a few seconds.")
        elif address is not None and mine > self.per_client:
            self.app = refusal(f"{address} has {mine - 1} connections open to this server, its limit for one "
                               f"client. Close some (a browser needs 6), or try again in a few seconds.")
        self._arm()

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
        self.logger.info("%s: no complete request within %g s; closing", self.client, self.head_timeout)
        self.transport.write(json_error(408, "Request Timeout", (
            f"The request's headers did not arrive within {self.head_timeout:g} s, this server's limit; "
            f"the connection is closed. Send the request again.")))
        self.transport.close()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's head has arrived: its body's deadline is the app's
            self._disarm()

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
