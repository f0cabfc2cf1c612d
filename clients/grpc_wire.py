"""What really crossed the wire for gRPC: HTTP/2 frames, captured by a loopback relay.

The gRPC library speaks HTTP/2 from C code we cannot tap, so the client talks to a small
TCP relay that copies every byte to the server and keeps a copy. Afterwards the copy is
decoded the way a protocol analyser would: frames (hyperframe), header compression
(hpack), the 5-byte gRPC message prefix, and each protobuf field's number, wire type
and value.
"""
import base64
import socket
import struct
import threading

from google.protobuf import any_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2  # noqa: F401  (registers the detail types to decode)
from hpack import Decoder
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, HeadersFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"   # every HTTP/2 connection starts with it
WIRE_TYPES = {0: "varint", 1: "64-bit", 2: "length-delimited", 5: "32-bit"}
STATUS = status_pb2.Status.DESCRIPTOR   # what grpc-status-details-bin carries
SIGNED_VARINTS = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_ENUM)


class Relay:
    """A TCP relay on a free loopback port, recording both directions of every connection."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.sent = bytearray()       # client -> server
        self.received = bytearray()   # server -> client
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for sock in (client, server):
                # Pass each small frame on at once: Nagle's algorithm would hold it for an ACK.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, server, self.sent), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.received), daemon=True).start()

    @staticmethod
    def _pump(source, destination, record):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    destination.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            record += data
            destination.sendall(data)

    def mark(self) -> tuple[int, int]:
        """Where the capture stands now: describe(..., since=mark) shows only what follows.
        (The capture itself is kept whole: HPACK compresses each header block against the
        ones before it on the same connection, so decoding must start at the beginning.)"""
        return len(self.sent), len(self.received)


def frames(data: bytes):
    """(offset, frame) for each HTTP/2 frame of a captured byte stream."""
    offset = len(PREFACE) if data.startswith(PREFACE) else 0
    while offset + 9 <= len(data):
        frame, length = Frame.parse_frame_header(memoryview(data[offset:offset + 9]))
        if offset + 9 + length > len(data):
            return
        frame.parse_body(memoryview(data[offset + 9:offset + 9 + length]))
        yield offset, frame
        offset += 9 + length


def grpc_messages(payload: bytes):
    """Split DATA bytes into gRPC messages: 1 byte 'compressed?' + 4 bytes length, big-endian."""
    offset = 0
    while offset + 5 <= len(payload):
        compressed, length = struct.unpack(">BI", payload[offset:offset + 5])
        yield payload[offset:offset + 5], compressed, payload[offset + 5:offset + 5 + length]
        offset += 5 + length


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        offset += 1
        if not byte & 0x80:
            return value, offset
        shift += 7


def decode_protobuf(data: bytes, descriptor=None, indent: str = "    ", hex_width: int = 47) -> list[str]:
    """Each field as it is on the wire: number, wire type, value (named when the proto says)."""
    lines, offset = [], 0
    while offset < len(data):
        start = offset
        key, offset = _varint(data, offset)
        number, wire_type = key >> 3, key & 7
        field = descriptor.fields_by_number.get(number) if descriptor else None
        name = f" ({field.name})" if field else ""
        if wire_type == 0:
            value, offset = _varint(data, offset)
            shown = str(value)
            if value >= 1 << 63 and (not field or field.type in SIGNED_VARINTS):
                # Two's complement over 64 bits, whatever the field's size: 10 bytes on the wire.
                shown += f" = {value - (1 << 64)} (a negative int32/int64 is sent as its 64-bit two's complement)"
        elif wire_type == 1:
            value, offset = data[offset:offset + 8], offset + 8
            shown = str(struct.unpack("<d" if field and field.type == FieldDescriptor.TYPE_DOUBLE else "<q", value)[0])
        elif wire_type == 5:
            value, offset = data[offset:offset + 4], offset + 4
            shown = str(struct.unpack("<f" if field and field.type == FieldDescriptor.TYPE_FLOAT else "<i", value)[0])
        elif wire_type == 2:
            length, offset = _varint(data, offset)
            value, offset = data[offset:offset + length], offset + length
            inner = _any_type(descriptor, data) if field and field.name == "value" else None
            if inner or (field and field.type == FieldDescriptor.TYPE_MESSAGE):
                inner = inner or field.message_type
                lines.append(f"{indent}{data[start:offset - length].hex(' '):<{hex_width}}  field {number}{name}, "
                             f"length-delimited, a {inner.name} of {length} bytes:")
                lines += decode_protobuf(value, inner, indent + "    ", hex_width)
                continue
            shown = repr(value.decode("utf-8", errors="replace")) if not field or field.type == FieldDescriptor.TYPE_STRING else value.hex(" ")
        else:
            lines.append(f"{indent}{data[start:].hex(' ')}  (not protobuf)")
            return lines
        raw = data[start:offset].hex(" ")
        raw = raw if len(raw) <= hex_width else raw[:hex_width - 3] + "..."
        lines.append(f"{indent}{raw:<{hex_width}}  field {number}{name}, {WIRE_TYPES[wire_type]}: {shown}")
    return lines


def describe(sent: bytes, received: bytes, since: tuple[int, int] = (0, 0), hex_width: int = 47) -> str:
    """The exchange after `since`, decoded: '>' what the client sent, '<' what came back.
    Each field's bytes are shown in hex, cut at `hex_width` characters."""
    out, paths = [], {}
    for marker, data, start in ((">", sent, since[0]), ("<", received, since[1])):
        decoder, block = Decoder(), b""
        for offset, frame in frames(bytes(data)):
            if isinstance(frame, (HeadersFrame, ContinuationFrame)):
                block += frame.data
                if "END_HEADERS" not in frame.flags:
                    continue
                headers = [(k.decode(), v) for k, v in decoder.decode(block, raw=True)]
                block = b""
                if offset < start:
                    continue
                trailers = marker == "<" and any(k == "grpc-status" for k, _ in headers)
                out.append(f"{marker} HEADERS{' (trailers: the status travels here, after the body)' if trailers else ''}"
                           f", stream {frame.stream_id}")
                for name, value in headers:
                    if name.endswith("-bin"):
                        out += [f"{marker}   {name}: a google.rpc.Status of {len(binary(value))} bytes:"]
                        out += [f"{marker} {line}" for line in decode_protobuf(binary(value), STATUS, "      ", hex_width)]
                    else:
                        out.append(f"{marker}   {name}: {value.decode('utf-8', 'replace')}")
                paths.setdefault(frame.stream_id, dict(headers).get(":path", b"").decode())
            elif isinstance(frame, DataFrame) and frame.data and offset >= start:
                method = _method(paths.get(frame.stream_id))
                kind = (method.input_type if marker == ">" else method.output_type) if method else None
                for prefix, compressed, message in grpc_messages(frame.data):
                    out.append(f"{marker} DATA, stream {frame.stream_id}: prefix {prefix.hex(' ')} = "
                               f"{'compressed' if compressed else 'not compressed'}, {len(message)} bytes"
                               f"{f' of {kind.full_name}' if kind else ''}")
                    out += [f"{marker} {line}" for line in decode_protobuf(message, kind, hex_width=hex_width)]
    return "\n".join(out) + "\n"


def _any_type(descriptor, data: bytes):
    """Inside a google.protobuf.Any, the message type its type_url names (e.g. BadRequest)."""
    if descriptor is None or descriptor.full_name != "google.protobuf.Any":
        return None
    any_message = any_pb2.Any()
    try:
        any_message.ParseFromString(data)
        return descriptor_pool.Default().FindMessageTypeByName(any_message.TypeName())
    except (DecodeError, KeyError):
        return None


def binary(value: bytes) -> bytes:
    """A '-bin' metadata value: base64 on the wire, or raw after a 0x00 byte when both
    ends agreed to gRPC's 'true binary' metadata (grpc-allow-true-binary-metadata)."""
    return value[1:] if value.startswith(b"\x00") else base64.b64decode(value + b"=" * (-len(value) % 4))


def _method(path: str | None):
    if not path:
        return None
    try:
        return descriptor_pool.Default().FindMethodByName(path.strip("/").replace("/", "."))
    except KeyError:
        return None
