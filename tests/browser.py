"""Debian's Chromium driven by playwright, for the tests of the report page and the console
(never a downloaded browser: `make test` installs the Debian package)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium(who: str) -> None:
    """A missing browser is a failure of `who` (a test module), not a skip."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{who} needs Debian's chromium at {CHROMIUM} "
                           "(apt-get install chromium; `make test` does it)")


@contextlib.contextmanager
def chromium_context(width: int, height: int, extra_args: Sequence[str] = ()) -> Iterator[object]:
    """A persistent Chromium context with a fresh profile, closed when the block ends."""
    from playwright import sync_api

    with tempfile.TemporaryDirectory(prefix="mpcmix-chromium-") as profile, \
            sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args],
            viewport={"width": width, "height": height})
        try:
            yield context
        finally:
            context.close()
