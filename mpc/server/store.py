"""One account's MPCs on disk, so a server restarted on its data folder answers as before.

Two files in the account's folder, written by `AccountRuntime` (the call model gives and takes
the records: mpcmix.model.archive):

- ``mpcs.jsonl``: the record of every MPC that ended, one JSON line each, appended when it ends
  (its `run` added: the start of the server that wrote it, for their order);
- ``live.jsonl``: the journal of the MPCs not ended yet (`LiveJournal`), one JSON line each:
  ``{"mpc": record}`` when an MPC became live or its record changed, ``{"gone": uuid}`` when it
  left the live set (it ended: its record is in ``mpcs.jsonl``), and ``{"state": {...}}`` with
  the timeline moment the server last wrote (`written_ms`: its files are flushed up to there),
  its `run` and whether it stopped cleanly. Appended after every change (only the MPCs that
  changed: a save costs O(what changed), not O(live MPCs)) and at each flush (a state line);
  rewritten whole (beside it, renamed into place) once it has grown past twice what the live
  MPCs' lines hold, and at each start, so it stays O(live set) and a change costs O(1) amortised.
  Read back: the last line of each uuid wins, the last state line holds. A data folder of an
  earlier version holds ``live.json`` (one object: the state's keys and `mpcs`, the list of
  records), read when there is no journal and removed once the first journal is in place.

Neither is fsynced: a ``kill -9`` loses nothing the kernel has (a power cut may lose the last
second, as for the audio files). A line a kill cut short is skipped when read. Besides, what an
earlier run left is looked at once at start-up: the WAV and MP3 files a crash cut are repaired
(`repair_cut_files`), and the names of the files on disk (`used_ids`) keep their ids from being
given again.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from mpcmix.mixer import mp3file, wavfile

log = logging.getLogger("mpcmix.server")

ARCHIVE = "mpcs.jsonl"
LIVE = "live.jsonl"
#: The live MPCs as versions before the journal wrote them (read once, then removed).
LEGACY_LIVE = "live.json"
#: The journal is rewritten once it holds more than this many times its live lines' bytes...
COMPACT_RATIO = 2
#: ...and more than this many bytes (a few MPCs live: no rewrite at every flush).
COMPACT_MIN_BYTES = 1 << 16
#: Recording file names: ``<recording_id>[-<track>].<format>``.
TRACK_SUFFIXES = ("-participant", "-all", "-conference")


class AccountStore:
    """The account folder's record files (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.archive_path = folder / ARCHIVE
        self.live_path = folder / LIVE
        self._live_fd: int | None = None  # the journal, open for appending

    def read_archive(self) -> list[dict[str, Any]]:
        """Every ended MPC's record (lines a kill cut short, or unreadable, are skipped)."""
        out: list[dict[str, Any]] = []
        if not self.archive_path.is_file():
            return out
        with self.archive_path.open("r", encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                try:
                    item = json.loads(line)
                except ValueError:
                    log.warning("%s line %d: cut short or unreadable, skipped", self.archive_path,
                                number)
                    continue
                if isinstance(item, dict):
                    out.append(item)
        return out

    def append(self, items: list[dict[str, Any]]) -> None:
        """Add ended MPCs' records (a line each; a line an earlier kill cut is closed first)."""
        if not items:
            return
        text = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items)
        with open(self.archive_path, "a+b") as f:
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    text = "\n" + text
            f.write(text.encode("utf-8"))

    def read_live(self) -> dict[str, Any] | None:
        """The live MPCs the last run left: the state's keys (`v`, `run`, `written_ms`, `clean`)
        and `mpcs`, their records; from the journal (see the module docstring), else from an
        earlier version's ``live.json``. None if there is neither (or it cannot be read)."""
        try:
            with self.live_path.open("r", encoding="utf-8", errors="replace") as f:
                return _read_journal(f, self.live_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("%s cannot be read (%r): its MPCs are lost", self.live_path, exc)
            return None
        legacy = self.folder / LEGACY_LIVE
        try:
            data = json.loads(legacy.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be read (%r): its MPCs are lost", legacy, exc)
            return None
        return data if isinstance(data, dict) else None

    def rewrite_live(self, text: str) -> None:
        """Replace the journal by `text` (written beside it, renamed into place); an earlier
        version's ``live.json`` is removed once it is."""
        self.close()
        temporary = self.live_path.with_name(LIVE + ".tmp")
        with open(temporary, "wb") as f:
            f.write(text.encode("ascii"))
        os.replace(temporary, self.live_path)
        (self.folder / LEGACY_LIVE).unlink(missing_ok=True)

    def append_live(self, text: str) -> None:
        """Add `text` (whole lines) to the journal, in one write."""
        if self._live_fd is None:
            self._live_fd = os.open(self.live_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        data = text.encode("ascii")
        while data:
            data = data[os.write(self._live_fd, data):]

    def close(self) -> None:
        """Close the journal (it is opened again on the next append)."""
        if self._live_fd is not None:
            os.close(self._live_fd)
            self._live_fd = None


def _read_journal(lines: Any, path: Path) -> dict[str, Any]:
    state: dict[str, Any] = {}
    mpcs: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except ValueError:
            log.warning("%s line %d: cut short or unreadable, skipped", path, number)
            continue
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("mpc"), dict) and isinstance(item["mpc"].get("uuid"), str):
            mpcs[item["mpc"]["uuid"]] = item["mpc"]
        elif isinstance(item.get("gone"), str):
            mpcs.pop(item["gone"], None)
        elif isinstance(item.get("state"), dict):
            state = item["state"]
    return state | {"mpcs": list(mpcs.values())}


class LiveJournal:
    """What the journal holds, kept beside the call model (under the account's lock): each live
    MPC's line, and how many bytes the file has; `lines` turns a save into the text to append,
    or into the whole file when it is time to rewrite it (`AccountStore` writes either)."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}  # uuid -> its live line
        self.live_bytes = 0  # the bytes of `texts`
        self.file_bytes: int | None = None  # None: rewrite at the next save (a start)

    def lines(self, changed: dict[str, dict[str, Any]], gone: list[str],
              state: dict[str, Any]) -> tuple[str, bool]:
        """(the text, whether it replaces the file) that saves the `changed` records (uuid ->
        record), the uuids `gone` and `state`: the lines to append, or, once the file would
        outgrow `COMPACT_RATIO` times the live lines (and at a start), the whole file."""
        out: list[str] = []
        for uuid, item in changed.items():
            text = '{"mpc":' + json.dumps(item, separators=(",", ":")) + "}\n"
            self.live_bytes += len(text) - len(self.texts.get(uuid, ""))
            self.texts[uuid] = text
            out.append(text)
        for uuid in gone:
            line = self.texts.pop(uuid, None)
            if line is not None:
                self.live_bytes -= len(line)
                out.append('{"gone":' + json.dumps(uuid) + "}\n")
        out.append('{"state":' + json.dumps(state, separators=(",", ":")) + "}\n")
        appended = "".join(out)
        grown = None if self.file_bytes is None else self.file_bytes + len(appended)
        if grown is not None and grown <= max(COMPACT_RATIO * self.live_bytes, COMPACT_MIN_BYTES):
            self.file_bytes = grown
            return appended, False
        whole = "".join(self.texts.values()) + out[-1]
        self.file_bytes = len(whole)
        return whole, True


def repair_cut_files(folder: Path) -> list[Path]:
    """Repair every WAV and MP3 file under `folder` a killed writer left cut (a WAV header that
    does not count the frames present, an MP3 without its header frame: mpcmix.mixer.wavfile,
    mpcmix.mixer.mp3file); the files repaired."""
    repaired: list[Path] = []
    for path in sorted(folder.rglob("*")):
        try:
            if path.suffix == ".wav" and path.is_file():
                layout = wavfile.read_layout(path)
                if layout is not None and layout.data_offset is not None and \
                        layout.data_size != layout.whole_frame_bytes and wavfile.repair(path):
                    repaired.append(path)
            elif path.suffix == ".mp3" and path.is_file() and mp3file.repair(path):
                repaired.append(path)
        except (OSError, ValueError) as exc:
            log.warning("%s could not be repaired: %r", path, exc)
    return repaired


def used_ids(out_dir: Path) -> tuple[set[str], int]:
    """(the recording ids of the files in ``out_dir/recordings``, the highest numeric listener
    label in ``out_dir/listeners`` + 1): what an earlier run used, whatever its records say."""
    recordings: set[str] = set()
    for path in (out_dir / "recordings").glob("*.*"):
        stem = path.stem
        for suffix in TRACK_SUFFIXES:
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        recordings.add(stem)
    highest = 0
    for path in (out_dir / "listeners").glob("*.wav"):
        if path.stem.isdigit():
            highest = max(highest, int(path.stem))
    return recordings, highest + 1


def recording_files(out_dir: Path, recording_id: str, fmt: str = "*") -> list[Path]:
    """The files of recording `recording_id` in ``out_dir/recordings`` (`fmt`: mp3, wav or
    any), by name."""
    return sorted(p for p in (out_dir / "recordings").glob(f"{recording_id}*.{fmt}")
                  if p.stem == recording_id or p.stem.startswith(recording_id + "-"))


def recording_on_disk(out_dir: Path, filename: str) -> Path | None:
    """The file of an earlier run's recording named `filename` (`<id>[-<track>].<fmt>`): the
    file of that name, or, for a recording of two tracks behind one URL, its participant track
    first (as its run served it)."""
    folder = out_dir / "recordings"
    stem, _, ext = filename.rpartition(".")
    for name in (filename, f"{stem}-participant.{ext}", f"{stem}-all.{ext}",
                 f"{stem}-conference.{ext}"):
        path = folder / name
        if path.is_file():
            return path
    return None
