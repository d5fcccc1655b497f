"""What happens in a call by itself, and the rules that judge it.

Timers fire (a phone answers, a ring times out, `max_duration` passes, a cue or a Play ends);
participants answer, enter, exit; an MPC is created, activated and ended; the ending rules are
judged at each boundary (`_settle_at`: 1000 and 1010); recordings begin, pause, resume and end;
music episodes begin. Every rule of the lifecycle (docs/semantics.md, The call model) is decided
here, once; the API's operations (the modules above this one) only call it.
"""

from __future__ import annotations

import heapq
from typing import Any

from mpcmix.errors import MediaPending
from mpcmix.routing import MpcStatus, Role

from . import archive
from . import events as ev
from .events import Event, callback_value
from .notify import ROLE_IN_CALLBACKS, Notifier
from .records import (
    EXIT_HANGUP,
    EXIT_MPC_ENDED,
    MAX_DURATION_REACHED,
    NO_ACTIVE_PARTICIPANTS,
    STAY_ALONE_NOT_PERMITTED,
    CueRecord,
    EndedMpc,
    EndedParticipant,
    Leg,
    MpcRecord,
    ParticipantRecord,
    PlayRecord,
    RecordingRecord,
)
from .snapshot import DEFAULT_AGENT_HOLD_MUSIC, DEFAULT_CUSTOMER_HOLD_MUSIC, DEFAULT_WAIT_MUSIC
from .state import ANSWER, CUE_END, MAX_DURATION, PENDING_END, RING_TIMEOUT


class Lifecycle(Notifier):
    """The call's own life (see the module docstring)."""

    def _begin(self, now_ms: int) -> None:
        if not isinstance(now_ms, int) or isinstance(now_ms, bool):
            raise TypeError(f"now_ms must be an int, not {now_ms!r}")
        if now_ms < self._now:
            raise ValueError(f"time goes forward only: {now_ms} ms is before {self._now} ms")
        if now_ms % self.frame_ms:
            raise ValueError(f"{now_ms} ms is not on a frame boundary ({self.frame_ms} ms frames)")
        while self._timers and self._timers[0][0] <= now_ms:
            at, _, kind, obj = heapq.heappop(self._timers)
            if self._unsettled_at is not None and self._unsettled_at < at:
                self._settle_at(self._unsettled_at)
            self._now = max(self._now, at)
            self._fire(kind, obj, at)
        if self._unsettled_at is not None and self._unsettled_at < now_ms:
            self._settle_at(self._unsettled_at)
        self._now = now_ms


    def _fire(self, kind: str, obj: Any, t: int) -> None:
        if not self._timer_is_live((t, 0, kind, obj)):
            return
        self._touch_timer(kind, obj)
        if kind == ANSWER:
            p, leg = obj
            self._answer(p, t, leg)
        elif kind == RING_TIMEOUT:
            self._exit(obj, t, EXIT_HANGUP)
        elif kind == MAX_DURATION:
            self._end_mpc(obj, t, *MAX_DURATION_REACHED)
        elif kind == CUE_END:
            mpc, cue = obj
            mpc.cues.remove(cue)
        else:
            self._end_play(obj, t, "completed")
        self._changed(t)

    def _settle_at(self, t: int) -> None:
        # Only the MPCs something touched since the last settle can have changed (an MPC that
        # nothing touched was judged before, as it is now): never a loop over every live MPC.
        self._settles += 1
        if self._touched_all:
            touched = list(self._live.values())
            self._touched_all = False
            self._mix_touched.update(self._live)
            self._record_touched.update(self._live)
        else:
            touched = sorted(self._settle_touched.values(), key=lambda m: m.index)
        self._settle_touched = {}
        for mpc in touched:  # what settling changes (music, recordings, the end) is snapshotted
            self._mix_touched[mpc.uuid] = mpc
            self._record_touched[mpc.uuid] = mpc
        for mpc in touched:
            if not mpc.is_live:
                continue
            present = mpc.present()
            if len(present) >= 2:
                for p in present:
                    p.had_company = True
            if not mpc.alive():
                self._end_mpc(mpc, t, *NO_ACTIVE_PARTICIPANTS)
            elif len(present) == 1 and present[0].had_company and not present[0].stay_alone:
                self._end_mpc(mpc, t, *STAY_ALONE_NOT_PERMITTED)
        pending = sorted((rec for mpc in touched for rec in self._recording_index.get(mpc.uuid, {}).values()
                          if rec.state == "recording" and rec.begun_ms is None),
                         key=lambda rec: rec.seq)  # in the order they started, as ever
        for rec in pending:
            if rec.mpc.is_live and self._recording_may_begin(rec):
                rec.begun_ms = rec.segment_start_ms = t
                self._recording_event(ev.RECORDING_INITIATED, rec, t)
        for mpc in touched:
            if not mpc.is_live:
                continue
            for p in mpc.participants:
                music = self._music_of(p)
                if music != p.music:
                    p.music = music
                    p.music_start_ms = t
        self._unsettled_at = None
        if self._ended:
            self._compact()

    def _dial(self, t: int, number: str, ring_timeout_s: int, delay_s: int) -> Leg:
        line = self._lines.get(number, self._default_line)
        ring_ms = ring_timeout_s * 1000
        delay_ms = delay_s * 1000
        answer_at = None
        if line.answer_after_ms is not None and line.answer_after_ms <= ring_ms:
            answer_at = t + self._frames(delay_ms + max(0, line.answer_after_ms))
        return Leg(number, self._ids.uuid("call"), answer_at,
                   t + self._frames(delay_ms + ring_ms))

    def _register_call(self, p: ParticipantRecord, call_uuid: str) -> None:
        self._calls[call_uuid] = p
        self._all_calls[call_uuid] = p

    def _answer(self, p: ParticipantRecord, t: int, leg: Leg, *, transferred: bool = False) -> None:
        for other in p.legs:
            if other.call_uuid != leg.call_uuid and self._calls.get(other.call_uuid) is p:
                del self._calls[other.call_uuid]
        p.call_uuid = leg.call_uuid
        p.answered_ms = t
        if not transferred:
            self._call_status(p, leg.call_uuid, leg.number, "in-progress", t)
        p.voice, p.voice_duration_ms = p.line_audio[leg.call_uuid]
        if not transferred:
            p.voice_start_ms = t  # a transferred call keeps the answer time of its phone
        self._status_event(ev.ADD_PARTICIPANT_COMPLETED, p, t,
                           {"RequestUUID": p.request_uuid,
                            "AddParticipantAPIRequestOutcome": "success"})
        if p.confirm_key is None:
            self._enter(p, t)

    def _enter(self, p: ParticipantRecord, t: int) -> None:
        mpc = p.mpc
        p.joined_ms = t
        self._status_event(ev.PARTICIPANT_JOIN, p, t,
                           {"ParticipantJoinTime": self._fmt.timestamp(t)})
        if mpc.status is MpcStatus.ACTIVE:
            self._cue(mpc, p.enter_sound, t)
        elif mpc.status is MpcStatus.INITIALIZED and p.start_mpc_on_enter:
            self._activate(mpc, t)
            self._cue(mpc, p.enter_sound, t)  # heard by everyone now in conference

    def _activate(self, mpc: MpcRecord, t: int) -> None:
        mpc.status = MpcStatus.ACTIVE
        mpc.start_ms = t
        self._mpc_event(ev.MPC_START, mpc, t,
                        {"MPCStartTime": self._fmt.timestamp(t)})

    def _exit(self, p: ParticipantRecord, t: int, cause: str) -> None:
        if p.exited_ms is not None:
            return
        mpc = p.mpc
        was_entered = p.is_entered
        answered_ms = p.answered_ms
        was_answered = answered_ms is not None
        p.exited_ms = t
        p.exit_cause = cause
        if answered_ms is not None:
            self._call_status(p, p.call_uuid, p.to, "completed", t,
                              {"Duration": str((t - answered_ms) // 1000), "HangupCause": cause})
        else:
            for leg in p.legs:
                self._call_status(p, leg.call_uuid, leg.number, "no-answer", t,
                                  {"HangupCause": cause})
        for leg in p.legs:
            if self._calls.get(leg.call_uuid) is p:
                del self._calls[leg.call_uuid]
        if not was_answered:
            self._status_event(ev.ADD_PARTICIPANT_COMPLETED, p, t,
                               {"RequestUUID": p.request_uuid,
                                "AddParticipantAPIRequestOutcome": "failure"})
        self._status_event(ev.PARTICIPANT_EXIT, p, t, {
            "ParticipantExitCause": cause,
            "ParticipantJoinTime": self._fmt.timestamp(p.joined_ms),
            "ParticipantExitTime": self._fmt.timestamp(t),
        })
        for rec in list(p.recordings.values()):
            self._finish_recording(rec, t)
        if p.on_exit_action_url and was_answered:
            self._push(Event(t, ev.ON_EXIT_ACTION, p.on_exit_action_url, p.on_exit_action_method,
                             {
                                 "MPCUUID": mpc.uuid,
                                 "MPCFriendlyName": mpc.name,
                                 "MemberID": p.member_id,
                                 "ParticipantCallUUID": p.call_uuid,
                                 "ParticipantJoinTime": callback_value(
                                     self._fmt.timestamp(p.joined_ms)),
                                 "ParticipantEndTime": callback_value(self._fmt.timestamp(t)),
                                 "ParticipantRole": ROLE_IN_CALLBACKS[p.role],
                             }))
        if cause == EXIT_MPC_ENDED or not mpc.is_live:
            return
        if was_entered and mpc.status is MpcStatus.ACTIVE:
            self._cue(mpc, p.exit_sound, t)
        if was_entered and p.end_mpc_on_exit:
            self._end_mpc(mpc, t, *NO_ACTIVE_PARTICIPANTS)

    def _end_mpc(self, mpc: MpcRecord, t: int, cause: str, code: int) -> None:
        if not mpc.is_live:
            return
        for p in list(mpc.participants):
            self._exit(p, t, EXIT_MPC_ENDED)
        if mpc.recording is not None:
            self._finish_recording(mpc.recording, t)
        for play in mpc.plays:
            if play.active:
                self._end_play(play, t, "mpc-ended")
        mpc.cues.clear()
        mpc.status = MpcStatus.ENDED
        mpc.end_ms = t
        mpc.termination_cause = cause
        mpc.termination_cause_code = code
        if self._live_by_name.get(mpc.name) is mpc:
            del self._live_by_name[mpc.name]
        del self._live[mpc.uuid]
        if mpc.uuid in self._recording_index:  # its recordings stay in the snapshot till stopped
            self._orphans.add(mpc.uuid)
        if self._archive is not None:  # a server's: its leaving the live set is saved (live_changes)
            self._record_touched[mpc.uuid] = mpc
        self._ended.append(mpc)
        duration, billed, amount = self._fmt.mpc_billing(mpc)
        self._mpc_event(ev.MPC_END, mpc, t, {
            "MPCEndTime": self._fmt.timestamp(t),
            "MPCDuration": duration,
            "MPCBilledDuration": billed,
            "MPCBilledAmount": amount,
            "MPCTerminationCause": cause,
            "MPCTerminationCauseCode": code,
        })

    def _compact(self) -> None:
        """Swap each MPC that ended for its compact record (after its boundary is settled, so
        nothing about it changes any more), and drop the timers only ended MPCs still held."""
        for mpc in self._ended:
            ended = EndedMpc.pack(mpc, self._fmt.mpc_object(mpc),
                                  [self._fmt.participant_object(p) for p in mpc.participants])
            if self._archive is not None:
                self._archive.append(archive.record(mpc, self._fmt, ended=ended))
            self._mpcs[mpc.index] = ended
            self._by_uuid[mpc.uuid] = ended
            for position, p in enumerate(mpc.participants):
                assert p.exited_ms is not None and p.exit_cause is not None
                q = EndedParticipant(p.member_id, p.label, ended, position, p.call_uuid,
                                     p.exited_ms, p.exit_cause, p.voice_start_ms,
                                     p.voice_duration_ms)
                self._participants[p.member_id] = q
                self._labels[p.label] = q
                for leg in p.legs:
                    if self._all_calls.get(leg.call_uuid) is p:
                        self._all_calls[leg.call_uuid] = q
            # The records point at each other (a participant at its MPC and back, a Play at its
            # MPC and back): cut the cycles, so they are freed now rather than at the cyclic
            # collector's next full pass, which a busy server reaches only every many minutes.
            for p in mpc.participants:
                p.recordings.clear()
            mpc.participants.clear()
            mpc.plays.clear()
            mpc.cues.clear()
            mpc.recording = None
        self._ended.clear()
        # A timer of an ended MPC (its max_duration, a ring timeout...) can never fire again;
        # left in the heap it would keep the MPC's records alive until its time came.
        self._timers = [timer for timer in self._timers if self._timer_is_live(timer)]
        heapq.heapify(self._timers)

    def _cue(self, mpc: MpcRecord, media: str | None, t: int) -> None:
        """An enter/exit (or recording) sound into the MPC, heard as routing's cue rule says."""
        if media is None:
            return
        try:
            duration = self._frames(self._duration(media))
        except MediaPending:  # heard once it is ready, its end set then (`media_ready`)
            self._overlay_seq += 1
            cue = CueRecord(f"cue:{self._overlay_seq}", media, t, PENDING_END)
            mpc.cues.append(cue)
            self._media_waits.setdefault(media, t)
            self._pending_cues.append((media, mpc, cue))
            return
        if duration <= 0:
            return
        self._overlay_seq += 1
        cue = CueRecord(f"cue:{self._overlay_seq}", media, t, t + duration)
        mpc.cues.append(cue)
        self._set_timer(cue.end_ms, CUE_END, (mpc, cue))

    def _end_play(self, play: PlayRecord, t: int, reason: str) -> None:
        play.active = False
        play.end_ms = min(play.end_ms, t)
        if play.kind == "speak":
            self._report(ev.SPEAK_ENDED, play.mpc, t, {
                "MPCUUID": play.mpc.uuid, "MPCName": play.mpc.name,
                "MemberID": ",".join(p.member_id for p in play.targets),
                "SpeakName": play.name, "SpeakEndReason": reason,
            })
            return
        self._report(ev.PLAY_ENDED, play.mpc, t, {
            "MPCUUID": play.mpc.uuid, "MPCName": play.mpc.name,
            "MemberID": ",".join(p.member_id for p in play.targets), "PlayURL": play.url,
            "PlayName": play.name, "PlayEndReason": reason,
        })

    def _music_of(self, p: ParticipantRecord) -> tuple[str, str | None] | None:
        """What music `p` hears now, as (kind, media): confirm sound, hold, wait, or none."""
        if p.answered_ms is None or p.exited_ms is not None or not p.mpc.is_live:
            return None
        mpc = p.mpc
        if p.is_awaiting_confirm:
            return ("confirm", p.confirm_sound)
        if p.hold:
            if p.role is Role.CUSTOMER:
                return ("hold", mpc.customer_hold_music or DEFAULT_CUSTOMER_HOLD_MUSIC)
            return ("hold", mpc.agent_hold_music or DEFAULT_AGENT_HOLD_MUSIC)
        if mpc.status is MpcStatus.INITIALIZED:
            return ("wait", mpc.wait_music or DEFAULT_WAIT_MUSIC)
        return None

    def _new_recording(self, mpc: MpcRecord, member: ParticipantRecord | None, track: str,
                       file_format: str, url: str | None, method: str, t: int,
                       recording_id: str | None = None) -> RecordingRecord:
        rid = recording_id or self._ids.uuid("recording")
        rec = RecordingRecord(
            recording_id=rid, mpc=mpc, member=member, track=track, file_format=file_format,
            callback_url=url, callback_method=method, started_ms=t,
            url=f"{self._recording_url_base}{rid}.{file_format}",
        )
        self._recording_seq += 1
        rec.seq = self._recording_seq
        self._recordings[rec.seq] = rec
        self._recording_index.setdefault(mpc.uuid, {})[rec.seq] = rec
        if member is None:
            mpc.recording = rec
        else:
            member.recordings[track] = rec
        return rec

    def _recording_may_begin(self, rec: RecordingRecord) -> bool:
        if rec.member is not None:
            return rec.member.is_entered
        mpc = rec.mpc
        if mpc.status is not MpcStatus.ACTIVE:
            return False
        in_conference = sum(1 for p in mpc.participants if p.is_entered and not p.hold)
        return in_conference >= mpc.record_min_member_count

    def _pause(self, rec: RecordingRecord, t: int) -> None:
        if rec.is_capturing and rec.segment_start_ms is not None:
            rec.captured_ms += t - rec.segment_start_ms
        rec.segment_start_ms = None
        rec.state = "paused"
        self._recording_event(ev.RECORDING_PAUSED, rec, t)

    def _resume(self, rec: RecordingRecord, t: int) -> None:
        rec.state = "recording"
        if rec.begun_ms is not None:
            rec.segment_start_ms = t
        self._recording_event(ev.RECORDING_RESUMED, rec, t)

    def _finish_recording(self, rec: RecordingRecord, t: int) -> None:
        if rec.state == "stopped":
            return
        if rec.is_capturing and rec.segment_start_ms is not None:
            rec.captured_ms += t - rec.segment_start_ms
        rec.segment_start_ms = None
        rec.state = "stopped"
        rec.end_ms = t
        del self._recordings[rec.seq]  # only recordings not stopped are kept there
        of = self._recording_index[rec.mpc.uuid]
        del of[rec.seq]
        if not of:
            del self._recording_index[rec.mpc.uuid]
        if rec.member is None:
            if rec.mpc.recording is rec:
                rec.mpc.recording = None
        elif rec.member.recordings.get(rec.track) is rec:
            del rec.member.recordings[rec.track]
        # A recording whose start condition was never met has no file: it failed.
        name = ev.RECORDING_COMPLETED if rec.begun_ms is not None else ev.RECORDING_FAILED
        self._recording_event(name, rec, t)
