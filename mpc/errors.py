"""One exception family for mpcmix: each error carries the API status and a message that teaches."""

from __future__ import annotations


class MpcError(Exception):
    """An operation the API would refuse, or input mpcmix cannot use.

    `status` is the HTTP status the real API answers with (400, 401, 404, 405, ...); the CLI
    turns any MpcError into exit status 2, the server into ``{"api_id": ..., "error": message}``.
    """

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        """The human-readable reason, naming the thing and the rule."""
        return str(self.args[0])


class ValidationError(MpcError):
    """A parameter is missing, malformed or out of the API's range (400)."""

    status = 400


class NotFoundError(MpcError):
    """No such MPC, participant, recording or play for this account (404)."""

    status = 404


class AuthenticationError(MpcError):
    """Missing or wrong credentials (401)."""

    status = 401


class MethodNotAllowedError(MpcError):
    """The resource exists but does not take this method (405)."""

    status = 405


class MediaError(MpcError):
    """An audio file is missing, broken, empty or holds NaN/inf (names the file)."""

    status = 400


class ScenarioError(MpcError):
    """A scenario file is malformed, or one of its events broke a rule (names the event)."""

    status = 400


class MediaPending(Exception):
    """A medium is being prepared (decoded off the caller's path) and is not ready yet.

    Not an `MpcError`: nothing was refused. A media library with a background decoder raises it
    from `duration_ms`, `open` and `load` instead of decoding on the caller's thread; the call
    model then accepts what names the medium and is told later (`media_ready`, `media_failed`),
    and the engine plays silence for it meanwhile.
    """

    def __init__(self, ref: str) -> None:
        super().__init__(f"media {ref!r} is being prepared")
        self.ref = ref
