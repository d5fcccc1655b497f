"""The call model's MPCs as records a server keeps across restarts: pure data, no files.

A record is one MPC as a JSON-ready dict: what Get and List answer (its API object and its
participants' objects, serialised once) and what finds it and its participants again (uuid,
name, member ids, labels, every call leg's uuid), with its times in the timeline of the run that
wrote it (`epoch`, the wall time of that run's 0 ms). The model gives them out
(`CallModel.drain_archive` for MPCs that ended, `CallModel.live_changes` for those that have
not, as they change) and takes them back (`CallModel.restore`) in a new run; the server's runtime does the I/O.

An MPC that was live when its run stopped (a crash, or a shutdown in mid-call) cannot go on: a
new run ends it (`interrupted`) at the last moment its run wrote, with `INTERRUPTED`
(``"Unknown"``, code 0: the pair real captures show for causes outside the API's table), every
participant still in it exiting with "Multiparty Call Ended" then, as when an MPC ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .records import EXIT_MPC_ENDED, EndedMpc, MpcRecord, ParticipantRecord
from .serialize import ENDED_RECORDING, Serializer, billed_duration, whole_seconds

#: The record layout's version (a record of another version is not read).
VERSION = 1
#: Termination cause and code of an MPC its run stopped before it ended.
INTERRUPTED = ("Unknown", 0)


def _member(p: ParticipantRecord) -> dict[str, Any]:
    return {
        "member_id": p.member_id,
        "label": p.label,
        "call_uuid": p.call_uuid,
        "calls": [leg.call_uuid for leg in p.legs],
        "joined_ms": p.joined_ms,
        "exited_ms": p.exited_ms,
        "exit_cause": p.exit_cause,
        "voice_start_ms": p.voice_start_ms,
        "voice_duration_ms": p.voice_duration_ms,
    }


def record(mpc: MpcRecord, fmt: Serializer, *, ended: EndedMpc | None = None) -> dict[str, Any]:
    """The record of `mpc` (its compact form `ended` once it has ended: its objects as Get
    answered them, from then on)."""
    if ended is not None:
        mpc_object, participants = ended.objects()
    else:
        mpc_object = fmt.mpc_object(mpc)
        participants = [fmt.participant_object(p) for p in mpc.participants]
    return {
        "v": VERSION,
        "epoch": fmt.epoch.isoformat(),
        "uuid": mpc.uuid,
        "name": mpc.name,
        "index": mpc.index,
        "created_ms": mpc.created_ms,
        "start_ms": mpc.start_ms,
        "end_ms": mpc.end_ms,
        "cause": mpc.termination_cause,
        "code": mpc.termination_cause_code,
        "mpc": mpc_object,
        "participants": participants,
        "members": [_member(p) for p in mpc.participants],
    }


def fingerprint(mpc: MpcRecord) -> tuple[Any, ...]:
    """Every field of a live MPC its record depends on and that can change (its settings are
    fixed once made): equal fingerprints, equal records."""
    rec = mpc.recording
    return (mpc.status, mpc.start_ms, mpc.end_ms, None if rec is None else rec.state,
            tuple((p.call_uuid, p.joined_ms, p.exited_ms, p.exit_cause, p.mute, p.hold,
                   p.coach_mode, p.voice_start_ms, p.voice_duration_ms) for p in mpc.participants))


def check(item: Any) -> dict[str, Any]:
    """`item` if it is a record this version reads (ValueError naming what is wrong)."""
    if not isinstance(item, dict) or item.get("v") != VERSION:
        raise ValueError("not an MPC record of version 1")
    for key, kind in (("uuid", str), ("name", str), ("created_ms", int), ("mpc", dict),
                      ("participants", list), ("members", list), ("epoch", str)):
        if not isinstance(item.get(key), kind):
            raise ValueError(f"MPC record: {key} missing or not a {kind.__name__}")
    if len(item["members"]) != len(item["participants"]):
        raise ValueError("MPC record: members and participants differ in number")
    datetime.fromisoformat(item["epoch"])
    return item


def is_ended(item: Mapping[str, Any]) -> bool:
    """Whether a record is of an MPC that ended (else it was live when written)."""
    return item.get("end_ms") is not None and item.get("cause") is not None


def interrupted(item: Mapping[str, Any], end_ms: int, auth_id: str,
                rate_per_minute: Decimal) -> dict[str, Any]:
    """The record of a live MPC's `item`, ended at `end_ms` (its run's timeline; never before
    anything the record holds) with `INTERRUPTED` (see the module docstring)."""
    epoch = datetime.fromisoformat(item["epoch"])
    fmt = Serializer(auth_id, epoch, rate_per_minute)
    members = [dict(m) for m in item["members"]]
    times = [item["created_ms"], item.get("start_ms") or 0,
             *(m.get(k) or 0 for m in members for k in ("joined_ms", "exited_ms"))]
    end = max(end_ms, *times)
    cause, code = INTERRUPTED
    uri = f"/v1/Account/{auth_id}/MultiPartyCall/uuid_{item['uuid']}/"
    start = item.get("start_ms")
    duration = 0 if start is None else whole_seconds(start, end)
    billed = billed_duration(duration)
    mpc_object = {**item["mpc"], "status": "Ended", "end_time": fmt.timestamp(end),
                  "duration": duration, "billed_duration": billed,
                  "billed_amount": fmt.amount(billed), "termination_cause": cause,
                  "termination_cause_code": code, "recording": ENDED_RECORDING,
                  "resource_uri": uri, "participants": uri + "Participant/"}
    participants = []
    for member, obj in zip(members, item["participants"], strict=True):
        obj = {**obj, "resource_uri": f"{uri}Participant/{member['member_id']}/"}
        if member.get("exited_ms") is None:
            member["exited_ms"], member["exit_cause"] = end, EXIT_MPC_ENDED
            joined = member.get("joined_ms")
            seconds = None if joined is None else whole_seconds(joined, end)
            bill = None if seconds is None else billed_duration(seconds)
            obj.update({"exit_cause": EXIT_MPC_ENDED, "exit_time": fmt.timestamp(end),
                        "coach_mode": None, "hold": None, "mute": None, "duration": seconds,
                        "billed_duration": bill,
                        "billed_amount": None if bill is None else fmt.amount(bill)})
        participants.append(obj)
    return {**item, "end_ms": end, "cause": cause, "code": code, "mpc": mpc_object,
            "participants": participants, "members": members}


def offset_ms(item: Mapping[str, Any], epoch: datetime) -> int:
    """Milliseconds to add to a record's times to put them in the timeline of `epoch`."""
    return (datetime.fromisoformat(item["epoch"]) - epoch) // timedelta(milliseconds=1)


def pack(item: Mapping[str, Any], index: int, offset: int) -> EndedMpc:
    """An ended MPC's record as the model keeps it, `index`-th of its MPCs, times moved by
    `offset` ms."""
    return EndedMpc.from_objects(
        uuid=item["uuid"], name=item["name"], index=index,
        created_ms=item["created_ms"] + offset, end_ms=item["end_ms"] + offset,
        termination_cause=item["cause"], termination_cause_code=item["code"],
        recording_name=f"recording:{item['uuid']}",
        mpc_object=item["mpc"], participant_objects=item["participants"])
