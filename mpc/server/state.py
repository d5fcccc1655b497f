"""What every endpoint of one server shares: accounts, the clock, callbacks, the ticker.

`ServerState` holds one `AccountRuntime` per configured account, the clock (virtual, moved by
`advance`; or real time, served by the ticker thread, which renders every account frame by frame
and flushes the files about once a second), and the callback dispatcher.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import Request
from mpcmix.engine import warm_up
from mpcmix.errors import ValidationError

from .auth import Authenticator
from .callbacks import CallbackDispatcher
from .clock import RealtimeClock, TickLateness, VirtualClock
from .config import Account, ServerConfig, default_epoch
from .folderlock import FolderLock
from .media import server_media
from .runtime import AccountRuntime
from .shards import check_workers, shard_folder
from .streams import StreamManager

log = logging.getLogger("mpcmix.server")

#: The longest single virtual step: every listener stream is rendered over it before answering.
MAX_ADVANCE_S = 86400
#: Open recordings and listener streams are flushed (headers rewritten) at least this often.
FLUSH_EVERY_S = 1.0
#: The longest a virtual advance waits for media being decoded.
MEDIA_WAIT_S = 120.0


class ServerState:
    """Everything the endpoints share: accounts, clock, callback dispatcher, ticker."""

    def __init__(self, config: ServerConfig) -> None:
        if config.epoch is None:
            config = replace(config, epoch=default_epoch())
        self.config = config
        self.auth = Authenticator(config.accounts)
        self.clock: VirtualClock | RealtimeClock = (
            VirtualClock(config.frame_ms) if config.clock == "virtual"
            else RealtimeClock(config.frame_ms)
        )
        self.dispatcher = CallbackDispatcher(
            max_pending=config.callback_queue_size,
            attempts=config.callback_attempts,
            backoff_s=config.callback_backoff_s,
            timeout_s=config.callback_timeout_s,
        )
        if config.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="mpcmix-serve-"))
        else:
            self.data_dir = config.data_dir
            self.data_dir.mkdir(parents=True, exist_ok=True)
        if config.shard is not None:  # shard K of N: its own folder DATA/shard-K (shards.py)
            check_workers(self.data_dir, config.workers)
            self.data_dir = shard_folder(self.data_dir, config.shard)
            self.data_dir.mkdir(parents=True, exist_ok=True)
        # One folder, one owner: a second server on this folder is refused here, before it
        # reads or writes anything in it (FolderInUse, a ConfigError: `mpcmix serve` exits 2).
        self.folder_lock = FolderLock(self.data_dir).acquire()
        if config.shard is None:
            try:
                check_workers(self.data_dir, 1)  # not a sharded server's folder
            except BaseException:
                self.folder_lock.release()
                raise
        self.media = server_media(config, self.data_dir)
        tokens = {a.auth_id: a.auth_token for a in config.accounts}
        self.runtimes: dict[str, AccountRuntime] = {}
        for account in config.accounts:
            main_token = tokens.get(account.parent or "", account.auth_token)
            self.runtimes[account.auth_id] = AccountRuntime(
                account,
                config,
                clock=self.clock,
                media=self.media,
                dispatcher=self.dispatcher,
                main_auth_token=main_token,
                data_dir=self.data_dir,
            )
        self.streams = StreamManager(config, self.runtimes,
                                     realtime=isinstance(self.clock, RealtimeClock))
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._advance_lock = threading.Lock()
        self.ticks = TickLateness(config.frame_ms)
        self.started = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        self.dispatcher.start()
        self.streams.start()
        threading.Thread(target=self._prewarm, name="mpcmix-media-prewarm", daemon=True).start()
        if isinstance(self.clock, RealtimeClock):
            warm_up(self.config.sample_rate, self.config.frame_ms)  # no tick loads a kernel
            self._ticker = threading.Thread(target=self._tick_loop, name="mpcmix-ticker",
                                            daemon=True)
            self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        try:
            self.streams.stop()  # their StopStream callbacks go out before the accounts close
        except Exception:
            log.exception("stopping the audio streams failed")
        for runtime in self.runtimes.values():
            try:
                runtime.close()
            except Exception:
                log.exception("closing account %s failed", runtime.account.auth_id)
        self.dispatcher.stop(timeout_s=2.0)
        self.media.close()
        self.folder_lock.release()

    def _prewarm(self) -> None:
        # Queue the lines' audio for decoding before the first call needs it.
        for spec in self.config.lines.values():
            if self._stop.is_set():
                return
            if spec.audio:
                state, detail = self.media.status(spec.audio)
                if state == "failed":
                    log.warning("line audio %r cannot be used: %s", spec.audio, detail)

    def _tick_loop(self) -> None:
        # Render every account up to the last frame boundary passed, frame after frame; measure
        # how late each tick finishes (GET /emulator/stats) and flush every file once a second,
        # so a kill -9 loses at most the last second of audio from the files' headers.
        clock = self.clock
        assert isinstance(clock, RealtimeClock)
        rendered = clock.rendered_ms()
        last_flush = time.monotonic()
        while not self._stop.wait(clock.seconds_until_next_frame()):
            target = clock.rendered_ms()
            if target <= rendered:
                continue
            due_ms = rendered + clock.frame_ms  # the oldest boundary this tick serves
            t0 = time.thread_time()
            for runtime in self.runtimes.values():
                runtime.tick(target, wait=False)  # an account busy with a request catches up
            t1 = time.thread_time()
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                last_flush = time.monotonic()
                self.flush_all()
            self.ticks.spent(t1 - t0, time.thread_time() - t1)
            done = clock.elapsed_ms_exact()
            self.ticks.record(done, done - due_ms)
            rendered = target

    def flush_all(self) -> None:
        """Flush every account's open files (WAV headers count what is on disk)."""
        for runtime in self.runtimes.values():
            runtime.flush()

    # -- lookups -------------------------------------------------------------------------------

    def costs(self) -> dict[str, Any]:
        """What the ticker's thread spent (CPU seconds, summed since the start) by part of the
        work, and the MPCs live now: `make load` divides by ticks and MPCs."""
        parts: dict[str, float] = {}
        live = 0
        for runtime in self.runtimes.values():
            with runtime.lock:
                live += len(runtime.model.live_mpcs())
                for part, seconds in runtime.engine.costs.items():
                    parts[part] = parts.get(part, 0.0) + seconds
        return {"ticker_s": round(self.ticks.tick_s, 6), "flush_s": round(self.ticks.flush_s, 6),
                "parts_s": {k: round(v, 6) for k, v in parts.items()},
                "ticks": self.ticks.count,
                "live_mpcs": live}

    def account_for(self, request: Request) -> Account:
        return self.auth.authenticate(request.headers.get("authorization"))

    def runtime_for(self, request: Request, path_auth_id: str) -> AccountRuntime:
        account = self.auth.acting_as(self.account_for(request), path_auth_id)
        return self.runtimes[account.auth_id]

    def advance(self, seconds: Any) -> int:
        if not isinstance(self.clock, VirtualClock):
            raise ValidationError("the clock is real time: /emulator/advance needs --clock virtual")
        with self._advance_lock:
            # Virtual time waits for the media being decoded, so what a request named plays
            # from the moment it named it, as in an offline render.
            if not self.media.wait_idle(MEDIA_WAIT_S):
                log.warning("media still decoding after %s s: advancing without them", MEDIA_WAIT_S)
            for runtime in self.runtimes.values():
                runtime.settle_media()
            now = self.clock.advance(seconds)
            for runtime in self.runtimes.values():
                runtime.tick(now)
            # Virtual time stands still between advances: flush after each one, so whatever it
            # rendered is counted in the files' headers (a kill -9 loses none of it).
            self.flush_all()
        return now
