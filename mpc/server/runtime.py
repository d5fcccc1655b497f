"""One account's running call: its call model and engine, a lock, its event log and callbacks.

Every request and every tick of the real-time clock goes through `AccountRuntime.apply` or
`AccountRuntime.tick`, which hold the account's lock, bring the engine up to the clock's time,
run the operation on the call model, settle, and publish the events it produced (event log first,
then the callback queue). Nothing here decides a rule of the call: that is the model's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from time import thread_time
from typing import Any

from mpcmix.engine import CallEngine, Engine
from mpcmix.errors import NotFoundError, ValidationError
from mpcmix.media import MediaLibrary
from mpcmix.mixer import mp3file, wavfile
from mpcmix.model import CallModel, Event, archive
from mpcmix.model.events import RECORDING_CLOSED, RECORDING_OPENED, recording_failed_at_restart
from mpcmix.model.params import destinations, operation
from mpcmix.routing import CallState
from mpcmix.scenario import to_model_lines

from .callbacks import CallbackDispatcher, Delivery, form_params
from .clock import Clock
from .config import Account, ServerConfig, default_epoch
from .eventlog import EventLog
from .store import (
    AccountStore,
    LiveJournal,
    recording_files,
    recording_on_disk,
    repair_cut_files,
    used_ids,
)

log = logging.getLogger("mpcmix.server")

#: Where the real API says recordings live; rewritten to this server's download URL.
PLIVO_MEDIA_BASES = ("https://media.plivo.com", "http://media.plivo.com")


def account_seed(seed: int, auth_id: str) -> int:
    """Each account's id seed: derived from the server's seed, so accounts never share ids."""
    digest = hashlib.sha256(f"{seed}:{auth_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class AccountRuntime:
    """The call model, engine and event log of one account (or subaccount)."""

    def __init__(
        self,
        account: Account,
        config: ServerConfig,
        *,
        clock: Clock,
        media: MediaLibrary,
        dispatcher: CallbackDispatcher,
        main_auth_token: str,
        data_dir: Path,
    ) -> None:
        self.account = account
        self.config = config
        self.clock = clock
        self.media = media
        self.dispatcher = dispatcher
        self.main_auth_token = main_auth_token
        self.dir = data_dir / account.auth_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.events = EventLog(self.dir / "events.jsonl", memory=config.event_log_memory)
        self.base_url = config.base_url()
        self.journal = self.dir / "journal"
        self.journal.mkdir(exist_ok=True)
        self.store = AccountStore(self.dir)
        # A restart on the same data folder must not hand out the ids of the previous run (its
        # recordings are still on disk and downloadable): each start draws ids from its own seed,
        # and the ids its records and files hold are never given again (`_restore`).
        self.generation = _count_start(self.dir)
        self.out_dir = self.dir / "out"
        self.engine: Engine = account_engine(account, config, media, self.out_dir,
                                             generation=self.generation)
        self.model: CallModel = self.engine.model
        self._last_error: str | None = None
        self._recovered: dict[str, Path] = {}  # file name -> a recording of an earlier run
        self._saved = (-1, -1)  # (model revision, written_ms) last saved to live.jsonl
        self._media_seen = -1  # the media library's version when its media were last asked about
        self._journal = LiveJournal()  # what live.jsonl holds (`_save` writes it, in order)
        self._saver = ThreadPoolExecutor(1, thread_name_prefix=f"mpcmix-save-{account.auth_id}")
        self._saving: Future[None] | None = None  # the saver's last job (submitted under the lock)
        interrupted = self._restore()
        self._recover_recordings()
        for item in interrupted:  # after its recordings' failures, as its run would have
            self._report_interrupted(item)
        self._save()

    # -- time ----------------------------------------------------------------------------------

    def _now(self) -> int:
        # A request takes effect at the clock's next frame boundary, never before what the
        # engine has already rendered (the real-time ticker may be a frame ahead of a request).
        return max(self.clock.now_ms(), self.engine.now_ms)

    def tick(self, target_ms: int, *, wait: bool = True) -> None:
        """Render up to `target_ms` (the real-time ticker, or a virtual advance).

        `wait` False (the real-time ticker): if a request holds the account now, skip this tick
        rather than wait for it (the request brings the engine to its own time, and the next
        tick catches up), so one account's requests never delay another account's ticks."""
        if not self.lock.acquire(blocking=wait):
            return
        try:
            self._tick(target_ms)
        finally:
            self.lock.release()

    def _tick(self, target_ms: int) -> None:
        with self.lock:
            if target_ms <= self.engine.now_ms or self.engine.closed:
                return
            if self.model.pending_media() and self.media.version != self._media_seen:
                self.settle_media()  # only once a decode has ended: nothing to learn before
            try:
                events = self.engine.advance_to(target_ms)
            except Exception as exc:
                self._log_once(f"rendering to {target_ms} ms failed: {exc!r}")
                events = self.engine.drain_events()
            if events:
                t0 = thread_time()
                self._publish(events)
                self.engine.costs["events"] = self.engine.costs.get("events", 0.0) + \
                    thread_time() - t0

    def settle_media(self) -> None:
        """Tell the call model, at the engine's current frame boundary, what became of each
        medium it waits for (decoded off this path by the media library): ready ones begin,
        failed ones are reported and replaced by silence. Never waits for a decode."""
        with self.lock:
            self._media_seen = self.media.version
            refs = self.model.pending_media()
            if not refs or self.engine.closed:
                return
            now = self.engine.now_ms
            for ref in refs:
                state, detail = self.media.status(ref)
                if state == "ready":
                    assert isinstance(detail, int)
                    self.model.media_ready(now, ref, detail)
                elif state == "failed":
                    self.model.media_failed(now, ref, str(detail))
            self._publish(self.engine.settle(now))

    def flush(self, *, wait: bool = False) -> None:
        """Make every open WAV file's header count what has been written (no fsync: a fsync
        takes milliseconds per file once data is dirty, long enough to make the real-time
        ticker miss frames, and crash safety against kill -9 needs only the header to count
        what the kernel already holds), so a reader, or a restart after kill -9, finds it all.
        `wait`: until it is all in the files (before a download)."""
        with self.lock:
            if self.engine.closed:
                return
            try:
                self.engine.update_headers(wait=wait)
            except Exception as exc:
                self._log_once(f"flush failed: {exc!r}")
            self._save(wait=False)

    def _log_once(self, message: str) -> None:
        if message != self._last_error:
            log.error("account %s: %s", self.account.auth_id, message, exc_info=True)
            self._last_error = message

    # -- operations ----------------------------------------------------------------------------

    def apply(
        self,
        op: str,
        args: Mapping[str, Any],
        *,
        target: Mapping[str, str] | None = None,
        member: str | None = None,
    ) -> Any:
        """Run model operation `op` now with a request's arguments; the model's response body
        (None for 204). Every parameter of the operation's table is passed (absent ones as
        None: the request's own, not the model's Python defaults); other keys are dropped."""
        spec = operation(op)
        passed = {p.name: None for p in spec.params} | spec.known(args)
        method: Callable[..., Any] = getattr(self.model, spec.name)
        positional = () if member is None else (member,)
        result = self._now_run(lambda now: method(now, *positional, **(target or {}), **passed))
        if spec.name == "add_participant":
            self._warn_unknown_lines(passed.get("to") or passed.get("to_"))
        return self.rewrite_urls(result)

    def _warn_unknown_lines(self, to: Any) -> None:
        if not to:
            return
        for number in destinations(str(to)):
            if number and not self.model.is_line_known(number):
                log.warning("account %s: %s is not in the lines file: it answers at once, silent",
                            self.account.auth_id, number)

    def far_end(self, action: str, call_uuid: str, digits: str | None = None) -> Any:
        """The participant's phone: `hangup`, `answer` or `dtmf` (with `digits`)."""
        model = self.model
        if action == "dtmf":
            return self._now_run(lambda now: model.dtmf(now, call_uuid, digits))
        act: Callable[[int, str], Any] = model.hangup if action == "hangup" else model.answer
        return self._now_run(lambda now: act(now, call_uuid))

    def _now_run(self, operation: Callable[[int], Any]) -> Any:
        """Run `operation(now_ms)` at the clock's current frame: the engine is brought to now
        first, the ending rules are judged after, and every event produced is published."""
        with self.lock:
            if self.engine.closed:
                raise ValidationError("the server is shutting down")
            now = self._now()
            events = self.engine.advance_to(now) if now > self.engine.now_ms else []
            try:
                return operation(now)
            finally:
                try:
                    events += self.engine.settle(now)
                finally:
                    self._publish(events)
                    if self.model.revision != self._saved[0]:
                        self._save()  # what a 2xx answered survives a kill from now on

    def knows_call(self, call_uuid: str) -> bool:
        """Whether `call_uuid` is (or was) a call of this account."""
        with self.lock:
            return self.model.has_call(call_uuid)

    # -- files ---------------------------------------------------------------------------------

    def listener_file(self, target: Mapping[str, str], member_id: str) -> Path:
        """The listener stream of a participant of the MPC `target` (NotFoundError if none)."""
        with self.lock:
            now = self._now()
            if now > self.engine.now_ms and not self.engine.closed:
                self._publish(self.engine.advance_to(now))
            # get_participant raises NotFoundError unless the member belongs to that MPC.
            self.model.get_participant(now, member_id, **target)
            if self.config.listener_streams == "none":
                raise NotFoundError(f"participant {member_id} has no listener stream: this server "
                                    "writes none (--listener-streams none; recordings only)")
            path = self.engine.listener_path(self.model.member_label(member_id))
            self.flush(wait=True)
        if not path.is_file():
            raise NotFoundError(f"participant {member_id} has no listener stream yet (its call "
                                "has not been rendered)")
        return path

    def live_view(self) -> tuple[int, list[tuple[dict[str, Any], CallState, dict[str, str]]]]:
        """The MPCs live now, for the console: (now_ms, [(the MPC's `mpc_json`, its routing
        `CallState`, routing label -> member_id)]) taken under the lock at one frame; the engine
        is brought to now first, as for a download. Draws no id: a look changes nothing."""
        with self.lock:
            now = self._now()
            if now > self.engine.now_ms and not self.engine.closed:
                self._publish(self.engine.advance_to(now))
            state = self.model.mix_state()
            calls = []
            for uuid, call in zip(state.mpc_uuids, state.calls, strict=True):
                members = {p.name: self.model.member_id_of(p.name) for p in call.participants}
                calls.append((self.rewrite_urls(self.model.mpc_json(uuid)), call, members))
            return self.engine.now_ms, calls

    def recording_file(self, filename: str) -> tuple[Path, bool]:
        """(path, complete) of a recording file named `<recording_id>[-<track>].<format>`."""
        stem, _, ext = filename.rpartition(".")
        candidates = [stem]
        for track in ("participant", "all", "conference"):
            if stem.endswith(f"-{track}"):
                candidates.append(stem[: -len(track) - 1])
        with self.lock:
            now = self._now()
            if now > self.engine.now_ms and not self.engine.closed:
                self._publish(self.engine.advance_to(now))
            self.flush(wait=True)
            for recording_id in candidates:
                paths = [p for p in self.engine.recording_paths(recording_id)
                         if p.suffix == f".{ext}" and ext in ("mp3", "wav")]
                # A recording of track type `both` is two files behind one recording_url: that
                # URL serves the first (the participant's own voice), each file its own name.
                for path in sorted(paths, key=lambda p: p.name != filename):
                    if path.name == filename or recording_id == stem:
                        return path, self.engine.is_recording_complete(recording_id)
        recovered = self._recovered.get(filename) or recording_on_disk(self.out_dir, filename)
        if recovered is not None and recovered.is_file():
            return recovered, True  # an earlier run's: closed, or repaired at start-up
        raise NotFoundError(f"no recording file {filename!r} in this account")

    def recording_object(self, recording_id: str) -> dict[str, Any]:
        """What a recording's resource (its callbacks' RecordingResourceURL) answers: its id,
        format, `recording_url` and `resource_uri` (NotFoundError if it has no file)."""
        with self.lock:
            paths = list(self.engine.recording_paths(recording_id))
            api_id = self.model.new_api_id()
        paths += [p for name, p in self._recovered.items() if name.startswith(recording_id)]
        if not paths:  # an earlier run's, closed or repaired at start-up
            paths = recording_files(self.out_dir, recording_id)
        formats = sorted({p.suffix.lstrip(".") for p in paths})
        if not paths or not formats:
            raise NotFoundError(f"no recording {recording_id!r} in this account")
        account = f"/v1/Account/{self.account.auth_id}"
        return {
            "api_id": api_id,
            "recording_format": formats[0],
            "recording_id": recording_id,
            "recording_url": f"{self.base_url}{account}/Recording/{recording_id}.{formats[0]}",
            "resource_uri": f"{account}/Recording/{recording_id}/",
        }

    # -- events --------------------------------------------------------------------------------

    def _publish(self, events: Iterable[Event]) -> None:
        for event in events:
            try:
                self._publish_one(event)
            except Exception as exc:  # an odd event must never break a request or the ticker
                self._log_once(f"publishing event failed: {exc!r}")

    def _publish_one(self, event: Event) -> None:
        params = self.rewrite_urls(dict(event.params))
        url = event.url
        method = (event.method or "POST").upper()
        mpc_uuid = event.mpc_uuid or params.get("MPCUUID")
        self._journal_recording(event.name, params, url, method, mpc_uuid)
        self._log_and_send(event.name, event.at_ms, params, url, method, mpc_uuid=mpc_uuid)

    def _log_and_send(self, name: str, at_ms: int, params: dict[str, Any], url: str | None,
                      method: str, *, mpc_uuid: Any = None, **extra: Any) -> None:
        record = {
            "at_ms": at_ms,
            "at": at_ms / 1000,
            "name": name,
            "mpc_uuid": mpc_uuid or params.get("MPCUUID") or params.get("mpc_uuid"),
            "url": url,
            "method": method,
            "params": params,
            "delivery": {"status": "queued" if url else "no-url"},
            **extra,
        }
        seq = self.events.append(record)
        if not url:
            return

        def on_done(status: str, detail: dict[str, Any], seq: int = seq) -> None:
            self.events.set_delivery(seq, status, detail)

        self.dispatcher.submit(
            Delivery(
                url=url,
                method=method,
                params=form_params(params),
                auth_token=self.account.auth_token,
                main_auth_token=self.main_auth_token,
                on_done=on_done,
                account=self.account.auth_id,
            )
        )

    def send_callback(self, name: str, params: dict[str, str], url: str, method: str) -> None:
        """Log and send one callback the server makes itself (an asynchronous answer), at the
        clock's current time, signed like every callback."""
        with self.lock:
            self._log_and_send(name, self._now(), params, url, method.upper())

    def stream_status(self, name: str, params: dict[str, Any], url: str | None,
                      method: str) -> None:
        """Log an audio stream's status callback (StartStream, StopStream, DroppedStream) at
        the clock's time, and send it when the stream has a status_callback_url."""
        with self.lock:
            self._log_and_send(name, self._now(), params, url, method.upper())

    # -- durability: the MPCs of earlier runs on this folder -------------------------------------

    def _restore(self) -> list[dict[str, Any]]:
        """Take back what earlier runs on this folder left: every ended MPC (mpcs.jsonl), and
        the MPCs that were live when the last run stopped (live.jsonl), ended now at the last
        moment it wrote (archive.INTERRUPTED); keep every id their records and files hold from
        being given again; after a run that did not stop cleanly, repair the files it cut."""
        live = self.store.read_live() or {}
        items = []
        for item in self.store.read_archive():
            try:
                items.append(archive.check(item))
            except ValueError as exc:
                log.warning("account %s: an unreadable MPC record skipped (%s)",
                            self.account.auth_id, exc)
        if not live.get("clean") and self.out_dir.is_dir():
            for path in repair_cut_files(self.out_dir):
                log.warning("account %s: %s was cut by the server's stop: repaired",
                            self.account.auth_id, path.relative_to(self.dir))
        known = {item["uuid"] for item in items}
        interrupted = []
        for item in live.get("mpcs") or []:
            if not isinstance(item, dict) or item.get("uuid") in known:
                continue
            try:
                written = max(int(live.get("written_ms") or 0), self._heard_until(item))
                ended = self.model.interrupted_record(item, written)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("account %s: a live MPC's record cannot be read (%r): lost",
                            self.account.auth_id, exc)
                continue
            ended["run"] = live.get("run", 0)
            interrupted.append(ended)
        self.store.append(interrupted)
        self.model.restore(items + interrupted)
        recording_ids, member_floor = used_ids(self.out_dir)
        self.model.avoid_ids(recording_ids=recording_ids, member_ids_from=member_floor)
        return interrupted

    def _heard_until(self, item: dict[str, Any]) -> int:
        """The last moment (ms of its run's timeline, a frame boundary) the listener streams of a
        live MPC's record reach on disk: each begins at the MPC's creation."""
        until = 0
        for member in item.get("members") or []:
            path = self.engine.listener_path(str(member.get("label")))
            try:
                info = _info(path)
            except (OSError, RuntimeError):
                continue
            if info.samplerate:
                ms = int(item["created_ms"]) + info.frames * 1000 // info.samplerate
                until = max(until, ms - ms % self.config.frame_ms)
        return until

    def _report_interrupted(self, item: dict[str, Any]) -> None:
        """Log the end of an MPC its run stopped in (no callback: its run is gone)."""
        obj = item["mpc"]
        params = {
            "EventName": "MPCEnd", "EventTimestamp": obj.get("end_time") or "",
            "MPCUUID": item["uuid"], "MPCName": item["name"],
            "MPCEndTime": obj.get("end_time") or "", "MPCDuration": str(obj.get("duration")),
            "MPCBilledDuration": str(obj.get("billed_duration")),
            "MPCBilledAmount": str(obj.get("billed_amount")),
            "MPCTerminationCause": item["cause"], "MPCTerminationCauseCode": str(item["code"]),
            "SequenceNumber": str(self._next_sequence(item["uuid"])),
        }
        log.warning("account %s: MPC %s (%s) was live when the server stopped: ended at %s",
                    self.account.auth_id, item["name"], item["uuid"], obj.get("end_time"))
        self._log_and_send("MPCEnd", 0, params, None, "POST", recovered={
            "reason": "the server stopped while this MPC was live; it ended at the last moment "
                      "the server wrote"})

    def _save(self, *, clean: bool = False, wait: bool = True) -> None:
        """Append the MPCs that ended to mpcs.jsonl, and, if the model changed or time moved
        with MPCs live, save to live.jsonl the live MPCs that changed and the time written
        (`clean`: the server is stopping): O(what changed), the journal rewritten whole only
        once it has outgrown the live set (`store.LiveJournal`). What to write is taken, and
        written, under the lock, in order: `wait` (a request: its 2xx then survives a kill)
        writes it now, after what the saver thread still has; else (the ticker's flush: no tick
        waits on the disk) the account's saver thread writes it."""
        ended = self.model.drain_archive()
        for item in ended:
            item["run"] = self.generation
        revision, written = self.model.revision, self.engine.now_ms
        text, whole = "", False
        if revision != self._saved[0]:
            changed, gone = self.model.live_changes()
        else:
            changed, gone = {}, []
        if clean or ((revision, written) != self._saved
                     and (revision != self._saved[0] or self._journal.texts)):
            state = {"v": archive.VERSION, "run": self.generation, "written_ms": written,
                     "clean": clean}
            text, whole = self._journal.lines(changed, gone, state)
            self._saved = (revision, written)
        if not ended and not text:
            return
        if wait:
            if self._saving is not None:
                self._saving.result()  # what the saver still has goes first (no thread hand-off
                self._saving = None    # when it has nothing: a request writes its own lines)
            self._write_saved(ended, text, whole)
        else:
            self._saving = self._saver.submit(self._write_saved, ended, text, whole)

    def _write_saved(self, ended: list[dict[str, Any]], text: str, whole: bool) -> None:
        try:
            self.store.append(ended)
            if whole:
                self.store.rewrite_live(text)
            elif text:
                self.store.append_live(text)
        except OSError as exc:
            self._journal.file_bytes = None  # lines may be missing: rewritten whole next time
            self._log_once(f"saving the MPCs failed: {exc!r}")

    # -- crash safety: recordings in progress survive a kill -------------------------------------

    def _journal_recording(self, name: str, params: dict[str, Any], url: str | None,
                           method: str, mpc_uuid: Any) -> None:
        """Keep a marker per recording in progress (from its Initiated event until it completes
        or fails), so a server started after a crash finds it (`_recover_recordings`)."""
        recording_id = params.get("RecordingUUID")
        if not recording_id or not _SAFE_ID.match(str(recording_id)):
            return
        marker = self.journal / f"{recording_id}.json"
        try:
            if name in RECORDING_OPENED:
                temporary = marker.with_suffix(".tmp")
                temporary.write_text(json.dumps({"params": params, "url": url, "method": method,
                                                 "mpc_uuid": mpc_uuid}))
                os.replace(temporary, marker)
            elif name in RECORDING_CLOSED:
                marker.unlink(missing_ok=True)
        except OSError as exc:
            self._log_once(f"recording journal {marker}: {exc!r}")

    def _recover_recordings(self) -> None:
        """Recordings an earlier run left in progress (killed, or stopped mid-call): repair each
        WAV file's header to the data on disk, keep the files downloadable, and report
        MPCRecordingFailed (event log, and its recording callback if it had one)."""
        for marker in sorted(self.journal.glob("*.json")):
            try:
                entry = json.loads(marker.read_text())
                params = dict(entry["params"])
                recording_id = str(params["RecordingUUID"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("account %s: unreadable recording journal %s (%r): left as it is",
                            self.account.auth_id, marker, exc)
                continue
            fmt = str(params.get("RecordingFormat") or "mp3")
            files = recording_files(self.out_dir, recording_id, fmt)
            seconds = 0.0
            for path in files:
                try:
                    if fmt == "wav":
                        wavfile.repair(path)
                    else:
                        mp3file.repair(path)  # its length as every decoder then plays it
                    seconds = max(seconds, _duration_s(path))
                except (OSError, RuntimeError, ValueError) as exc:
                    log.warning("recovering %s: %r", path, exc)
                self._recovered[path.name] = path
            # the recording_url of a recording of two files serves its participant track first,
            # as its run did
            url_file = recording_on_disk(self.out_dir, f"{recording_id}.{fmt}")
            if url_file is not None:
                self._recovered[f"{recording_id}.{fmt}"] = url_file
            mpc_uuid = entry.get("mpc_uuid") or params.get("MPCUUID")
            failed = recording_failed_at_restart(
                params, seconds, self._wall_timestamp(), self._next_sequence(mpc_uuid))
            reason = ("the server stopped while this recording was in progress; its file keeps "
                      "what was written up to then" if files else
                      "the server stopped while this recording was in progress, before its file "
                      "began")
            log.warning("account %s: recording %s was in progress when the server stopped: "
                        "reported as MPCRecordingFailed (%s)", self.account.auth_id, recording_id,
                        ", ".join(p.name for p in files) or "no file")
            self._log_and_send(failed["EventName"], 0, failed, entry.get("url"),
                               str(entry.get("method") or "POST").upper(), mpc_uuid=mpc_uuid,
                               recovered={"reason": reason,
                                          "files": [p.name for p in files],
                                          "seconds_on_disk": round(seconds, 3)})
            marker.unlink(missing_ok=True)

    def _next_sequence(self, mpc_uuid: Any) -> int:
        highest = 0
        for record in self.events.records():
            record_params = record.get("params") or {}
            if (record.get("mpc_uuid") or record_params.get("MPCUUID")) == mpc_uuid:
                try:
                    highest = max(highest, int(record_params.get("SequenceNumber", 0)))
                except (TypeError, ValueError):
                    pass
        return highest + 1

    def _wall_timestamp(self) -> str:
        epoch = self.config.epoch or default_epoch()
        return datetime.now(epoch.tzinfo or UTC).isoformat(sep=" ", timespec="seconds")

    def rewrite_urls(self, value: Any) -> Any:
        """Point recording URLs at this server's download endpoint (in responses and events),
        and name the subaccount in a subaccount's MPC objects (`sub_account`)."""
        if isinstance(value, dict) and self.account.is_subaccount and "mpc_uuid" in value \
                and value.get("sub_account", "") is None:
            value = {**value, "sub_account": self.sub_account_uri}
        if isinstance(value, str):
            for base in PLIVO_MEDIA_BASES:
                if value.startswith(base + "/v1/Account/"):
                    return self.base_url + value[len(base):]
            return value
        if isinstance(value, dict):
            return {k: self.rewrite_urls(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.rewrite_urls(v) for v in value]
        return value

    @property
    def sub_account_uri(self) -> str | None:
        """A subaccount's `sub_account` in its MPC objects: its URI under its parent (as the
        recorded list bodies write it); None for a main account."""
        if not self.account.is_subaccount:
            return None
        parent = self.account.parent or self.account.auth_id
        return f"/v1/Account/{parent}/Subaccount/{self.account.auth_id}/"

    def list_matches(self, args: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        """The MPCs a `list` request's filters select, newest first, as (creation ms, object),
        their URLs and `sub_account` as this account shows them."""
        spec = operation("list")
        passed = {p.name: None for p in spec.params} | spec.known(args)
        found = self._now_run(lambda now: self.model.list_matches(now, **passed))
        return [(created, self.rewrite_urls(obj)) for created, obj in found]

    def close(self) -> None:
        with self.lock:
            try:
                now = self._now()
                if now > self.engine.now_ms and not self.engine.closed:
                    self._publish(self.engine.advance_to(now))
            except Exception as exc:
                self._log_once(f"final render failed: {exc!r}")
            try:
                self.engine.close()
            finally:
                try:
                    self._save(clean=True)
                finally:
                    self._saver.shutdown(wait=True)
                    self.store.close()
                    self.events.close()


_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def _count_start(folder: Path) -> int:
    """How many times a server started on this account folder before (and count this one)."""
    counter = folder / "starts"
    try:
        previous = int(counter.read_text().strip() or 0)
    except (OSError, ValueError):
        previous = 0
    if previous == 0 and (folder / "events.jsonl").is_file() and \
            (folder / "events.jsonl").stat().st_size > 0:
        previous = 1  # a folder from before the counter existed
    temporary = counter.with_name("starts.tmp")
    temporary.write_text(f"{previous + 1}\n")
    os.replace(temporary, counter)
    return previous


def _info(path: Path) -> Any:
    import soundfile

    return soundfile.info(str(path))


def _duration_s(path: Path) -> float:
    info = _info(path)
    return info.frames / info.samplerate if info.samplerate else 0.0


def account_engine(account: Account, config: ServerConfig, media: MediaLibrary, out_dir: Path,
                   generation: int = 0) -> CallEngine:
    """The call model and engine of one account: its ids from the server's seed (and how many
    times the server started on this folder before), listener streams from each MPC's creation,
    files of ended MPCs closed, broken media reported rather than refused."""
    kwargs: dict[str, Any] = {}
    if config.rate_per_minute is not None:
        kwargs["rate_per_minute"] = Decimal(config.rate_per_minute)
    model = CallModel(
        account.auth_id,
        frame_ms=config.frame_ms,
        seed=account_seed(config.seed, account.auth_id if generation == 0
                          else f"{account.auth_id}/{generation}"),
        epoch=config.epoch or default_epoch(),
        lines=to_model_lines(config.lines, config.frame_ms),
        media=media,
        recording_url_base=config.base_url() + "/v1/Account/{auth_id}/Recording/",
        api_base_url=config.base_url(),
        strict_media=False,  # a bad medium is reported as an event, the request still accepted
        archive=True,  # ended MPCs' records, kept in the account's folder (mpcs.jsonl)
        shard=(config.shard or 0, config.workers if config.shard is not None else 1),
        **kwargs,
    )
    return CallEngine(
        model,
        media,
        out_dir,
        sample_rate=config.sample_rate,
        frame_ms=config.frame_ms,
        subtype=config.subtype,
        close_ended_listeners=True,  # a long-running server keeps no file open per past participant
        listener_origin="mpc",  # a stream spans its MPC, not the server's uptime
        kernel="auto",  # the compiled mixer (numba) where installed: the server mixes every tick
        listener_streams=config.listener_streams == "all",
    )
