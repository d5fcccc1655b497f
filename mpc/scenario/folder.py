"""`mpcmix render`'s folder: a scenario run through the call engine, written atomically.

The folder is written beside its destination, fsynced, and renamed into place, so the destination
is either complete or absent, even after a crash. A scenario that breaks a rule stops with a
`ScenarioError` naming the event and the rule, and leaves nothing behind. A render killed before
it could clean up leaves its temporary folder, named with its process id; the next render of the
same destination removes it (`_remove_stale`).

A render never deletes or replaces a folder it did not write, with or without ``--force``: every
folder it writes (the temporary one, so the final one too) holds the marker file `RENDER_MARKER`
from its first moment, and only a folder holding it (or an empty one) is ever replaced or removed.

What goes in the folder (docs/scenarios.md, Output): ``listeners/``, ``recordings/`` (the
engine's files), ``events.jsonl`` (written as the callbacks come), ``responses.jsonl``,
``mpc.json``, ``mpcs/<uuid>.json`` and ``scenario.json``. Whatever else a caller adds to the
folder before it is renamed into place (the report page) comes through `finish`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import resource
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mpcmix.engine import Tap, render_memory_bytes
from mpcmix.errors import ScenarioError
from mpcmix.model import CallModel, Event

from .driver import ScenarioDriver, scenario_engine
from .load import LoadedScenario, load_scenario, scenario_from_dict, stream_lines
from .stored import write_scenario_json

#: Every folder a render writes holds this file from its first moment: it proves the folder is a
#: render's, the only kind `render_scenario` replaces or removes.
RENDER_MARKER = ".mpcmix-render"
#: What the marker file holds.
MARKER_TEXT = "written by mpcmix render: replaced by the next render of this folder\n"


@dataclass(frozen=True)
class RenderSummary:
    """Where a render wrote its files, and what it saw."""

    out_dir: Path
    duration_ms: int
    listeners: dict[str, Path]
    recordings: list[Path]
    mpc_uuid: str | None
    warnings: tuple[str, ...]


def render_scenario(
    scenario: LoadedScenario | str | Path | Mapping[str, Any],
    out_dir: str | Path,
    *,
    subtype: str = "PCM_16",
    force: bool = False,
    on_progress: Callable[[int], None] | None = None,
    tap: Tap | None = None,
    finish: Callable[[Path, LoadedScenario], None] | None = None,
) -> RenderSummary:
    """Render `scenario` into `out_dir` (complete or absent; ScenarioError if a rule is broken).

    `out_dir` may be absent, empty, or a previous render (it holds `RENDER_MARKER`); anything
    else is refused (ScenarioError), whatever `force` says: `force` is kept for callers written
    when it allowed replacing other folders, and changes nothing.

    The folder also holds ``scenario.json``, the scenario resolved (mpcmix.scenario.stored).
    `tap` watches the mix as it is rendered (mpcmix.engine.Tap); `finish(folder, scenario)` may
    add files to the folder before it is made durable and renamed into place (the report).
    """
    if isinstance(scenario, Mapping):
        scenario = scenario_from_dict(dict(scenario))
    elif not isinstance(scenario, LoadedScenario):
        scenario = load_scenario(scenario)
    if subtype not in ("PCM_16", "FLOAT"):
        raise ScenarioError(f"--subtype must be PCM_16 or FLOAT, not {subtype!r}")
    streams = stream_lines(scenario.lines)
    if streams:
        raise ScenarioError(f"line {streams[0]!r} is a stream line: a render has no live peer "
                            "to connect it to (serve the lines with `mpcmix serve --lines`, "
                            "or give the line `audio`)")
    out_dir = destination(out_dir)
    check_resources(scenario)
    _remove_stale(out_dir)
    _check_destination(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}.", suffix=".partial",
                                    dir=out_dir.parent))
        (tmp / RENDER_MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    except OSError as exc:  # the parent is a file, may not be written, or the name is too long
        raise ScenarioError(f"--out {out_dir}: cannot create the folder ({exc.strerror})") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a render folder is an ordinary one
    try:
        summary = _render_into(scenario, tmp, subtype, on_progress, tap)
        write_scenario_json(scenario, tmp)
        if finish is not None:
            finish(tmp, scenario)
        fsync_tree(tmp)
        _replace(tmp, out_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise ScenarioError(f"--out {out_dir}: cannot write the render "
                                f"({os.strerror(exc.errno)})") from None
        raise
    return RenderSummary(
        out_dir=out_dir,
        duration_ms=summary.duration_ms,
        listeners={k: out_dir / v.relative_to(tmp) for k, v in summary.listeners.items()},
        recordings=[out_dir / p.relative_to(tmp) for p in summary.recordings],
        mpc_uuid=summary.mpc_uuid,
        warnings=summary.warnings,
    )


#: Files a render keeps open besides one listener stream per participant (recordings, the event
#: log, the interpreter's own).
SPARE_FILES = 64


def check_resources(scenario: LoadedScenario) -> None:
    """ScenarioError, before anything is written, when the render cannot fit this machine: one
    open file per participant (the soft limit is raised up to the hard one if needed) and about
    `render_memory_bytes` of memory, compared with what the system has available now."""
    participants = sum(1 for e in scenario.events if e.op == "add_participant")
    recordings = sum(1 for e in scenario.events if "record" in e.op or e.params.get("record")
                     or e.params.get("record_participant_track"))
    files = participants + 2 * recordings + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and files > soft:
        raised = files if hard == resource.RLIM_INFINITY else min(files, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY and files > soft:
            raise ScenarioError(
                f"{scenario.source}: {participants} participants need about {files} open files "
                f"(a listener stream each, written for the whole render); this process may open "
                f"{soft} (ulimit -n): raise the limit, or split the scenario")
    need = render_memory_bytes(participants)
    available = _available_memory()
    if available is not None and need > available:
        raise ScenarioError(
            f"{scenario.source}: {participants} participants need about {need >> 20} MiB of "
            f"memory to render; {available >> 20} MiB is available now: split the scenario, or "
            "free memory")


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class _FolderSink:
    """The driver's sink for a render folder: callbacks to ``events.jsonl`` as they come,
    responses kept for ``responses.jsonl``."""

    def __init__(self, events_file: IO[str], model: CallModel) -> None:
        self.events_file = events_file
        self.model = model
        self.responses: list[dict[str, Any]] = []

    def callbacks(self, events: list[Event]) -> None:
        for e in events:
            self.events_file.write(json_line({
                "at": e.at_ms / 1000,
                "time": self.model.timestamp(e.at_ms),
                "event": e.name,
                "url": e.url,
                "method": e.method,
                "params": e.params,
            }))

    def response(self, record: dict[str, Any]) -> None:
        self.responses.append(record)


def _render_into(scenario: LoadedScenario, out: Path, subtype: str,
                 on_progress: Callable[[int], None] | None, tap: Tap | None) -> RenderSummary:
    """Run `scenario` with its files in `out` (a temporary folder)."""
    engine = scenario_engine(scenario, out, subtype=subtype, on_progress=on_progress, tap=tap)
    with open(out / "events.jsonl", "w", encoding="utf-8") as events_file:
        sink = _FolderSink(events_file, engine.model)
        driver = ScenarioDriver(scenario, engine, sink)
        driver.run()
    _write_json(out, engine.model, driver.own_mpc, sink.responses)
    return RenderSummary(
        out_dir=out,
        duration_ms=engine.now_ms,
        listeners={p.stem: p for p in sorted((out / "listeners").glob("*.wav"))},
        recordings=sorted((out / "recordings").iterdir()),
        mpc_uuid=driver.own_mpc,
        warnings=driver.warnings,
    )


#: Errors of the disk, not of mpcmix: a full disk or quota, a file-size limit, a read-only or
#: failing file system, permissions. The render stops with exit status 2 and its message.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO,
                           errno.EACCES, errno.EPERM})


def _remove_stale(out_dir: Path) -> None:
    """Remove what killed renders of `out_dir` left beside it, and nothing else.

    A render's temporary folder is ``.NAME.<pid>.<random>.partial``; a previous render moved
    aside while the new one takes its place is ``.NAME.old-<pid>``. Those of a process that is
    gone are removed. A render killed between its two renames leaves no NAME and an ``old-``
    folder: that complete previous render is put back as NAME first. Folders of a live process
    (a render running now, this one included) are left alone.
    """
    pattern = re.compile(
        rf"\.{re.escape(out_dir.name)}\.(?:(\d+)\.[a-z0-9_]+\.partial|old-(\d+))")
    try:
        entries = sorted(out_dir.parent.iterdir(), key=lambda p: p.name)
    except OSError:
        return  # no parent yet, or not readable: nothing of ours there
    stale_old: list[Path] = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir() or not _is_ours(entry):
            continue
        if _is_running(int(match.group(1) or match.group(2))):
            continue
        if match.group(2):
            stale_old.append(entry)
        else:
            shutil.rmtree(entry, ignore_errors=True)
    if stale_old and not out_dir.exists():
        with contextlib.suppress(OSError):  # another render may be cleaning up at the same time
            newest = max(stale_old, key=lambda p: p.stat().st_mtime)
            os.rename(newest, out_dir)
            stale_old.remove(newest)
    for entry in stale_old:
        shutil.rmtree(entry, ignore_errors=True)


def _is_running(pid: int) -> bool:
    """Whether process `pid` exists (on this machine; a zombie counts until it is reaped)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):
        return False  # no such pid can exist
    except PermissionError:
        return True  # another user's process
    return True


def destination(out_dir: str | Path) -> Path:
    """`--out` as an absolute path without ``.`` or ``..`` (``DIR/..`` is DIR's parent, which a
    render then treats as any other folder); ScenarioError for the root, which no render
    replaces."""
    text = os.fspath(out_dir)
    if "\x00" in text:
        raise ScenarioError("--out: a NUL character is not allowed in a path")
    path = Path(os.path.abspath(text))
    if path.parent == path:
        raise ScenarioError(f"--out {path}: the root of the file system cannot be a render folder")
    return path


def is_render_folder(folder: Path) -> bool:
    """Whether `folder` was written by a render: it holds the marker file `RENDER_MARKER`."""
    marker = folder / RENDER_MARKER
    try:
        return marker.is_file() and not marker.is_symlink() and \
            marker.read_text(encoding="utf-8", errors="replace") == MARKER_TEXT
    except OSError:
        return False


def _is_ours(folder: Path) -> bool:
    """A folder a render may remove: it holds the marker, or is empty (a render killed before it
    wrote the marker)."""
    try:
        return is_render_folder(folder) or not any(folder.iterdir())
    except OSError:
        return False


def _check_destination(out_dir: Path) -> None:
    if out_dir.is_symlink():
        raise ScenarioError(f"--out {out_dir}: is a symbolic link; a render replaces only a "
                            "folder it wrote itself")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ScenarioError(f"--out {out_dir}: exists and is not a folder")
    if _is_ours(out_dir):
        return
    raise ScenarioError(
        f"--out {out_dir}: the folder holds files and was not written by mpcmix render (it has "
        f"no {RENDER_MARKER} file); a render never deletes or replaces a folder it did not "
        "write, --force or not: choose another folder, or empty this one"
    )


def _replace(tmp: Path, out_dir: Path) -> None:
    """Put `tmp` at `out_dir` by rename; an old render there is moved aside first, then removed."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    fd = os.open(out_dir.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_json(out: Path, model: CallModel, own_mpc: str | None,
                responses: list[dict[str, Any]]) -> None:
    mpcs = out / "mpcs"
    mpcs.mkdir(exist_ok=True)
    for uuid in model.mpcs():
        _dump(mpcs / f"{uuid}.json", model.mpc_json(uuid))
    if own_mpc is not None:
        _dump(out / "mpc.json", model.mpc_json(own_mpc))
    else:
        _dump(out / "mpc.json", {"mpc": None, "participants": []})
    with open(out / "responses.jsonl", "w", encoding="utf-8") as f:
        for r in responses:
            f.write(json_line(r))


#: Characters that str.splitlines() and some JSON Lines readers take for line breaks, though
#: JSON lets them stand unescaped in a string: escaped, so one record stays one line.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(record: Any) -> str:
    """`record` as one line of a .jsonl file (readable text, newline-terminated)."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


def _dump(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


def fsync_tree(root: Path) -> None:
    """fsync every file and folder below `root` (before the atomic rename of a render).

    All at once, from a few threads: the file system commits concurrent fsyncs together, where one
    after another each may wait for a commit of its own (on a busy disk, tens of ms apiece)."""
    paths: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        paths += [os.path.join(dirpath, name) for name in filenames]
        paths.append(dirpath)
    with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
        for _ in pool.map(fsync_path, paths):  # raises the first error, after every fsync has run
            pass


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a folder (its entries) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
