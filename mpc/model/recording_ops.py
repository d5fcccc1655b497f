"""The API's recording operations: the MPC's recording, and participant recordings.

When a file begins, pauses, resumes and ends is the lifecycle's (a recording begins once its
condition is met, a participant's once it has joined); these operations start, pause, resume and
stop them, refusing what the recording's state does not allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpcmix.errors import ValidationError

from .lifecycle import Lifecycle
from .params import parse
from .records import MpcRecord, RecordingRecord
from .serialize import recording_status
from .state import who

#: record_track_type -> the tracks it records.
RECORD_TRACK_TYPES = {"participant": ("participant",), "all": ("all",),
                      "both": ("participant", "all")}


class RecordingOperations(Lifecycle):
    """Start, stop, pause and resume the MPC's recording and participant recordings."""

    def start_recording(self, now_ms: int, *, friendly_name: str | None = None,
                        uuid: str | None = None, **params: Any) -> dict[str, Any]:
        """Start the MPC's recording (mp3 or wav). Its file begins once record_min_member_count
        participants are in conference; refused (400) while a recording runs or is paused."""
        self._begin(now_ms)
        args = parse("start_recording", params)
        mpc = self._find_live(friendly_name, uuid)
        url, method = _callback_of(mpc, args)
        if mpc.recording is not None:
            raise ValidationError(f"MPC {mpc.name!r} is already being recorded (recording: "
                                  f"{recording_status(mpc)}); stop that recording first")
        rec = self._new_recording(mpc, None, "conference", args["file_format"], url, method,
                                  now_ms)
        self._cue(mpc, mpc.start_recording_audio, now_ms)
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"), "message": f"MPC: {mpc.name} record started",
                "recording_id": rec.recording_id, "recording_url": rec.url}

    def stop_recording(self, now_ms: int, *, friendly_name: str | None = None,
                       uuid: str | None = None, **params: Any) -> None:
        """Stop the MPC's recording (running or paused); 204. 400 when nothing is recording."""
        self._begin(now_ms)
        parse("stop_recording", params)
        mpc = self._find_live(friendly_name, uuid)
        if mpc.recording is None:
            raise ValidationError(f"MPC {mpc.name!r} is not being recorded (recording: "
                                  "not-recording)")
        self._finish_recording(mpc.recording, now_ms)
        self._cue(mpc, mpc.stop_recording_audio, now_ms)
        self._changed(now_ms)

    def pause_recording(self, now_ms: int, *, friendly_name: str | None = None,
                        uuid: str | None = None, **params: Any) -> None:
        """Pause the MPC's recording (the paused span is left out of the file); 204."""
        self._begin(now_ms)
        parse("pause_recording", params)
        mpc = self._find_live(friendly_name, uuid)
        if mpc.recording is None or mpc.recording.state != "recording":
            raise ValidationError(f"MPC {mpc.name!r} has no running recording to pause "
                                  f"(recording: {recording_status(mpc)})")
        self._pause(mpc.recording, now_ms)
        self._changed(now_ms)

    def resume_recording(self, now_ms: int, *, friendly_name: str | None = None,
                         uuid: str | None = None, **params: Any) -> None:
        """Resume the MPC's paused recording; 204."""
        self._begin(now_ms)
        parse("resume_recording", params)
        mpc = self._find_live(friendly_name, uuid)
        if mpc.recording is None or mpc.recording.state != "paused":
            raise ValidationError(f"MPC {mpc.name!r} has no paused recording to resume "
                                  f"(recording: {recording_status(mpc)})")
        self._resume(mpc.recording, now_ms)
        self._changed(now_ms)

    def start_participant_recording(self, now_ms: int, member_id: str, *,
                                    friendly_name: str | None = None, uuid: str | None = None,
                                    **params: Any) -> dict[str, Any]:
        """Record one participant: track ``participant`` (mono, its voice), ``all`` (two
        channels: its voice, what it hears) or ``both`` (two files, one recording_id)."""
        self._begin(now_ms)
        mpc = self._find_live(friendly_name, uuid)
        _, (p,) = self._members(mpc, member_id, "start_participant_recording")
        args = parse("start_participant_recording", params)
        tracks = RECORD_TRACK_TYPES[args["record_track_type"]]
        fmt = args["file_format"]
        url, method = _callback_of(mpc, args)
        for track in tracks:
            if track in p.recordings:
                raise ValidationError(f"member {who(p)} is already being recorded "
                                      f"(record_track_type {track}); stop that recording first")
        recording_id = self._ids.uuid("recording")
        first: RecordingRecord | None = None
        for track in tracks:
            rec = self._new_recording(mpc, p, track, fmt, url, method, now_ms, recording_id)
            first = first or rec
        assert first is not None
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"),
                "message": f"MPC: {mpc.name} participant record started",
                "recording_id": recording_id, "recording_url": first.url}

    def stop_participant_recording(self, now_ms: int, member_id: str, *,
                                   friendly_name: str | None = None, uuid: str | None = None,
                                   **params: Any) -> None:
        """Stop a participant's recording of the given track type; 204."""
        self._participant_recording_op(now_ms, member_id, friendly_name, uuid, params, "stop")

    def pause_participant_recording(self, now_ms: int, member_id: str, *,
                                    friendly_name: str | None = None, uuid: str | None = None,
                                    **params: Any) -> None:
        """Pause a participant's recording of the given track type; 204."""
        self._participant_recording_op(now_ms, member_id, friendly_name, uuid, params, "pause")

    def resume_participant_recording(self, now_ms: int, member_id: str, *,
                                     friendly_name: str | None = None, uuid: str | None = None,
                                     **params: Any) -> None:
        """Resume a participant's paused recording of the given track type; 204."""
        self._participant_recording_op(now_ms, member_id, friendly_name, uuid, params, "resume")

    def _participant_recording_op(self, now_ms: int, member_id: str, friendly_name: str | None,
                                  uuid: str | None, params: dict[str, Any], op: str) -> None:
        self._begin(now_ms)
        mpc = self._find_live(friendly_name, uuid)
        _, (p,) = self._members(mpc, member_id, f"{op}_participant_recording")
        args = parse(f"{op}_participant_recording", params)
        tracks = RECORD_TRACK_TYPES[args["record_track_type"]]
        wanted = {"stop": ("recording", "paused"), "pause": ("recording",),
                  "resume": ("paused",)}[op]
        recs = []
        for track in tracks:
            rec = p.recordings.get(track)
            if rec is None or rec.state not in wanted:
                state = "not recording" if rec is None else rec.state
                raise ValidationError(f"member {who(p)} has no recording of record_track_type "
                                      f"{track} to {op} ({state})")
            recs.append(rec)
        for rec in recs:
            if op == "stop":
                self._finish_recording(rec, now_ms)
            elif op == "pause":
                self._pause(rec, now_ms)
            else:
                self._resume(rec, now_ms)
        self._changed(now_ms)


def _callback_of(mpc: MpcRecord, args: Mapping[str, Any]) -> tuple[str | None, str]:
    """Where a recording's events go: the request's recording_callback_url (and method), else
    the MPC's (from the add that created it)."""
    if args["recording_callback_url"] is not None:
        return args["recording_callback_url"], args["recording_callback_method"]
    return mpc.recording_callback_url, mpc.recording_callback_method
