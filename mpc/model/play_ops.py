"""The API's Play operations: a file mixed into some members' outputs only.

Who hears a Play is routing's rule (its targets, on top of what they hear in conference); when it
ends is the lifecycle's (its length, a stop, or the MPC's end). Here: starting and stopping one,
with the member form (an id, a list or ``all``) that must match between start and stop.
"""

from __future__ import annotations

from typing import Any

from mpcmix.errors import MediaError, MediaPending, NotFoundError, ValidationError

from . import events as ev
from .lifecycle import Lifecycle
from .params import parse
from .records import PlayRecord
from .state import PENDING_END, PLAY_END, form_text


class PlayOperations(Lifecycle):
    """Start and stop Plays."""

    def start_play_audio(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                         uuid: str | None = None, **params: Any) -> dict[str, Any]:
        """Play a file to one member, a comma list or ``all`` until it ends or is stopped.

        Takes ``urls`` (the API text) or ``url`` (the SDK). The API answers 202 with this body.
        A medium that cannot be played raises `MediaError` in strict mode; otherwise the request
        is accepted, an `MPCPlayFailed` event reported, and the members hear nothing.
        """
        self._begin(now_ms)
        mpc = self._find_live(friendly_name, uuid)
        args = parse("start_play_audio", params)
        ref = _play_url(args["url"], args["urls"])
        form, members = self._members(mpc, member_id, "start_play_audio")
        failure: str | None = None
        duration: int | None = 0
        try:
            duration = self._duration(ref)
        except MediaPending:  # being prepared: it starts once ready (`media_ready`)
            duration = None
        except MediaError as exc:
            if self.strict_media:
                raise MediaError(f"Play {ref!r}: {exc.message}") from None
            failure = exc.message
        ids = [p.member_id for p in members]
        base = {"MPCUUID": mpc.uuid, "MPCName": mpc.name, "MemberID": ",".join(ids),
                "PlayURL": ref}
        if failure is not None:
            self._report(ev.PLAY_FAILED, mpc, now_ms, {**base, "Error": failure})
        else:
            self._overlay_seq += 1
            play = PlayRecord(name=f"play:{self._overlay_seq}", mpc=mpc, form=form,
                              targets=tuple(members), url=ref, start_ms=now_ms,
                              end_ms=PENDING_END if duration is None
                              else now_ms + self._frames(duration))
            mpc.plays.append(play)
            if duration is None:
                self._media_waits.setdefault(ref, now_ms)
                self._pending_plays.append((ref, play))
            else:
                self._set_timer(play.end_ms, PLAY_END, play)
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
        mpc = self._find_live(friendly_name, uuid)
        form, members = self._members(mpc, member_id, "stop_play_audio", live_only=False)
        running = [pl for pl in mpc.plays if pl.active and pl.form == form]
        for play in running:
            self._end_play(play, now_ms, "stopped")
        if running:
            self._changed(now_ms)
            return
        if any(pl.form == form for pl in mpc.plays):
            return  # it ended by itself already
        targets = {p.member_id for p in members}
        others = [pl for pl in mpc.plays if pl.active
                  and (form == "all" or pl.form == "all"
                       or targets & {t.member_id for t in pl.targets})]
        if others:
            started = form_text(others[0].form)
            raise ValidationError(f"stop a Play with the member form that started it: it was "
                                  f"started with member {started!r}, not {str(member_id)!r}")
        raise NotFoundError(f"no Play was started with member {str(member_id)!r} in MPC "
                            f"{mpc.name!r}")


def _play_url(url: str | None, urls: str | None) -> str:
    """Play's medium: `urls` (the API text) or `url` (the SDK); the two must agree."""
    refs = [v for v in (url, urls) if v is not None]
    if len(set(refs)) > 1:
        raise ValidationError(f"url {refs[0]!r} and urls {refs[1]!r} differ; give one of them")
    return refs[0]
