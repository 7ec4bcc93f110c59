"""A seeded mutator of Labelme files for the reader fuzz test and tests/benchmarks/bench_hardening.py.

Starting from the repository's own Labelme files (``resources/demo``), each mutation is chosen by a
seed, so a failure is reproduced by its seed alone. Mutations are what a hostile or careless user
and other tools produce: values of the wrong type, nesting 1,000 deep, coordinates of 1e308, a
300-byte path segment, ``../`` paths, labels with line breaks and NUL, a PNG header claiming
100000 x 100000 pixels as ``imageData``, damaged base64, thousands of shapes, truncated or flipped
bytes.
"""

from __future__ import annotations

import base64
import json
import random
import re
import struct
import zlib
from pathlib import Path
from typing import Any

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
FIXTURES = sorted(DEMO.glob("*.json"))


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with almost no data: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _deep(depth: int) -> str:
    """A placeholder for a list nested ``depth`` deep (put into the text after json.dumps, which
    cannot write what Python's stack cannot hold)."""
    return f"__DEEP_{depth}__"


_DEEP = re.compile(r'"__DEEP_(\d+)__"')


def _odd_value(rng: random.Random) -> Any:
    choices = [
        lambda: None,
        lambda: True,
        lambda: -1,
        lambda: 0,
        lambda: 1e308,
        lambda: -1e308,
        lambda: 2**70,
        lambda: 1.5,
        lambda: "",
        lambda: "x" * rng.choice([1, 300, 5000]),
        lambda: "a\nb",
        lambda: "nul\x00",
        lambda: "../../../etc/hostname",
        lambda: "/" + "y" * 300 + "/z.png",
        lambda: [],
        lambda: {},
        lambda: [[1, 2]],
        lambda: [["1", 2], [3, None]],
        lambda: {"a": [1, {"b": None}]},
        lambda: _deep(rng.choice([50, 400, 900])),
    ]
    return rng.choice(choices)()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value, as a tuple of keys/indices (bounded: a mutated file can be big)."""
    out = [prefix]
    stack = [(value, prefix)]
    while stack and len(out) < 5000:
        node, where = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            out.append((*where, key))
            stack.append((child, (*where, key)))
    return out


def _set(data: Any, where: tuple, value: Any) -> Any:
    if not where:
        return value
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return data


def mutate(data: dict, rng: random.Random) -> Any:
    """One structural mutation of a parsed Labelme file (in place; returns the new top value)."""
    kind = rng.randrange(12)
    shapes = data.get("shapes") if isinstance(data.get("shapes"), list) else []
    if kind <= 3:  # any value anywhere
        where = rng.choice(_paths(data))
        return _set(data, where, _odd_value(rng))
    if kind == 4 and shapes:  # a coordinate
        shape = rng.choice(shapes)
        if isinstance(shape.get("points"), list) and shape["points"]:
            point = rng.choice(shape["points"])
            if isinstance(point, list) and point:
                point[rng.randrange(len(point))] = rng.choice(
                    [1e308, -1e308, 2**70, 1e-300, 10**9, "7", None]
                )
        return data
    if kind == 5 and shapes:  # a shape type or point count
        shape = rng.choice(shapes)
        shape["shape_type"] = rng.choice(
            [
                "circle",
                "rectangle",
                "line",
                "point",
                "points",
                "linestrip",
                "mask",
                "oriented_rectangle",
                "hexagon",
                None,
            ]
        )
        if rng.random() < 0.5 and isinstance(shape.get("points"), list):
            shape["points"] = shape["points"][: rng.randrange(0, 5)]
        return data
    if kind == 6:  # the image path
        data["imagePath"] = rng.choice(
            [
                "x" * 300 + ".png",
                "../../../etc/hostname",
                "/etc/passwd",
                "a\x00b.png",
                "C:\\\\img\\\\cells_01.jpg",
                "",
            ]
        )
        return data
    if kind == 7:  # embedded image data
        data["imageData"] = rng.choice(
            [
                base64.b64encode(_png_header(100_000, 100_000)).decode(),
                base64.b64encode(_png_header(1, 1)).decode(),
                "not base64 !!",
                base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(40)).decode(),
                "",
            ]
        )
        return data
    if kind == 8 and shapes:  # labels
        rng.choice(shapes)["label"] = rng.choice(["", " ", "a\nb", "nul\x00", "\u2028", "x" * 10_000, 7])
        return data
    if kind == 9 and shapes and len(shapes) < 1000:  # many shapes (up to ~10^4, not compounded)
        data["shapes"] = shapes * rng.choice([10, 100, 500])
        return data
    if kind == 10:  # a key removed
        keys = list(data)
        if keys:
            del data[rng.choice(keys)]
        return data
    return _set(data, rng.choice(_paths(data)), _odd_value(rng))


def mutated_bytes(seed: int) -> bytes:
    """The bytes of mutated file number ``seed``: structure mutations, sometimes damaged bytes too."""
    rng = random.Random(seed)
    source = FIXTURES[seed % len(FIXTURES)]
    data: Any = json.loads(source.read_text(encoding="utf-8"))
    for _ in range(rng.choice([1, 1, 2, 3])):
        data = mutate(data, rng) if isinstance(data, dict) else data
    text = json.dumps(data, allow_nan=True)
    text = _DEEP.sub(lambda m: "[" * int(m.group(1)) + "0" + "]" * int(m.group(1)), text)
    raw = text.encode("utf-8", "surrogatepass")
    damage = rng.randrange(10)
    if damage == 0:
        raw = raw[: rng.randrange(len(raw) + 1)]
    elif damage == 1 and raw:
        i = rng.randrange(len(raw))
        raw = raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1 :]
    elif damage == 2:
        i = rng.randrange(len(raw) + 1)
        raw = raw[:i] + rng.randbytes(rng.randrange(1, 8)) + raw[i:]
    return raw


def image_for(seed: int) -> Path:
    """The demo image beside fixture number ``seed``."""
    source = FIXTURES[seed % len(FIXTURES)]
    return source.with_suffix(".jpg")


__all__ = ["FIXTURES", "image_for", "mutate", "mutated_bytes"]
