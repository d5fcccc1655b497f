"""Shared helpers for the call model's tests: a fake media catalog and a few short-hands."""

from __future__ import annotations

from typing import Any

from mpcmix.errors import MediaError
from mpcmix.model import CallModel, Line

AUTH_ID = "MAOTE1OWE0MDK0MTLHYW"
FROM = "+14155550000"

#: Media the fake catalog knows, with their durations (ms).
MEDIA = {
    "customer.wav": 5000,
    "agent.wav": 7000,
    "boss.wav": 3000,
    "music.wav": 4000,
    "ding.wav": 300,
    "promo.wav": 2500,
    "confirm.wav": 1500,
}

#: Numbers and what their phones do.
LINES = {
    "+1001": Line("customer.wav", 0),
    "+1002": Line("agent.wav", 0),
    "+1003": Line("boss.wav", 0),
    "+1004": Line(None, 1000),  # answers after one second, silent
    "+1005": Line("agent.wav", None),  # never answers
    "+1006": Line("agent.wav", 2500),  # answers after 2.5 s
}


class FakeCatalog:
    """Durations from `MEDIA`, and a second a word of speech (``speak:...``); anything else is
    a broken file. It has no text-to-speech engine."""

    def __init__(self, media: dict[str, int] | None = None) -> None:
        self.media = dict(MEDIA if media is None else media)
        self.asked: list[str] = []

    def duration_ms(self, ref: str) -> int:
        self.asked.append(ref)
        if ref.startswith("speak:"):
            return 1000 * len(ref.split(":", 3)[3].split())
        if ref not in self.media:
            raise MediaError(f"media {ref!r}: no such file")
        return self.media[ref]


def make_model(**kwargs: Any) -> CallModel:
    """A call model with the test lines and catalog (keyword arguments override)."""
    options: dict[str, Any] = {"lines": LINES, "media": FakeCatalog(), "frame_ms": 20}
    options.update(kwargs)
    return CallModel(AUTH_ID, **options)


def add(model: CallModel, now_ms: int, label: str, role: str, to: str, *,
        mpc: str = "demo", **params: Any) -> dict[str, Any]:
    """add_participant with `from`/`to` (a Python keyword) filled in."""
    return model.add_participant(now_ms, friendly_name=mpc, label=label, role=role,
                                 **{"from": FROM, "to": to}, **params)


def at(model: CallModel, now_ms: int) -> None:
    """Bring the model to `now_ms`: fire timers, then settle that boundary."""
    model.advance(now_ms)
    model.settle(now_ms)


def names(events: list[Any]) -> list[str]:
    """The names of events, in order."""
    return [e.name for e in events]


def mpc_of(model: CallModel, name: str = "demo") -> dict[str, Any]:
    """The Get MPC object of a live MPC by name (no api_id)."""
    return model.mpc_json(model.mpc_uuid_of(name))["mpc"]


def participant(model: CallModel, label: str) -> dict[str, Any]:
    """The Get Participant object of `label` (no api_id), live or ended MPC."""
    uuid = model.mpc_uuid_of_member(label)
    member_id = model.member_id_of(label)
    for p in model.mpc_json(uuid)["participants"]:
        if p["member_id"] == member_id:
            return p
    raise KeyError(label)


def two_party(model: CallModel, *, mpc: str = "demo", **params: Any) -> None:
    """A customer and an agent, both answering at once at 0 ms (MPC Active at 0)."""
    add(model, 0, "customer", "customer", "+1001", mpc=mpc, **params)
    add(model, 0, "agent", "agent", "+1002", mpc=mpc, **params)
    model.settle(0)
