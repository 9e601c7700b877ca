"""The WebSocket connection a stream holds: websockets for everything but reading data frames.

websockets does the handshake, TLS, keepalive pings, answering the server's pings and the closing
handshake. Reading is where a feed spends its time: websockets parses each frame with a generator
and hands every message through a queue and a future to a reader task, several microseconds a
frame, more than the listener's own work on it. So this connection reads data frames straight off
the transport (`data_received`) and calls the feed's `on_frame` in arrival order, synchronously,
once per complete frame; it never queues.

Only the common case takes the fast path: a complete, final, unmasked text or binary frame without
extension bits, within the size limit, while websockets' own parser is between frames. A ping or
pong is handed to websockets whole (it answers and tracks them); anything else (a close frame, a
fragmented message, reserved bits, a frame over the limit) hands websockets the rest of the byte
stream for good, and the data frames it then parses still reach `on_frame` through `process_event`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Opcode
from websockets.protocol import State

from listener.log import logger

# on_frame(payload, is_text, received_at monotonic) -> True when the frame carried data (not a pong
# or an acknowledgement): the stream's silence watchdog counts only those.
OnFrame = Callable[[bytes, bool, float], bool]

_FIN_TEXT = 0x81
_FIN_BINARY = 0x82
_PING = 0x89
_PONG = 0x8A


class FeedConnection(ClientConnection):
    def __init__(self, *args: Any, on_frame: OnFrame, max_frame_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_frame = on_frame
        self.max_frame_bytes = max_frame_bytes
        # Monotonic times, 0.0 until the first: the newest data frame, the newest feed-level reply
        # (a pong or an acknowledgement in a text frame), the newest WebSocket ping or pong.
        self.last_data = 0.0
        self.last_reply = 0.0
        self.last_control = 0.0
        self.handler_errors = 0
        self._pending = b""  # a frame split across reads
        self._fast = True  # False once websockets reads the rest of the stream
        self._fragments: list[bytes] | None = None  # a fragmented message websockets parsed
        self._fragmented_text = False

    # ---------------------------------------------------------------- the fast path
    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        if (
            not self._fast
            or self.response is None  # the handshake (and whatever frames follow it in this read)
            or protocol.state is not State.OPEN
            or protocol.reader.buffer  # websockets holds part of a frame
            or protocol.current_size is not None  # websockets is inside a fragmented message
        ):
            if self.response is not None and protocol.state is not State.OPEN:
                self._fast = False
            super().data_received(self._take_pending() + data if self._pending else data)
            return
        buf = self._pending + data if self._pending else data
        received_at = time.monotonic()
        limit = self.max_frame_bytes
        on_frame = self.on_frame
        data_seen = reply_seen = False
        end = len(buf)
        pos = 0
        while end - pos >= 2:
            head = buf[pos]
            length = buf[pos + 1]  # mask bit clear (servers never mask), else > 127: unusual below
            if length < 126:
                start = pos + 2
            elif length == 126:
                start = pos + 4
                if start > end:
                    break
                length = int.from_bytes(buf[pos + 2 : start])
            elif length == 127:
                start = pos + 10
                if start > end:
                    break
                length = int.from_bytes(buf[pos + 2 : start])
            else:
                start = -1  # a masked frame: websockets fails the connection, as the RFC says
            if start < 0 or length > limit:
                self._hand_over(buf[pos:])
                return
            stop = start + length
            if stop > end:
                break
            if head in (_FIN_TEXT, _FIN_BINARY):
                try:
                    if on_frame(buf[start:stop], head == _FIN_TEXT, received_at):
                        data_seen = True
                    else:
                        reply_seen = True
                except Exception:  # a bug in handling one frame must not end the stream
                    self._handler_failed()
            elif head in (_PING, _PONG):
                super().data_received(buf[pos:stop])
            else:
                self._note(data_seen, reply_seen, received_at)
                self._hand_over(buf[pos:])
                return
            pos = stop
        self._pending = buf[pos:] if pos < end else b""
        self._note(data_seen, reply_seen, received_at)

    def _note(self, data_seen: bool, reply_seen: bool, at: float) -> None:
        if data_seen:
            self.last_data = at
        if reply_seen:
            self.last_reply = at

    def _handler_failed(self) -> None:
        self.handler_errors += 1
        logger.exception("frame handler failed; frame skipped")

    def _take_pending(self) -> bytes:
        pending, self._pending = self._pending, b""
        return pending

    def _hand_over(self, rest: bytes) -> None:
        """websockets parses everything from here on."""
        self._fast = False
        self._pending = b""
        super().data_received(rest)

    def _dispatch(self, payload: bytes, text: bool, received_at: float) -> None:
        try:
            self._note(*((True, False) if self.on_frame(payload, text, received_at) else (False, True)), received_at)
        except Exception:  # a bug in handling one frame must not end the stream
            self._handler_failed()

    # ---------------------------------------------------------------- what websockets parsed
    def process_event(self, event: Any) -> None:
        opcode = getattr(event, "opcode", None)  # the handshake's Response comes through here too
        if opcode is None:
            super().process_event(event)
            return
        if opcode is Opcode.PING or opcode is Opcode.PONG:
            self.last_control = time.monotonic()
        elif opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
            self._assemble(event)
            return
        super().process_event(event)

    def _assemble(self, frame: Any) -> None:
        if frame.opcode is not Opcode.CONT:
            self._fragments = []
            self._fragmented_text = frame.opcode is Opcode.TEXT
        if self._fragments is None:  # websockets rejects a stray continuation before we see it
            return
        self._fragments.append(bytes(frame.data))
        if frame.fin:
            payload, self._fragments = b"".join(self._fragments), None
            self._dispatch(payload, self._fragmented_text, time.monotonic())
