"""The API's Play and Speak operations: a file, or text spoken, mixed into some members' outputs.

Who hears a Play is routing's rule (its targets, on top of what they hear in conference); when it
ends is the lifecycle's (its length, a stop, or the MPC's end). Here: starting and stopping one,
with the member form (an id, a list or ``all``) that must match between start and stop. A Speak
is a Play of the text as the media layer speaks it (`speak_ref`): the same rules, its own stop.
"""

from __future__ import annotations

from typing import Any

from mpcmix.errors import MediaError, MediaPending, NotFoundError, ValidationError

from . import events as ev
from .lifecycle import Lifecycle
from .params import parse
from .records import MpcRecord, ParticipantRecord, PlayRecord
from .state import PENDING_END, PLAY_END, MemberForm, form_text

#: How a Speak's text is named as a medium: ``speak:<voice>:<language>:<text>``
#: (mpcmix.media renders it with its text-to-speech engine).
SPEAK_PREFIX = "speak:"


def speak_ref(text: str, voice: str, language: str) -> str:
    """The medium a Speak plays: its text, voice and language in one reference."""
    return f"{SPEAK_PREFIX}{voice}:{language}:{text}"


class PlayOperations(Lifecycle):
    """Start and stop Plays and Speaks."""

    def start_play_audio(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                         uuid: str | None = None, **params: Any) -> dict[str, Any]:
        """Play a file to one member, a comma list or ``all`` until it ends or is stopped.

        Takes ``urls`` (the API text) or ``url`` (the SDK). The API answers 202 with this body.
        A medium that cannot be played raises `MediaError` in strict mode; otherwise the request
        is accepted, an `MPCPlayFailed` event reported, and the members hear nothing (a stop
        then answers as for a Play that has ended).
        """
        self._begin(now_ms)
        mpc = self._find_live(friendly_name, uuid)
        args = parse("start_play_audio", params)
        ref = _play_url(args["url"], args["urls"])
        form, members = self._members(mpc, member_id, "start_play_audio")
        ids = [p.member_id for p in members]
        base = {"MPCUUID": mpc.uuid, "MPCName": mpc.name, "MemberID": ",".join(ids),
                "PlayURL": ref}
        try:
            duration = self._duration(ref)
        except MediaPending:  # being prepared: it starts once ready (`media_ready`)
            self._queue_play(mpc, form, members, ref, now_ms, None, "play")
        except MediaError as exc:
            if self.strict_media:
                raise MediaError(f"Play {ref!r}: {exc.message}") from None
            self._report(ev.PLAY_FAILED, mpc, now_ms, {**base, "Error": exc.message})
            self._queue_play(mpc, form, members, ref, now_ms, 0, "play", active=False)
        else:
            play = self._queue_play(mpc, form, members, ref, now_ms, duration, "play")
            self._report(ev.PLAY_STARTED, mpc, now_ms, {**base, "PlayName": play.name})
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"), "message": "play queued into MPC",
                "mpcMemberId": ids, "mpcName": mpc.name}

    def stop_play_audio(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                        uuid: str | None = None, **params: Any) -> None:
        """Stop the Plays started with the same member form (an id, a list, or ``all``); 204.

        Stopping with another form than the one that started a running Play is refused (400);
        naming members no Play was started for is 404; a Play that already ended is no error.
        """
        self._begin(now_ms)
        parse("stop_play_audio", params)
        self._stop_kind(now_ms, member_id, friendly_name, uuid, "play", "stop_play_audio")

    def start_speak(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                    uuid: str | None = None, **params: Any) -> dict[str, Any]:
        """Speak `text` (voice WOMAN or MAN, a language such as en-US) to one member, a comma
        list or ``all``, as a Play of the spoken text; the API answers 202 with this body.

        Where no text-to-speech engine is installed the members hear silence of the text's
        estimated length and an `MPCSpeakSilent` event says so.
        """
        self._begin(now_ms)
        mpc = self._find_live(friendly_name, uuid)
        args = parse("start_speak", params)
        form, members = self._members(mpc, member_id, "start_speak")
        ref = speak_ref(args["text"], args["voice"], args["language"])
        try:
            duration: int | None = self._duration(ref)
        except MediaPending:  # the server speaks it off this path: heard once spoken
            duration = None
        play = self._queue_play(mpc, form, members, ref, now_ms, duration, "speak")
        ids = [p.member_id for p in members]
        base = {"MPCUUID": mpc.uuid, "MPCName": mpc.name, "MemberID": ",".join(ids),
                "SpeakName": play.name, "Text": args["text"], "Voice": args["voice"],
                "Language": args["language"]}
        self._report(ev.SPEAK_STARTED, mpc, now_ms, base)
        warning = self._speech_warning()
        if warning is not None:
            self._report(ev.SPEAK_SILENT, mpc, now_ms, {**base, "Warning": warning})
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"), "message": "speak queued into MPC",
                "mpcMemberId": ids, "mpcName": mpc.name}

    def stop_speak(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                   uuid: str | None = None, **params: Any) -> None:
        """Stop the Speaks started with the same member form; 204 (rules as `stop_play_audio`)."""
        self._begin(now_ms)
        parse("stop_speak", params)
        self._stop_kind(now_ms, member_id, friendly_name, uuid, "speak", "stop_speak")

    def _speech_warning(self) -> str | None:
        """Why speech is rendered as silence (no engine), or None when it is spoken."""
        engine = getattr(self._media, "speech_engine", None)
        if engine is not None and engine() is not None:
            return None
        return ("no text-to-speech engine (espeak-ng) is installed: the members hear silence of "
                "the text's estimated length")

    def _queue_play(self, mpc: MpcRecord, form: MemberForm, members: list[ParticipantRecord],
                    ref: str, now_ms: int, duration_ms: int | None, kind: str, *,
                    active: bool = True) -> PlayRecord:
        """A Play (or Speak) of `ref` from `now_ms`; `duration_ms` None: its medium is being
        prepared, its end set when it is ready (`waiting.media_ready`)."""
        self._overlay_seq += 1
        play = PlayRecord(name=f"{kind}:{self._overlay_seq}", mpc=mpc, form=form,
                          targets=tuple(members), url=ref, start_ms=now_ms,
                          end_ms=PENDING_END if duration_ms is None
                          else now_ms + self._frames(duration_ms), active=active, kind=kind)
        mpc.plays.append(play)
        if duration_ms is None:
            self._media_waits.setdefault(ref, now_ms)
            self._pending_plays.append((ref, play))
        elif active:
            self._set_timer(play.end_ms, PLAY_END, play)
        return play

    def _stop_kind(self, now_ms: int, member_id: str, friendly_name: str | None,
                   uuid: str | None, kind: str, op: str) -> None:
        mpc = self._find_live(friendly_name, uuid)
        form, members = self._members(mpc, member_id, op, live_only=False)
        mine = [pl for pl in mpc.plays if pl.kind == kind]
        running = [pl for pl in mine if pl.active and pl.form == form]
        for play in running:
            self._end_play(play, now_ms, "stopped")
        if running:
            self._changed(now_ms)
            return
        if any(pl.form == form for pl in mine):
            return  # it ended by itself already (or its medium never loaded)
        targets = {p.member_id for p in members}
        others = [pl for pl in mine if pl.active
                  and (form == "all" or pl.form == "all"
                       or targets & {t.member_id for t in pl.targets})]
        what = "Play" if kind == "play" else "Speak"
        if others:
            started = form_text(others[0].form)
            raise ValidationError(f"stop a {what} with the member form that started it: it was "
                                  f"started with member {started!r}, not {str(member_id)!r}")
        raise NotFoundError(f"no {what} was started with member {str(member_id)!r} in MPC "
                            f"{mpc.name!r}")


def _play_url(url: str | None, urls: str | None) -> str:
    """Play's medium: `urls` (the API text) or `url` (the SDK); the two must agree."""
    refs = [v for v in (url, urls) if v is not None]
    if len(set(refs)) > 1:
        raise ValidationError(f"url {refs[0]!r} and urls {refs[1]!r} differ; give one of them")
    return refs[0]
