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
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mpcmix.engine import CallEngine, Engine
from mpcmix.errors import NotFoundError, ValidationError
from mpcmix.media import MediaLibrary
from mpcmix.mixer import wavfile
from mpcmix.model import CallModel, Event
from mpcmix.model.events import RECORDING_CLOSED, RECORDING_OPENED, recording_failed_at_restart
from mpcmix.model.params import destinations, operation
from mpcmix.scenario import to_model_lines

from .callbacks import CallbackDispatcher, Delivery, form_params
from .clock import Clock
from .config import Account, ServerConfig, default_epoch
from .eventlog import EventLog

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
        # A restart on the same data folder must not hand out the ids of the previous run (its
        # recordings are still on disk and downloadable): each start draws ids from its own seed.
        self.generation = _count_start(self.dir)
        self.engine: Engine = account_engine(account, config, media, self.dir / "out",
                                             generation=self.generation)
        self.model: CallModel = self.engine.model
        self._last_error: str | None = None
        self._recovered: dict[str, Path] = {}  # file name -> a recording of an earlier run
        self._recover_recordings()

    # -- time ----------------------------------------------------------------------------------

    def _now(self) -> int:
        # A request takes effect at the clock's next frame boundary, never before what the
        # engine has already rendered (the real-time ticker may be a frame ahead of a request).
        return max(self.clock.now_ms(), self.engine.now_ms)

    def tick(self, target_ms: int) -> None:
        """Render up to `target_ms` (the real-time ticker, or a virtual advance)."""
        with self.lock:
            if target_ms <= self.engine.now_ms or self.engine.closed:
                return
            try:
                events = self.engine.advance_to(target_ms)
            except Exception as exc:
                self._log_once(f"rendering to {target_ms} ms failed: {exc!r}")
                events = self.engine.drain_events()
            self._publish(events)

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
            path = self.engine.listener_path(self.model.member_label(member_id))
            self.flush(wait=True)
        if not path.is_file():
            raise NotFoundError(f"participant {member_id} has no listener stream yet (its call "
                                "has not been rendered)")
        return path

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
        recovered = self._recovered.get(filename)
        if recovered is not None and recovered.is_file():
            return recovered, True
        raise NotFoundError(f"no recording file {filename!r} in this account")

    def recording_object(self, recording_id: str) -> dict[str, Any]:
        """What a recording's resource (its callbacks' RecordingResourceURL) answers: its id,
        format, `recording_url` and `resource_uri` (NotFoundError if it has no file)."""
        with self.lock:
            paths = list(self.engine.recording_paths(recording_id))
            api_id = self.model.new_api_id()
        paths += [p for name, p in self._recovered.items() if name.startswith(recording_id)]
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
            )
        )

    def send_callback(self, name: str, params: dict[str, str], url: str, method: str) -> None:
        """Log and send one callback the server makes itself (an asynchronous answer), at the
        clock's current time, signed like every callback."""
        with self.lock:
            self._log_and_send(name, self._now(), params, url, method.upper())

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
            files = sorted(p for p in (self.dir / "out" / "recordings").glob(f"{recording_id}*.{fmt}")
                           if p.stem == recording_id or p.stem.startswith(recording_id + "-"))
            seconds = 0.0
            for path in files:
                try:
                    if fmt == "wav":
                        wavfile.repair(path)
                    seconds = max(seconds, _duration_s(path))
                except (OSError, RuntimeError) as exc:
                    log.warning("recovering %s: %r", path, exc)
                self._recovered[path.name] = path
                if path.stem != recording_id and f"{recording_id}.{fmt}" not in self._recovered:
                    self._recovered[f"{recording_id}.{fmt}"] = path  # the recording_url
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
    counter.write_text(f"{previous + 1}\n")
    return previous


def _duration_s(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
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
    )
