"""The serialization micro-benchmark: the 10-track playlist encoded and decoded, in process.

No network and no server: only what each format costs on its own. JSON and protobuf decode
into ready-to-use objects (dicts, a message); for SOAP the decode is lxml's parse into an
element tree, the first step of every SOAP stack (Spyne's and zeep's), before any mapping
to objects.
"""
import json
import logging
import timeit
from dataclasses import dataclass

from google.protobuf import json_format
from lxml import etree
from playlist.v1 import playlist_pb2 as pb
from soap import compat  # noqa: F401  (before Spyne: Spyne 2.14 on Python 3.12+, see soap/compat.py)
from spyne.server.null import NullServer

from .bare_soap import soap_application

# NullServer logs two WARNING lines around every call: noise, and a cost we would measure.
logging.getLogger("spyne.server.null").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Codec:
    name: str
    size: int          # bytes of the encoded playlist
    encode_us: float   # microseconds per encoding
    decode_us: float   # microseconds per decoding


def microseconds(function, rounds: int, round_seconds: float) -> float:
    """Microseconds per call: the best of `rounds` timed rounds.

    The minimum, not the mean: on a busy machine noise only ever adds time, so the fastest
    round is the closest to what the code itself costs."""
    timer = timeit.Timer(function)
    number = 1
    while timer.timeit(number) < round_seconds:
        number *= 2
    return min(timer.repeat(rounds, number)) / number * 1e6


def codecs(fixture: dict) -> dict:
    """name: (encode, decode) for the fixture's playlist; each encode returns bytes."""
    playlist = fixture["playlist"]
    message = json_format.ParseDict(playlist, pb.Playlist())
    spyne = NullServer(soap_application(fixture), ostr=True)
    return {
        "JSON as REST sends it (indent=2)": (
            lambda: (json.dumps(playlist, ensure_ascii=False, indent=2) + "\n").encode(), json.loads),
        "JSON, compact": (lambda: json.dumps(playlist, ensure_ascii=False, separators=(",", ":")).encode(),
                          json.loads),
        "SOAP 1.1 envelope (Spyne) / lxml parse": (
            lambda: b"".join(spyne.service.GetPlaylist(fixture["playlist_id"])), etree.fromstring),
        "protobuf": (message.SerializeToString, pb.Playlist.FromString),
    }


def run(fixture: dict, rounds: int = 5, round_seconds: float = 0.05) -> list[Codec]:
    results = []
    for name, (encode, decode) in codecs(fixture).items():
        data = encode()
        results.append(Codec(name, len(data), microseconds(encode, rounds, round_seconds),
                             microseconds(lambda: decode(data), rounds, round_seconds)))
    return results
