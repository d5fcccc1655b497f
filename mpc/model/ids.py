"""Deterministic identifiers: every id of a call model derives from its seed.

Each kind of id (MPC uuids, call uuids, recording ids, api_ids, request uuids) draws from its own
seeded stream, so that adding a look-up (which spends an api_id) to a scenario does not change any
MPC's or participant's id.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable


class IdSource:
    """Seeded, independent streams of version-4 UUIDs, and numeric member ids.

    >>> a, b = IdSource(0), IdSource(0)
    >>> a.uuid("mpc") == b.uuid("mpc")
    True
    >>> a.member_id() == b.member_id()
    True
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._streams: dict[str, random.Random] = {}
        self._taken: dict[str, set[str]] = {}  # ids of earlier runs a stream must not give again
        # Member ids are numeric strings counting up from a seeded base, like the API's ("355").
        self._next_member = self._stream("member").randint(100, 899)

    def _stream(self, kind: str) -> random.Random:
        rng = self._streams.get(kind)
        if rng is None:
            rng = self._streams[kind] = random.Random(f"mpcmix:{self._seed}:{kind}")
        return rng

    def uuid(self, kind: str) -> str:
        """The next UUID of stream `kind` (``mpc``, ``call``, ``recording``, ``api``, ``request``)
        that is not one of its `avoid`ed ids."""
        taken = self._taken.get(kind, ())
        while True:
            value = str(uuid.UUID(int=self._stream(kind).getrandbits(128), version=4))
            if value not in taken:
                return value

    def avoid(self, kind: str, ids: Iterable[str]) -> None:
        """Never give these ids of stream `kind` (ids an earlier run on the same data gave)."""
        self._taken.setdefault(kind, set()).update(ids)

    def member_ids_from(self, first: int) -> None:
        """Give member ids from `first` on (at least): the ids below it are taken."""
        self._next_member = max(self._next_member, first)

    def member_id(self) -> str:
        """The next member id: a numeric string, unique within the account."""
        value = self._next_member
        self._next_member += 1
        return str(value)
