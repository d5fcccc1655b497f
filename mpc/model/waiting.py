"""Media the call model accepted before they were ready, and what happens once they are.

A server prepares media off its request and tick paths (its media library raises
`MediaPending` instead of decoding): the operation that names such a medium is accepted at once
(as the real API accepts a Play and fetches its file afterwards), cues and Plays of it wait for
their length, and the engine plays silence for it. The server then tells the model, at a frame
boundary, what became of each medium `pending_media` lists:

- `media_ready(now_ms, ref, duration_ms)`: a waiting cue or Play begins now if its moment has
  passed (heard from its start, late, as after a slow fetch) and ends `duration_ms` later (a
  Play's `MPCPlayStarted` is reported then, when it starts);
  voices get their length; an `MPCMediaDelayed` report gives the delay, where there was one.
  On the virtual clock the server waits for its decodes before time moves, so nothing is late
  and the render equals an offline one.
- `media_failed(now_ms, ref, error)`: everything that named the medium goes on as if it had been
  found unusable at once (strict mode aside): a waiting Play ends with `MPCPlayFailed`, a cue is
  dropped, music falls back to the built-in music, a voice or a sound to silence, each use
  reported with `MPCMediaFailed`.
"""

from __future__ import annotations

from . import events as ev
from .lifecycle import Lifecycle
from .records import MpcRecord, ParticipantRecord
from .state import CUE_END, PLAY_END

#: The MPC's media settings: (record attribute, the add_participant parameter it came from).
_MPC_MEDIA = (("wait_music", "wait_music_url"), ("agent_hold_music", "agent_hold_music_url"),
              ("customer_hold_music", "customer_hold_music_url"),
              ("start_recording_audio", "start_recording_audio"),
              ("stop_recording_audio", "stop_recording_audio"))
#: A participant's sounds: (record attribute, parameter).
_SOUNDS = (("enter_sound", "enter_sound"), ("exit_sound", "exit_sound"),
           ("confirm_sound", "confirm_key_sound_url"))

#: One use of a medium by a live MPC: (its MPC, the participant it belongs to or None, its
#: record attribute, the parameter that named it).
Use = tuple[MpcRecord, ParticipantRecord | None, str, str]


class MediaWaits(Lifecycle):
    """Media being prepared (see the module docstring)."""

    def pending_media(self) -> list[str]:
        """The media the model waits for, in the order they were first needed."""
        return list(self._media_waits)

    def media_ready(self, now_ms: int, ref: str, duration_ms: int) -> None:
        """`ref` is ready and plays `duration_ms`: waiting cues and Plays begin (now, if their
        moment has passed) and get their end; voices their length."""
        self._begin(now_ms)
        since = self._media_waits.pop(ref, None)
        if since is None:
            return
        length = self._frames(duration_ms)
        cues, self._pending_cues = _split(self._pending_cues, ref)
        plays, self._pending_plays = _split(self._pending_plays, ref)
        delayed: dict[str, MpcRecord] = {}
        for _, mpc, cue in cues:
            if cue not in mpc.cues:
                continue
            if now_ms > cue.start_ms:
                cue.start_ms = now_ms
                delayed[mpc.uuid] = mpc
            cue.end_ms = cue.start_ms + length
            if cue.end_ms <= now_ms:
                mpc.cues.remove(cue)
            else:
                self._set_timer(cue.end_ms, CUE_END, (mpc, cue))
        for _, play in plays:
            if not play.active:
                continue
            if now_ms > play.start_ms:
                play.start_ms = now_ms
                delayed[play.mpc.uuid] = play.mpc
            play.end_ms = play.start_ms + length
            if play.kind == "play":  # a Speak's start was reported when it was asked for
                self._report(ev.PLAY_STARTED, play.mpc, play.start_ms, {
                    "MPCUUID": play.mpc.uuid, "MPCName": play.mpc.name,
                    "MemberID": ",".join(p.member_id for p in play.targets), "PlayURL": ref,
                    "PlayName": play.name,
                })
            if play.end_ms <= now_ms:
                self._end_play(play, now_ms, "completed")
            else:
                self._set_timer(play.end_ms, PLAY_END, play)
        for mpc, p, attr, _ in self._uses(ref):
            if p is not None and attr == "voice":
                p.line_audio = {leg: (voice, length if voice == ref and not ms else ms)
                                for leg, (voice, ms) in p.line_audio.items()}
                if p.voice == ref and not p.voice_duration_ms:
                    p.voice_duration_ms = duration_ms
            if now_ms > since:
                delayed[mpc.uuid] = mpc
        for mpc in delayed.values():
            self._report(ev.MEDIA_DELAYED, mpc, now_ms, {
                "MPCUUID": mpc.uuid, "MPCName": mpc.name, "MediaURL": ref,
                "DelayMs": now_ms - since,
            })
        self._changed(now_ms)
        self._touched_all = True  # rare: every MPC judged and snapshotted again

    def media_failed(self, now_ms: int, ref: str, error: str) -> None:
        """`ref` cannot be played: what named it goes on without it (module docstring)."""
        self._begin(now_ms)
        if self._media_waits.pop(ref, None) is None:
            return
        cues, self._pending_cues = _split(self._pending_cues, ref)
        plays, self._pending_plays = _split(self._pending_plays, ref)
        for _, mpc, cue in cues:
            if cue in mpc.cues:
                mpc.cues.remove(cue)
        for _, play in plays:
            if not play.active:
                continue
            if play.kind != "play":
                self._end_play(play, now_ms, "failed")
                continue
            play.active = False
            play.end_ms = now_ms
            self._report(ev.PLAY_FAILED, play.mpc, now_ms, {
                "MPCUUID": play.mpc.uuid, "MPCName": play.mpc.name,
                "MemberID": ",".join(p.member_id for p in play.targets), "PlayURL": ref,
                "Error": error,
            })
        for mpc, p, attr, purpose in self._uses(ref):
            owner = p if p is not None else (mpc.participants[0] if mpc.participants else None)
            if p is None:
                setattr(mpc, attr, None)
            elif attr == "voice":
                p.line_audio = {leg: (None, 0) if voice == ref else (voice, ms)
                                for leg, (voice, ms) in p.line_audio.items()}
                if p.voice == ref:
                    p.voice, p.voice_duration_ms = None, 0
            else:
                setattr(p, attr, None)
            if owner is not None:
                self._media_failed(mpc, owner, now_ms, purpose, ref, error)
        self._changed(now_ms)
        self._touched_all = True  # rare: every MPC judged and snapshotted again

    def _uses(self, ref: str) -> list[Use]:
        """Every use of `ref` by a live MPC's settings or participants (not its cues and Plays)."""
        found: list[Use] = []
        for mpc in self._live.values():
            found.extend((mpc, None, attr, param) for attr, param in _MPC_MEDIA
                         if getattr(mpc, attr) == ref)
            for p in mpc.participants:
                if p.exited_ms is not None:
                    continue
                found.extend((mpc, p, attr, param) for attr, param in _SOUNDS
                             if getattr(p, attr) == ref)
                if p.voice == ref or any(voice == ref for voice, _ in p.line_audio.values()):
                    found.append((mpc, p, "voice", f"the voice of line {p.to}"))
        return found


def _split(items: list, ref: str) -> tuple[list, list]:  # type: ignore[type-arg]
    """(the items about `ref`, the others), each item's first field being its medium."""
    return [i for i in items if i[0] == ref], [i for i in items if i[0] != ref]
