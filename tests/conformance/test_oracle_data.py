"""The oracle holds together: every recorded body fits the shape the emulator is held to."""

from __future__ import annotations

import pytest

from . import oracle
from .recorded import RECORDED

#: recorded body -> the operation whose shape it must fit.
OPERATION_OF = {"get_ended": "get", "get_participant_exited": "get_participant"}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_every_recorded_body_fits_the_oracle(name: str) -> None:
    source, body = RECORDED[name]
    if name == "async":
        assert oracle.problems(body, oracle.ASYNC) == []
        assert body["message"] == oracle.MESSAGES["async"]
        return
    assert oracle.check(OPERATION_OF.get(name, name), body) == [], source


def test_the_oracle_catches_what_it_must() -> None:
    _, body = RECORDED["get"]
    assert oracle.check("get", {**body, "max_duration": 14400}) == [
        "get.max_duration: not in the real API's body"]
    without = {k: v for k, v in body.items() if k != "stay_alone"}
    assert oracle.check("get", without) == ["get.stay_alone: missing"]
    assert oracle.check("get", {**body, "billed_amount": 0.005}) == [
        "get.billed_amount: number, expected string or null"]
    assert oracle.check("start", {"api_id": "x"}) != []
    _, listed = RECORDED["list_participants"]
    item = {k: v for k, v in listed["objects"][0].items() if k != "join_time"}
    assert oracle.check("list_participants", {**listed, "objects": [item]}) == [
        "list_participants.objects[0].join_time: missing"]


def test_every_operation_of_the_oracle_is_one_of_the_emulators() -> None:
    from mpcmix.model.params import OPERATIONS

    api = {name for name, op in OPERATIONS.items() if not op.emulator}
    assert set(oracle.SHAPES) == set(oracle.STATUS) == api
    assert {name: OPERATIONS[name].status for name in api} == oracle.STATUS
