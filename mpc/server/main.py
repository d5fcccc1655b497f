"""`mpcmix serve`: load the configuration, print how to reach the server, run uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .config import ConfigError, ServerConfig, load_config


def banner(config: ServerConfig, data_dir: str) -> str:
    """What the operator needs to point the plivo SDK at this server."""
    lines = [
        f"mpcmix serve: {config.base_url()}  (clock: {config.clock}, "
        f"{config.sample_rate} Hz, {config.frame_ms} ms frames)",
        f"  API base URL for the plivo SDK: {config.base_url()}/v1/Account",
        f"  web console: {config.base_url()}/console",
        f"  media root: {config.media_root or '(none: built-in sounds only)'}",
        f"  data (recordings, listener streams, events.jsonl): {data_dir}",
    ]
    for account in config.accounts:
        kind = f"subaccount of {account.parent}" if account.parent else (
            "subaccount" if account.is_subaccount else "account")
        if config.generated_account:
            lines.append(f"  generated {kind}: auth_id={account.auth_id} "
                         f"auth_token={account.auth_token}")
        else:
            lines.append(f"  {kind}: {account.auth_id}")
    return "\n".join(lines)


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Run `mpcmix serve` with `argv` (the arguments after `serve`); returns the exit status."""
    try:
        config = load_config(list(sys.argv[1:] if argv is None else argv))
    except ConfigError as exc:
        print(f"mpcmix serve: error: {exc}", file=sys.stderr)
        return 2
    if config.shard_urls:  # a front alone; its shards run elsewhere
        from .workers import serve_front

        return serve_front(config)
    if config.workers > 1 and config.shard is None:  # a front and its N shard processes
        from .workers import serve_workers

        return serve_workers(config, list(sys.argv[1:] if argv is None else argv))
    import uvicorn
    from mpcmix.errors import MpcError

    from .app import build_app

    try:
        app = build_app(config)
    except (ConfigError, MpcError, OSError) as exc:
        print(f"mpcmix serve: error: {exc}", file=sys.stderr)
        return 2
    state = app.state.mpcmix
    print(banner(state.config, str(state.data_dir)), flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level,
                access_log=config.log_level == "debug")
    return 0
