"""The checkpoint journal: what changed since the base document, one entry per write.

A write then costs what changed (a few step records), not the whole document; the base
document is rewritten (*compaction*) only once the journal has grown as large as the base,
so a write costs at most about twice what it changed, amortised, whatever the document's size.

Entry (one line, UTF-8)::

    J1 <length> <sha256 of payload, 32 hex> <payload JSON>\\n

``payload`` is ``{"set": {doc key: value}, "del": [doc keys], "steps": {step key: record},
"gone": [step keys]}`` (``gone``: the tombstones of forgotten or renamed records). A step
record is written whole: replaying an entry sets, never merges, so replaying entries the
base already holds changes nothing (a compaction interrupted between rewriting the base and
emptying the journal is harmless).

Replay stops at the first entry whose header, length, checksum or JSON does not check out:
that is a torn or partial tail (a write cut short by a crash); it is ignored, and the next
write compacts (rewrites the base, empties the journal), which repairs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"J1"
#: Compact once the journal holds this many bytes or more, and at least as many as the base.
MIN_COMPACT_BYTES = 64 * 1024


def encode(changes: Mapping[str, Any]) -> bytes:
    """One journal entry carrying ``changes``."""
    payload = json.dumps(changes, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(payload).hexdigest()[:32]
    return b"%s %d %s " % (MAGIC, len(payload), digest.encode("ascii")) + payload + b"\n"


@dataclass
class Replay:
    """What reading a journal found."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    valid_bytes: int = 0  # length of the intact prefix
    torn: bool = False  # bytes after the intact prefix were ignored


def decode(raw: bytes) -> Replay:
    """The intact entries of a journal, in order; a torn or corrupt tail is reported, not raised."""
    out = Replay()
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        line = raw[pos:end] if end >= 0 else raw[pos:]
        entry = _entry(line)
        if end < 0 or entry is None:
            out.torn = True
            break
        out.entries.append(entry)
        pos = end + 1
        out.valid_bytes = pos
    return out


def _entry(line: bytes) -> dict[str, Any] | None:
    parts = line.split(b" ", 3)
    if len(parts) != 4 or parts[0] != MAGIC:
        return None
    try:
        length = int(parts[1])
    except ValueError:
        return None
    payload = parts[3]
    if len(payload) != length or hashlib.sha256(payload).hexdigest()[:32].encode("ascii") != parts[2]:
        return None
    try:
        entry = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) else None


def apply(doc: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` with ``changes`` applied (in place; the values are taken, not copied)."""
    for key, value in (changes.get("set") or {}).items():
        doc[key] = value
    for key in changes.get("del") or ():
        doc.pop(key, None)
    steps = doc.setdefault("steps", {}) if (changes.get("steps") or changes.get("gone")) else None
    if steps is not None:
        for key in changes.get("gone") or ():
            steps.pop(key, None)
        for key, rec in (changes.get("steps") or {}).items():
            steps[key] = rec
    return doc


def replay(doc: dict[str, Any], raw: bytes) -> Replay:
    """Apply the intact entries of journal ``raw`` to ``doc`` (in place)."""
    found = decode(raw)
    for entry in found.entries:
        apply(doc, entry)
    return found


def due(journal_bytes: int, base_bytes: int) -> bool:
    """Whether the journal has grown enough to be folded into the base."""
    return journal_bytes >= max(MIN_COMPACT_BYTES, base_bytes)
