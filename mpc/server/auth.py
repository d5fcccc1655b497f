"""HTTP Basic authentication against the configured accounts, in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable

from mpcmix.errors import AuthenticationError

from .config import Account

_DUMMY_TOKEN = "x" * 40


class Authenticator:
    """Checks `Authorization: Basic ...` headers and which account paths they may act on.

    A token is compared with `hmac.compare_digest`, and an unknown auth id is compared against a
    dummy token, so the time taken does not tell which auth ids exist.
    """

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._accounts = {a.auth_id: a for a in accounts}

    def authenticate(self, header: str | None) -> Account:
        """The account the header's credentials belong to (AuthenticationError otherwise)."""
        credentials = parse_basic(header)
        if credentials is None:
            raise AuthenticationError("authentication required: send HTTP Basic credentials "
                                      "(auth_id:auth_token)")
        auth_id, token = credentials
        account = self._accounts.get(auth_id)
        expected = account.auth_token if account is not None else _DUMMY_TOKEN
        matches = hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
        if account is None or not matches:
            raise AuthenticationError("authentication failed: wrong auth_id or auth_token")
        return account

    def acting_as(self, account: Account, path_auth_id: str) -> Account:
        """The account whose MPCs a request on `/v1/Account/{path_auth_id}/` acts on.

        The path must name the authenticated account, or one of its subaccounts when a main
        account calls; anything else is refused with 401, as the real API refuses credentials
        that do not match the account in the URL.
        """
        if path_auth_id == account.auth_id:
            return account
        target = self._accounts.get(path_auth_id)
        if target is not None and target.parent == account.auth_id:
            return target
        raise AuthenticationError(
            f"authentication failed: these credentials cannot act on account {path_auth_id!r}"
        )

    def subaccounts_of(self, auth_id: str) -> list[Account]:
        return [a for a in self._accounts.values() if a.parent == auth_id]


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(auth_id, auth_token) from a Basic Authorization header, or None if it is not one."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    auth_id, colon, token = decoded.partition(":")
    if not colon:
        return None
    return auth_id, token
