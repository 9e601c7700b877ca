"""The WebSocket connection a stream holds: websockets for everything but reading data frames.

websockets does the handshake, TLS, keepalive pings, answering the server's pings and the closing
handshake. Reading is where a feed spends its time: websockets parses each frame with a generator
and hands every message through a queue and a future to a reader task, several microseconds a
frame, more than the listener's own work on it. So this connection reads data frames straight off
the transport and calls the feed's `on_frame` in arrival order, synchronously, once per complete
frame; it never queues.

The transport writes into one buffer the connection owns (asyncio's buffered protocol:
`get_buffer`, `buffer_updated`), and each frame's payload is copied out of it once. Handed bytes
instead (`data_received`), the transport allocates a fresh object per read, 256 KiB a time under
uvloop's TLS, and the process's heap grows with them (docs/benchmarks.md, listener memory).

Only the common case takes the fast path: a complete, final, unmasked text or binary frame without
extension bits, within the size limit, while websockets' own parser is between frames. A ping or
pong is handed to websockets whole (it answers and tracks them); anything else (a close frame, a
fragmented message, reserved bits, a frame over the limit) hands websockets the rest of the byte
stream for good, and the data frames it then parses still reach `on_frame` through `process_event`.
"""

from __future__ import annotations

import asyncio
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

# What one read may fill: a few hundred exchange frames. A frame larger than the buffer (within the
# size limit) grows it while it lasts; the buffer returns to this size once it is read.
READ_BUFFER_BYTES = 256 * 1024
# An HTTP response head longer than this is not a WebSocket server's (websockets' own limits are lower).
_MAX_RESPONSE_HEAD = 64 * 1024

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
        self._buf = bytearray(READ_BUFFER_BYTES)
        self._start = 0  # the first byte not yet parsed (a frame split across reads starts here)
        self._end = 0  # the first byte not yet written by the transport
        self._needed = 0  # bytes the partial frame at _start needs in all, once its header is read
        self._fast = True  # False once websockets reads the rest of the stream
        self._fragments: list[bytes] | None = None  # a fragmented message websockets parsed
        self._fragmented_text = False

    # ---------------------------------------------------------------- the transport's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.set_protocol(_Reader(self))  # reads go into self._buf from now on

    def get_buffer(self, sizehint: int) -> memoryview:
        buf, start, end = self._buf, self._start, self._end
        if start:  # what is left of the last read (part of a frame) moves to the front
            kept = end - start
            buf[:kept] = buf[start:end]
            self._start, self._end = 0, kept
            end = kept
        room = max(self._needed, end + 1)
        if room > len(buf) or (end == 0 and len(buf) > READ_BUFFER_BYTES):
            # A new buffer (never a resized one: the transport may still hold a view of the old).
            bigger = bytearray(max(room, READ_BUFFER_BYTES))
            bigger[:end] = buf[:end]
            self._buf = buf = bigger
        return memoryview(buf)[end:]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        protocol = self.protocol
        if self._fast and protocol.state is State.CONNECTING:
            self._handshake()
            return
        if (
            not self._fast
            or protocol.state is not State.OPEN
            or protocol.reader.buffer  # websockets holds part of a frame
            or protocol.current_size is not None  # websockets is inside a fragmented message
        ):
            self._fast = False
            self._pass_on(self._start)
            return
        self._read_frames()

    def _handshake(self) -> None:
        """websockets reads the server's HTTP response up to its blank line and no further: frames
        that follow it in the same read stay here for the fast path. (Handed them, websockets would
        keep the start of a frame cut by the read to itself, and the fast path would resume in the
        middle of that frame.)"""
        head_end = self._buf.find(b"\r\n\r\n", 0, self._end) + 4
        if head_end < 4:  # the response's head is not complete yet
            if self._end > _MAX_RESPONSE_HEAD:  # not a WebSocket server: websockets says why
                self._fast = False
                self._pass_on(0)
            return
        super().data_received(bytes(self._buf[:head_end]))
        self._start = head_end
        if self.protocol.state is not State.OPEN:  # refused, or a body follows: websockets handles it
            self._fast = False
            self._pass_on(head_end)
        elif head_end < self._end:
            self._read_frames()
        else:
            self._start = self._end = 0

    # ---------------------------------------------------------------- the fast path
    def _read_frames(self) -> None:
        buf = self._buf
        received_at = time.monotonic()
        limit = self.max_frame_bytes
        on_frame = self.on_frame
        data_seen = reply_seen = False
        end = self._end
        pos = self._start
        view = memoryview(buf)
        needed = 0
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
                self._note(data_seen, reply_seen, received_at)
                self._hand_over(pos)
                return
            stop = start + length
            if stop > end:
                needed = stop - pos
                break
            if head in (_FIN_TEXT, _FIN_BINARY):
                try:
                    if on_frame(view[start:stop].tobytes(), head == _FIN_TEXT, received_at):
                        data_seen = True
                    else:
                        reply_seen = True
                except Exception:  # a bug in handling one frame must not end the stream
                    self._handler_failed()
            elif head in (_PING, _PONG):
                super().data_received(bytes(view[pos:stop]))
            else:
                self._note(data_seen, reply_seen, received_at)
                self._hand_over(pos)
                return
            pos = stop
        if pos == end:
            self._start = self._end = 0
        else:
            self._start = pos
        self._needed = needed
        self._note(data_seen, reply_seen, received_at)

    def _note(self, data_seen: bool, reply_seen: bool, at: float) -> None:
        if data_seen:
            self.last_data = at
        if reply_seen:
            self.last_reply = at

    def _handler_failed(self) -> None:
        self.handler_errors += 1
        logger.exception("frame handler failed; frame skipped")

    def _hand_over(self, pos: int) -> None:
        """websockets parses everything from `pos` on."""
        self._fast = False
        self._pass_on(pos)

    def _pass_on(self, pos: int) -> None:
        """The buffered bytes from `pos` on go to websockets' parser (and leave the buffer)."""
        data = bytes(self._buf[pos : self._end])
        self._start = self._end = self._needed = 0
        if data:
            super().data_received(data)

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


class _Reader(asyncio.BufferedProtocol):
    """The transport's protocol once connected: reads go into the connection's buffer, and every
    other event is the connection's own (uvloop hands a buffer only to a protocol that is not an
    asyncio.Protocol, which websockets' connection is)."""

    def __init__(self, connection: FeedConnection) -> None:
        self._connection = connection

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._connection.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self._connection.buffer_updated(nbytes)

    def eof_received(self) -> None:
        self._connection.eof_received()  # None: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection.connection_lost(exc)

    def pause_writing(self) -> None:
        self._connection.pause_writing()

    def resume_writing(self) -> None:
        self._connection.resume_writing()
