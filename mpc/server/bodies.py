"""Reading a request's arguments: query strings, and JSON or form bodies, as plain dicts.

What the arguments mean is the call model's business: the server hands each operation the
entries its parameter table knows (mpcmix.model.params) and the model parses them. Unknown keys
are ignored there, as the plivo SDK sends ~38 keys on add_participant and repeats its
identifiers in some bodies.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from mpcmix.errors import ValidationError


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The arguments of a POST/DELETE body: a JSON object or a form (an empty body is `{}`)."""
    if not body.strip():
        return {}
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return _form(body)
    if media_type in ("application/json", "") or media_type.endswith("+json"):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            if media_type == "":
                return _form(body)
            raise ValidationError(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValidationError(
                f"the request body must be a JSON object of parameters, not {type(data).__name__}"
            )
        return data
    raise ValidationError(
        f"unsupported Content-Type {media_type!r}: send application/json or "
        "application/x-www-form-urlencoded"
    )


def _form(body: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ValidationError("the form body is not UTF-8") from None
    return query_args(pairs)


def query_args(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Key/value pairs as a dict; a key given more than once becomes the list of its values."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out
