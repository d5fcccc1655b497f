"""A batch's renders: scenario files and grids expanded into `Job`s, each named and hashed.

A plain scenario file is one render, named by its file stem. A grid file (``*.grid.yaml``) names a
scenario `template` (relative to the grid file) and `vars`, a list of values per variable; the
template's text uses ``${name}``; every combination of values is one render, named
``<template stem>-<value>-<value>...`` in the order the variables are listed, each value slugged
(`slug`), so a name is stable from run to run. `sample` keeps a seeded random subset of each grid.

A job carries the scenario's text (the template with its values substituted), so a worker needs
the package and the media on a path it shares, not the scenario files. Its `digest` is the
content hash of the scenario (resolved: every media path absolute), of every media file it names
(bytes), of the render options and of mpcmix's version: a render folder holding the same digest is
complete and is not rendered again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

from mpcmix import __version__
from mpcmix.errors import ScenarioError
from mpcmix.scenario import LoadedScenario, scenario_from_text
from mpcmix.scenario.load import MAX_SCENARIO_BYTES, parse_document
from mpcmix.scenario.stored import MEDIA_PARAMS, scenario_to_json

GRID_SUFFIXES = (".grid.yaml", ".grid.yml", ".grid.json")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The most renders one grid may expand to (before --sample).
MAX_GRID_RENDERS = 1_000_000


@dataclass(frozen=True)
class Job:
    """One render of a batch. `text` is the scenario's text, parsed as a file at `path` would be
    (its suffix, its folder for relative paths); `error`, when set, is why it cannot be rendered
    (found before any task: the row is `failed` without one)."""

    name: str
    scenario: str  # the file the render comes from (a scenario or a grid's template)
    path: str
    text: str
    source: str  # how messages name it
    vars: tuple[tuple[str, str], ...] = ()
    digest: str = ""
    error: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> LoadedScenario:
        """The scenario, checked (ScenarioError naming `source` and the problem)."""
        return scenario_from_text(self.text, self.path, source=self.source)


def is_grid(path: str | Path) -> bool:
    """Whether `path` names a grid file (``*.grid.yaml``, ``.grid.yml``, ``.grid.json``)."""
    return str(path).lower().endswith(GRID_SUFFIXES)


#: A value ending so names a file: its name in a render's name is the file's stem.
MEDIA_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".xml", ".yaml", ".yml", ".json")


def slug(value: Any) -> str:
    """A value as it appears in a render's name: a path (with a ``/``, or ending ``.wav``,
    ``.mp3``, ...) by its file's stem; then letters, digits and dots kept, every other run of
    characters one ``-`` (``voices/a b.wav`` -> ``a-b``; 2.5 -> ``2.5``; true -> ``true``)."""
    text = _text(value)
    if isinstance(value, str) and ("/" in text or text.lower().endswith(MEDIA_SUFFIXES)):
        text = PurePath(text).stem or text
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.") or "-"


def expand(inputs: Iterable[str | os.PathLike[str]], *, options: Mapping[str, Any] | None = None,
           sample: int | None = None, seed: int = 0, prepared: bool = True) -> list[Job]:
    """Every render of `inputs` (scenario and grid files), in order; ScenarioError for a grid or
    file that cannot be read, and for two renders of the same name. With `prepared` False the
    jobs are not yet checked nor hashed (`prepare` does it, one job at a time)."""
    options = dict(options or {})
    jobs: list[Job] = []
    for item in inputs:
        path = Path(item)
        if is_grid(path):
            jobs.extend(_grid_jobs(path, options, sample, seed))
        else:
            jobs.append(_job(path.stem, path, _read(path, "scenario"), str(path), (), options))
    seen: dict[str, Job] = {}
    for job in jobs:
        other = seen.get(job.name)
        if other is not None:
            raise ScenarioError(f"two renders are named {job.name!r} ({other.source} and {job.source}): "
                                "every render of a batch needs its own name (rename a file or a value)")
        seen[job.name] = job
    return [prepare(job) for job in jobs] if prepared else jobs


def _read(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"{path}: a {what} file is at most {MAX_SCENARIO_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the {what} file ({exc})") from None


def _grid_jobs(path: Path, options: dict[str, Any], sample: int | None, seed: int) -> list[Job]:
    grid = parse_document(_read(path, "grid"), path)
    if not isinstance(grid, dict) or set(grid) - {"template", "vars", "description"} \
            or "template" not in grid:
        raise ScenarioError(f"{path}: a grid is a mapping {{template: FILE, vars: {{name: [values]}}}}")
    template = grid["template"]
    if not isinstance(template, str) or not template:
        raise ScenarioError(f"{path}: `template` must be a scenario file's path, not {template!r}")
    template_path = path.parent / template
    text = _read(template_path, "template")
    variables = grid.get("vars") or {}
    if not isinstance(variables, dict):
        raise ScenarioError(f"{path}: `vars` must map variable names to lists of values")
    for name, values in variables.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ScenarioError(f"{path}: variable {name!r}: a name is letters, digits and '_'")
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"{path}: variable {name!r} must list at least one value")
        for value in values:
            if isinstance(value, dict | list):
                raise ScenarioError(f"{path}: variable {name!r}: the value {value!r} is not a "
                                    "scalar (text, a number, true/false)")
    used = set(_VARIABLE.findall(text))
    unknown = sorted(used - set(variables))
    if unknown:
        raise ScenarioError(f"{template_path}: ${{{unknown[0]}}} is not a variable of {path} "
                            f"(its variables: {', '.join(variables) or 'none'})")
    unused = [name for name in variables if name not in used]
    if unused:
        raise ScenarioError(f"{path}: the variable(s) {', '.join(unused)} do not appear in "
                            f"{template_path} (as ${{{unused[0]}}})")
    count = 1
    for values in variables.values():
        count *= len(values)
    if count > MAX_GRID_RENDERS:
        raise ScenarioError(f"{path}: {count} combinations; a grid has at most {MAX_GRID_RENDERS}")
    combos = list(itertools.product(*variables.values()))
    if sample is not None:
        if sample < 1:
            raise ScenarioError(f"--sample must be at least 1, not {sample}")
        if sample < len(combos):
            keep = sorted(random.Random(seed).sample(range(len(combos)), sample))
            combos = [combos[i] for i in keep]
    stem = Path(template).name.split(".")[0]
    jobs = []
    for combo in combos:
        values = dict(zip(variables, combo, strict=True))
        name = "-".join([stem, *(slug(v) for v in combo)])
        body = _VARIABLE.sub(lambda m, values=values: _text(values[m.group(1)]), text)  # type: ignore[misc]
        pairs = tuple((k, _text(v)) for k, v in values.items())
        where = ", ".join(f"{k}={v}" for k, v in pairs)
        jobs.append(_job(name, template_path, body, f"{template_path} ({where})", pairs, options))
    return jobs


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | None) else str(value)


def _job(name: str, path: Path, text: str, source: str, pairs: tuple[tuple[str, str], ...],
         options: dict[str, Any]) -> Job:
    return Job(name=name, scenario=str(path), path=str(path.absolute()), text=text, source=source,
               vars=pairs, options=options)


def prepare(job: Job) -> Job:
    """`job` checked (its `error` set if its scenario is refused) and hashed (its `digest`)."""
    if job.digest or job.error is not None:
        return job
    options = dict(job.options)
    try:
        scenario = job.load()
    except ScenarioError as exc:
        return Job(**{**job.__dict__, "error": str(exc), "digest": ""})
    return Job(**{**job.__dict__, "digest": content_hash(scenario, options)})


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def content_hash(scenario: LoadedScenario, options: Mapping[str, Any]) -> str:
    """The hash of the scenario resolved, its media files' bytes, `options` and the version."""
    h = hashlib.sha256()
    resolved = scenario_to_json(scenario)
    resolved.pop("description", None)  # names the source file, not what is rendered
    h.update(json.dumps([__version__, dict(options), resolved], sort_keys=True, default=str).encode())
    for ref in sorted(media_files(resolved)):
        h.update(ref.encode())
        h.update(_file_hash(ref).encode())
    return h.hexdigest()


def media_files(resolved: Mapping[str, Any]) -> set[str]:
    """The local files a resolved scenario (`scenario_to_json`) names as audio."""
    refs: list[Any] = [line.get("audio") for line in resolved.get("lines", {}).values()]
    for event in resolved.get("events", []):
        for key in MEDIA_PARAMS & set(event):
            value = event[key]
            refs.extend(value if isinstance(value, list) else [value])
    out = set()
    for ref in refs:
        if not isinstance(ref, str):
            continue
        if ref.startswith("file://"):
            ref = urlsplit(ref).path
        if PurePath(ref).is_absolute():
            out.add(ref)
    return out


def _file_hash(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    key = (path, st.st_mtime_ns, st.st_size)
    digest = _FILE_HASHES.get(key)
    if digest is None:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            return "unreadable"
        digest = _FILE_HASHES[key] = h.hexdigest()
    return digest
