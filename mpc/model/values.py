"""Reading one API value as the real API accepts it, refusing the rest with a 400 that teaches.

Values arrive from JSON bodies (booleans and integers as JSON types), from form bodies and query
strings (everything a string) and from scenario files (YAML types). So a boolean is a JSON bool or
"true"/"false" in any case, an integer is an int or a string of digits (never a bool), and a
missing value is absent or None. Text is checked before anything else happens with it: it must
be Unicode that can be written out (no lone surrogate, which a JSON body can carry as ``"\\ud800"``
and no file, log or response could then encode), hold no NUL, and be at most `MAX_TEXT`
characters unless the parameter says less. Every error names the parameter and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from mpcmix.errors import ValidationError

#: The longest text any parameter takes (its table entry may say less).
MAX_TEXT = 4096
#: How much of a refused value an error message shows.
SHOWN = 80

_INT = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2})(:\d{2}(\.\d{1,6})?)?$")


def is_given(value: Any) -> bool:
    """Whether a parameter was given: None and "" (an empty form field) mean absent."""
    return value is not None and value != ""


def unwrap(name: str, value: Any) -> Any:
    """A one-element list as its element (the SDK's `start()` sends ``{"status": ["active"]}``)."""
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ValidationError(f"{name} takes one value, not {len(value)} ({shown(value)})")
        return value[0]
    return value


def as_bool(name: str, value: Any) -> bool:
    """`value` as a boolean: a JSON bool or "true"/"false" in any case."""
    value = unwrap(name, value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationError(f"{name} must be true or false, not {shown(value)}")


def as_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """`value` as an integer within [low, high]: an int or a string of digits, never a bool."""
    value = unwrap(name, value)
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be an integer, not {shown(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT.match(value.strip()):
        number = int(value.strip())
    else:
        raise ValidationError(f"{name} must be an integer, not {shown(value)}")
    if low is not None and high is not None and not low <= number <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, not {number}")
    if low is not None and number < low:
        raise ValidationError(f"{name} must be at least {low}, not {number}")
    return number


def shown(value: Any) -> str:
    """`value` as an error message shows it: its repr, cut to `SHOWN` characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN - 5]}...{text[-2:]}"


def check_text(name: str, text: str, max_len: int | None = None) -> str:
    """`text` if it can be stored and sent back: valid Unicode (no lone surrogate), no NUL, at
    most `max_len` (default `MAX_TEXT`) characters; else a ValidationError naming `name`."""
    limit = MAX_TEXT if max_len is None else max_len
    if len(text) > limit:
        raise ValidationError(f"{name} must be at most {limit} characters, not {len(text)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{name} must be valid Unicode text: it holds a lone surrogate "
                              f"(U+{ord(text[exc.start]):04X} at character {exc.start})") from None
    if "\x00" in text:
        raise ValidationError(f"{name} must not hold a NUL character (at character "
                              f"{text.index(chr(0))})")
    return text


def as_str(name: str, value: Any, *, max_len: int | None = None) -> str:
    """`value` as a non-empty string (numbers are taken as their decimal text), checked by
    `check_text`."""
    value = unwrap(name, value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"{name} must be a string, not {shown(value)}")
    text = check_text(name, str(value), max_len)
    if not text.strip():
        raise ValidationError(f"{name} must not be empty")
    return text


#: Schemes a callback URL may use.
CALLBACK_SCHEMES = ("http", "https")


def as_url(name: str, value: Any) -> str:
    """`value` as a callback URL: http or https, a host, a valid port, no spaces or control
    characters, so a callback to it can be sent (the check happens when the URL is given, never
    when the callback is due)."""
    text = as_str(name, value).strip()
    bad = next((c for c in text if c.isspace() or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValidationError(f"{name} must be a URL without spaces or control characters "
                              f"({shown(bad)} in {shown(text)})")
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise ValidationError(f"{name} is not a valid URL ({exc}): {shown(text)}") from None
    if parts.scheme.lower() not in CALLBACK_SCHEMES:
        raise ValidationError(f"{name} must be an http or https URL, not {shown(text)}")
    if not host:
        raise ValidationError(f"{name} must name a host: {shown(text)}")
    if port == 0:
        raise ValidationError(f"{name} has port 0: {shown(text)}")
    try:
        host.encode("idna")
    except UnicodeError:
        raise ValidationError(f"{name} names a host that is not a valid domain name: "
                              f"{shown(host)}") from None
    return text


def as_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """`value` as one of `choices`, compared without case; returns the choice's own spelling."""
    text = as_str(name, value)
    options = list(choices)
    for option in options:
        if text.strip().lower() == option.lower():
            return option
    listed = ", ".join(options)
    raise ValidationError(f"{name} must be one of {listed}, not {text!r}")


def as_method(name: str, value: Any) -> str:
    """An HTTP method for a callback or a media fetch: GET or POST."""
    return as_choice(name, value, ("GET", "POST"))


def as_int_list(name: str, value: Any, low: int, high: int) -> list[int]:
    """A '<'-separated list of integers (one per destination), each within [low, high]."""
    value = unwrap(name, value)
    if isinstance(value, str) and "<" in value:
        return [as_int(name, part, low, high) for part in value.split("<")]
    return [as_int(name, value, low, high)]


def read(params: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The value of `name` in `params`, or `default` when it is absent, None or ""."""
    value = params.get(name)
    return value if is_given(value) else default


def refuse_unless_default(name: str, value: Any, default: Any, why: str) -> None:
    """Refuse (400) a value mpcmix cannot honour when it differs from the API's default.

    The emulator accepts such a parameter at its default so that SDK calls work, and refuses any
    other value, so that a test never passes on a feature that was silently skipped.
    """
    if not is_given(value):
        return
    if isinstance(default, bool):
        if as_bool(name, value) == default:
            return
    elif default is not None and str(unwrap(name, value)) == str(default):
        return
    leave = "absent" if default is None else repr(default)
    raise ValidationError(f"{name}={shown(value)} is not supported by mpcmix ({why}); "
                          f"leave it {leave}")


def parse_filter_time(name: str, value: Any, tz: Any) -> datetime:
    """A list filter's time, 'YYYY-MM-DD HH:MM[:ss[.ffffff]]', in the zone `tz` (None: naive)."""
    text = as_str(name, value).strip()
    match = _DATE.match(text)
    if not match:
        raise ValidationError(f"{name} must look like 'YYYY-MM-DD HH:MM[:ss]', not {text!r}")
    try:
        moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M")
    except ValueError:
        raise ValidationError(f"{name} is not a valid date and time: {text!r}") from None
    if match.group(2):
        seconds = float(match.group(2)[1:])
        if seconds >= 60:
            raise ValidationError(f"{name} is not a valid date and time: {text!r}")
        moment += timedelta(seconds=seconds)
    return moment.replace(tzinfo=tz)
