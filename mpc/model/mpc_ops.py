"""The API's operations on an MPC and its participants (get, list, start, end, update, kick).

Each parses its parameters with the table (mpcmix.model.params), finds the MPC and members, and
calls the lifecycle for what changes; none decides a rule of its own beyond the operation's own
refusals (coach_mode only for supervisors, not with ``all``; a role is fixed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mpcmix.errors import NotFoundError, ValidationError
from mpcmix.routing import MpcStatus

from . import events as ev
from .lifecycle import Lifecycle
from .params import parse
from .records import EXIT_KICKED, HANGUP_API_TRIGGERED, EndedMpc, EndedParticipant, MpcRecord
from .state import who
from .values import is_given, unwrap

#: The API's default search window of `list` on end_time, and its window from a one-sided bound.
DEFAULT_LIST_WINDOW = timedelta(days=7)
ONE_SIDED_LIST_WINDOW = timedelta(days=30)


def list_page(objects: Objects, limit: int, offset: int, uri: Callable[[int, int], str],
              api_id: str) -> dict[str, Any]:
    """The page `list` answers with, ``{api_id, meta, objects}``, of every MPC it selects
    (`objects`, newest first); `uri(limit, offset)` names another page (`Serializer.list_uri`).
    The model's `list_page`, and the front of a sharded server, which merges its shards' MPCs."""
    count = len(objects)
    meta = {
        "count": count,
        "limit": limit,
        "next": uri(limit, offset + limit) if offset + limit < count else None,
        "offset": offset,
        "previous": uri(limit, max(0, offset - limit)) if offset > 0 else None,
    }
    return {"api_id": api_id, "meta": meta, "objects": objects[offset:offset + limit]}


#: (creation ms, MPC object) of each MPC a list selects; a test of one MPC. (Named here: in the
#: class, `list` is the operation.)
Matches = list[tuple[int, dict[str, Any]]]
Objects = list[dict[str, Any]]
Tests = list[Callable[[MpcRecord | EndedMpc], bool]]


class MpcOperations(Lifecycle):
    """Get, List, Start and End an MPC; Get, List, Update and Kick its participants."""

    def get(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
            **params: Any) -> dict[str, Any]:
        """Get MPC: every attribute of the MPC object, plus api_id."""
        self._begin(now_ms)
        parse("get", params)
        mpc = self._find(friendly_name, uuid)
        return {"api_id": self._ids.uuid("api"), **self._mpc_object(mpc)}

    def list(self, now_ms: int, **filters: Any) -> dict[str, Any]:
        """List MPCs, newest first: friendly_name, status, termination_cause_code, sub_account,
        end_time[__gt/gte/lt/lte], creation_time[__gt/gte/lt/lte], limit (1..20, default 20),
        offset (default 0). ``meta.next``/``meta.previous`` are page URIs or null. Without an
        end_time filter, MPCs that ended more than seven days ago are left out (the API's
        default window); with a bound on one side only, the window is 30 days from it."""
        self._begin(now_ms)
        args = parse("list", filters)
        found = self.list_matches(now_ms, **filters)
        return self.list_page([obj for _, obj in found], args["limit"], args["offset"])

    def list_matches(self, now_ms: int, **filters: Any) -> Matches:
        """Every MPC the filters of `list` select, newest first, as (creation time in ms, MPC
        object): the server merges a main account's with its subaccounts' before paging."""
        self._begin(now_ms)
        args = parse("list", filters)
        tests = self._list_tests(args, now_ms)
        matched = [m for m in reversed(self._mpcs) if all(test(m) for test in tests)]
        return [(m.created_ms, self._mpc_object(m)) for m in matched]

    def list_page(self, objects: Objects, limit: int, offset: int) -> dict[str, Any]:
        """The page of `objects` `list` answers with: ``{api_id, meta, objects}``."""
        return list_page(objects, limit, offset, self._fmt.list_uri, self._ids.uuid("api"))

    def _list_tests(self, args: dict[str, Any], now_ms: int) -> Tests:
        tests: Tests = []
        name = args["friendly_name"]
        if name is not None:
            tests.append(lambda m: m.name == name)
        wanted = args["status"]
        if wanted is not None:
            tests.append(lambda m: m.status.value.lower() == wanted)
        wanted_code = args["termination_cause_code"]
        if wanted_code is not None:
            tests.append(lambda m: m.termination_cause_code == wanted_code)
        if args["sub_account"] is not None:
            tests.append(lambda m: False)  # the server answers for subaccounts (their own MPCs)
        bounds: dict[str, dict[str, datetime]] = {"end_time": {}, "creation_time": {}}
        for field in bounds:
            for op in ("", "__gt", "__gte", "__lt", "__lte"):
                bound = args[f"{field}{op}"]
                if bound is not None:
                    # List filters are UTC timestamps (the API's list page).
                    bounds[field][op] = bound.replace(tzinfo=UTC)
        for field, given in bounds.items():
            for op, bound in given.items():
                tests.append(self._time_test(field, op, bound))
        tests.extend(self._default_window(bounds["end_time"], now_ms))
        return tests

    def _default_window(self, given: dict[str, datetime], now_ms: int) -> Tests:
        """The API's default search window on end_time: the last 7 days when no end_time filter
        is given (MPCs still live have no end_time and are always in it), 30 days from a bound
        given on one side only (docs/semantics.md, Lists)."""
        if "" in given:
            return []
        lower = given.get("__gt") or given.get("__gte")
        upper = given.get("__lt") or given.get("__lte")
        if lower is None and upper is None:
            # On the timeline (whole seconds, as the timestamps read): an epoch near the ends
            # of `datetime` leaves no room for the window as a date.
            since_s = now_ms // 1000 - int(DEFAULT_LIST_WINDOW.total_seconds())
            return [lambda m: m.end_ms is None or m.end_ms // 1000 >= since_s]
        try:
            if lower is not None and upper is None:
                return [self._time_test("end_time", "__lte", lower + ONE_SIDED_LIST_WINDOW)]
            if upper is not None and lower is None:
                return [self._time_test("end_time", "__gte", upper - ONE_SIDED_LIST_WINDOW)]
        except OverflowError:  # a bound within 30 days of year 1 or 9999: nothing is beyond it
            pass
        return []

    def start(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
              status: Any = "active", **params: Any) -> None:
        """Activate an Initialized MPC (``status=active``, any case, or ``["active"]`` as the SDK
        sends it); the API answers 204. No enter sound plays. An MPC in any other state is 404,
        as the API documents.

        The API requires `status` (the server passes what the request gave); a Python caller
        (a scenario's ``op: start``) may leave it at its default here."""
        self._begin(now_ms)
        mpc = self._find_live(friendly_name, uuid)
        if not is_given(status):
            raise ValidationError("status is required: set it to active to start the MPC")
        parse("start", {**params, "status": status})
        if mpc.status is MpcStatus.ACTIVE:
            # The API: "Returns 404 Not Found if the MPC is not found for the given name or
            # UUID in the initiated state."
            raise NotFoundError(
                f"MPC {mpc.name!r} is not in the Initialized state (it is Active since "
                f"{self._fmt.timestamp(mpc.start_ms)}); only an Initialized MPC can be started")
        self._activate(mpc, now_ms)
        self._changed(now_ms)

    def end(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
            **params: Any) -> None:
        """End the MPC now (Hangup API Triggered, 3000); the API answers 204."""
        self._begin(now_ms)
        parse("end", params)
        mpc = self._find_live(friendly_name, uuid)
        self._end_mpc(mpc, now_ms, *HANGUP_API_TRIGGERED)
        self._changed(now_ms)

    def stop(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
             **params: Any) -> None:
        """The SDK's name for `end`."""
        self.end(now_ms, friendly_name=friendly_name, uuid=uuid, **params)

    def get_participant(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                        uuid: str | None = None, **params: Any) -> dict[str, Any]:
        """Get Participant: every attribute of the participant object, plus api_id."""
        self._begin(now_ms)
        parse("get_participant", params)
        mpc = self._find(friendly_name, uuid)
        if isinstance(mpc, EndedMpc):
            return {"api_id": self._ids.uuid("api"), **self._ended_participant(mpc, member_id)}
        _, (p,) = self._members(mpc, member_id, "get_participant", live_only=False)
        return {"api_id": self._ids.uuid("api"), **self._fmt.participant_object(p)}

    def list_participants(self, now_ms: int, *, friendly_name: str | None = None,
                          uuid: str | None = None, **params: Any) -> dict[str, Any]:
        """List the MPC's participants (exited ones included, in the order added), optionally
        those of one call_uuid; ``meta`` is ``{count, limit, next, offset, previous}``."""
        self._begin(now_ms)
        args = parse("list_participants", params)
        mpc = self._find(friendly_name, uuid)
        limit, offset, call_uuid = args["limit"], args["offset"], args["call_uuid"]
        if isinstance(mpc, EndedMpc):
            mpc_object, objects = mpc.objects()
        else:
            mpc_object = self._fmt.mpc_object(mpc)
            objects = [self._fmt.participant_object(p) for p in mpc.participants]
        matched = [o for o in objects
                   if not is_given(call_uuid) or o["call_uuid"] == str(call_uuid)]
        count = len(matched)
        uri = mpc_object["participants"]
        meta = {
            "count": count,
            "limit": limit,
            "next": (self._fmt.participants_page_uri(uri, limit, offset + limit)
                     if offset + limit < count else None),
            "offset": offset,
            "previous": (self._fmt.participants_page_uri(uri, limit, max(0, offset - limit))
                         if offset > 0 else None),
        }
        return {"api_id": self._ids.uuid("api"), "meta": meta,
                "objects": matched[offset:offset + limit]}

    def update_participant(self, now_ms: int, member_id: str, *,
                           friendly_name: str | None = None, uuid: str | None = None,
                           **params: Any) -> dict[str, Any]:
        """Mute/unmute, hold/unhold, or set coach_mode for one member, a comma list or ``all``.

        coach_mode applies to supervisors only and not with ``all`` (400). The response names
        each setting given, as the API's does, with the recorded bodies' texts (their
        "succeded" included; docs/conformance.md).
        """
        self._begin(now_ms)
        t = now_ms
        if is_given(params.get("role")):
            raise ValidationError("role cannot be changed once set (update_participant takes "
                                  "mute, hold and coach_mode)")
        args = parse("update_participant", params)
        mpc = self._find_live(friendly_name, uuid)
        new_mute, new_hold, new_coach = args["mute"], args["hold"], args["coach_mode"]
        if new_mute is None and new_hold is None and new_coach is None:
            raise ValidationError("update_participant needs at least one of mute, hold or "
                                  "coach_mode")
        form, members = self._members(mpc, member_id, "update_participant")
        if new_coach is not None:
            if form == "all":
                raise ValidationError("coach_mode can only be updated for individual "
                                      "participants, not with member 'all'")
            for p in members:
                if not p.is_supervisor:
                    raise ValidationError(f"coach_mode applies only to supervisors (member "
                                          f"{who(p)} is a {p.role.value})")
        for p in members:
            if new_mute is not None and p.mute != new_mute:
                p.mute = new_mute
                self._status_event(ev.PARTICIPANT_MUTE if new_mute else ev.PARTICIPANT_UNMUTE,
                                   p, t)
            if new_hold is not None and p.hold != new_hold:
                p.hold = new_hold
                self._status_event(ev.PARTICIPANT_HOLD if new_hold else ev.PARTICIPANT_UNHOLD,
                                   p, t)
            if new_coach is not None and p.coach_mode != new_coach:
                p.coach_mode = new_coach
                self._status_event(ev.PARTICIPANT_COACH_MODE_START if new_coach
                                   else ev.PARTICIPANT_COACH_MODE_STOP, p, t)
        self._changed(t)
        response: dict[str, Any] = {"api_id": self._ids.uuid("api")}
        if new_mute is not None:
            response["mute"] = f"MPC: {mpc.name} mute/unmute member(s) succeded"
        if new_hold is not None:
            response["hold"] = f"MPC: {mpc.name} hold/unhold member(s) succeded"
        if new_coach is not None:
            response["coach_mode"] = f"MPC: {mpc.name} coach_mode enable/disable succeeded"
        return response

    def kick_participant(self, now_ms: int, member_id: str, *,
                         friendly_name: str | None = None, uuid: str | None = None,
                         **params: Any) -> None:
        """Kick one member, a comma list or ``all`` (Kicked Out of Multiparty Call); 204."""
        self._begin(now_ms)
        parse("kick_participant", params)
        mpc = self._find_live(friendly_name, uuid)
        _, members = self._members(mpc, member_id, "kick_participant")
        for p in members:
            self._exit(p, now_ms, EXIT_KICKED)
        self._changed(now_ms)


    def _mpc_object(self, mpc: MpcRecord | EndedMpc) -> dict[str, Any]:
        if isinstance(mpc, EndedMpc):
            return mpc.objects()[0]
        return self._fmt.mpc_object(mpc)

    def _ended_participant(self, mpc: EndedMpc, member_id: Any) -> dict[str, Any]:
        """Get Participant of one member (by member_id or label) of an ended MPC."""
        text = "" if member_id is None else str(unwrap("member_id", member_id)).strip()
        if not text:
            raise ValidationError("member_id is required: a member id, a comma-separated list "
                                  "or all")
        if text.lower() == "all":
            raise ValidationError("member 'all' is not allowed here: name one member")
        if "," in text:
            raise ValidationError(f"name one member here, not a list ({text!r})")
        p = self._participants.get(text) or self._labels.get(text)
        if p is None or p.mpc is not mpc:
            raise NotFoundError(f"member {text!r} is not a participant of MPC {mpc.name!r}")
        assert isinstance(p, EndedParticipant)
        return mpc.objects()[1][p.position]

    def _time_test(self, field: str, op: str, bound: datetime
                   ) -> Callable[[MpcRecord | EndedMpc], bool]:
        def test(m: MpcRecord | EndedMpc) -> bool:
            ms = m.end_ms if field == "end_time" else m.created_ms
            if ms is None:
                return False
            moment = self._fmt.moment(ms)
            return {"": moment == bound, "__gt": moment > bound, "__gte": moment >= bound,
                    "__lt": moment < bound, "__lte": moment <= bound}[op]
        return test
