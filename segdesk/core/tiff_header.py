"""What a TIFF holds, read from its header without decoding: why the decoders refuse it, and how
many pages it has.

Remote-sensing and microscopy exports are often TIFFs of many bands (a Sentinel-2 tile has 13), in
planes, or of sample types the decoders lack; "not an image format" is then wrong and unhelpful. The
first image file directory (classic TIFF; BigTIFF is named) gives bands, bits, sample type and
compression, and ``describe_tiff`` says what segdesk reads instead. A z-stack or time series holds
one directory per page; segdesk reads the first page, and ``count_pages`` lets it say so.
"""

from __future__ import annotations

import struct

_SAMPLES, _BITS, _COMPRESSION, _PLANAR, _FORMAT = 277, 258, 259, 284, 339
_FORMATS = {
    1: "unsigned integer",
    2: "signed integer",
    3: "floating point",
    4: "untyped",
    5: "complex",
    6: "complex",
}
_COMPRESSIONS = {
    5: "LZW",
    7: "JPEG",
    8: "Deflate",
    32773: "PackBits",
    34887: "LERC",
    34925: "LZMA",
    50000: "Zstandard",
    50001: "WebP",
}
READS = "segdesk reads TIFFs of 1 to 4 channels (grey, grey + alpha, RGB, RGBA)"


def describe_tiff(raw: bytes) -> str | None:
    """Why this TIFF cannot be read, as a sentence; None when ``raw`` is no TIFF or its header is damaged."""
    order, magic = _header(raw)
    if magic == 43:
        return f"a BigTIFF, which segdesk cannot decode: {READS} in the classic TIFF layout"
    if magic != 42:
        return None
    tags = _first_directory(raw, order)
    if tags is None:
        return None
    samples = tags.get(_SAMPLES, 1)
    bits = tags.get(_BITS, 1)
    parts = [
        f"{samples} band{'s' if samples != 1 else ''}",
        f"{bits}-bit {_FORMATS.get(tags.get(_FORMAT, 1), 'unknown')}",
    ]
    if samples > 1 and tags.get(_PLANAR, 1) == 2:
        parts.append("stored band by band")
    compression = tags.get(_COMPRESSION, 1)
    parts.append(
        "uncompressed" if compression == 1 else f"{_COMPRESSIONS.get(compression, compression)} compression"
    )
    hint = " (save up to 4 bands, e.g. gdal_translate -b 1 -b 2 -b 3)" if samples > 4 else ""
    return f"a TIFF segdesk cannot decode ({', '.join(parts)}): {READS}{hint}"


def count_pages(raw: bytes, *, most: int = 100_000) -> int:
    """How many images (directories) a classic TIFF holds, by following the directory chain; 1 for
    anything else or a damaged chain. segdesk, as Labelme, shows and labels the first one only."""
    order, magic = _header(raw)
    if magic != 42:
        return 1
    pages, seen = 0, set()
    try:
        offset = struct.unpack(order + "I", raw[4:8])[0]
        while offset and offset not in seen and pages < most:
            seen.add(offset)
            (count,) = struct.unpack(order + "H", raw[offset : offset + 2])
            pages += 1
            end = offset + 2 + 12 * count
            offset = struct.unpack(order + "I", raw[end : end + 4])[0]
    except struct.error:
        pass
    return max(pages, 1)


def _header(raw: bytes) -> tuple[str, int]:
    """(struct byte order, magic): 42 for a classic TIFF, 43 for a BigTIFF, 0 for anything else."""
    order = {b"II": "<", b"MM": ">"}.get(raw[:2])
    if order is None or len(raw) < 8:
        return "<", 0
    return order, struct.unpack(order + "H", raw[2:4])[0]


def _first_directory(raw: bytes, order: str) -> dict[int, int] | None:
    """The first value of each tag of the first directory (None when the header is cut off)."""
    try:
        offset = struct.unpack(order + "I", raw[4:8])[0]
        (count,) = struct.unpack(order + "H", raw[offset : offset + 2])
        tags: dict[int, int] = {}
        for i in range(count):
            start = offset + 2 + 12 * i
            tag, kind, n = struct.unpack(order + "HHI", raw[start : start + 8])
            size = {3: 2, 4: 4}.get(kind)
            if size is None:
                continue
            at = start + 8
            if n * size > 4:  # the values do not fit in the entry: it holds their offset
                at = struct.unpack(order + "I", raw[at : at + 4])[0]
            tags[tag] = struct.unpack(order + ("H" if size == 2 else "I"), raw[at : at + size])[0]
        return tags
    except struct.error:
        return None
