"""The `mpcmix` command line: thin; it parses, calls the library, and formats.

Exit status: 0 on success, 1 when a render's `expect:` entries fail (each named on stderr; the
folder is written) or, for render-many, when any render is not ok, 2 when the input breaks a
rule (a message names the file or the event and the rule; nothing is left half-written), 3 on an
internal error (a bug in mpcmix: one line on stderr, no traceback unless MPCMIX_TRACEBACK=1 is
set; nothing is left half-written either).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import MpcError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpcmix",
        description="Hear and test what every party of a Multiparty Call hears, offline.",
    )
    parser.add_argument("--version", action="version", version=f"mpcmix {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="render a scenario file into a folder (docs/scenarios.md)")
    render.add_argument("scenario", type=Path, help="the scenario file (YAML or JSON)")
    render.add_argument("--out", type=Path, required=True, help="the folder to write")
    render.add_argument(
        "--subtype", choices=["PCM_16", "FLOAT"], default="PCM_16",
        help="listener stream sample format: 16-bit PCM (default) or 32-bit float",
    )
    render.add_argument("--force", action="store_true",
                        help="no effect (kept for older command lines): a previous render in "
                             "--out is always replaced, any other folder never is")
    render.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    render.add_argument("--report", action="store_true",
                        help="also measure who heard whom and write DIR/report.html (one extra "
                             "render per participant voice; needs matplotlib)")

    many = sub.add_parser(
        "render-many", help="render scenario and grid files (*.grid.yaml) as tasks on Dask, with "
                            "a summary (docs/scenarios.md, Batches)")
    many.add_argument("inputs", nargs="+", type=Path, metavar="SCENARIO_OR_GRID",
                      help="scenario files (one render each) and grid files (one render per "
                           "combination of values)")
    many.add_argument("--out", type=Path, required=True,
                      help="the batch folder: renders/<name>/, summary.parquet/.csv, "
                           "who-heard-whom.parquet/.csv")
    many.add_argument("--scheduler", metavar="ADDRESS",
                      help="an existing Dask scheduler (tcp://host:port); default: a LocalCluster")
    many.add_argument("--workers", type=int, metavar="N",
                      help="LocalCluster worker processes (default: one per core)")
    many.add_argument("--sample", type=int, metavar="K", help="a random K combinations of each grid")
    many.add_argument("--seed", type=int, default=0, help="the seed of --sample (default 0)")
    many.add_argument("--report", action="store_true", help="a report.html in every render folder")
    many.add_argument("--dataset", action="store_true",
                      help="per render: per-speaker tracks as heard, each listener's mix and "
                           "who spoke when (RTTM), in dataset/")
    many.add_argument("--subtype", choices=["PCM_16", "FLOAT"], default="PCM_16",
                      help="listener stream sample format (as for render)")
    many.add_argument("--quiet", "-q", action="store_true", help="print only what failed")

    report = sub.add_parser(
        "report", help="measure who heard whom in a render folder; write who-heard-whom.json "
                       "and report.html there")
    report.add_argument("dir", type=Path, help="a folder written by `mpcmix render`")
    report.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")

    inspect = sub.add_parser(
        "inspect", help="routing decisions with their reasons, from the call model alone")
    inspect.add_argument("scenario", type=Path, help="a scenario file, or a render folder")
    inspect.add_argument("--at", metavar="T", help="print the routing matrix at T seconds")
    inspect.add_argument("--listener", metavar="X", help="with --source: when X hears Y, and why")
    inspect.add_argument("--source", metavar="Y", help="a participant's name (its voice) or a "
                                                       "source label")

    serve = sub.add_parser("serve", help="answer the Multiparty Call REST API on HTTP (docs/server.md)",
                           add_help=False)
    serve.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from .server.main import serve_main

        return serve_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            return _render(args)
        if args.command == "report":
            return _report(args)
        if args.command == "render-many":
            return _render_many(args)
        if args.command == "inspect":
            from .analysis.inspect import inspect_main

            sys.stdout.write(inspect_main(args.scenario, args.at, args.listener, args.source))
            return 0
    except MpcError as exc:
        print(f"mpcmix: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mpcmix: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:
        # The last line of defence: a failure no rule explains is a bug in mpcmix. Say so in one
        # line, without a traceback (MPCMIX_TRACEBACK=1 shows it, for whoever fixes the bug).
        if os.environ.get("MPCMIX_TRACEBACK"):
            raise
        print(f"mpcmix: internal error: {type(exc).__name__}: {exc} (please report)",
              file=sys.stderr)
        return 3
    return 2  # pragma: no cover - argparse requires a command


def _render(args: argparse.Namespace) -> int:
    from .analysis.checked import render_checked
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    progress = None
    if sys.stderr.isatty() and not args.quiet:
        progress = _ProgressBar(max((float(e.at_s) for e in scenario.events), default=0.0))
    for warning in scenario.warnings:
        print(f"mpcmix: warning: {warning}", file=sys.stderr)
    try:
        checked = render_checked(scenario, args.out, report=args.report, subtype=args.subtype,
                                 force=args.force, on_progress=progress)
        summary = checked.summary
    finally:
        if progress is not None:
            progress.done()
    for warning in summary.warnings[len(scenario.warnings):]:
        print(f"mpcmix: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(f"rendered {scenario.source} ({summary.duration_ms / 1000:g} s) into {summary.out_dir}")
        for name, path in summary.listeners.items():
            print(f"  listener   {name:<16} {path}")
        for path in summary.recordings:
            print(f"  recording  {path.name:<16} {path}")
        print(f"  events     {summary.out_dir / 'events.jsonl'}")
        print(f"  mpc        {summary.out_dir / 'mpc.json'}")
        if args.report:
            _print_report(summary.out_dir)
    for failure in checked.failures:
        print(f"mpcmix: expectation failed: {failure}", file=sys.stderr)
    return 1 if checked.failures else 0


def _render_many(args: argparse.Namespace) -> int:
    from .batch import run_batch

    def on_cluster(dashboard: str | None) -> None:
        if dashboard and not args.quiet:
            print(f"dask dashboard: {dashboard}", file=sys.stderr)

    batch = run_batch(args.inputs, args.out, scheduler=args.scheduler, workers=args.workers,
                      sample=args.sample, seed=args.seed, report=args.report, dataset=args.dataset,
                      subtype=args.subtype, progress=sys.stderr.isatty() and not args.quiet,
                      on_cluster=on_cluster)
    if not args.quiet or not batch.ok:
        print(batch.digest())
    return 0 if batch.ok else 1


def _report(args: argparse.Namespace) -> int:
    from .analysis.report import write_report

    result = write_report(args.dir)
    for warning in result.warnings:
        print(f"mpcmix: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        _print_report(args.dir)
    return 0


def _print_report(out_dir: Path) -> None:
    import json

    from .analysis.measure import Pair
    from .analysis.report import REPORT_HTML, WHO_HEARD_WHOM

    with open(out_dir / WHO_HEARD_WHOM, encoding="utf-8") as f:
        pairs = [Pair.from_dict(d) for d in json.load(f)]
    print(f"  report     {out_dir / REPORT_HTML}")
    print(f"  measure    {out_dir / WHO_HEARD_WHOM}")
    for p in pairs:
        if p.leaks:
            spans = ", ".join(f"{a:g}-{b:g} s" for a, b in p.leaks)
            print(f"  LEAK       {p.listener} heard {p.source} outside the allowed spans: {spans}")


class _ProgressBar:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self, expected_s: float) -> None:
        self.expected_s = max(expected_s, 1e-9)

    def __call__(self, now_ms: int) -> None:
        done = min(1.0, now_ms / 1000 / self.expected_s)
        bar = "#" * int(done * 30)
        sys.stderr.write(f"\rrendering [{bar:<30}] {now_ms / 1000:7.2f} s")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
