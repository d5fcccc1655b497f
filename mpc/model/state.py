"""The call model's state, and what every part of it uses: time, timers, look-ups, media.

`ModelState` holds one account's MPCs and participants (records, mpcmix.model.records), the
timers, and the events not yet drained. The rest of the call model is written in layers on top
of it, each a class in its own module: `notify` (the callbacks), `lifecycle` (what happens by
itself: answers, entries, exits, the ending rules, recordings, music), then the API's operations
(`mpc_ops`, `adding`, `recording_ops`, `play_ops`, `farend`), which `callmodel.CallModel`
puts together. Pure logic: no audio, no files, no wall clock.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mpcmix.errors import MediaError, MediaPending, NotFoundError, ValidationError

from .events import Event
from .ids import IdSource
from .params import operation
from .records import (
    CueRecord,
    EndedMpc,
    EndedParticipant,
    MpcRecord,
    ParticipantRecord,
    PlayRecord,
    RecordingRecord,
)
from .serialize import Serializer
from .snapshot import BEEP_DURATION_MS, Line, MediaCatalog, is_live
from .values import as_str, is_given, unwrap

DEFAULT_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULT_RECORDING_URL_BASE = "https://media.plivo.com/v1/Account/{auth_id}/Recording/"
#: Where the API's resources live (a recording's RecordingResourceURL is under it).
DEFAULT_API_BASE_URL = "https://api.plivo.com"
DEFAULT_RATE_PER_MINUTE = Decimal("0.00500")
#: A number missing from the lines: answers at once, silent.
DEFAULT_LINE = Line(None, 0)

# Kinds of timer the model sets itself.
ANSWER, RING_TIMEOUT, MAX_DURATION, CUE_END, PLAY_END = (
    "answer", "ring_timeout", "max_duration", "cue_end", "play_end")

Timer = tuple[int, int, str, Any]  # (due ms, order set, kind, what it is about)
#: The end of a cue or Play whose medium is still being prepared (its length unknown yet).
PENDING_END = 1 << 62
MemberForm = str | frozenset[str]  # "all", or the member ids a request named


class ModelState:
    """One account's MPCs: their records, the timers, the events (see the module docstring).

    `lines` maps a dialled number to what its phone does (`default_line` for any other number:
    answers at once, silent). `media` gives media durations (None: only ``beep:1``/``beep:2``
    are known). `strict_media` decides what a broken medium does: raise `MediaError` (scenarios:
    a bad file stops the render) or, when false, accept the request, report an `MPCMediaFailed`
    or `MPCPlayFailed` event and play silence (or the built-in music) instead (the server).
    `shard` (K, N): this model is shard K of a server's N workers; its ids name K (`ids.IdSource`).
    """

    def __init__(
        self,
        auth_id: str,
        *,
        frame_ms: int = 20,
        seed: int = 0,
        epoch: datetime = DEFAULT_EPOCH,
        lines: Mapping[str, Line] | None = None,
        media: MediaCatalog | None = None,
        rate_per_minute: Decimal | str = DEFAULT_RATE_PER_MINUTE,
        default_line: Line = DEFAULT_LINE,
        recording_url_base: str = DEFAULT_RECORDING_URL_BASE,
        strict_media: bool = True,
        api_base_url: str = DEFAULT_API_BASE_URL,
        archive: bool = False,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        if not isinstance(frame_ms, int) or frame_ms <= 0:
            raise ValueError(f"frame_ms must be a positive integer, not {frame_ms!r}")
        if epoch.tzinfo is None:
            epoch = epoch.replace(tzinfo=UTC)
        self.auth_id = auth_id
        self.frame_ms = frame_ms
        self.epoch = epoch
        self.strict_media = strict_media
        self._lines = dict(lines or {})
        self._default_line = default_line
        self._media = media
        self._recording_url_base = recording_url_base.format(auth_id=auth_id)
        self._api_base = api_base_url.rstrip("/")
        self._fmt = Serializer(auth_id, epoch, Decimal(rate_per_minute))
        self._ids = IdSource(seed, *shard)  # (K, N): ids name shard K of N (ids.py)
        # Every MPC ever created stays found by its uuid; once it has ended and its boundary is
        # settled, its records are swapped for compact, immutable ones (`_compact`).
        self._mpcs: list[MpcRecord | EndedMpc] = []  # in creation order
        self._by_uuid: dict[str, MpcRecord | EndedMpc] = {}
        self._live: dict[str, MpcRecord] = {}  # by uuid, in creation order
        self._live_by_name: dict[str, MpcRecord] = {}
        self._ended: list[MpcRecord] = []  # ended, not compacted yet
        self._participants: dict[str, ParticipantRecord | EndedParticipant] = {}  # by member_id
        self._labels: dict[str, ParticipantRecord | EndedParticipant] = {}
        self._calls: dict[str, ParticipantRecord] = {}  # call_uuid (every leg) -> live participant
        # call_uuid -> latest participant
        self._all_calls: dict[str, ParticipantRecord | EndedParticipant] = {}
        # the recordings not stopped, in the order they started (by `seq`), and by MPC uuid
        self._recordings: dict[int, RecordingRecord] = {}
        self._recording_index: dict[str, dict[int, RecordingRecord]] = {}
        self._recording_seq = 0
        self._timers: list[Timer] = []
        self._timer_seq = 0
        self._overlay_seq = 0
        self._events: list[Event] = []
        # Media being prepared (a server's background decoder): ref -> when it was first needed,
        # and the cues and Plays waiting for their length (see `waiting.MediaWaits`).
        self._media_waits: dict[str, int] = {}
        self._pending_cues: list[tuple[str, MpcRecord, CueRecord]] = []
        self._pending_plays: list[tuple[str, PlayRecord]] = []
        self._now = 0
        self._unsettled_at: int | None = None
        #: Counts the changes of state (operations, timers fired, media told): a server saves
        #: its live MPCs when it moves.
        self.revision = 0
        # With `archive`, the record of each MPC once it has ended, until `drain_archive`.
        self._archive: list[dict[str, Any]] | None = [] if archive else None
        # uuid -> (fingerprint, record) of each live MPC as `live_changes` last gave it
        self._record_cache: dict[str, tuple[Any, dict[str, Any]]] = {}
        # Per-frame work only where something changed: the MPCs an operation, a timer or a
        # settle touched since the last `settle` (the ending rules judge only them) and since
        # the last `mix_state` (only their part of the snapshot is made again). `_touched_all`:
        # everything (a restore, a medium that became ready or failed).
        self._settle_touched: dict[str, MpcRecord] = {}
        self._mix_touched: dict[str, MpcRecord] = {}
        self._touched_all = True
        self._settles = 0
        self._mix_parts: dict[str, Any] = {}  # uuid -> its part of the snapshot (callmodel)
        self._orphans: set[str] = set()  # ended MPCs with a recording not stopped (callmodel)
        self._mix_cached: Any = None
        self._mix_serial = 0  # the number of the last snapshot made
        # (snapshot number, the MPCs whose part changed in it), for the last few snapshots
        self._mix_changes: deque[tuple[int, frozenset[str]]] = deque(maxlen=64)
        self._mix_key = (-1, -1)
        self._mix_expiry: list[tuple[int, str]] = []  # (until, uuid): parts that end then
        self._record_touched: dict[str, MpcRecord] = {}  # since the last `live_changes`

    def _touch(self, mpc: Any) -> None:
        """Mark a live MPC changed (or about to be): settled and snapshotted again."""
        if isinstance(mpc, MpcRecord):
            self._settle_touched[mpc.uuid] = mpc
            self._mix_touched[mpc.uuid] = mpc
            self._record_touched[mpc.uuid] = mpc

    def _touch_timer(self, kind: str, obj: Any) -> None:
        """Mark the MPC a timer belongs to."""
        if kind == ANSWER:
            self._touch(obj[0].mpc)
        elif kind == RING_TIMEOUT:
            self._touch(obj.mpc)
        elif kind == MAX_DURATION:
            self._touch(obj)
        elif kind == CUE_END:
            self._touch(obj[0])
        else:
            self._touch(obj.mpc)

    def _changed(self, t: int) -> None:
        self._unsettled_at = t
        self.revision += 1

    def _frames(self, ms: int) -> int:
        """`ms` rounded up to whole frames."""
        return -(-ms // self.frame_ms) * self.frame_ms

    def _set_timer(self, at_ms: int, kind: str, obj: Any) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (at_ms, self._timer_seq, kind, obj))

    def _timer_is_live(self, timer: Timer) -> bool:
        _, _, kind, obj = timer
        if kind == ANSWER:
            p = obj[0]
            return p.exited_ms is None and p.answered_ms is None
        if kind == RING_TIMEOUT:
            return obj.exited_ms is None and obj.answered_ms is None
        if kind == MAX_DURATION:
            return bool(obj.is_live)
        if kind == CUE_END:
            mpc, cue = obj
            return cue in mpc.cues
        return bool(obj.active)  # PLAY_END

    def _duration(self, ref: str) -> int:
        if ref in BEEP_DURATION_MS:
            return BEEP_DURATION_MS[ref]
        if is_live(ref):
            return 0  # a live voice: as long as its call lasts
        if self._media is None:
            raise MediaError(f"media {ref!r}: no media catalog is configured")
        return self._media.duration_ms(ref)

    def _known_duration(self, ref: str) -> int:
        """`_duration`, or 0 while the medium is being prepared (told later: `media_ready`)."""
        try:
            return self._duration(ref)
        except MediaPending:
            self._media_waits.setdefault(ref, self._now)
            return 0

    def _usable(self, ref: str | None, purpose: str,
                failures: list[tuple[str, str, str]]) -> str | None:
        """`ref` if it can be played (or is being prepared: a failure then comes later, through
        `media_failed`); else raise (strict) or note the failure and give None."""
        if ref is None:
            return None
        try:
            self._known_duration(ref)
        except MediaError as exc:
            if self.strict_media:
                raise MediaError(f"{purpose}: {exc.message}") from None
            failures.append((purpose, ref, exc.message))
            return None
        return ref

    def _find(self, friendly_name: str | None, uuid: str | None) -> MpcRecord | EndedMpc:
        """The MPC named by exactly one of `friendly_name` (live ones only) or `uuid`."""
        if is_given(friendly_name) == is_given(uuid):
            raise ValidationError("name the MPC by exactly one of friendly_name or uuid")
        if is_given(friendly_name):
            name = as_str("friendly_name", friendly_name)
            mpc = self._live_by_name.get(name)
            if mpc is None:
                raise NotFoundError(f"no live MPC named {name!r} (a name finds an MPC only "
                                    "while it is live; an ended MPC is found by its uuid)")
            self._touch(mpc)
            return mpc
        found = self._by_uuid.get(str(uuid))
        if found is None:
            raise NotFoundError(f"no MPC with uuid {uuid!r}")
        self._touch(found)
        return found

    def _find_live(self, friendly_name: str | None, uuid: str | None) -> MpcRecord:
        """`_find`, for an operation that changes the MPC: 404 if it has ended."""
        found = self._find(friendly_name, uuid)
        if not isinstance(found, MpcRecord) or not found.is_live:
            raise NotFoundError(f"MPC {found.name!r} ({found.uuid}) has ended "
                                f"({found.termination_cause}); it takes no more operations")
        return found

    def _mpc_for_add(self, friendly_name: str | None, uuid: str | None) -> MpcRecord | None:
        if is_given(friendly_name) == is_given(uuid):
            raise ValidationError("name the MPC by exactly one of friendly_name or uuid")
        if is_given(uuid):
            return self._find_live(None, uuid)
        mpc = self._live_by_name.get(as_str("friendly_name", friendly_name))
        self._touch(mpc)
        return mpc

    def _check_label(self, label: Any) -> str | None:
        if label is None:
            return None
        text = as_str("label", label)
        if (text.lower() == "all" or "," in text or text.isdigit() or text == "recording"
                or text.startswith("recording:")):
            raise ValidationError(f"label {text!r} cannot name a participant: a label is not "
                                  "'all', has no comma, is not all digits and is not 'recording'")
        other = self._labels.get(text)
        if other is not None:
            raise ValidationError(f"label {text!r} is already used by member {other.member_id}; "
                                  "labels are unique across the account")
        return text

    def _participant(self, member: str) -> ParticipantRecord | EndedParticipant:
        """A participant (live, or of an ended MPC) by member_id or label; 404 if none."""
        p = self._participants.get(str(member)) or self._labels.get(str(member))
        if p is None:
            raise NotFoundError(f"no participant {member!r}")
        self._touch(p.mpc)
        return p

    def _far_end_call(self, call_uuid: str) -> ParticipantRecord | EndedParticipant:
        """The (latest) participant of a call, live or of an ended MPC; 404 if none."""
        p = self._calls.get(str(call_uuid)) or self._all_calls.get(str(call_uuid))
        if p is None:
            raise NotFoundError(f"no call with call_uuid {call_uuid!r}")
        self._touch(p.mpc)
        return p

    def _members(self, mpc: MpcRecord, member_id: Any, op: str, *, live_only: bool = True,
                 ) -> tuple[MemberForm, list[ParticipantRecord]]:
        """Resolve the member form of operation `op`: one id (or label), or, where the table
        says it takes "many", also a comma-separated list or ``all``. `live_only`: refuse
        members that have exited (``all``: those that have not)."""
        many = operation(op).members == "many"
        allow_all = allow_list = many
        text = "" if member_id is None else str(unwrap("member_id", member_id)).strip()
        if not text:
            raise ValidationError("member_id is required: a member id, a comma-separated list "
                                  "or all")
        if text.lower() == "all":
            if not allow_all:
                raise ValidationError("member 'all' is not allowed here: name one member")
            if live_only:
                members = mpc.alive()
                if not members:
                    raise NotFoundError(f"MPC {mpc.name!r} has no participants left")
                return "all", members
            return "all", list(mpc.participants)
        parts = [part.strip() for part in text.split(",")]
        if len(parts) > 1 and not allow_list:
            raise ValidationError(f"name one member here, not a list ({text!r})")
        found: list[ParticipantRecord] = []
        for part in parts:
            if not part:
                raise ValidationError(f"member_id {text!r} has an empty entry")
            if part.lower() == "all":
                raise ValidationError("'all' cannot be part of a list of members")
            p = self._participants.get(part) or self._labels.get(part)
            if p is None or p.mpc is not mpc:
                raise NotFoundError(f"member {part!r} is not a participant of MPC "
                                    f"{mpc.name!r}")
            if live_only and p.exited_ms is not None:
                raise ValidationError(f"member {who(p)} has already exited ({p.exit_cause})")
            if p not in found:
                found.append(p)
        return frozenset(p.member_id for p in found), found


def who(p: ParticipantRecord) -> str:
    """How a message names a participant: its label, and its member_id when they differ."""
    if p.label == p.member_id:
        return p.member_id
    return f"{p.label!r} ({p.member_id})"


def form_text(form: MemberForm) -> str:
    """A member form as a request gives it: ``all`` or the comma-separated ids."""
    return form if isinstance(form, str) else ",".join(sorted(form))
