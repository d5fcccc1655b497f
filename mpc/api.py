"""The Python API for notebooks and tests: build a scenario, render it, look at what was heard.

>>> import mpcmix
>>> call = (mpcmix.Scenario("demo")
...         .line("+14155550100", audio="fixtures/voices/customer.wav")
...         .line("+14155550101", audio="fixtures/voices/agent.wav")
...         .add_participant(0, as_="customer", role="customer", from_="+1415", to="+14155550100")
...         .add_participant(0, as_="agent", role="agent", from_="+1415", to="+14155550101")
...         .end(5))
>>> r = mpcmix.render(call)                       # doctest: +SKIP
>>> r.listeners["customer"].shape                 # doctest: +SKIP
(80000,)

`render(scenario, out=None)` takes a path, a dict in the scenario-file shape
(docs/scenarios.md), a `Scenario` built here (or a loaded `mpcmix.scenario.LoadedScenario`)
and returns a `Render`: every stream as a float32 array,
the events, the MPC, the routing matrix at any time, and (measured on demand) who heard whom.
With ``out=None`` it renders into a temporary folder, keeps the arrays and removes the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from mpcmix import scenario as _scenario
from mpcmix.analysis.expect import failed_expectations
from mpcmix.analysis.measure import Pair, measure, tape_render
from mpcmix.analysis.report import WHO_HEARD_WHOM, render_with_report
from mpcmix.analysis.timeline import StateTimeline, state_timeline
from mpcmix.errors import ScenarioError
from mpcmix.routing import RoutingMatrix
from mpcmix.scenario import render_scenario
from mpcmix.scenario.stored import MEDIA_PARAMS

__all__ = ["Render", "Scenario", "render"]


class Scenario:
    """A scenario built in Python, operation by operation, in the scenario-file shape (docs/scenarios.md).

    Every operation of a scenario (docs/scenarios.md) is a method named as the op (`add_participant`,
    `update_participant`, `hangup`, `end`, ...) taking the time `at` in seconds and the API's
    parameters by their API names; Python keywords take a trailing underscore (``as_=``,
    ``from_=``). Each method returns the scenario, so calls chain. Relative audio paths are
    relative to `base_dir` (default: the working folder when the scenario is made). Audio may also
    be given in memory, as a pydub ``AudioSegment`` or a numpy array at the scenario's rate
    (int16, or float in [-1, 1]; shape (n,) or (n, channels)): it is written to a temporary WAV
    that lives as long as this object.

    `to_dict()` gives the dict, `build()` the checked `mpcmix.scenario.LoadedScenario`
    (ScenarioError naming the problem).
    """

    def __init__(
        self,
        mpc: str,
        *,
        sample_rate: int = 16000,
        frame_ms: int = 20,
        seed: int = 0,
        epoch: str | None = None,
        auth_id: str | None = None,
        rate_per_minute: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir if base_dir is not None else Path.cwd()).absolute()
        self._data: dict[str, Any] = {"mpc": mpc, "sample_rate": sample_rate, "frame_ms": frame_ms,
                                      "seed": seed}
        for key, value in (("epoch", epoch), ("auth_id", auth_id),
                           ("rate_per_minute", rate_per_minute)):
            if value is not None:
                self._data[key] = value
        self._lines: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._media_dir: Path | None = None

    def line(self, number: str, audio: Any = None, *, answer_after: float | str = 0) -> Scenario:
        """What the phone at `number` says once it answers, after ringing `answer_after` seconds
        (``"never"``: it never answers)."""
        spec: dict[str, Any] = {"answer_after": answer_after}
        if audio is not None:
            spec["audio"] = self._media(audio, f"line {number}")
        self._lines[str(number)] = spec
        return self

    def op(self, op: str, at: float | str, **params: Any) -> Scenario:
        """Add operation `op` at `at` seconds with the API's parameters (see the class doc)."""
        event: dict[str, Any] = {"at": at, "op": op}
        for key, value in params.items():
            name = key[:-1] if key.endswith("_") else key
            if name in MEDIA_PARAMS:
                value = self._media(value, f"{op} {name}")
            event[name] = value
        self._events.append(event)
        return self

    # -- the operations, as the plivo SDK names them (docs/scenarios.md, Events) ----------

    def add_participant(self, at: float | str, **params: Any) -> Scenario:
        """Add a participant (``as_=`` its name; ``role``, ``from_``, ``to``, ...), creating the
        MPC. Returns the scenario."""
        return self.op("add_participant", at, **params)

    def update_participant(self, at: float | str, **params: Any) -> Scenario:
        """Mute/unmute, hold/unhold or set coach_mode of ``member``. Returns the scenario."""
        return self.op("update_participant", at, **params)

    def kick_participant(self, at: float | str, **params: Any) -> Scenario:
        """Kick ``member`` (one, a comma-separated list, or ``all``). Returns the scenario."""
        return self.op("kick_participant", at, **params)

    def get_participant(self, at: float | str, **params: Any) -> Scenario:
        """Look up ``member`` (its response goes to ``responses.jsonl``). Returns the scenario."""
        return self.op("get_participant", at, **params)

    def list_participants(self, at: float | str, **params: Any) -> Scenario:
        """List the participants (its response goes to ``responses.jsonl``). Returns the scenario."""
        return self.op("list_participants", at, **params)

    def start(self, at: float | str, **params: Any) -> Scenario:
        """Activate the MPC (``status`` defaults to active). Returns the scenario."""
        return self.op("start", at, **params)

    def end(self, at: float | str, **params: Any) -> Scenario:
        """End the MPC (the SDK's ``stop``). Returns the scenario."""
        return self.op("end", at, **params)

    def stop(self, at: float | str, **params: Any) -> Scenario:
        """End the MPC (the SDK's name for ``end``). Returns the scenario."""
        return self.op("stop", at, **params)

    def get(self, at: float | str, **params: Any) -> Scenario:
        """Look up the MPC (its response goes to ``responses.jsonl``). Returns the scenario."""
        return self.op("get", at, **params)

    def list(self, at: float | str, **params: Any) -> Scenario:
        """List MPCs (its response goes to ``responses.jsonl``). Returns the scenario."""
        return self.op("list", at, **params)

    def start_recording(self, at: float | str, **params: Any) -> Scenario:
        """Start the MPC's recording (``file_format`` mp3 or wav). Returns the scenario."""
        return self.op("start_recording", at, **params)

    def stop_recording(self, at: float | str, **params: Any) -> Scenario:
        """Stop the MPC's recording. Returns the scenario."""
        return self.op("stop_recording", at, **params)

    def pause_recording(self, at: float | str, **params: Any) -> Scenario:
        """Pause the MPC's recording. Returns the scenario."""
        return self.op("pause_recording", at, **params)

    def resume_recording(self, at: float | str, **params: Any) -> Scenario:
        """Resume the MPC's recording. Returns the scenario."""
        return self.op("resume_recording", at, **params)

    def start_participant_recording(self, at: float | str, **params: Any) -> Scenario:
        """Record ``member`` (``record_track_type`` participant, all or both). Returns the scenario."""
        return self.op("start_participant_recording", at, **params)

    def stop_participant_recording(self, at: float | str, **params: Any) -> Scenario:
        """Stop recording ``member``. Returns the scenario."""
        return self.op("stop_participant_recording", at, **params)

    def pause_participant_recording(self, at: float | str, **params: Any) -> Scenario:
        """Pause ``member``'s recording. Returns the scenario."""
        return self.op("pause_participant_recording", at, **params)

    def resume_participant_recording(self, at: float | str, **params: Any) -> Scenario:
        """Resume ``member``'s recording. Returns the scenario."""
        return self.op("resume_participant_recording", at, **params)

    def start_play_audio(self, at: float | str, **params: Any) -> Scenario:
        """Play ``url`` to ``member`` (one, a list, or ``all``). Returns the scenario."""
        return self.op("start_play_audio", at, **params)

    def stop_play_audio(self, at: float | str, **params: Any) -> Scenario:
        """Stop the Play started with the same ``member`` form. Returns the scenario."""
        return self.op("stop_play_audio", at, **params)

    def start_speak(self, at: float | str, **params: Any) -> Scenario:
        """Speak ``text`` (``voice``, ``language``) to ``member``. Returns the scenario."""
        return self.op("start_speak", at, **params)

    def stop_speak(self, at: float | str, **params: Any) -> Scenario:
        """Stop the Speak started with the same ``member`` form. Returns the scenario."""
        return self.op("stop_speak", at, **params)

    def hangup(self, at: float | str, **params: Any) -> Scenario:
        """The far end: ``member``'s phone hangs up. Returns the scenario."""
        return self.op("hangup", at, **params)

    def answer(self, at: float | str, **params: Any) -> Scenario:
        """The far end: ``member``'s phone answers now. Returns the scenario."""
        return self.op("answer", at, **params)

    def dtmf(self, at: float | str, **params: Any) -> Scenario:
        """The far end: ``member``'s phone presses ``digits``. Returns the scenario."""
        return self.op("dtmf", at, **params)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a dict in the scenario-file shape (docs/scenarios.md) (relative paths as given)."""
        return {**self._data, "lines": {k: dict(v) for k, v in self._lines.items()},
                "events": [dict(e) for e in self._events]}

    def build(self) -> _scenario.LoadedScenario:
        """The checked scenario (ScenarioError naming the problem)."""
        return _scenario.scenario_from_dict(self.to_dict(), base_dir=self.base_dir,
                                            source=f"<Scenario {self._data['mpc']!r}>")

    def __repr__(self) -> str:
        return (f"Scenario({self._data['mpc']!r}, lines={len(self._lines)}, "
                f"events={len(self._events)})")

    # -- in-memory audio

    def _media(self, value: Any, what: str) -> Any:
        if isinstance(value, str | os.PathLike):
            return os.fspath(value)
        if isinstance(value, list):
            return [self._media(v, what) for v in value]
        if isinstance(value, np.ndarray):
            data, rate = value, int(self._data["sample_rate"])
        elif type(value).__name__ == "AudioSegment":
            samples = np.array(value.get_array_of_samples())
            data = samples.reshape(-1, value.channels)
            if value.sample_width != 2:
                data = data.astype(np.float64) / float(1 << (8 * value.sample_width - 1))
            rate = value.frame_rate
        else:
            raise ScenarioError(f"{what}: audio must be a path, a pydub AudioSegment or a numpy "
                                f"array, not {type(value).__name__}")
        if self._media_dir is None:
            self._media_dir = Path(tempfile.mkdtemp(prefix="mpcmix-scenario-"))
            weakref.finalize(self, shutil.rmtree, self._media_dir, True)
        path = self._media_dir / f"audio{len(list(self._media_dir.iterdir()))}.wav"
        subtype = "PCM_16" if data.dtype == np.int16 else "FLOAT"
        sf.write(path, data if subtype == "PCM_16" else data.astype(np.float32), rate,
                 subtype=subtype)
        return str(path)


class Render:
    """A rendered scenario, in memory.

    Attributes: `listeners` (each participant's ``as`` name -> float32 (n,) in [-1, 1), what it
    heard over the whole timeline), `recordings` (file name without extension -> float32 (n,) or
    (n, channels)), `events` (events.jsonl's records), `responses`, `mpc` (the MPC object as Get
    MPC returns it), `participants`, `sample_rate`, `duration_s`, `scenario` (the checked
    `mpcmix.scenario.LoadedScenario`), `out` (the render folder, None when rendered into a temporary
    one), `warnings`.
    """

    def __init__(self, scenario: _scenario.LoadedScenario, folder: Path, out: Path | None,
                 subtype: str) -> None:
        self.scenario = scenario
        self.out = out
        self.subtype = subtype
        self.sample_rate = scenario.sample_rate
        self.listeners: dict[str, np.ndarray] = {
            p.stem: sf.read(p, dtype="float32")[0] for p in sorted((folder / "listeners").glob("*.wav"))
        }
        self.recordings: dict[str, np.ndarray] = {
            p.stem: sf.read(p, dtype="float32")[0] for p in sorted((folder / "recordings").iterdir())
        }
        self.events: list[dict[str, Any]] = _jsonl(folder / "events.jsonl")
        self.responses: list[dict[str, Any]] = _jsonl(folder / "responses.jsonl")
        with open(folder / "mpc.json", encoding="utf-8") as f:
            described = json.load(f)
        self.mpc: dict[str, Any] | None = described["mpc"]
        self.participants: list[dict[str, Any]] = described["participants"]
        lengths = [len(a) for a in self.listeners.values()]
        self.duration_s = (max(lengths) if lengths else 0) / self.sample_rate
        self.warnings = scenario.warnings
        self._timeline: StateTimeline | None = None
        self._pairs: list[Pair] | None = None
        measured = folder / WHO_HEARD_WHOM
        if measured.is_file():
            with open(measured, encoding="utf-8") as f:
                self._pairs = [Pair.from_dict(d) for d in json.load(f)]

    # -- routing over time

    @property
    def timeline(self) -> StateTimeline:
        """The call states over time (mpcmix.timeline), computed on first use."""
        if self._timeline is None:
            self._timeline = state_timeline(self.scenario)
        return self._timeline

    def matrix_at(self, t_s: float) -> RoutingMatrix:
        """The routing matrix at `t_s` seconds: `listeners`, `sources` (labels) and `gains`."""
        return self.timeline.matrix_at(t_s)

    def explain_at(self, t_s: float) -> dict[tuple[str, str], tuple[bool, str]]:
        """Every cell of `matrix_at(t_s)` as ``(listener, source) -> (heard, reason)``."""
        span = self.timeline.span_at(t_s)
        return {} if span is None else dict(span.reasons)

    # -- who heard whom

    def who_heard_whom(self) -> list[Pair]:
        """The who-heard-whom measure (mpcmix.measure): one `Pair` per (listener, voice).

        Read from the render folder when it was rendered with ``report=True``; else measured on
        first use (the scenario rendered once more, then once per voice), and kept.
        """
        if self._pairs is None:
            tape = tape_render(self.scenario)
            try:
                self._pairs = measure(self.scenario, tape, self.timeline)
            finally:
                tape.close()
        return self._pairs

    def pair(self, listener: str, source: str) -> Pair:
        """The measure of one (listener, voice) pair; KeyError naming the known ones."""
        for p in self.who_heard_whom():
            if p.listener == listener and p.source == source:
                return p
        known = sorted({(p.listener, p.source) for p in self.who_heard_whom()})
        raise KeyError(f"no pair listener={listener!r} source={source!r}; known pairs: "
                       + ", ".join(f"{a}<-{b}" for a, b in known))

    def failed_expectations(self) -> list[str]:
        """The scenario's `expect:` entries this render breaks, one message each (empty: all
        hold, or none given); measured as `who_heard_whom`. docs/scenarios.md, Expectations."""
        return failed_expectations(self.scenario.expectations, self.who_heard_whom(), self.timeline)

    # -- files and pydub

    def save(self, out_dir: str | os.PathLike[str], *, force: bool = False, report: bool = False
             ) -> Path:
        """Write the render folder (docs/scenarios.md, Output) to `out_dir` (by rendering
        again: renders are deterministic, so the files are the ones this render made); its
        path."""
        return _render_folder(self.scenario, Path(out_dir), self.subtype, force, report).out_dir

    def to_audiosegment(self, name: str) -> Any:
        """A listener stream (by ``as`` name) or a recording (by file name) as a pydub
        ``AudioSegment`` (16-bit)."""
        from mpcmix.mixer import to_audiosegment

        data = self.listeners.get(name)
        if data is None:
            data = self.recordings.get(name)
        if data is None:
            raise KeyError(f"no stream {name!r}; listeners: {', '.join(self.listeners)}; "
                           f"recordings: {', '.join(self.recordings)}")
        pcm = np.clip(np.round(data.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
        return to_audiosegment(pcm.T if pcm.ndim == 2 else pcm, self.sample_rate)

    def __repr__(self) -> str:
        where = self.out if self.out is not None else "in memory"
        return (f"<Render {self.scenario.mpc!r} {self.duration_s:g} s, listeners "
                f"{list(self.listeners)}, {len(self.recordings)} recording(s), {where}>")


def render(
    scenario: Scenario | _scenario.LoadedScenario | str | os.PathLike[str] | Mapping[str, Any],
    out: str | os.PathLike[str] | None = None,
    *,
    subtype: str = "PCM_16",
    force: bool = False,
    report: bool = False,
) -> Render:
    """Render `scenario` and return it as a `Render` (arrays in memory).

    `scenario`: a scenario file, a dict in the scenario-file shape (docs/scenarios.md; relative
    paths against the working folder), a `Scenario` built in Python or a loaded
    `mpcmix.scenario.LoadedScenario`. `out`: the folder to write (the render folder's layout,
    complete or absent), or None for a temporary folder removed
    once the arrays are read. `report`: also measure who heard whom and write the report page
    (into `out`), one extra render per voice. ScenarioError if the scenario breaks a rule.
    """
    checked = as_scenario(scenario)
    if out is not None:
        summary = _render_folder(checked, Path(out), subtype, force, report)
        return Render(checked, summary.out_dir, summary.out_dir, subtype)
    with tempfile.TemporaryDirectory(prefix="mpcmix-render-") as tmp:
        folder = Path(tmp) / "render"
        _render_folder(checked, folder, subtype, False, report)
        return Render(checked, folder, None, subtype)


def _render_folder(scenario: _scenario.LoadedScenario, out: Path, subtype: str, force: bool,
                   report: bool) -> _scenario.RenderSummary:
    """The render folder, with the report page when `report`."""
    if report:
        return render_with_report(scenario, out, subtype=subtype, force=force)
    return render_scenario(scenario, out, subtype=subtype, force=force)


def as_scenario(scenario: Any) -> _scenario.LoadedScenario:
    """Any form `render` takes, as a checked `mpcmix.scenario.LoadedScenario`."""
    if isinstance(scenario, Scenario):
        return scenario.build()
    if isinstance(scenario, _scenario.LoadedScenario):
        return scenario
    if isinstance(scenario, Mapping):
        return _scenario.scenario_from_dict(dict(scenario), base_dir=Path.cwd())
    if isinstance(scenario, str | os.PathLike):
        return _scenario.load_scenario(os.fspath(scenario))
    raise TypeError(f"a scenario is a path, a dict or a mpcmix.Scenario, not {type(scenario).__name__}")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
