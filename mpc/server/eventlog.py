"""Each account's event log: every event the API reports, as JSON lines on disk, the latest in
memory.

The log is written before a callback is queued, so a dead or slow receiver loses nothing:
`GET /emulator/events` reads it back, with each callback's delivery status. On disk, each event
is a line with its `name`; a line without one (`{"seq": N, "delivery": {...}}`) records what
became of event N's callback. A server started on the same data folder reads the log back and
goes on numbering after it; a callback that was still queued or retrying when the server stopped
reads `undelivered`.

Memory is bounded: the last `memory` records are kept in memory (and any older one whose callback
is still queued or retrying, at most the callback queue's size); an older record is read back from
the file when asked for, with the same fields. A log without a file keeps everything in memory.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

#: Records kept in memory by default: the latest ones, which `GET /emulator/events?after=N`
#: polling reads (a record is about 1 KB in memory).
DEFAULT_MEMORY = 1000


class EventLog:
    """Append-only list of event records (dicts), numbered from 1, mirrored to a JSONL file."""

    #: Delivery statuses that are final (written to disk when reached).
    FINAL = frozenset({"delivered", "failed", "dropped", "undelivered"})
    #: Statuses that never change (no callback, or a final one).
    SETTLED = FINAL | {"no-url"}

    def __init__(self, path: Path | None, *, memory: int = DEFAULT_MEMORY) -> None:
        if memory < 1:
            raise ValueError(f"memory must be at least 1 record, not {memory}")
        self.path = path
        self.memory = memory if path is not None else None  # without a file, keep everything
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque()  # the last records, seq ascending
        self._count = 0  # records in the log (the last seq)
        self._unsettled: dict[int, dict[str, Any]] = {}  # older records whose callback is pending
        self._file: TextIO | None = None
        self.previous = 0  # records read back from an earlier run
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            cut = self._load(path)
            self._file = path.open("a", encoding="utf-8")
            if cut:  # a line cut short by a kill: start ours on a line of their own
                self._file.write("\n")
                self._file.flush()

    # -- reading the file ----------------------------------------------------------------------

    def _scan(self, path: Path, after: int = 0) -> tuple[list[dict[str, Any]], bool]:
        """The records on disk with seq > `after` (final deliveries applied, an earlier run's
        pending ones `undelivered`), and whether the file's last line was cut short."""
        if not path.is_file():
            return [], False
        records: list[dict[str, Any]] = []
        count = 0
        last = ""
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                last = line
                try:
                    item = json.loads(line)
                except ValueError:
                    continue  # the line a kill cut short
                if not isinstance(item, dict) or not isinstance(item.get("seq"), int):
                    continue
                seq = item["seq"]
                if "name" in item and seq == count + 1:
                    count = seq
                    if seq > after:
                        records.append(item)
                elif "name" not in item and isinstance(item.get("delivery"), dict) \
                        and after < seq <= count:
                    records[seq - after - 1]["delivery"] = item["delivery"]
        for record in records:
            delivery = record.get("delivery")
            if record["seq"] <= self.previous and isinstance(delivery, dict) \
                    and delivery.get("status") in ("queued", "retrying"):
                record["delivery"] = {**delivery, "status": "undelivered",
                                      "reason": "the server stopped before it was delivered"}
        return records, bool(last) and not last.endswith("\n")

    def _load(self, path: Path) -> bool:
        """Read back an earlier run's log; True if its last line was cut short."""
        self.previous = 1 << 62  # every record on disk is an earlier run's
        records, cut = self._scan(path)
        self.previous = self._count = len(records)
        for record in records[-self.memory:] if self.memory else records:
            self._recent.append(record)
        return cut

    # -- writing -------------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> int:
        """Add a record; return its sequence number."""
        with self._lock:
            seq = self._count + 1
            stored = {"seq": seq, **record}
            self._recent.append(stored)
            self._count = seq
            if self._file is not None:
                self._file.write(json.dumps(stored, default=str) + "\n")
                self._file.flush()
            if self.memory is not None:
                while len(self._recent) > self.memory:
                    old = self._recent.popleft()
                    if _status(old) not in self.SETTLED:
                        self._unsettled[old["seq"]] = old
            return seq

    def set_delivery(self, seq: int, status: str, detail: Mapping[str, Any]) -> None:
        """Record what became of an event's callback (on disk too, once it is final)."""
        with self._lock:
            record = self._in_memory(seq)
            delivery = {"status": status, **detail}
            if record is not None:
                record["delivery"] = delivery
                if status in self.SETTLED:
                    self._unsettled.pop(seq, None)
            if status in self.FINAL and self._file is not None:
                self._file.write(json.dumps({"seq": seq, "delivery": delivery},
                                            default=str) + "\n")
                self._file.flush()

    def _in_memory(self, seq: int) -> dict[str, Any] | None:
        first = self._count - len(self._recent) + 1
        if first <= seq <= self._count:
            return self._recent[seq - first]
        return self._unsettled.get(seq)

    # -- reading -------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every record (copies)."""
        return self.read()

    def read(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        name: str | None = None,
        mpc_uuid: str | None = None,
    ) -> list[dict[str, Any]]:
        """Copies of the records after sequence number `after`, optionally filtered."""

        def wanted(record: Mapping[str, Any]) -> bool:
            return (name is None or record.get("name") == name) and \
                (mpc_uuid is None or record.get("mpc_uuid") == mpc_uuid)

        out: list[dict[str, Any]] = []
        after = max(0, after)
        while True:
            with self._lock:
                first = self._count - len(self._recent) + 1
                if after + 1 >= first or self.path is None:
                    for i in range(max(0, after + 1 - first), len(self._recent)):
                        record = self._recent[i]
                        if wanted(record):
                            out.append(_copy(record))
                            if limit is not None and len(out) >= limit:
                                break
                    return out
                # Older than memory holds: from the file (and the pending ones from memory).
                unsettled = {seq: _copy(r) for seq, r in self._unsettled.items() if seq < first}
            older, _ = self._scan(self.path, after)
            for record in older:
                if record["seq"] >= first:
                    break
                record = unsettled.get(record["seq"], record)
                if wanted(record):
                    out.append(record)
                    if limit is not None and len(out) >= limit:
                        return out
            after = first - 1  # and the rest from memory (or the file, if it moved there since)

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _copy(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as JSON gives it back (what the file holds)."""
    copy: dict[str, Any] = json.loads(json.dumps(record, default=str))
    return copy


def _status(record: Mapping[str, Any]) -> Any:
    delivery = record.get("delivery")
    return delivery.get("status") if isinstance(delivery, dict) else None
