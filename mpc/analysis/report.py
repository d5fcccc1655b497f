"""See and hear a rendered call: ``DIR/who-heard-whom.json`` and ``DIR/report.html``.

`write_report(DIR)` (``mpcmix report DIR``, ``mpcmix render --report``) measures who heard whom
(mpcmix.measure) and writes one page that reads offline, its images in ``DIR/report/``:

- a timeline: one lane per participant (ringing, waiting, in conference, held; muted and
  coaching marked over it), the conference recording's state, the scenario's operations marked;
- who heard whom: per listener and voice, the spans the rules allow, the spans measured in the
  audio, and the level; a voice heard outside its allowed spans is listed first, in red;
- the routing matrix of every span as a heatmap (listeners x sources; each cell's reason on
  hover; the cells the rules forbid marked with a cross);
- every listener stream and recording: a player, a waveform and a spectrogram;
- the events (events.jsonl) and the final MPC object (mpc.json).

Images are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend
change); matplotlib is the `report` extra.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from mpcmix.errors import ScenarioError
from mpcmix.scenario import (
    LoadedScenario,
    RenderSummary,
    frame_boundary_ms,
    load_stored_scenario,
    render_scenario,
)

from .measure import MixTape, Pair, measure, tape_render
from .timeline import (
    EXITED,
    HELD,
    IN_CONFERENCE,
    RINGING,
    WAITING,
    StateTimeline,
    participant_state,
    recording_state,
    state_timeline,
)

WHO_HEARD_WHOM = "who-heard-whom.json"
REPORT_HTML = "report.html"
ASSETS = "report"

_LANE_COLOURS = {
    RINGING: "#c9c9c9",
    WAITING: "#f2c14e",
    IN_CONFERENCE: "#5bb974",
    HELD: "#f08a4b",
    EXITED: "#ffffff",
}
_RECORDING_COLOURS = {"recording": "#d9534f", "started": "#f4b6b4"}
_MUTED = "#3c4a5c"
_COACHING = "#8e5bd6"


@dataclass
class ReportSummary:
    """What `write_report` wrote and found."""

    html: Path
    who_heard_whom: Path
    pairs: list[Pair]
    warnings: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> list[Pair]:
        """The pairs whose voice was heard outside its allowed spans."""
        return [p for p in self.pairs if p.leaks]


def write_report(
    render_dir: str | Path,
    scenario: LoadedScenario | None = None,
    *,
    baseline: MixTape | None = None,
) -> ReportSummary:
    """Measure who heard whom in the render at `render_dir` and write its report there.

    `scenario` defaults to the folder's ``scenario.json``. `baseline` is the tape of the render
    that wrote the folder (``render --report`` passes it); without it the scenario is rendered once
    more to make one, and a warning is returned if that render's listener streams differ from the
    folder's (the audio files changed since).
    """
    out = Path(render_dir)
    if not (out / "mpc.json").is_file():
        raise ScenarioError(f"{out}: not a render folder (no mpc.json)")
    if scenario is None:
        scenario = load_stored_scenario(out)
    require_matplotlib()
    warnings: list[str] = []
    timeline = state_timeline(scenario)
    own_tape = baseline is None
    if baseline is None:
        with tempfile.TemporaryDirectory(prefix="mpcmix-report-") as tmp:
            baseline = tape_render(scenario, Path(tmp), _subtype_of(out))
            changed = _differing_streams(out, Path(tmp))
        if changed:
            warnings.append(
                f"{out}: the streams {', '.join(changed)} differ from a fresh render of its "
                "scenario.json (an audio file changed since?); the report describes the fresh render"
            )
    try:
        pairs = measure(scenario, baseline, timeline)
    finally:
        if own_tape:
            baseline.close()
    json_path = out / WHO_HEARD_WHOM
    _atomic_text(json_path, json.dumps([p.as_dict() for p in pairs], indent=2) + "\n")
    html_path = write_page(out, scenario, timeline, pairs)
    return ReportSummary(html=html_path, who_heard_whom=json_path, pairs=pairs, warnings=warnings)


def render_with_report(scenario: LoadedScenario, out_dir: str | Path, **options: Any
                       ) -> RenderSummary:
    """`render_scenario` (mpcmix.scenario) with the report written into the folder before it is
    put in place: the render is tapped as it runs (its pre-limiter mix is the measure's
    baseline), then who heard whom is measured (one render per voice) and the page written.
    `options` go to `render_scenario`."""
    require_matplotlib()  # before rendering, not after
    with MixTape(scenario.sample_rate, scenario.frame_ms) as tape:
        return render_scenario(
            scenario, out_dir, tap=tape.record,
            finish=lambda folder, rendered: _finish_report(folder, rendered, tape), **options)


def _finish_report(folder: Path, scenario: LoadedScenario, tape: MixTape) -> None:
    write_report(folder, scenario, baseline=tape)


def write_page(render_dir: str | Path, scenario: LoadedScenario, timeline: StateTimeline,
               pairs: Sequence[Pair]) -> Path:
    """Write ``report.html`` and its images (``report/``) for the render at `render_dir`, showing
    `pairs` as who heard whom; its path. (`write_report` measures the pairs, then calls this.)"""
    out = Path(render_dir)
    assets_tmp = Path(tempfile.mkdtemp(prefix=f".{ASSETS}.", dir=out))
    try:
        page = _Page(out, scenario, timeline, list(pairs), assets_tmp).build()
        assets = out / ASSETS
        if assets.exists():
            shutil.rmtree(assets)
        os.chmod(assets_tmp, 0o755)
        os.rename(assets_tmp, assets)
    except BaseException:
        shutil.rmtree(assets_tmp, ignore_errors=True)
        raise
    html_path = out / REPORT_HTML
    _atomic_text(html_path, page)
    return html_path


def fmt_s(t: float) -> str:
    """Seconds as the report prints them (frame boundaries are whole 10 ms): ``4.00``."""
    return f"{t:.2f}"


def fmt_spans(spans: Sequence[Sequence[float]]) -> str:
    """Spans as the report prints them: ``1.00–6.00, 7.00–12.00``, or ``—`` for none."""
    return ", ".join(f"{fmt_s(a)}–{fmt_s(b)}" for a, b in spans) or "—"


def fmt_level(level: float | None) -> str:
    """A level as the report prints it: ``-21.4``, or ``—`` when never heard."""
    return "—" if level is None else f"{level:.1f}"


# -- the page ------------------------------------------------------------------------------------


class _Page:
    def __init__(self, out: Path, scenario: LoadedScenario, timeline: StateTimeline, pairs: list[Pair],
                 assets: Path) -> None:
        self.out = out
        self.scenario = scenario
        self.timeline = timeline
        self.pairs = pairs
        self.assets = assets  # written here, linked as ASSETS/...
        self.duration_s = timeline.end_ms / 1000

    def build(self) -> str:
        mpc = _read_json(self.out / "mpc.json")
        events = _read_jsonl(self.out / "events.jsonl")
        leaks = [p for p in self.pairs if p.leaks]
        title = f"mpcmix report: {self.scenario.mpc}"
        parts = [
            f"<h1>{_e(title)}</h1>",
            f"<p class='meta'>{_e(self.scenario.source)} · {self.duration_s:g} s · "
            f"{self.scenario.sample_rate} Hz · {self.scenario.frame_ms} ms frames</p>",
            self._verdict(leaks),
            "<h2 id='timeline'>Timeline</h2>",
            self._timeline(),
            "<h2 id='who-heard-whom'>Who heard whom</h2>",
            self._table(leaks),
            "<h2 id='routing'>Routing matrix, span by span</h2>",
            self._heatmaps(),
            "<h2 id='streams'>Streams</h2>",
            self._streams(),
            "<h2 id='events'>Events</h2>",
            self._events(events),
            "<h2 id='mpc'>The MPC at the end</h2>",
            f"<pre class='json'>{_e(json.dumps(mpc, indent=2))}</pre>",
        ]
        return _PAGE.format(title=_e(title), css=_CSS, body="\n".join(parts))

    # -- sections

    def _verdict(self, leaks: list[Pair]) -> str:
        if leaks:
            items = "".join(
                f"<li>{_e(p.listener)} heard {_e(p.source)} at {_e(fmt_spans(p.leaks))} s, "
                f"outside the spans the rules allow ({_e(fmt_spans(p.allowed_spans))})</li>"
                for p in leaks)
            return f"<div class='verdict leak'><b>Voices heard where the rules forbid it</b><ul>{items}</ul></div>"
        return ("<div class='verdict ok'>Every voice was heard only inside the spans the routing "
                "rules allow.</div>")

    def _timeline(self) -> str:
        name = "timeline.png"
        _draw_timeline(self.timeline, self.assets / name)
        legend = " ".join(
            f"<span class='key' style='background:{c}'></span>{_e(s)}"
            for s, c in [*_LANE_COLOURS.items(), ("muted", _MUTED), ("coaching", _COACHING),
                         ("recording", _RECORDING_COLOURS["recording"]),
                         ("recording started, not capturing", _RECORDING_COLOURS["started"])]
            if s != EXITED)
        return (f"<img class='timeline' src='{ASSETS}/{name}' alt='timeline of the call'>"
                f"<p class='legend'>{legend}</p>")

    def _table(self, leaks: list[Pair]) -> str:
        rows = []
        ordered = leaks + [p for p in self.pairs if not p.leaks]
        for p in ordered:
            cls = " class='leak'" if p.leaks else ""
            rows.append(
                f"<tr{cls} data-listener='{_e(p.listener)}' data-source='{_e(p.source)}'>"
                f"<td class='listener'>{_e(p.listener)}</td><td class='source'>{_e(p.source)}</td>"
                f"<td class='allowed'>{_e(fmt_spans(p.allowed_spans))}</td>"
                f"<td class='heard'>{_e(fmt_spans(p.heard_spans))}</td>"
                f"<td class='level'>{_e(fmt_level(p.level_dbfs))}</td></tr>")
        return (
            "<p class='note'>Spans in seconds on the scenario timeline. <i>Allowed</i>: the routing "
            "rules let the voice reach the listener. <i>Heard</i>: the voice changed the listener's "
            "mix before its limiter (measured by rendering again without it, frame by frame). "
            "Level: RMS of what it added, dBFS. The recording counts only while it captures.</p>"
            "<table id='who-heard-whom-table' class='who'><thead><tr><th>listener</th><th>source "
            "(voice)</th><th>allowed</th><th>heard</th><th>level dBFS</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")

    def _heatmaps(self) -> str:
        blocks = []
        groups: list[tuple[int, int, Any]] = []
        for span in self.timeline.spans:
            if groups and groups[-1][2].matrix == span.matrix and groups[-1][1] == span.start_ms:
                groups[-1] = (groups[-1][0], span.end_ms, groups[-1][2])
            else:
                groups.append((span.start_ms, span.end_ms, span))
        for start, end, span in groups:
            m = span.matrix
            head = "".join(f"<th><span>{_e(s)}</span></th>" for s in m.sources)
            body = []
            for i, listener in enumerate(m.listeners):
                cells = []
                for j, source in enumerate(m.sources):
                    heard, reason = span.decide(listener, source)
                    cls, mark = ("on", "●") if m.gains[i][j] else ("off", "×")
                    cells.append(f"<td class='{cls}' title='{_e(listener)} ← {_e(source)}: "
                                 f"{'yes' if heard else 'no'}, {_e(reason)}'>{mark}</td>")
                body.append(f"<tr><th>{_e(listener)}</th>{''.join(cells)}</tr>")
            blocks.append(
                f"<figure class='matrix'><figcaption>{fmt_s(start / 1000)}–{fmt_s(end / 1000)} s"
                f"</figcaption><table class='heatmap'><thead><tr><th>listener \\ source</th>{head}"
                f"</tr></thead><tbody>{''.join(body)}</tbody></table></figure>")
        return ("<p class='note'>● the source reaches the listener; × the rules forbid it. Hover a "
                "cell for the rule.</p><div class='matrices'>" + "".join(blocks) + "</div>")

    def _streams(self) -> str:
        items = []
        streams = [(f"listener {p.stem}", p) for p in sorted((self.out / "listeners").glob("*.wav"))]
        streams += [(f"recording {p.name}", p) for p in sorted((self.out / "recordings").glob("*"))]
        for k, (label, path) in enumerate(streams):
            rel = path.relative_to(self.out).as_posix()
            try:
                data, rate = sf.read(path, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                items.append(f"<section class='stream'><h3>{_e(label)}</h3><audio controls "
                             f"preload='metadata' src='{_e(rel)}'></audio><p>cannot draw: "
                             f"{_e(str(exc))}</p></section>")
                continue
            image = f"stream{k}.png"
            _draw_stream(data, rate, self.assets / image)
            items.append(
                f"<section class='stream'><h3>{_e(label)}</h3>"
                f"<audio controls preload='metadata' src='{_e(rel)}'></audio> "
                f"<a href='{_e(rel)}'>{_e(rel)}</a> · {len(data) / rate:g} s"
                f"<img class='stream' src='{ASSETS}/{image}' "
                f"alt='waveform and spectrogram of {_e(label)}'></section>")
        return "".join(items)

    def _events(self, events: list[dict[str, Any]]) -> str:
        rows = []
        for e in events:
            params = e.get("params") or {}
            member = params.get("MemberID", "")
            who = self.timeline.member_labels.get(member, member)
            rows.append(f"<tr><td>{e.get('at', 0):.2f}</td><td>{_e(e.get('event', ''))}</td>"
                        f"<td>{_e(who)}</td><td>{_e(e.get('url') or '')}</td>"
                        f"<td><details><summary>params</summary><pre>"
                        f"{_e(json.dumps(params, indent=1))}</pre></details></td></tr>")
        return ("<table class='events'><thead><tr><th>at s</th><th>event</th><th>member</th>"
                "<th>url</th><th></th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


# -- drawing -------------------------------------------------------------------------------------


def require_matplotlib() -> None:
    """ScenarioError, saying how to install it, if matplotlib (the `report` extra) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ScenarioError(
            "the report draws with matplotlib, which is not installed: pip install 'mpcmix[report]'"
        ) from None


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _margins(fig: Any, left_in: float = 1.1, bottom_in: float = 0.45, top_in: float = 0.1) -> None:
    """Fixed margins in inches (a layout engine would draw every figure twice)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left_in / width, right=1 - 0.15 / width, bottom=bottom_in / height,
                        top=1 - top_in / height, hspace=0.08)


def _draw_timeline(timeline: StateTimeline, path: Path) -> None:
    people = timeline.participants()
    rows = timeline.recording_rows()
    lanes = [*people, *rows]
    end_s = max(timeline.end_ms / 1000, 1e-3)
    fig = _figure(12, 1.0 + 0.45 * len(lanes))
    ax = fig.subplots()
    for y, name in enumerate(lanes):
        for span in timeline.spans:
            x0, w = span.start_ms / 1000, (span.end_ms - span.start_ms) / 1000
            call = span.call_of(name)
            if call is None:
                continue
            if name in rows:
                state = recording_state(span.state, name)
                if state in _RECORDING_COLOURS:
                    ax.broken_barh([(x0, w)], (y - 0.3, 0.6), color=_RECORDING_COLOURS[state])
                continue
            state = participant_state(call, name)
            if state == EXITED:
                continue
            ax.broken_barh([(x0, w)], (y - 0.3, 0.6), color=_LANE_COLOURS[state])
            p = call.participant(name)
            if p.mute and state not in (RINGING,):
                ax.broken_barh([(x0, w)], (y - 0.3, 0.15), color=_MUTED)
            if p.is_coaching and state == IN_CONFERENCE:
                ax.broken_barh([(x0, w)], (y + 0.15, 0.15), color=_COACHING)
    ops: dict[float, list[str]] = {}
    for e in timeline.scenario.events:
        t = frame_boundary_ms(e.at_s, timeline.frame_ms) / 1000
        ops.setdefault(t, []).append(_short(e))
    for t, names in ops.items():
        ax.axvline(t, color="#555555", linestyle=":", linewidth=0.8)
        ax.text(t, -0.65, "\n".join(names), rotation=90, fontsize=7, va="bottom", ha="center",
                color="#333333", clip_on=False)
    ax.set_yticks(range(len(lanes)), labels=lanes)
    ax.set_ylim(len(lanes) - 0.4, -0.6)  # first lane at the top
    ax.set_xlim(0, end_s)
    ax.set_xlabel("time on the scenario timeline (s)")
    ax.grid(axis="x", alpha=0.3)
    label_in = 0.062 * max((len(n) for v in ops.values() for n in v), default=0) + 0.15
    fig.set_figheight(0.6 + 0.4 * len(lanes) + label_in)
    _margins(fig, top_in=label_in)
    fig.savefig(path)


def _short(event: Any) -> str:
    """A scenario event as a timeline label: ``boss coach_mode=False``, ``add boss (supervisor)``."""
    if event.op == "add_participant":
        return f"add {event.as_name or ''} ({event.params.get('role', '?')})"
    if event.op == "update_participant":
        changes = " ".join(f"{k}={v}" for k, v in event.params.items() if not k.endswith("_url"))
        return f"{event.member} {changes}"
    return f"{event.op} {event.member or ''}".strip()


def _draw_stream(data: np.ndarray, rate: int, path: Path) -> None:
    """One PNG per stream: each channel's waveform (min/max envelope) over its spectrogram, on
    the file's own time axis."""
    channels = data.shape[1]
    fig = _figure(12, 0.5 + 2.4 * channels)
    axes = fig.subplots(2 * channels, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [1, 1.5] * channels})[:, 0]
    n = len(data)
    seconds = max(n / rate, 1e-3)
    edges = np.linspace(0, n, max(1, min(n, 2400)) + 1).astype(int)[:-1]
    for c in range(channels):
        wave, spec = axes[2 * c], axes[2 * c + 1]
        x = data[:, c]
        if n:
            wave.fill_between(edges / rate, np.minimum.reduceat(x, edges),
                              np.maximum.reduceat(x, edges), color="#2b6cb0", linewidth=0)
        wave.set_ylim(-1, 1)
        wave.set_ylabel("amplitude" if channels == 1 else f"ch {c + 1}")
        db = _spectrogram_db(x, rate)
        if db.size:
            spec.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-110, vmax=-10,
                        extent=(0, seconds, 0, rate / 2000), interpolation="nearest")
        spec.set_ylabel("kHz")
    axes[-1].set_xlim(0, seconds)
    axes[-1].set_xlabel("time in the file (s)")
    _margins(fig)
    fig.savefig(path)


def _spectrogram_db(x: np.ndarray, rate: int, columns: int = 1200) -> np.ndarray:
    """Power in dBFS per (frequency bin, time column): a Hann-windowed STFT, at most `columns`
    columns (numpy only: scipy.signal takes seconds to import)."""
    nperseg = 512 if rate >= 16000 else 256
    if len(x) < nperseg:
        return np.zeros((0, 0))
    hop = max(nperseg // 2, (len(x) - nperseg) // columns + 1)
    starts = np.arange(0, len(x) - nperseg + 1, hop)
    window = np.hanning(nperseg).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, nperseg)[starts] * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 / (window.sum() / 2) ** 2
    level: np.ndarray = 10 * np.log10(power.T + 1e-12)
    return level


# -- files ---------------------------------------------------------------------------------------


def _subtype_of(out: Path) -> str:
    for path in sorted((out / "listeners").glob("*.wav")):
        return "FLOAT" if sf.info(path).subtype == "FLOAT" else "PCM_16"
    return "PCM_16"


def _differing_streams(a: Path, b: Path) -> list[str]:
    names = sorted({p.name for d in (a, b) for p in (d / "listeners").glob("*.wav")})
    return [n for n in names if _read_bytes(a / "listeners" / n) != _read_bytes(b / "listeners" / n)]


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1250px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta, .note, .legend { color: #555; font-size: 0.92em; }
.verdict { padding: 0.6em 1em; border-radius: 4px; margin: 1em 0; }
.verdict.ok { background: #e6f4ea; border: 1px solid #5bb974; }
.verdict.leak { background: #fde8e8; border: 1px solid #d93025; color: #a50e0e; }
img.timeline, img.stream { width: 100%; display: block; margin: 0.3em 0; }
.key { display: inline-block; width: 1em; height: 0.8em; margin: 0 0.3em 0 0.9em; border: 1px solid #999; }
table { border-collapse: collapse; }
table.who td, table.who th, table.events td, table.events th {
  border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
table.who tr.leak td { background: #fde8e8; color: #a50e0e; font-weight: bold; }
.matrices { display: flex; flex-wrap: wrap; gap: 1em; }
figure.matrix { margin: 0; } figcaption { font-weight: bold; margin-bottom: 0.3em; }
table.heatmap th, table.heatmap td { border: 1px solid #ccc; padding: 0.15em 0.35em; font-size: 0.8em; }
table.heatmap thead th span { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
table.heatmap td { text-align: center; min-width: 1.4em; }
table.heatmap td.on { background: #5bb974; color: #fff; }
table.heatmap td.off { background: #f3f3f3; color: #b0b0b0; }
section.stream { margin: 1em 0 2em; } section.stream audio { vertical-align: middle; }
pre.json { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
table.events pre { margin: 0; font-size: 0.85em; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
{body}
</body>
</html>
"""
