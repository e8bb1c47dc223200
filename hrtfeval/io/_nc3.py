"""The size a netCDF-3 (classic, 64-bit offset, CDF-5) file must have, from its header.

netCDF-C reads the values of a classic file that was cut off as zeros (a fill of the missing
bytes), so a truncated SOFA file would be scored with silent samples. :func:`needed_size`
parses the header (format: the netCDF "Classic Format Specification") and returns the bytes
its variables need; the reader compares that with the file's size. Standard library only.
"""

from __future__ import annotations

import math
import struct
from typing import BinaryIO

#: nc_type -> bytes per value (NC_BYTE .. NC_UINT64)
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_NC_DIMENSION, _NC_VARIABLE, _NC_ATTRIBUTE = 0x0A, 0x0B, 0x0C
_STREAMING = 0xFFFFFFFF


class HeaderError(ValueError):
    """The header is cut off or does not follow the format."""


class _Reader:
    def __init__(self, fh: BinaryIO, version: int):
        self.fh = fh
        self.wide = version == 5  # CDF-5: 64-bit counts and sizes

    def take(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise HeaderError("the header is cut off")
        return data

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def count(self) -> int:
        value = struct.unpack(">q", self.take(8))[0] if self.wide else self.int32()
        if value < 0:
            raise HeaderError(f"a negative count ({value}) in the header")
        return value

    def skip_padded(self, n: int) -> None:
        self.take(n + (-n % 4))

    def name(self) -> None:
        self.skip_padded(self.count())

    def tag_and_count(self, tag: int) -> int:
        got = self.int32()
        n = self.count()
        if got == 0 and n == 0:
            return 0  # ABSENT
        if got != tag:
            raise HeaderError(f"expected list tag {tag:#x}, found {got:#x}")
        return n

    def attributes(self) -> None:
        for _ in range(self.tag_and_count(_NC_ATTRIBUTE)):
            self.name()
            size = self._type_size(self.int32())
            self.skip_padded(self.count() * size)

    def _type_size(self, nc_type: int) -> int:
        if nc_type not in _TYPE_SIZES:
            raise HeaderError(f"unknown value type {nc_type}")
        return _TYPE_SIZES[nc_type]


def needed_size(fh: BinaryIO) -> int | None:
    """Bytes the file of ``fh`` (at its start) must hold for every declared value, or None when
    it is not a netCDF-3 file.

    Raises
    ------
    HeaderError
        The header is cut off or malformed.
    """
    magic = fh.read(4)
    if magic[:3] != b"CDF" or magic[3:] not in (b"\x01", b"\x02", b"\x05"):
        return None
    version = magic[3]
    r = _Reader(fh, version)
    numrecs = struct.unpack(">Q", r.take(8))[0] if version == 5 else r.int32() & 0xFFFFFFFF
    dims = []
    for _ in range(r.tag_and_count(_NC_DIMENSION)):
        r.name()
        dims.append(r.count())
    r.attributes()
    fixed_end, records = 0, []
    for _ in range(r.tag_and_count(_NC_VARIABLE)):
        r.name()
        ids = [r.count() for _ in range(r.count())]
        if any(i >= len(dims) for i in ids):
            raise HeaderError("a variable refers to a dimension that does not exist")
        r.attributes()
        size = r._type_size(r.int32())
        r.count() if version == 5 else r.int32()  # vsize: recomputed below (it may overflow)
        begin = struct.unpack(">q", r.take(8))[0] if version in (2, 5) else r.int32()
        shape = [dims[i] for i in ids]
        if shape and shape[0] == 0:  # the record dimension: one slab per record
            records.append((begin, math.prod(shape[1:]) * size))
        else:
            fixed_end = max(fixed_end, begin + math.prod(shape) * size)
    if not records or numrecs in (0, _STREAMING):
        return fixed_end
    # One record holds every record variable's slab, each padded to 4 bytes -- unless there is
    # just one record variable.
    recsize = records[0][1] if len(records) == 1 else sum(n + (-n % 4) for _, n in records)
    last = max(begin + (numrecs - 1) * recsize + n for begin, n in records)
    return max(fixed_end, last)
