"""`mpcmix render`: run a scenario through the call engine and write the SPEC §4 folder.

The folder is written beside its destination, fsynced, and renamed into place, so the destination
is either complete or absent, even after a crash. A scenario that breaks a rule stops with a
`ScenarioError` naming the event and the rule, and leaves nothing behind. A render killed before
it could clean up leaves its temporary folder, named with its process id; the next render of the
same destination removes it (`_remove_stale`).

This module can be called: ``mpcmix.render(scenario, out=None, ...)`` is `mpcmix.api.render`
(the Python API, returning a `Render` with the streams as arrays), while
``from mpcmix.render import render_scenario`` keeps working, whichever is imported first.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .engine import CallEngine, _fsync_tree
from .errors import MpcError, ScenarioError
from .media import MediaLibrary
from .model import CallModel
from .scenario import (
    LOOKUP_OPS,
    Scenario,
    ScenarioEvent,
    frame_boundary_ms,
    load_scenario,
    scenario_from_dict,
    to_model_lines,
)
from .scenario_json import write_scenario_json

#: A previous render is recognised by this file, so re-rendering into the same folder is safe.
RENDER_MARKER = "mpc.json"


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
    scenario: Scenario | str | Path | Mapping[str, Any],
    out_dir: str | Path,
    *,
    subtype: str = "PCM_16",
    force: bool = False,
    on_progress: Callable[[int], None] | None = None,
    report: bool = False,
) -> RenderSummary:
    """Render `scenario` into `out_dir` (complete or absent; ScenarioError if a rule is broken).

    The folder also holds ``scenario.json``, the scenario resolved (mpcmix.scenario_json). With
    `report`, it holds the who-heard-whom measure and the report page too (mpcmix.report): one
    extra render per participant voice.
    """
    if isinstance(scenario, Mapping):
        scenario = scenario_from_dict(dict(scenario))
    elif not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if subtype not in ("PCM_16", "FLOAT"):
        raise ScenarioError(f"--subtype must be PCM_16 or FLOAT, not {subtype!r}")
    out_dir = Path(out_dir).absolute()
    _remove_stale(out_dir)
    _check_destination(out_dir, force)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}.", suffix=".partial",
                                    dir=out_dir.parent))
    except OSError as exc:  # the parent is a file, may not be written, or the name is too long
        raise ScenarioError(f"--out {out_dir}: cannot create the folder ({exc.strerror})") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a render folder is an ordinary one
    try:
        with contextlib.ExitStack() as stack:
            options: dict[str, Any] = {}
            if report:
                from .measure import MixTape
                from .report import require_matplotlib

                require_matplotlib()  # before rendering, not after
                tape = stack.enter_context(MixTape(scenario.sample_rate, scenario.frame_ms))
                options["tap"] = tape.record
            summary = _Run(scenario, tmp, subtype, on_progress, engine_options=options).run()
            write_scenario_json(scenario, tmp)
            if report:
                from .report import write_report

                write_report(tmp, scenario, baseline=tape)
        _fsync_tree(tmp)
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
        if match is None or entry.is_symlink() or not entry.is_dir():
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


def _check_destination(out_dir: Path, force: bool) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ScenarioError(f"--out {out_dir}: exists and is not a folder")
    if force or not any(out_dir.iterdir()) or (out_dir / RENDER_MARKER).exists():
        return
    raise ScenarioError(
        f"--out {out_dir}: the folder holds files that are not an mpcmix render; "
        "choose another folder or pass --force to replace it"
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


class _Run:
    """One render of one scenario into a (temporary) folder.

    `engine_options` go to the engine (`tap`, `silence_voices`); a subclass may run another
    engine class (mpcmix.timeline runs the call model alone).
    """

    _engine_class: type[CallEngine] = CallEngine

    def __init__(
        self,
        scenario: Scenario,
        out: Path,
        subtype: str,
        on_progress: Callable[[int], None] | None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.scenario = scenario
        self.out = out
        self.warnings: list[str] = list(scenario.warnings)
        frame_ms = scenario.frame_ms
        self.media = MediaLibrary(scenario.base_dir, scenario.sample_rate)
        lines = to_model_lines(scenario.lines, frame_ms)
        self.model = CallModel(
            scenario.auth_id,
            frame_ms=frame_ms,
            seed=scenario.seed,
            epoch=scenario.epoch,
            lines=lines,
            media=self.media,
            rate_per_minute=Decimal(scenario.rate_per_minute),
        )
        self.engine = self._engine_class(
            self.model,
            self.media,
            out,
            sample_rate=scenario.sample_rate,
            frame_ms=frame_ms,
            subtype=subtype,
            on_progress=on_progress,
            **(engine_options or {}),
        )
        self.events_file = open(out / "events.jsonl", "w", encoding="utf-8")
        self.responses: list[dict[str, Any]] = []
        self.own_mpc: str | None = None
        self.end_ms: int | None = None
        adds = [e for e in scenario.events if e.op == "add_participant"]
        # Whether an event may create the scenario's own MPC; if none can, the audio ends when
        # no MPC is live and no add is left to come (`_ended`).
        self.creates_own = any(e.uuid is None and (e.friendly_name or scenario.mpc) == scenario.mpc
                               for e in adds)
        self.adds_left = len(adds)

    # -- the timeline ---------------------------------------------------------------------------

    def run(self) -> RenderSummary:
        try:
            self._run_events()
            self._run_out()
            self.engine.close()
        finally:
            self.events_file.close()
            if not self.engine.closed:
                self.engine.close()
        self._write_json()
        listeners = {p.stem: p for p in sorted((self.out / "listeners").glob("*.wav"))}
        recordings = sorted((self.out / "recordings").iterdir())
        return RenderSummary(
            out_dir=self.out,
            duration_ms=self.engine.now_ms,
            listeners=listeners,
            recordings=recordings,
            mpc_uuid=self.own_mpc,
            warnings=tuple(self.warnings + self.media.warnings),
        )

    def _ended(self) -> bool:
        """Whether the audio timeline is over: the scenario's MPC has ended. A scenario that
        never creates its own MPC ends once no MPC is live and no add_participant is left (at
        once if it has none): its timeline is bounded by the MPCs it does create."""
        if self.own_mpc is not None:
            return self.own_mpc not in self.model.live_mpcs()
        if self.creates_own:
            return False
        return self.adds_left == 0 and not self.model.live_mpcs()

    def _advance(self, t_ms: int) -> None:
        """Render up to `t_ms`, stopping the audio timeline at the instant the MPC ends."""
        if self.end_ms is None and self._ended():
            self.end_ms = self.engine.now_ms
        if self.end_ms is None:
            while True:
                due = self.model.next_timer_ms()
                step = t_ms if due is None or due > t_ms else due
                self._log(self.engine.advance_to(step))
                if self._ended():
                    self.end_ms = self.engine.now_ms
                    break
                if step >= t_ms:
                    break
        else:
            # After the scenario's MPC has ended the audio stops; the model still answers
            # look-ups (and any other MPC keeps its state), so keep its clock moving.
            self.model.advance(t_ms)
            self.model.settle(t_ms)
            self._log(self.engine.drain_events())

    def _run_events(self) -> None:
        events = self.scenario.events
        frame_ms = self.scenario.frame_ms
        i = 0
        while i < len(events):
            t_ms = frame_boundary_ms(events[i].at_s, frame_ms)
            self._advance(t_ms)
            while i < len(events) and frame_boundary_ms(events[i].at_s, frame_ms) == t_ms:
                self._apply(events[i], t_ms)
                i += 1
            self._log(self.engine.settle(t_ms))
            if self.end_ms is None and self._ended():
                self.end_ms = t_ms

    def _run_out(self) -> None:
        """After the last event: until the MPC ends, or every voice has finished."""
        last_ms = self.engine.now_ms
        while self.end_ms is None:
            target = max(last_ms, self.model.last_voice_end_ms() or 0)
            due = self.model.next_timer_ms()
            if due is not None and due <= target:
                self._advance(due)
                continue
            self._advance(target)
            if self.model.last_voice_end_ms() is None or self.model.last_voice_end_ms() <= target:
                break

    def _log(self, events: list[Any]) -> None:
        for e in events:
            record = {
                "at": e.at_ms / 1000,
                "time": self.model.timestamp(e.at_ms),
                "event": e.name,
                "url": e.url,
                "method": e.method,
                "params": e.params,
            }
            self.events_file.write(_json_line(record))

    # -- one operation --------------------------------------------------------------------------

    def _apply(self, event: ScenarioEvent, t_ms: int) -> None:
        if event.op == "add_participant":
            self.adds_left -= 1
        try:
            response = self._call(event, t_ms)
        except MpcError as exc:
            if event.expect_error == exc.status:
                self._respond(event, t_ms, exc.status, {"api_id": self.model.new_api_id(),
                                                         "error": exc.message})
                return
            raise ScenarioError(f"{event.describe()}: {exc.message}", exc.status) from None
        if event.expect_error is not None:
            raise ScenarioError(
                f"{event.describe()}: expected error {event.expect_error}, but the operation "
                "succeeded"
            )
        if event.op in LOOKUP_OPS:
            self._respond(event, t_ms, 200, response)

    def _respond(self, event: ScenarioEvent, t_ms: int, status: int, body: Any) -> None:
        self.responses.append(
            {"at": t_ms / 1000, "event": event.index + 1, "op": event.op, "status": status,
             "response": body}
        )

    def _target(self, event: ScenarioEvent) -> dict[str, str]:
        if event.uuid is not None:
            return {"uuid": event.uuid}
        return {"friendly_name": event.friendly_name or self.scenario.mpc}

    def _members(self, event: ScenarioEvent) -> str:
        """`member` as the API takes it: as-names replaced by member_ids, lists kept as lists."""
        assert event.member is not None
        if event.member.strip() == "all":
            return "all"
        ids = []
        for item in event.member.split(","):
            item = item.strip()
            ids.append(self.model.resolve_member(item))
        return ",".join(ids)

    def _call(self, event: ScenarioEvent, t_ms: int) -> Any:
        op, params = event.op, dict(event.params)
        model = self.model
        if op in ("hangup", "dtmf", "answer"):
            results = []
            for member_id in self._members(event).split(","):
                call_uuid = model.call_uuid_of(member_id)
                if op == "dtmf":
                    results.append(model.dtmf(t_ms, call_uuid, str(params.get("digits", ""))))
                else:
                    results.append(getattr(model, op)(t_ms, call_uuid))
            return results
        target = self._target(event)
        if op == "add_participant":
            response = model.add_participant(t_ms, label=event.as_name, **target, **params)
            for number in str(params.get("to", "")).split("<"):
                if number and not model.is_line_known(number):
                    self.warnings.append(f"{event.describe()}: no line for {number!r} in `lines`; "
                                         "it answers at once, silent")
            if self.own_mpc is None and target.get("friendly_name") == self.scenario.mpc:
                self.own_mpc = model.mpc_uuid_of(self.scenario.mpc)
            return response
        if op == "stop":
            op = "end"
        method = getattr(model, op)
        if event.member is not None:
            return method(t_ms, self._members(event), **target, **params)
        return method(t_ms, **target, **params)

    # -- the JSON files -------------------------------------------------------------------------

    def _write_json(self) -> None:
        mpcs = self.out / "mpcs"
        mpcs.mkdir(exist_ok=True)
        for uuid in self.model.mpcs():
            _dump(mpcs / f"{uuid}.json", self.model.mpc_json(uuid))
        if self.own_mpc is not None:
            _dump(self.out / "mpc.json", self.model.mpc_json(self.own_mpc))
        else:
            _dump(self.out / "mpc.json", {"mpc": None, "participants": []})
        with open(self.out / "responses.jsonl", "w", encoding="utf-8") as f:
            for r in self.responses:
                f.write(_json_line(r))


#: Characters that str.splitlines() and some JSON Lines readers take for line breaks, though
#: JSON lets them stand unescaped in a string: escaped, so one record stays one line.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json_line(record: Any) -> str:
    """`record` as one line of a .jsonl file (readable text, newline-terminated)."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


def _dump(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


class _CallableModule(types.ModuleType):
    """This module's class: calling it is calling `mpcmix.api.render`.

    `import mpcmix.render` binds ``mpcmix.render`` to this module, so the name cannot be both a
    module and a function; a module that can be called is both.
    """

    def __call__(self, scenario: Any, out: Any = None, **options: Any) -> Any:
        from .api import render

        return render(scenario, out, **options)


sys.modules[__name__].__class__ = _CallableModule
