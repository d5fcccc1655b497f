"""The server's configuration: command line, then environment, then a config file, then defaults.

`load_config(argv, environ)` gives one frozen `ServerConfig`. Precedence, highest first: command-line
options, `MPCMIX_*` environment variables, the file named by `--config` (or `MPCMIX_CONFIG`; YAML or
JSON, keys spelled as the long options with `_` or `-`), the defaults below.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CLOCKS = ("realtime", "virtual")
MAX_WORKERS = 64
LISTENER_STREAMS = ("all", "none")
SAMPLE_RATES = (8000, 16000, 24000, 48000)
FRAME_MS = (10, 20, 40, 60)
_AUTH_ID_ALPHABET = string.ascii_uppercase + string.digits
_TOKEN_ALPHABET = string.ascii_letters + string.digits


class ConfigError(ValueError):
    """The configuration cannot be used (the message names the setting and the rule)."""


@dataclass(frozen=True)
class Account:
    """One set of credentials: a main account (`MA...`) or a subaccount (`SA...`).

    `parent` is the main account a subaccount belongs to (None for a main account or a
    standalone subaccount); a parent's credentials are accepted on its subaccounts' paths.
    """

    auth_id: str
    auth_token: str
    parent: str | None = None

    @property
    def is_subaccount(self) -> bool:
        return self.auth_id.startswith("SA")


def generate_account(rng: secrets.SystemRandom | None = None) -> Account:
    """A fresh main account whose auth id the plivo SDK accepts (20 characters, starting `MA`)."""
    rng = rng or secrets.SystemRandom()
    auth_id = "MA" + "".join(rng.choice(_AUTH_ID_ALPHABET) for _ in range(18))
    auth_token = "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(40))
    return Account(auth_id, auth_token)


def parse_account(text: str) -> Account:
    """Parse `AUTH_ID:AUTH_TOKEN` or, for a subaccount, `AUTH_ID:AUTH_TOKEN@PARENT_AUTH_ID`."""
    head, sep, parent = text.strip().partition("@")
    auth_id, colon, auth_token = head.partition(":")
    if not colon or not auth_id or not auth_token:
        raise ConfigError(f"account {text!r}: expected AUTH_ID:AUTH_TOKEN[@PARENT_AUTH_ID]")
    _check_auth_id(auth_id)
    if sep:
        _check_auth_id(parent)
        if not auth_id.startswith("SA") or not parent.startswith("MA"):
            raise ConfigError(
                f"account {auth_id}: only a subaccount (SA...) can name a parent, "
                f"and the parent must be a main account (MA...), not {parent!r}"
            )
    return Account(auth_id, auth_token, parent or None)


def _check_auth_id(auth_id: str) -> None:
    # The plivo SDK refuses any other auth id before sending a request (plivo.utils).
    if len(auth_id) != 20 or auth_id[:2] not in ("MA", "SA") or not auth_id.isalnum():
        raise ConfigError(
            f"auth id {auth_id!r}: must be 20 letters or digits starting MA (account) or SA "
            "(subaccount), as the plivo SDK requires"
        )


@dataclass(frozen=True)
class ServerConfig:
    """Everything `build_app` needs. Times in seconds unless the name says `_ms`."""

    accounts: tuple[Account, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    clock: str = "realtime"
    media_root: Path | None = None
    lines_path: Path | None = None
    lines: Mapping[str, Any] = field(default_factory=dict)
    sample_rate: int = 16000
    frame_ms: int = 20
    seed: int = 0
    epoch: datetime | None = None  # None: the wall-clock time the server starts
    data_dir: Path | None = None  # None: a fresh temporary folder
    public_url: str | None = None  # None: http://HOST:PORT
    rate_per_minute: str | None = None  # None: the call model's default
    subtype: str = "PCM_16"
    #: "all": every participant's listener stream is written (downloadable); "none": none is
    #: written or kept (recordings always are).
    listener_streams: str = "all"
    callback_queue_size: int = 10000
    callback_attempts: int = 5
    callback_backoff_s: float = 0.5
    callback_timeout_s: float = 5.0
    max_body_bytes: int = 1 << 20  # a request body over this is refused with 413
    event_log_memory: int = 1000  # event records kept in memory per account (all stay on disk)
    media_cache_mb: int = 256  # decoded media kept in memory, shared by all accounts
    log_level: str = "info"
    generated_account: bool = False  # True when no account was configured and one was made up
    workers: int = 1  # shard processes (`--workers`): 1 is one process, no front
    shard: int | None = None  # this process is shard K of `workers` (`--shard`), data in DATA/shard-K
    shard_urls: tuple[str, ...] = ()  # a front only, forwarding to these shards (`--shard-urls`)

    def base_url(self) -> str:
        """The URL the server is reached at, used in `recording_url`s."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def validate(self) -> ServerConfig:
        """Return self, or raise ConfigError naming the first unusable setting."""
        if self.clock not in CLOCKS:
            raise ConfigError(f"clock {self.clock!r}: must be one of {', '.join(CLOCKS)}")
        if self.sample_rate not in SAMPLE_RATES:
            raise ConfigError(f"sample_rate {self.sample_rate}: must be one of {SAMPLE_RATES}")
        if self.frame_ms not in FRAME_MS:
            raise ConfigError(f"frame_ms {self.frame_ms}: must be one of {FRAME_MS}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port}: must be 0..65535")
        if self.subtype not in ("PCM_16", "FLOAT"):
            raise ConfigError(f"subtype {self.subtype!r}: must be PCM_16 or FLOAT")
        if self.listener_streams not in LISTENER_STREAMS:
            raise ConfigError(f"listener_streams {self.listener_streams!r}: must be one of "
                              f"{', '.join(LISTENER_STREAMS)}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes {self.max_body_bytes}: must be at least 1024")
        if self.event_log_memory < 1:
            raise ConfigError(f"event_log_memory {self.event_log_memory}: must be at least 1")
        if self.media_cache_mb < 1:
            raise ConfigError(f"media_cache_mb {self.media_cache_mb}: must be at least 1")
        if self.callback_attempts < 1 or self.callback_queue_size < 1:
            raise ConfigError("callback_attempts and callback_queue_size must be at least 1")
        if self.media_root is not None and not self.media_root.is_dir():
            raise ConfigError(f"media_root {str(self.media_root)!r}: not a folder")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"workers {self.workers}: must be 1..{MAX_WORKERS}")
        if self.shard is not None and not 0 <= self.shard < self.workers:
            raise ConfigError(f"shard {self.shard}: must be 0..{self.workers - 1} (--workers {self.workers})")
        if self.shard_urls:
            if self.shard is not None:
                raise ConfigError("shard_urls (a front) and shard (a shard) exclude each other")
            for url in self.shard_urls:
                if not url.startswith(("http://", "https://")):
                    raise ConfigError(f"shard url {url!r}: must start with http:// or https://")
        seen: set[str] = set()
        for account in self.accounts:
            _check_auth_id(account.auth_id)
            if account.auth_id in seen:
                raise ConfigError(f"account {account.auth_id} is configured twice")
            seen.add(account.auth_id)
        for account in self.accounts:
            if account.parent is not None and account.parent not in seen:
                raise ConfigError(
                    f"subaccount {account.auth_id}: its parent {account.parent} is not configured"
                )
        return self

    def account(self, auth_id: str) -> Account | None:
        return next((a for a in self.accounts if a.auth_id == auth_id), None)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mpcmix serve",
        description="Serve Plivo's Multiparty Call API locally, mixing what every party hears.",
        argument_default=argparse.SUPPRESS,  # unset options fall through to env/file/defaults
    )
    p.add_argument("--config", help="YAML or JSON file with any of these settings")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8080)")
    p.add_argument(
        "--account",
        action="append",
        dest="accounts",
        metavar="AUTH_ID:AUTH_TOKEN[@PARENT]",
        help="credentials (repeatable); a subaccount may name its parent main account",
    )
    p.add_argument("--lines", dest="lines_path", help="YAML/JSON mapping number -> {audio, answer_after}")
    p.add_argument("--clock", choices=CLOCKS, help="realtime (default) or virtual")
    p.add_argument("--media-root", dest="media_root", help="the only folder media is read from")
    p.add_argument("--sample-rate", dest="sample_rate", type=int, help="8000/16000/24000/48000")
    p.add_argument("--frame-ms", dest="frame_ms", type=int, help="10/20/40/60")
    p.add_argument("--seed", type=int, help="seed for ids (default 0)")
    p.add_argument("--epoch", help="wall time of clock 0, 'YYYY-MM-DD HH:MM:SS+00:00' (default: now)")
    p.add_argument("--data-dir", dest="data_dir", help="where recordings, streams, logs go")
    p.add_argument("--public-url", dest="public_url", help="base URL for recording_url links")
    p.add_argument("--rate-per-minute", dest="rate_per_minute", help="billing rate, e.g. 0.00500")
    p.add_argument("--subtype", choices=("PCM_16", "FLOAT"), help="WAV sample format")
    p.add_argument("--listener-streams", dest="listener_streams", choices=LISTENER_STREAMS,
                   help="all (default): write every participant's listener stream; none: write "
                        "none (Listener.wav answers 404), recordings only")
    p.add_argument("--media-cache-mb", dest="media_cache_mb", type=int,
                   help="decoded media kept in memory, in MiB (default 256); a medium larger "
                        "decoded is refused")
    p.add_argument("--log-level", dest="log_level", help="uvicorn log level (default info)")
    p.add_argument("--workers", type=int,
                   help="shard processes, each with its own clock and mixer, behind a front that "
                        "answers HTTP (default 1: one process, no front); data in DATA/shard-K")
    p.add_argument("--shard", type=int,
                   help="run shard K of --workers N alone (its data in DATA/shard-K), for a front "
                        "started with --shard-urls")
    p.add_argument("--shard-urls", dest="shard_urls",
                   help="run a front alone, forwarding to these shards (comma-separated URLs, "
                        "shard 0 first)")
    return p


_INT_KEYS = {"port", "sample_rate", "frame_ms", "seed", "callback_queue_size", "callback_attempts",
             "max_body_bytes", "event_log_memory", "media_cache_mb", "workers", "shard"}
_FLOAT_KEYS = {"callback_backoff_s", "callback_timeout_s"}
_STR_KEYS = {"host", "clock", "public_url", "rate_per_minute", "subtype", "log_level",
             "listener_streams"}
_PATH_KEYS = {"media_root", "lines_path", "data_dir"}
_ENV_KEYS = (
    _INT_KEYS | _FLOAT_KEYS | _STR_KEYS | _PATH_KEYS | {"accounts", "epoch", "shard_urls"}
)
_FILE_ALIASES = {"lines": "lines_path", "account": "accounts"}


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """Build the configuration from argv (without the program name), environment and file."""
    environ = os.environ if environ is None else environ
    cli = vars(_parser().parse_args(list(argv or [])))
    config_file = cli.pop("config", None) or environ.get("MPCMIX_CONFIG")
    raw: dict[str, Any] = {}
    if config_file:
        raw.update(_read_config_file(Path(config_file)))
    for key in _ENV_KEYS:
        value = environ.get(f"MPCMIX_{key.upper()}")
        if value is not None and value != "":
            raw[key] = value
    if environ.get("MPCMIX_LINES"):
        raw["lines_path"] = environ["MPCMIX_LINES"]
    raw.update(cli)
    return _build(raw)


def _read_config_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {str(path)!r}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r}: expected a mapping of settings")
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        name = _FILE_ALIASES.get(name, name)
        if name not in _ENV_KEYS:
            raise ConfigError(f"config file {str(path)!r}: unknown setting {key!r}")
        if name in _PATH_KEYS and value is not None:
            # A config file's paths are relative to the file, not to the working folder.
            value = path.parent / Path(str(value)).expanduser()
        out[name] = value
    return out


def _build(raw: Mapping[str, Any]) -> ServerConfig:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            if key in _INT_KEYS:
                values[key] = int(value)
            elif key in _FLOAT_KEYS:
                values[key] = float(value)
            elif key in _STR_KEYS:
                values[key] = str(value)
            elif key in _PATH_KEYS:
                values[key] = Path(str(value)).expanduser()
        except ValueError as exc:
            raise ConfigError(f"{key} {value!r}: {exc}") from exc
    values["accounts"] = tuple(_accounts(raw.get("accounts")))
    urls = raw.get("shard_urls")
    if urls:
        items = urls.replace(",", " ").split() if isinstance(urls, str) else [str(u) for u in urls]
        values["shard_urls"] = tuple(u.rstrip("/") for u in items)
        values.setdefault("workers", len(values["shard_urls"]))
        if values["workers"] != len(values["shard_urls"]):
            raise ConfigError(f"workers {values['workers']}: --shard-urls names {len(values['shard_urls'])} "
                              "shards")
    if raw.get("epoch"):
        values["epoch"] = _parse_epoch(str(raw["epoch"]))
    config = ServerConfig(**values)
    if not config.accounts:
        config = replace(config, accounts=(generate_account(),), generated_account=True)
    if config.lines_path is not None:
        config = replace(config, lines=read_lines(config.lines_path))
    return config.validate()


def _accounts(value: Any) -> list[Account]:
    if not value:
        return []
    if isinstance(value, str):
        items: list[Any] = [s for s in value.replace(",", " ").split() if s]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigError(f"accounts {value!r}: expected a list")
    accounts = []
    for item in items:
        if isinstance(item, Account):
            accounts.append(item)
        elif isinstance(item, dict):
            text = f"{item.get('auth_id', '')}:{item.get('auth_token', '')}"
            if item.get("parent"):
                text += f"@{item['parent']}"
            accounts.append(parse_account(text))
        else:
            accounts.append(parse_account(str(item)))
    return accounts


def _parse_epoch(text: str) -> datetime:
    try:
        epoch = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(f"epoch {text!r}: expected 'YYYY-MM-DD HH:MM:SS+00:00'") from exc
    return epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC)


def read_lines(path: Path) -> dict[str, Any]:
    """Read a lines file: number -> `LineSpec` (audio, answer_after), as `lines` in scenarios.

    `audio` is a media reference resolved like any other: relative paths under the media root.
    The file is a mapping of numbers, or a mapping with one key `lines` holding it.
    """
    import yaml
    from mpcmix.errors import ScenarioError
    from mpcmix.scenario import parse_lines

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"lines file {str(path)!r}: {exc}") from exc
    if isinstance(data, dict) and set(data) == {"lines"}:
        data = data["lines"]
    try:
        return parse_lines(data, f"lines file {str(path)!r}")
    except ScenarioError as exc:
        raise ConfigError(exc.message) from None


def default_epoch() -> datetime:
    """Now, in UTC, truncated to the second (the API's timestamps carry whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0)


def dump_accounts(accounts: Sequence[Account]) -> str:
    """The accounts as `--account` values, for the start-up banner."""
    return json.dumps([f"{a.auth_id}:{a.auth_token}" for a in accounts])
