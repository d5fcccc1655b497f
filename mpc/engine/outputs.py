"""The files a call engine writes: one listener stream per participant, and the recordings.

`Outputs` owns every open `StreamWriter` of one engine: listener streams (what each participant
heard, ``listeners/<label>.wav``) and recordings (``recordings/<recording_id>[-<track>].<fmt>``),
written by one write-behind thread while the engine mixes the next block. It decides where a
listener stream begins (the timeline's 0, or its MPC's creation), pads what a listener missed
with silence, and knows which recording files are complete. Nothing here mixes or decides who
hears what.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
from mpcmix.mixer import StreamWriter, WriteBehind
from mpcmix.model import MixState, RecordingSpec
from mpcmix.routing import CallState

#: Silence is written in blocks of at most this many samples.
SILENCE_BLOCK = 1 << 17

#: One recording capturing now: (its writer, the listener row it records, its member or None).
#: Row "" is the member's own voice (track ``participant``), "all" its voice and what it hears.
Capture = tuple[StreamWriter, str, str | None]


#: A file fed tick by tick gets its frames this many ticks at a time (`TickRing`), in one write
#: (32,000 bytes of a 16 kHz stream at 20 ms ticks), its header patched right after: what a
#: `kill -9` can take from such a file (50 ticks: one second at 20 ms).
RING_TICKS = 50
#: Tasks the write-behind queue holds once a tick ring feeds files: a tick's turns are one task
#: (a copy of 1/RING_TICKS of the ring), so what waits there is at most about this many ticks of
#: every file's audio (~1.3 s); blocks of files written a block at a time (a server's stereo
#: recordings, silence padding) share it. A ticker that gets this far ahead waits for the disk.
RING_QUEUE = 64


class TickRing:
    """One-frame blocks of many mono files, gathered in one array per tick and handed to each
    file `ticks` frames at a time, the files' turns staggered over the ticks (a few files a
    tick, never all at once).

    Each file (a `StreamWriter`) has a row (slot) of ``ticks`` frames; tick ``k`` lands in
    column ``k % ticks`` of every row at once (`put`, one copy), and `step` hands the rows whose
    turn it is (slot ``% ticks == k % ticks``) what they gathered since their last turn, and
    makes their headers count it: per file, once every `ticks` ticks, one write and one header
    update (for a 16-bit PCM WAV, a ``pwritev`` and a ``pwrite``: `StreamWriter.write_later`).
    With `background` (a `WriteBehind`), a tick's turns are one task on its thread, their rows
    copied in one step (a write there may block on the disk without making a tick late);
    without, they are written on the calling thread straight from the rows. `drain` hands a
    file everything at once, on the calling thread (before anything else writes to it, pads it
    or closes it; before a download). What a file was handed is in ``writer.frames``.
    """

    def __init__(self, frame: int, ticks: int = RING_TICKS) -> None:
        self.frame = frame
        self.ticks = ticks
        self.tick = 0
        self.background: WriteBehind | None = None
        self._buf = np.zeros((0, ticks * frame), dtype=np.int16)
        self._since = np.zeros(0, dtype=np.int64)  # first tick not handed over, -1: none
        self._writers: list[StreamWriter | None] = []
        self._slot: dict[int, int] = {}  # id(writer) -> slot
        self._free: list[int] = []

    def slots(self, writers: Sequence[StreamWriter]) -> np.ndarray:
        """The slots of `writers` (each given one when it has none), int64."""
        out = np.empty(len(writers), dtype=np.int64)
        for i, w in enumerate(writers):
            slot = self._slot.get(id(w))
            if slot is None:
                if not self._free:
                    self._grow()
                slot = self._free.pop()
                self._slot[id(w)] = slot
                self._writers[slot] = w
                self._since[slot] = -1
            out[i] = slot
        return out

    def _grow(self) -> None:
        old = len(self._writers)
        new = max(64, 2 * old)
        buf = np.zeros((new, self._buf.shape[1]), dtype=np.int16)
        buf[:old] = self._buf
        self._buf = buf
        self._since = np.concatenate([self._since, np.full(new - old, -1, dtype=np.int64)])
        self._writers += [None] * (new - old)
        self._free += range(new - 1, old - 1, -1)

    def put(self, slots: np.ndarray, block: np.ndarray) -> None:
        """This tick's frame of each slot: `block` int16 (len(slots), frame)."""
        if not len(slots):
            return
        col = (self.tick % self.ticks) * self.frame
        self._buf[slots, col:col + self.frame] = block
        since = self._since[slots]
        self._since[slots] = np.where(since < 0, self.tick, since)

    def step(self) -> None:
        """End the tick: the files whose turn it is get what they gathered, and their headers
        count it (about once a second per file, staggered as the writes are: never every file's
        at once; `Outputs.update_headers` leaves these files to their turns)."""
        phase = self.tick % self.ticks
        due = np.flatnonzero(self._since[phase::self.ticks] >= 0) * self.ticks + phase
        if due.size:
            upto = self.tick + 1
            if self.background is None:
                for slot in due.tolist():
                    self._hand(slot, upto)
                    writer = self._writers[slot]
                    if writer is not None:
                        writer.update_header()
            else:  # the rows copied in one step: the ring's columns are written again next tick
                rows = self._buf[due]
                writes = [self._hand(slot, upto, row=rows[i], later=True)
                          for i, slot in enumerate(due.tolist())]
                self.background.submit(_run_all, writes)
        self.tick += 1

    def _hand(self, slot: int, upto: int, *, row: np.ndarray | None = None,
              later: bool = False) -> Callable[[], None]:
        """Hand the file of `slot` its frames from its first not handed over to tick `upto`
        (exclusive), taken from `row` (its ring row, or a copy), written now on this thread;
        `later`: the function that writes them and updates the header
        (`StreamWriter.write_later`) is returned, to be run."""
        since = int(self._since[slot])
        writer = self._writers[slot]
        self._since[slot] = -1
        if since < 0 or writer is None or upto <= since:
            return _nothing
        n = min(upto - since, self.ticks)  # the ring holds a turn's ticks at most
        lo, f = (upto - n) % self.ticks, self.frame
        if row is None:
            row = self._buf[slot]
        blocks = (row[lo * f:(lo + n) * f],) if lo + n <= self.ticks else (
            row[lo * f:], row[:(lo + n - self.ticks) * f])  # wrapped: oldest first
        if later:
            return writer.write_later(*blocks)
        writer.write_now(*blocks)
        return _nothing

    def drain(self, writer: StreamWriter, *, release: bool = False) -> None:
        """Hand `writer` everything it gathered; `release`: forget it (its slot is freed)."""
        slot = self._slot.get(id(writer))
        if slot is None:
            return
        self._hand(slot, self.tick)
        if release:
            del self._slot[id(writer)]
            self._writers[slot] = None
            self._free.append(slot)

    def feeds(self, writer: StreamWriter) -> bool:
        """Whether `writer` has a slot (is handed its frames at its turn)."""
        return id(writer) in self._slot

    def drain_all(self) -> None:
        """Hand every file everything it gathered."""
        for slot in np.flatnonzero(self._since >= 0).tolist():
            self._hand(slot, self.tick)


def _nothing() -> None:
    pass


def _run_all(writes: list[Callable[[], None]]) -> None:
    """A tick ring's turns, on the write-behind thread."""
    for write in writes:
        write()


class Outputs:
    """The listener streams and recordings of one engine, under `out_dir`.

    `subtype` (``PCM_16`` or ``FLOAT``) is the listener streams' and WAV recordings' sample
    format (MP3 is always encoded from 16-bit samples). `listener_origin` is where a stream
    begins: ``timeline`` (0: every stream of a render lines up with every other) or ``mpc`` (its
    MPC's creation: the server, where a participant who joins after days of uptime costs no days
    of silence). `close_ended_listeners`: close a listener's file once its MPC has ended (a
    long-running server keeps no file open per past participant). `listener_streams` False: no
    listener stream at all (recordings only: the server's ``--listener-streams none``).
    """

    def __init__(self, out_dir: Path, sample_rate: int, *, subtype: str = "PCM_16",
                 listener_origin: str = "timeline", close_ended_listeners: bool = False,
                 listener_streams: bool = True) -> None:
        if listener_origin not in ("timeline", "mpc"):
            raise ValueError(f"listener_origin must be 'timeline' or 'mpc', not {listener_origin!r}")
        self.sample_rate = sample_rate
        self.subtype = subtype
        self.listener_origin = listener_origin
        self.close_ended_listeners = close_ended_listeners
        self.listener_streams = listener_streams  # False: no listener stream is written at all
        self.listeners_dir = out_dir / "listeners"
        self.recordings_dir = out_dir / "recordings"
        self.listeners_dir.mkdir(parents=True, exist_ok=True)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        self._io = WriteBehind()  # files are written on a thread while the next block is mixed
        self._listeners: dict[str, StreamWriter] = {}
        self._listener_start: dict[str, int] = {}  # label -> timeline sample its stream begins at
        self._recordings: dict[tuple[str, str], StreamWriter] = {}
        self._recording_files: dict[tuple[str, str], Path] = {}
        self._closed_recordings: set[tuple[str, str]] = set()
        # the specs looked at last, by MPC (None: those of ended MPCs, `MixState.elsewhere`)
        self._seen_of: dict[str | None, tuple[RecordingSpec, ...]] = {}
        self._rid_count: Counter[str] = Counter()  # specs per recording id among them
        self._ring: TickRing | None = None

    @property
    def ring(self) -> TickRing | None:
        """The tick ring feeding files a frame a tick, set by the engine that ticks; its turns
        are written by this engine's write-behind thread."""
        return self._ring

    @ring.setter
    def ring(self, ring: TickRing | None) -> None:
        if ring is not None:
            ring.background = self._io
        self._ring = ring

    # -- paths -------------------------------------------------------------------------------

    def listener_path(self, label: str) -> Path:
        """The WAV file of what participant `label` heard."""
        return self.listeners_dir / f"{label}.wav"

    def recording_paths(self, recording_id: str) -> list[Path]:
        """The files of a recording (two for a participant recording of track type `both`)."""
        return [p for (rid, _), p in self._recording_files.items() if rid == recording_id]

    def is_recording_complete(self, recording_id: str) -> bool:
        """Whether every file of the recording is closed (safe to download in full)."""
        keys = [k for k in self._recording_files if k[0] == recording_id]
        return bool(keys) and all(k in self._closed_recordings for k in keys)

    # -- listener streams ----------------------------------------------------------------------

    def open_listeners(self, calls: Sequence[CallState], created: Sequence[int], now: int) -> None:
        """Open a stream for every participant of `calls` that has none; `created[i]` is the
        sample at which `calls[i]`'s MPC was created, `now` the current sample. Nothing without
        `listener_streams`."""
        if not self.listener_streams:
            return
        for i, call in enumerate(calls):
            for p in call.participants:
                if p.name in self._listeners:
                    continue
                writer = StreamWriter(self.listener_path(p.name), self.sample_rate,
                                      subtype=self.subtype, background=self._io)
                origin = 0
                if self.listener_origin == "mpc" and i < len(created):
                    origin = min(created[i], now)
                self._listeners[p.name] = writer
                self._listener_start[p.name] = origin
                self.pad_listener(p.name, now)

    def close_listeners(self, labels: Sequence[str], now: int) -> None:
        """Close the streams of `labels` (their MPC ended), each padded up to sample `now`."""
        for label in labels:
            writer = self._listeners.get(label)
            if writer is None:
                continue
            self.pad_listener(label, now)
            self._drain(writer, release=True)
            self._listeners.pop(label).close()
            del self._listener_start[label]

    def deepen_queue(self) -> None:
        """Let the write-behind queue hold `RING_QUEUE` tasks (a server with a tick ring)."""
        self._io.set_depth(RING_QUEUE)

    def _drain(self, writer: StreamWriter, *, release: bool = False) -> None:
        if self.ring is not None:
            self.ring.drain(writer, release=release)

    def drain_ring(self) -> None:
        """Every frame gathered by the tick ring handed to its file."""
        if self.ring is not None:
            self.ring.drain_all()

    def listener_writer(self, label: str) -> StreamWriter | None:
        """The open stream of `label`, if any."""
        return self._listeners.get(label)

    def pad_listener(self, label: str, upto: int) -> None:
        """Write silence to `label`'s stream up to timeline sample `upto` (exclusive)."""
        writer = self._listeners[label]
        self._drain(writer)
        write_silence(writer, upto - self._listener_start[label] - writer.frames)

    def write_listeners(self, rows: Mapping[str, np.ndarray], start: int) -> None:
        """Append each listener's block (int16 (n,)) starting at timeline sample `start`."""
        for label, row in rows.items():
            writer = self._listeners.get(label)
            if writer is not None:
                # A listener that left the matrix (its MPC ended) was not written meanwhile:
                # its silence is written only when needed, at the latest by close().
                self.pad_listener(label, start)
                writer.write(row)

    # -- recordings ----------------------------------------------------------------------------

    def recordings_changed(self, state: MixState, hint: Collection[str] | None
                           ) -> tuple[list[tuple[tuple[str, str], Capture | None, str]],
                                      list[tuple[str, str]]]:
        """The recordings whose spec changed since the last call: (opened or changed: (its key
        (recording id, track), its capture, or None when it captures nothing now, its MPC),
        closed: keys whose file is complete and closed now). Only the MPCs of `hint` (the
        uuids whose part of the snapshot changed since the last call; None: any) and the
        recordings of ended MPCs are looked at, and a spec the model hands back as the same
        object is not: the cost follows what changed, not how many record. A conference track
        records its MPC's recording row (`CallState.recording_name`)."""
        seen_of, parts = self._seen_of, state.parts
        keys: list[str | None]
        if hint is None:
            keys = [*sorted(k for k in seen_of if k is not None and k not in parts), *parts]
        else:
            keys = [*sorted(k for k in hint if k not in parts), *state.in_order(hint)]
        keys.append(None)
        seen: dict[int, RecordingSpec] = {}
        now: dict[int, RecordingSpec] = {}
        for k in keys:
            was = seen_of.get(k, ())
            part = parts.get(k) if k is not None else None
            specs = state.elsewhere if k is None else () if part is None else part.recordings
            if specs is was:
                continue
            seen.update((id(r), r) for r in was)
            now.update((id(r), r) for r in specs)
            if specs:
                seen_of[k] = specs
            else:
                seen_of.pop(k, None)
        if now.keys() == seen.keys():
            return [], []
        gone = [r for i, r in seen.items() if i not in now]  # in the snapshot's order: a
        new = [r for i, r in now.items() if i not in seen]  # recording's files are found in it
        for r in gone:
            self._rid_count[r.recording_id] -= 1
        for r in new:
            self._rid_count[r.recording_id] += 1
        present: set[tuple[str, str]] = {(r.recording_id, r.track) for r in new}
        closed: list[tuple[str, str]] = []
        for r in gone:
            key: tuple[str, str] = (r.recording_id, r.track)
            if key not in present and key in self._recordings:  # stopped, or its MPC ended
                self._drain(self._recordings[key], release=True)
                self._recordings.pop(key).close()
                self._closed_recordings.add(key)
                closed.append(key)
        for r in gone:
            if self._rid_count[r.recording_id] <= 0:
                del self._rid_count[r.recording_id]
        opened: list[tuple[tuple[str, str], Capture | None, str]] = []
        for r in new:
            key = (r.recording_id, r.track)
            if not r.capturing or key in self._closed_recordings:
                opened.append((key, None, r.mpc_uuid))
                continue
            writer = self._recordings.get(key)
            if writer is None:
                name = r.recording_id if self._rid_count[r.recording_id] == 1 else (
                    f"{r.recording_id}-{r.track}")
                path = self.recordings_dir / f"{name}.{r.file_format}"
                writer = StreamWriter(
                    path, self.sample_rate, channels=2 if r.track == "all" else 1,
                    subtype=self.subtype if r.file_format == "wav" else "PCM_16",
                    file_format=r.file_format, background=self._io,
                )
                self._recordings[key] = writer
                self._recording_files[key] = path
            if r.track == "conference":
                part = parts.get(r.mpc_uuid)
                row = part.call.recording_name if part is not None else ""
                opened.append((key, (writer, row, None), r.mpc_uuid))
            else:
                opened.append((key, (writer, "" if r.track == "participant" else "all", r.member),
                               r.mpc_uuid))
        return opened, closed

    # -- flushing and closing ------------------------------------------------------------------

    def open_streams(self) -> list[str]:
        """The labels of the participants whose listener stream is open."""
        return list(self._listeners)

    def writers(self) -> list[StreamWriter]:
        """Every open writer."""
        return [*self._listeners.values(), *self._recordings.values()]

    def flush(self) -> None:
        """Flush every open file to disk (fsync)."""
        self.drain_ring()
        for w in self.writers():
            w.flush()

    def update_headers(self, *, wait: bool = False) -> None:
        """Make every open WAV file's header count what has been written (no fsync), so a
        reader, or a restart after kill -9, finds it all. `wait`: every frame written so far is
        in the files first (a download reads them next)."""
        writers = self.writers()
        if wait:
            self.drain_ring()
            for w in writers:
                w.wait()
        ring = None if wait else self.ring
        for w in writers:
            if ring is None or not ring.feeds(w):  # the ring updates its files' at their turn
                w.update_header()
        if wait:
            self._io.drain()

    def close(self, now: int) -> None:
        """Close every file (fsynced), each listener stream padded with silence up to `now`."""
        try:
            self.drain_ring()
            for label, w in self._listeners.items():
                self.pad_listener(label, now)  # line every stream up
                w.close()
            for key, w in self._recordings.items():
                w.close()
                self._closed_recordings.add(key)
            self._recordings.clear()
        finally:
            self._io.close()  # the write-behind thread stops even when a file failed


def write_silence(writer: StreamWriter, n: int) -> None:
    """Append `n` samples of silence (nothing when `n` <= 0)."""
    if n <= 0:
        return
    block = np.zeros(min(n, SILENCE_BLOCK), dtype=np.int16)
    while n > 0:
        k = min(n, len(block))
        writer.write(block[:k])
        n -= k
