"""One account's MPCs on disk, so a server restarted on its data folder answers as before.

Two files in the account's folder, written by `AccountRuntime` (the call model gives and takes
the records: mpcmix.model.archive):

- ``mpcs.jsonl``: the record of every MPC that ended, one JSON line each, appended when it ends
  (its `run` added: the start of the server that wrote it, for their order);
- ``live.json``: the records of the MPCs not ended yet, with the timeline moment the server last
  wrote (`written_ms`: its files are flushed up to there) and whether it stopped cleanly;
  replaced whole (written beside it, renamed into place) whenever the call model changed, and at
  each flush.

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
LIVE = "live.json"
#: Recording file names: ``<recording_id>[-<track>].<format>``.
TRACK_SUFFIXES = ("-participant", "-all", "-conference")


class AccountStore:
    """The account folder's record files (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.archive_path = folder / ARCHIVE
        self.live_path = folder / LIVE

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
        """What `write_live` wrote last (None if nothing, or if it cannot be read)."""
        try:
            data = json.loads(self.live_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be read (%r): its MPCs are lost", self.live_path, exc)
            return None
        return data if isinstance(data, dict) else None

    def write_live(self, state: dict[str, Any], mpcs_json: str) -> None:
        """Replace ``live.json``: `state` with the live MPCs' records (`mpcs_json`, their JSON
        list, kept by the caller between changes)."""
        head = json.dumps(state, separators=(",", ":"))
        text = head[:-1] + ',"mpcs":' + mpcs_json + "}\n"
        temporary = self.live_path.with_name(LIVE + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.live_path)


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
