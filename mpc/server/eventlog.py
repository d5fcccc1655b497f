"""Each account's event log: every event the API reports, in memory and as JSON lines on disk.

The log is written before a callback is queued, so a dead or slow receiver loses nothing:
`GET /emulator/events` reads it back, with each callback's delivery status. On disk, each event
is a line with its `name`; a line without one (`{"seq": N, "delivery": {...}}`) records what
became of event N's callback. A server started on the same data folder reads the log back and
goes on numbering after it; a callback that was still queued or retrying when the server stopped
reads `undelivered`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO


class EventLog:
    """Append-only list of event records (dicts), numbered from 1, mirrored to a JSONL file."""

    #: Delivery statuses that are final (written to disk when reached).
    FINAL = frozenset({"delivered", "failed", "dropped", "undelivered"})

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._file: TextIO | None = None
        self.previous = 0  # records read back from an earlier run
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            cut = self._load(path)
            self._file = path.open("a", encoding="utf-8")
            if cut:  # a line cut short by a kill: start ours on a line of their own
                self._file.write("\n")

    def _load(self, path: Path) -> bool:
        """Read back an earlier run's log; True if its last line was cut short."""
        if not path.is_file():
            return False
        text = path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # the line a kill cut short
            if not isinstance(item, dict) or not isinstance(item.get("seq"), int):
                continue
            seq = item["seq"]
            if "name" in item and seq == len(self._records) + 1:
                self._records.append(item)
            elif "name" not in item and isinstance(item.get("delivery"), dict) \
                    and 1 <= seq <= len(self._records):
                self._records[seq - 1]["delivery"] = item["delivery"]
        for record in self._records:
            delivery = record.get("delivery")
            if isinstance(delivery, dict) and delivery.get("status") in ("queued", "retrying"):
                record["delivery"] = {**delivery, "status": "undelivered",
                                      "reason": "the server stopped before it was delivered"}
        self.previous = len(self._records)
        return bool(text) and not text.endswith("\n")

    def append(self, record: Mapping[str, Any]) -> int:
        """Add a record; return its sequence number."""
        with self._lock:
            seq = len(self._records) + 1
            stored = {"seq": seq, **record}
            self._records.append(stored)
            if self._file is not None:
                self._file.write(json.dumps(stored, default=str) + "\n")
                self._file.flush()
            return seq

    def set_delivery(self, seq: int, status: str, detail: Mapping[str, Any]) -> None:
        """Record what became of an event's callback (on disk too, once it is final)."""
        with self._lock:
            record = self._records[seq - 1]
            record["delivery"] = {"status": status, **detail}
            if status in self.FINAL and self._file is not None:
                self._file.write(json.dumps({"seq": seq, "delivery": record["delivery"]},
                                            default=str) + "\n")
                self._file.flush()

    def records(self) -> list[dict[str, Any]]:
        """Every record (the stored dicts themselves: read only)."""
        with self._lock:
            return list(self._records)

    def read(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        name: str | None = None,
        mpc_uuid: str | None = None,
    ) -> list[dict[str, Any]]:
        """Copies of the records after sequence number `after`, optionally filtered."""
        with self._lock:
            records = self._records[max(0, after):]
            out = []
            for record in records:
                if name is not None and record.get("name") != name:
                    continue
                if mpc_uuid is not None and record.get("mpc_uuid") != mpc_uuid:
                    continue
                out.append(json.loads(json.dumps(record, default=str)))
                if limit is not None and len(out) >= limit:
                    break
            return out

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
