"""Grids and expectations, before any cluster: names, substitution, sampling, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpcmix.batch import expand, slug
from mpcmix.batch.jobs import content_hash
from mpcmix.cli import main
from mpcmix.errors import ScenarioError
from mpcmix.scenario import scenario_from_dict

from ._support import VOICES, write_grid, write_leak


def test_a_grid_is_one_render_per_combination_named_by_its_slugged_values(tmp_path: Path):
    grid = write_grid(tmp_path, coach_at=(0.5, 1), coach_mode=(True, False))
    jobs = expand([grid])
    assert [j.name for j in jobs] == [
        "tiny-agent-0.5-true", "tiny-agent-0.5-false", "tiny-agent-1-true", "tiny-agent-1-false",
        "tiny-customer-0.5-true", "tiny-customer-0.5-false", "tiny-customer-1-true",
        "tiny-customer-1-false"]
    job = jobs[1]
    assert job.error is None
    assert dict(job.vars) == {"voice": f"{VOICES}/agent.wav", "coach_at": "0.5", "coach_mode": "false"}
    scenario = job.load()
    boss = scenario.events[3]
    assert (float(boss.at_s), boss.params["coach_mode"]) == (0.5, False)
    assert scenario.lines["+101"].audio == f"{VOICES}/agent.wav"
    assert [x.describe() for x in scenario.expectations] == [
        "never_hears [customer, boss] (expect 1)", "hears [agent, boss] during [0.5, 2] (expect 2)"]
    # stable: the same names and hashes on every expansion; a changed value, another hash
    assert [(j.name, j.digest) for j in expand([grid])] == [(j.name, j.digest) for j in jobs]
    assert len({j.digest for j in jobs}) == len(jobs)


def test_sample_is_a_seeded_subset_in_grid_order(tmp_path: Path):
    grid = write_grid(tmp_path, coach_at=(0.25, 0.5, 0.75, 1, 1.25))
    everything = [j.name for j in expand([grid])]
    a = [j.name for j in expand([grid], sample=4, seed=7)]
    assert a == [j.name for j in expand([grid], sample=4, seed=7)]
    assert len(a) == 4 and a == [n for n in everything if n in a]
    assert any([j.name for j in expand([grid], sample=4, seed=s)] != a for s in range(8, 12))


def test_slug_keeps_names_readable_and_stable():
    assert slug("voices/a b.wav") == "a-b"
    assert slug(2.5) == "2.5"
    assert slug(True) == "true"
    assert slug("x y/z") == "z"
    assert slug("hello world!") == "hello-world"


def test_the_content_hash_follows_the_media_bytes(tmp_path: Path):
    voice = tmp_path / "v.wav"
    voice.write_bytes((VOICES / "agent.wav").read_bytes())
    data = {"mpc": "m", "lines": {"+1": {"audio": str(voice)}},
            "events": [{"at": 0, "op": "add_participant", "as": "a", "role": "agent", "from": "+0",
                        "to": "+1"}]}
    before = content_hash(scenario_from_dict(data), {})
    assert content_hash(scenario_from_dict(data), {}) == before
    assert content_hash(scenario_from_dict(data), {"report": True}) != before
    voice.write_bytes((VOICES / "customer.wav").read_bytes())
    assert content_hash(scenario_from_dict(data), {}) != before


@pytest.mark.parametrize(("grid", "message"), [
    ("template: tiny.yaml\nvars: {voice: [a.wav], coach_at: [1]}\n", "${coach_mode} is not a variable"),
    ("template: tiny.yaml\nvars: {voice: [a.wav], coach_at: [1], coach_mode: [true], x: [1]}\n",
     "variable(s) x do not appear"),
    ("template: tiny.yaml\nvars: {voice: [], coach_at: [1], coach_mode: [true]}\n",
     "'voice' must list at least one value"),
    ("template: missing.yaml\nvars: {}\n", "missing.yaml: no such template file"),
    ("template: tiny.yaml\nvars: {voice: [a.wav, b/a.wav], coach_at: [1], coach_mode: [true]}\n",
     "two renders are named 'tiny-a-1-true'"),
    ("[1, 2]\n", "a grid is a mapping"),
])
def test_a_broken_grid_is_refused_naming_the_rule(tmp_path: Path, grid: str, message: str):
    write_grid(tmp_path)
    (tmp_path / "bad.grid.yaml").write_text(grid)
    with pytest.raises(ScenarioError, match=None) as info:
        expand([tmp_path / "bad.grid.yaml"])
    assert message in str(info.value)


BASE = {"mpc": "m", "lines": {}, "events": [
    {"at": 0, "op": "add_participant", "as": "customer", "role": "customer", "from": "+0", "to": "+1"},
    {"at": 0, "op": "add_participant", "as": "boss", "role": "supervisor", "from": "+0", "to": "+2"}]}


@pytest.mark.parametrize(("expect", "message"), [
    ({"never_hears": ["customer", "bos"]}, "the source 'bos' is no participant's `as` name"),
    ({"hears": ["nobody", "boss"]}, "the listener 'nobody' is no participant's"),
    ({"never_hears": ["customer"]}, "must be [listener, source]"),
    ({"never_hears": ["customer", "boss"], "during": [9, 4]}, "the end must come after the start"),
    ({"never_hears": ["customer", "boss"], "min_coverage": 0.5}, "applies only to `hears`"),
    ({"hears": ["customer", "boss"], "min_coverage": 2}, "must be a number in (0, 1]"),
    ({"hears": ["customer", "boss"], "never_hears": ["customer", "boss"]}, "exactly one of"),
    ({"hears": ["customer", "boss"], "when": [1, 2]}, "unknown key(s) ['when']"),
    ("customer never hears boss", "must be a mapping"),
])
def test_a_broken_expectation_is_refused_when_the_scenario_loads(expect, message):
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({**BASE, "expect": [expect]}, source="s.yaml")
    assert "s.yaml: expect 1" in str(info.value) and message in str(info.value)


def test_render_exits_1_naming_the_failed_expectation_and_writes_the_folder(tmp_path: Path, capsys):
    leak = write_leak(tmp_path)
    assert main(["render", str(leak), "--out", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "mpcmix: expectation failed: never_hears [customer, boss] (expect 1): customer heard boss" in err
    assert "hears [agent, boss]" not in err  # the one that holds is not named
    assert (tmp_path / "out" / "who-heard-whom.json").is_file()
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(leak.read_text().replace("coach_mode: false", "coach_mode: true"))
    assert main(["render", str(fixed), "--out", str(tmp_path / "out2"), "-q"]) == 0


def test_a_render_in_python_names_its_failed_expectations(tmp_path: Path):
    import mpcmix

    leak = write_leak(tmp_path)
    [failure] = mpcmix.render(leak).failed_expectations()
    assert failure.startswith("never_hears [customer, boss] (expect 1): customer heard boss at 1.00–2.00 s")
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(leak.read_text().replace("coach_mode: false", "coach_mode: true"))
    assert mpcmix.render(fixed).failed_expectations() == []
