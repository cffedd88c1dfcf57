"""Read positions of the Eloqua connector, as JSON inside a :class:`Cursor` (no HTTP here).

Contacts, accounts and custom objects (:class:`RecordCursor`)::

    {"v": 1,
     "mark": "2026-05-12T14:23:05.000Z",   # every change up to here has been read
     "seen": {"123": "2026-05-12T14:22:40.000Z", ...},   # or "seen_z": packed
     "known": "<base64>", "known_count": 1000000,        # ids reported alive
     "reconciled_at": "2026-05-12T14:23:05.000Z",
     "export": {"sync": "/syncs/456", "offset": 50000,   # an export being read
                "upper": "2026-05-12T14:23:05.000Z", "columns": "9f2c..."}}

- A read exports the records modified at or after ``mark`` less an overlap
  and emits a record only if its (id, modified) pair is not in ``seen``, which
  holds the pairs within the overlap (so a re-read overlap, or a change in the
  same second, is emitted once).
- ``export`` is the sync being read and the offset after the last stored
  batch: a read cut short resumes there while Eloqua keeps the staged data.
  Once its last page is stored, ``mark`` moves to ``upper``, the server's
  time when that sync was created: the snapshot holds every change up to it.
- ``known`` is every id the connector has reported alive, packed by
  :func:`pack_ids` (a zlib-compressed bitmap or delta list, base64): a
  million contiguous ids take a few hundred bytes, a million with one in ten
  deleted at random about 80 KB. Deletions are the known ids a full id
  export no longer lists; they leave ``known`` when reported.

Activities (:class:`ActivityCursor`) keep one such position per activity type
(``{"v": 1, "types": {"EmailOpen": {"mark", "seen", "export"}, ...}}``), with
``seen`` holding activity ids within the type's overlap.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from abmsync.connectors.base import Cursor
from abmsync.connectors.eloqua.values import iso, minus, parse_time
from abmsync.errors import ConfigError

VERSION = 1
PACK_SEEN_OVER = 200  # a ``seen`` map larger than this is stored compressed


# -- packed sets of ids -----------------------------------------------------------------


def _varint(number: int, out: bytearray) -> None:
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _varints(data: bytes, start: int) -> Iterable[int]:
    number = shift = 0
    for byte in data[start:]:
        number |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        yield number
        number = shift = 0


def pack_ids(ids: Iterable[int]) -> str:
    """A set of non-negative int ids, compact: a bitmap or a delta list, zlib, base64.

    The bitmap spans the smallest to the largest id; the delta list holds the
    gaps between sorted ids as varints. The smaller of the two is kept.
    """
    ordered = sorted(set(ids))
    if not ordered:
        return ""
    low, high = ordered[0], ordered[-1]
    header = bytearray()
    _varint(low, header)
    deltas = bytearray(b"D")
    deltas += header
    previous = low
    for number in ordered[1:]:
        _varint(number - previous, deltas)
        previous = number
    span = high - low + 1
    if (span + 7) // 8 < len(deltas):
        bits = bytearray((span + 7) // 8)
        for number in ordered:
            offset = number - low
            bits[offset >> 3] |= 1 << (offset & 7)
        raw = bytes(b"B" + header + bits)
    else:
        raw = bytes(deltas)
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def unpack_ids(text: str) -> set[int]:
    """The ids :func:`pack_ids` packed."""
    if not text:
        return set()
    try:
        raw = zlib.decompress(base64.b64decode(text))
    except (ValueError, zlib.error) as error:
        raise ConfigError(f"unreadable Eloqua cursor: known ids are damaged ({error})") from None
    kind, body = raw[:1], raw[1:]
    numbers = iter(_varints(body, 0))
    low = next(numbers)
    if kind == b"D":
        result = {low}
        current = low
        for delta in numbers:
            current += delta
            result.add(current)
        return result
    # a bitmap: skip the header's varint, then read the bits
    start = 0
    while body[start] & 0x80:
        start += 1
    start += 1
    result = set()
    for index, byte in enumerate(body[start:]):
        if byte:
            base = low + index * 8
            for bit in range(8):
                if byte >> bit & 1:
                    result.add(base + bit)
    return result


def _pack_map(values: Mapping[str, str]) -> dict[str, Any]:
    """``seen`` as JSON: a plain object while small, compressed when large."""
    ordered = dict(sorted(values.items()))
    if len(ordered) <= PACK_SEEN_OVER:
        return {"seen": ordered}
    raw = json.dumps(ordered, separators=(",", ":")).encode()
    return {"seen_z": base64.b64encode(zlib.compress(raw, 9)).decode("ascii")}


def _unpack_map(data: Mapping[str, Any]) -> dict[str, str]:
    if data.get("seen_z"):
        raw = zlib.decompress(base64.b64decode(str(data["seen_z"])))
        loaded = json.loads(raw)
    else:
        loaded = data.get("seen") or {}
    return {str(k): str(v) for k, v in dict(loaded).items()}


# -- one window of changes -------------------------------------------------------------------


@dataclass
class PendingExport:
    """An export sync being read: where the next page starts, and what it covers."""

    sync: str
    offset: int
    upper: str  # ISO time the sync was created (the server's clock)
    columns: str  # fingerprint of the export's columns: a resumed read must read the same

    def dump(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "sync": self.sync,
            "offset": self.offset,
            "upper": self.upper,
            "columns": self.columns,
        }

    @classmethod
    def load(cls, data: object) -> PendingExport | None:
        """From JSON, or None."""
        if not isinstance(data, Mapping) or not data.get("sync"):
            return None
        return cls(
            sync=str(data["sync"]),
            offset=int(data.get("offset") or 0),
            upper=str(data.get("upper") or ""),
            columns=str(data.get("columns") or ""),
        )


@dataclass
class Window:
    """Changes read up to ``mark``, pairs seen near it, and an export under way."""

    mark: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    export: PendingExport | None = None

    def lower_bound(self, overlap_seconds: float) -> datetime | None:
        """Where the next export starts: ``mark`` less the overlap (None: from the beginning)."""
        moment = parse_time(self.mark)
        return minus(moment, overlap_seconds) if moment is not None else None

    def observe(self, key: str, stamp: str, floor: str = "") -> bool:
        """Note a record (or activity); False if this (key, stamp) was emitted before.

        A pair stamped before ``floor`` is emitted but not kept: no later
        window reaches back that far (a first load of a million records
        keeps only the recent ones).
        """
        if self.seen.get(key) == stamp:
            return False
        if stamp >= floor:
            self.seen[key] = stamp
        return True

    def close(self, upper: str, overlap_seconds: float) -> None:
        """The export is read: every change up to ``upper`` is in; forget pairs out of reach."""
        new = parse_time(upper)
        old = parse_time(self.mark)
        if new is not None and (old is None or new > old):
            self.mark = iso(new)
        self.export = None
        floor = self.lower_bound(overlap_seconds)
        if floor is not None:
            keep = iso(floor)
            self.seen = {k: v for k, v in self.seen.items() if v >= keep}

    def dump(self) -> dict[str, Any]:
        """As JSON."""
        data: dict[str, Any] = {"mark": self.mark, **_pack_map(self.seen)}
        if self.export is not None:
            data["export"] = self.export.dump()
        return data

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Window:
        """From JSON."""
        return cls(
            mark=str(data["mark"]) if data.get("mark") else None,
            seen=_unpack_map(data),
            export=PendingExport.load(data.get("export")),
        )


def _json(cursor: Cursor | None) -> dict[str, Any]:
    if cursor is None:
        return {}
    try:
        data = json.loads(cursor.value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError(f"unreadable Eloqua cursor {cursor.value[:60]!r}")
    return data


# -- records and activities -----------------------------------------------------------------


@dataclass
class RecordCursor:
    """Position of contacts, accounts or custom object records; see the module docstring."""

    window: Window = field(default_factory=Window)
    known: set[int] = field(default_factory=set)
    reconciled_at: str | None = None
    _packed: str | None = field(default=None, repr=False)  # ``known`` as last packed

    @classmethod
    def parse(cls, cursor: Cursor | None) -> RecordCursor:
        """The position a cursor holds (a fresh one for None)."""
        data = _json(cursor)
        try:
            packed = str(data.get("known") or "")
            return cls(
                window=Window.load(data),
                known=unpack_ids(packed),
                reconciled_at=str(data["reconciled_at"]) if data.get("reconciled_at") else None,
                _packed=packed,
            )
        except (ValueError, TypeError, KeyError, zlib.error) as error:
            raise ConfigError(f"unreadable Eloqua cursor: {error}") from None

    def remember(self, ids: Iterable[int]) -> None:
        """Ids reported alive."""
        before = len(self.known)
        self.known.update(ids)
        if len(self.known) != before:
            self._packed = None

    def forget(self, ids: Iterable[int]) -> None:
        """Ids reported deleted."""
        before = len(self.known)
        self.known.difference_update(ids)
        if len(self.known) != before:
            self._packed = None

    def to_cursor(self, records: int) -> Cursor:
        """The cursor valid once the batch carrying it (and those before) is stored."""
        if self._packed is None:
            self._packed = pack_ids(self.known)
        value = {
            "v": VERSION,
            **self.window.dump(),
            "known": self._packed,
            "known_count": len(self.known),
            "reconciled_at": self.reconciled_at,
        }
        return Cursor(
            value=json.dumps(value, separators=(",", ":")),
            observed_at=parse_time(self.window.mark),
            records=records,
        )


@dataclass
class ActivityCursor:
    """One :class:`Window` per activity type; see the module docstring."""

    types: dict[str, Window] = field(default_factory=dict)

    @classmethod
    def parse(cls, cursor: Cursor | None) -> ActivityCursor:
        """The positions a cursor holds (fresh for None)."""
        data = _json(cursor)
        raw = data.get("types") or {}
        if not isinstance(raw, Mapping):
            raise ConfigError("unreadable Eloqua activity cursor: 'types' is not an object")
        try:
            return cls(types={str(k): Window.load(v) for k, v in raw.items()})
        except (ValueError, TypeError, zlib.error) as error:
            raise ConfigError(f"unreadable Eloqua activity cursor: {error}") from None

    def window(self, activity_type: str) -> Window:
        """The window of one type (created empty)."""
        return self.types.setdefault(activity_type, Window())

    def to_cursor(self, records: int) -> Cursor:
        """The cursor valid once the batch carrying it is stored."""
        value = {"v": VERSION, "types": {k: w.dump() for k, w in sorted(self.types.items())}}
        marks = [m for m in (parse_time(w.mark) for w in self.types.values()) if m is not None]
        return Cursor(
            value=json.dumps(value, separators=(",", ":")),
            observed_at=min(marks) if marks else None,
            records=records,
        )
