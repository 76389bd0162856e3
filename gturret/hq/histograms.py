"""Read an HdrHistogram that came over the wire: its header first, its counts only then.

Why it exists: ``HdrHistogram.decode`` decompresses the whole payload and allocates a
counts array for whatever layout the header names, before anyone can look at it: a
2 MB zlib bomb becomes gigabytes, and a header that asks for 1 to 2**62 at 5 digits
allocates tens of megabytes for one small message. Here the standard encoding
(HdrHistogram's V2: an 8-byte cookie and length, then a zlib stream whose first 40
bytes are the payload header, ``hdrh/codec.py``) is checked step by step, each step
bounded: the text's length, the outer cookie and length, the payload header alone
(cookie, our layout only, no offset, a unit ratio, a payload length that our layout's
counts can fill), then the counts decompressed up to that length and no further.

The counts themselves are decoded by hdrh's C codec, which adds them in 64 bits
without a check: a ZigZag varint of more than 5 bytes (a count of 2**34 or more) is
refused, so no sum can wrap, and the caller compares the total with what the message
claims. It must never raise on its input: anything unreadable is None.

It also holds the few operations the HQ does on every histogram it keeps, in as few
Python steps as hdrh's C parts allow (hdrh's own walk every bucket in Python,
milliseconds a call: with a hundred turrets, most of the HQ's CPU): the counts decoded
once, straight from the stream already checked (``read_histogram``), added with one C
call (``add``), cleared with one ``memset`` (``clear``), and percentiles read from
the recorded range alone (``percentiles``), the values hdrh gives.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import re
import struct
import sys
import zlib
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import accumulate
from types import SimpleNamespace

import pyhdrh
from hdrh.histogram import HdrHistogram

from gturret import looplag, wire

#: The outer header: cookie, length of the zlib stream (big-endian).
_OUTER = struct.Struct(">II")
#: The payload header: cookie, varint length, normalizing offset, significant digits,
#: lowest and highest trackable values, conversion ratio.
_PAYLOAD = struct.Struct(">IIIIqqd")
_COMPRESSION_COOKIE = 0x1C849304
_ENCODING_COOKIE = 0x1C849303
_COOKIE_MASK = ~0xF0 & 0xFFFFFFFF
#: The longest ZigZag LEB128 varint of a counts stream we read: 5 bytes, counts below
#: 2**34. Five continuation bytes in a row mean a longer one.
_LONG_VARINT = re.compile(rb"[\x80-\xff]{5}")
_VARINT_BYTES = 5
#: Counts added up by one ``sum`` when reading percentiles.
_CHUNK = 256


@dataclass(frozen=True)
class Layout:
    """A histogram's range and precision; the only one a series of ours may have."""

    lowest: int
    highest: int
    digits: int

    @cached_property
    def counts_len(self) -> int:
        """How many counts this layout has (what an empty histogram of it allocates)."""
        length: int = HdrHistogram(self.lowest, self.highest, self.digits).counts_len
        return length

    @property
    def most_payload_bytes(self) -> int:
        """The longest varint stream its counts can encode to (each count at most 5 bytes)."""
        return self.counts_len * _VARINT_BYTES

    @property
    def most_text(self) -> int:
        """The longest base64 text of such a histogram: the headers and the stream as
        zlib stores them at worst (zlib's ``compressBound`` is below 1.001 times), in
        base64."""
        raw = _PAYLOAD.size + self.most_payload_bytes
        stored = _OUTER.size + raw + raw // 1000 + 64
        return 4 * (stored // 3 + 1)


#: The interval messages' layout (``gturret.wire``) and the loop lag's (``looplag``).
INTERVAL_LAYOUT = Layout(wire.LOWEST_US, wire.HIGHEST_US, wire.SIGNIFICANT_DIGITS)
LOOP_LAG_LAYOUT = Layout(looplag.LOWEST_US, looplag.HIGHEST_US, looplag.SIGNIFICANT_DIGITS)


def read_histogram(encoded: str, layout: Layout) -> HdrHistogram | None:
    """The histogram ``encoded`` holds, if it is well formed and of ``layout``; else None.

    At most ``layout.most_text`` characters are looked at, and at most
    ``layout.most_payload_bytes`` decompressed, whatever the text says.
    """
    if len(encoded) > layout.most_text or not encoded.isascii():
        return None
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    stream = _compressed_stream(blob)
    if stream is None:
        return None
    counts = _counts(stream, layout)
    if counts is None or _LONG_VARINT.search(counts):
        return None
    histogram = _blank(layout)
    try:
        # The stream inflated above, decoded once (``HdrHistogram.decode`` would
        # base64-decode and inflate it all over again).
        decoded = pyhdrh.decode(counts, 0, ctypes.addressof(histogram.counts), layout.counts_len, 8)
    except Exception:
        # hdrh's codec still finds something wrong (a varint cut short, counts past
        # the layout's end): the checks above bound its cost, it has the last word.
        return None
    if decoded["total"]:
        histogram.set_internal_tacking_values(
            decoded["min_nonzero_index"], decoded["max_nonzero_index"], decoded["total"]
        )
    return histogram


def add(into: HdrHistogram, other: HdrHistogram) -> None:
    """``into.add(other)`` for two histograms of one layout, in one C call over the
    counts ``other`` recorded (hdrh's checks in Python that ``other`` fits, which one
    layout ensures, then adds every count of the layout). The lowest and highest
    values are kept as recorded, in the buckets hdrh's would be in."""
    if not other.total_count:
        return
    low = other.get_counts_array_index(min(other.min_value, other.max_value))
    high = other.get_counts_array_index(other.max_value)
    pyhdrh.add_array(
        ctypes.addressof(into.counts) + 8 * low,
        ctypes.addressof(other.counts) + 8 * low,
        high - low + 1,
        8,
    )
    into.total_count += other.total_count
    into.max_value = max(into.max_value, other.max_value)
    into.min_value = min(into.min_value, other.min_value)


def clear(histogram: HdrHistogram) -> None:
    """``histogram.reset()`` with one ``memset`` (hdrh zeroes each count in Python)."""
    ctypes.memset(ctypes.addressof(histogram.counts), 0, ctypes.sizeof(histogram.counts))
    histogram.total_count = 0
    histogram.min_value = sys.maxsize
    histogram.max_value = 0


def percentiles(histogram: HdrHistogram, wanted: Sequence[float]) -> dict[float, int]:
    """The value at each percentile, as ``get_percentile_to_value_dict`` gives it (0 for
    every one of an empty histogram).

    The counts from the lowest value recorded to the highest are added up in C a chunk
    at a time (``_CHUNK`` counts a ``sum``), each percentile's chunk found by bisection
    of those sums and its count within that chunk: the Python steps grow with the
    recorded range over ``_CHUNK``, not with the range (a loop lag of 3 ms with one
    stall of 500 ms spans some 14,000 counts, mostly zero).
    """
    if not histogram.total_count:
        return dict.fromkeys(wanted, 0)
    low = histogram.get_counts_array_index(histogram.get_min_value())
    end = histogram.get_counts_array_index(histogram.max_value) + 1
    counts = memoryview(histogram.counts).cast("B").cast("Q")
    starts = range(low, end, _CHUNK)
    running = list(accumulate(sum(counts[start : start + _CHUNK]) for start in starts))
    values = {}
    for percentile in wanted:
        target = histogram.get_target_count_at_percentile(percentile)
        chunk = bisect_left(running, target)
        start = starts[chunk]
        before = running[chunk - 1] if chunk else 0
        within = list(accumulate(counts[start : min(start + _CHUNK, end)], initial=before))
        value = histogram.get_value_from_index(start + bisect_left(within, target) - 1)
        values[percentile] = (
            histogram.get_highest_equivalent_value(value)
            if percentile
            else histogram.get_lowest_equivalent_value(value)
        )
    return values


@cache
def _blank_fields(layout: Layout) -> tuple[dict[str, object], type[ctypes.Array[ctypes.c_ulong]]]:
    """What an empty histogram of ``layout`` holds but its counts, and their type."""
    histogram = HdrHistogram(layout.lowest, layout.highest, layout.digits)
    fields = dict(vars(histogram))
    fields["encoder"] = _NoEncoder(histogram.counts_len)
    return fields, type(histogram.counts)


class _NoEncoder:
    """A read histogram's encoder: hdrh's iterators read the counts' length from the
    encoder's payload; anything that would encode fails, as it should."""

    def __init__(self, counts_len: int) -> None:
        self.payload = SimpleNamespace(counts_len=counts_len)


def _blank(layout: Layout) -> HdrHistogram:
    """An empty histogram of ``layout``, as hdrh's constructor makes it but its encoder
    (:class:`_NoEncoder`).

    hdrh's constructor works out the layout in Python and builds an encoder with its
    own payload each time: 90-150 µs, twice a second per turret (its interval, its
    loop lag), a few % of a core at a hundred turrets; this copies the worked-out
    fields and allocates the counts alone (about 4 µs). A decoded histogram is only
    read and added to others, never encoded, so it needs no encoder; without one it
    also has no reference cycle (a histogram and its encoder refer to each other, so
    a few hundred large intervals waited for the cyclic collector, over 600 MB).
    """
    fields, counts_type = _blank_fields(layout)
    histogram: HdrHistogram = object.__new__(HdrHistogram)
    histogram.__dict__.update(fields)
    histogram.counts = counts_type()
    return histogram


def _compressed_stream(blob: bytes) -> bytes | None:
    """The zlib stream after a well-formed outer header, or None."""
    if len(blob) < _OUTER.size:
        return None
    cookie, length = _OUTER.unpack_from(blob)
    if cookie & _COOKIE_MASK != _COMPRESSION_COOKIE or length != len(blob) - _OUTER.size:
        return None
    return blob[_OUTER.size :]


def _counts(stream: bytes, layout: Layout) -> bytes | None:
    """The varint counts stream, after a payload header of ``layout``; or None.

    The header is decompressed alone and checked before a byte more is inflated;
    then exactly the length it declares, and nothing may follow.
    """
    inflater = zlib.decompressobj()
    try:
        head = inflater.decompress(stream, _PAYLOAD.size)
        if len(head) < _PAYLOAD.size:
            return None
        cookie, length, offset, digits, lowest, highest, ratio = _PAYLOAD.unpack(head)
        if (
            cookie & _COOKIE_MASK != _ENCODING_COOKIE
            or (digits, lowest, highest) != (layout.digits, layout.lowest, layout.highest)
            or offset != 0
            or ratio != 1.0
            or length > layout.most_payload_bytes
        ):
            return None
        counts = inflater.decompress(inflater.unconsumed_tail, length + 1)
    except zlib.error:
        return None
    if len(counts) != length or inflater.unconsumed_tail:
        return None
    return counts
