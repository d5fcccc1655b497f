"""The one parameter table: the call model, the server, the OpenAPI document and the docs all
read it, so a parameter added there appears in all four with no other edit."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from mpcmix.errors import ValidationError
from mpcmix.model import CallModel
from mpcmix.model import params as P
from mpcmix.model.params import INT, OPERATIONS, Param, with_param

from tests.server.harness import MAIN, serve

from ._model_support import add, make_model

ROOT = Path(__file__).resolve().parents[2]
#: A parameter no operation has: an integer with a range and a default.
EXTRA = Param("max_coaches", INT, 1, "supervisors allowed to coach at once", low=0, high=3)


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch) -> Param:
    """The table with `EXTRA` added to add_participant (restored after the test)."""
    monkeypatch.setitem(OPERATIONS, "add_participant", with_param("add_participant", EXTRA))
    return EXTRA


def test_every_api_operation_of_the_table_is_a_call_model_method_and_back():
    ops = {name for name, op in OPERATIONS.items()}
    methods = {name for name, value in inspect.getmembers(CallModel, inspect.isfunction)
               if not name.startswith("_") and "now_ms" in inspect.signature(value).parameters}
    assert ops <= methods
    # every method that takes an operation's time and is no look-up helper is in the table
    helpers = {"advance", "settle", "emit_speak_event", "stop", "list_matches", "media_ready",
               "media_failed"}
    assert methods - ops - helpers == set()


def test_an_added_parameter_is_parsed_by_the_call_model(extended):
    model = make_model()
    with pytest.raises(ValidationError, match="max_coaches must be between 0 and 3, not 9"):
        add(model, 0, "agent", "agent", "+1002", max_coaches=9)
    with pytest.raises(ValidationError, match="max_coaches must be an integer"):
        add(model, 0, "agent", "agent", "+1002", max_coaches="many")
    assert P.parse("add_participant", {"role": "agent"})["max_coaches"] == 1
    assert P.parse("add_participant", {"role": "agent", "max_coaches": "2"})["max_coaches"] == 2


def test_an_added_parameter_is_read_by_the_server_and_in_its_openapi_document(extended, tmp_path):
    from tests.server.conftest import AGENT, FROM, virtual_config

    with serve(virtual_config(tmp_path)) as server, server.http(MAIN) as client:
        path = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_table/Participant/"
        refused = client.post(path, json={"role": "agent", "from": FROM, "to": AGENT,
                                          "max_coaches": 9})
        assert refused.status_code == 400 and "max_coaches" in refused.json()["error"]
        accepted = client.post(path, data={"role": "agent", "from": FROM, "to": AGENT,
                                           "max_coaches": "3"})
        assert accepted.status_code == 201, accepted.text
        document = client.get("/openapi.json").json()
    body = document["paths"]["/v1/Account/{auth_id}/MultiPartyCall/{mpc_id}/Participant/"]["post"]
    schema = body["requestBody"]["content"]["application/json"]["schema"]["properties"]
    forms = schema["max_coaches"]["anyOf"]
    assert {"type": "integer", "minimum": 0, "maximum": 3} in forms
    assert schema["max_coaches"]["default"] == 1


def test_an_added_parameter_is_in_the_generated_docs(extended):
    text = P.parameters_markdown()
    assert "| `max_coaches` | integer ≥ 0 and ≤ 3 | 1 | yes |" in text
    stale = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    assert P.with_generated_docs(stale) != stale  # the docs now lag the table: make docs


def test_the_docs_parameter_list_is_the_table_as_it_stands():
    text = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    assert P.with_generated_docs(text) == text, "docs/server.md is stale: run `make docs`"


def test_a_parameter_mpcmix_cannot_honour_is_refused_off_its_default_only():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", sip_headers="", send_on_preanswer=False)
    with pytest.raises(ValidationError, match=r"sip_headers=.* is not supported by mpcmix"):
        add(model, 0, "customer", "customer", "+1001", sip_headers="X-A=1")


def test_the_scenario_builder_has_a_method_for_every_operation():
    from mpcmix.api import Scenario

    missing = {name for name in OPERATIONS if not callable(getattr(Scenario, name, None))}
    assert missing == set()
