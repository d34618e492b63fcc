"""What one HTTP connection may send, and how slowly, before the app sees a request.

uvicorn (0.54) bounds none of it. Its httptools protocol, the one ``devinsights serve`` runs,
keeps every header it is sent: llhttp hands each header over in pieces and httptools joins
them until the header ends, so one endless header, or thousands of them, are buffered whole
(a 1 MB header and 2,000 headers were answered 200). And it arms no timer until it has sent
a response, so a connection that sends its headers or its body slowly, or nothing at all,
stays open for as long as the client likes (40 such connections were all open after 20 s).
uvicorn's h11 protocol bounds its buffer (``h11_max_incomplete_event_size``, 16 KiB) but
counts no headers and has no read timeouts either, and an ASGI middleware would only see the
headers once the parser had buffered all of them. So this subclass of uvicorn's httptools
protocol checks, as the bytes arrive:

- header count and bytes (DEVINSIGHTS_MAX_HEADERS, DEVINSIGHTS_MAX_HEADER_BYTES): 431 as
  soon as a head grows past either, complete or not, so the parser never holds more than the
  limit plus one socket read (asyncio and uvloop read at most 256 KiB at a time). The URL
  may be as long as a body (a GET carries its query there), and no longer: 414.
- the header timeout (DEVINSIGHTS_HEADER_TIMEOUT_SECONDS): a request line and headers must
  arrive within it, counted from the connection, or on a kept-alive one from the request's
  first byte; else 408, or a plain close for a connection that never sent a byte.
- the body timeout (DEVINSIGHTS_BODY_TIMEOUT_SECONDS), as a backstop: the app reads a body
  with its own deadline (web/http.py's ``read_body`` answers 408), but uvicorn keeps a
  connection open for as long as an unread body keeps trickling in after the app has
  answered (a 401 before the body, say). Such a connection is closed once the body has taken
  longer than the timeout.

A refused connection is closed gracefully: the answer is written, our side is shut, and
what the client still sends is read and dropped for LINGER_SECONDS before the socket closes,
so the client reads the answer rather than a reset.
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from web.api import RequestLog
from web.http import error_body
from web.settings import Settings

log = logging.getLogger("devinsights.http")

# The URL may hold a query string as long as a body (the app answers 413 past that), plus
# this much for the path and the other parameters.
URL_ALLOWANCE_BYTES = 8 * 1024
# What an incomplete head may hold besides its URL and header fields: method, version, CRLFs.
REQUEST_LINE_BYTES = 64
LINGER_SECONDS = 2.0
CODES = {408: "REQUEST_TIMEOUT", 414: "URI_TOO_LONG", 431: "REQUEST_HEADER_FIELDS_TOO_LARGE"}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_headers: int
    max_header_bytes: int
    max_url_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, s: Settings) -> ConnectionLimits:
        return cls(max_headers=s.max_headers, max_header_bytes=s.max_header_bytes,
                   max_url_bytes=s.max_body_bytes + URL_ALLOWANCE_BYTES,
                   header_timeout=s.header_timeout_seconds,
                   body_timeout=s.body_timeout_seconds)


def http_protocol(settings: Settings) -> type[HttpProtocol]:
    """The protocol class for uvicorn's ``http=``: uvicorn makes one per connection."""
    limits = ConnectionLimits.from_settings(settings)

    class Limited(HttpProtocol):
        pass

    Limited.limits = limits
    return Limited


class _Refused(Exception):
    """Raised in a parser callback to stop the parser; data_received answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits]

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = True  # reading a request line and headers (or waiting for one)
        self._in_body = False  # the head is done, the body is not
        self._head_bytes = 0  # what arrived while in the head, a bound on what it holds
        self._url_bytes = 0
        self._header_count = 0
        self._header_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None

    # The connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms no timer before a first response: a silent connection would stay.
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timers()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            return  # refused: what still comes is dropped
        if self._in_head:
            self._head_bytes += len(data)
        # uvicorn's data_received, but a refusal raised in a callback gets its own answer.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refused):
                self._refuse(exc.__context__.status, exc.__context__.message)
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        if self._in_head:
            # A header still arriving is buffered by httptools, not yet counted by on_header.
            held = self._head_bytes - self._url_bytes - REQUEST_LINE_BYTES
            if held > self.limits.max_header_bytes:
                self._refuse(431, self._too_many_bytes())
        elif self._in_body and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def handle_websocket_upgrade(self) -> None:
        self._stop_timers()  # the WebSocket protocol takes the connection from here
        super().handle_websocket_upgrade()

    # The parser's callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_bytes = self._header_count = self._header_bytes = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout,
                                                    self._head_late)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            raise _Refused(414, f"the URL is longer than {self.limits.max_url_bytes} bytes")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count > self.limits.max_headers:
            raise _Refused(431, f"a request may carry at most {self.limits.max_headers} "
                                "header fields")
        if self._header_bytes > self.limits.max_header_bytes:
            raise _Refused(431, self._too_many_bytes())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._in_body = True
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._in_head, self._head_bytes = True, 0

    # Timeouts and refusals

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # we stopped reading (pipelining), not the client
            self._head_timer = self.loop.call_later(self.limits.header_timeout,
                                                    self._head_late)
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head is late: answer, then close
            return
        if self._head_bytes == 0:
            self.transport.close()  # an idle connection: no request to answer
            return
        self._refuse(408, f"the request's headers did not arrive within "
                          f"{self.limits.header_timeout:g} seconds")

    def _body_late(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._in_body:
            return
        if self.flow.read_paused or not self.cycle.response_complete:
            # The app still works on the request and reads the body on its own deadline.
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)
            return
        log.info("closed a connection whose request body took longer than %g seconds",
                 self.limits.body_timeout)
        self._close_lingering()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with the API's error body and close the connection."""
        self._stop_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # an answer is being written: no second one in the stream
            return
        rl = RequestLog("http", fields={"error": message})
        body = orjson.dumps(error_body(message, CODES[status], rl.request_id))
        head = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in
                 self.server_state.default_headers]
        head.append(f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                    f"x-request-id: {rl.request_id}\r\nconnection: close\r\n\r\n".encode())
        self.transport.write(b"".join(head) + body)
        rl.emit(status)
        self._close_lingering()

    def _close_lingering(self) -> None:
        self._stop_timers()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        self.flow.resume_reading()  # read what still comes, so closing sends no reset
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()

    def _too_many_bytes(self) -> str:
        return f"the request's headers are larger than {self.limits.max_header_bytes} bytes"

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_timers(self) -> None:
        self._cancel_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
