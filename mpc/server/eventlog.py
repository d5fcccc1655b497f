"""Each account's event log: every event the API reports, in memory and as JSON lines on disk.

The log is written before a callback is queued, so a dead or slow receiver loses nothing:
`GET /emulator/events` reads it back, with each callback's delivery status.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO


class EventLog:
    """Append-only list of event records (dicts), numbered from 1, mirrored to a JSONL file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

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
        """Record what became of an event's callback (in memory only)."""
        with self._lock:
            record = self._records[seq - 1]
            record["delivery"] = {"status": status, **detail}

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
