"""Deterministic identifiers: every id of a call model derives from its seed.

Each kind of id (MPC uuids, call uuids, recording ids, api_ids, request uuids) draws from its own
seeded stream, so that adding a look-up (which spends an api_id) to a scenario does not change any
MPC's or participant's id.

Shards (``mpcmix serve --workers N``): the ids of shard K of N end in K, so that every id names its
shard (`shard_of_id`): a UUID's last four hex digits are K, a member id is ``n * N + K``. An MPC
lives on the shard its account and name place it on (`shard_of_name`). With one shard (N = 1) the
ids are exactly those of an unsharded model.
"""

from __future__ import annotations

import random
import uuid
import zlib
from collections.abc import Iterable

#: The most shards ids can name (a UUID's last four hex digits).
MAX_SHARDS = 1 << 16


def shard_of_name(auth_id: str, friendly_name: str, shards: int) -> int:
    """The shard an MPC named `friendly_name` of account `auth_id` lives on (0 for one shard):
    a stable hash (CRC-32) of the two, modulo `shards`."""
    if shards <= 1:
        return 0
    return zlib.crc32(f"{auth_id}\x00{friendly_name}".encode()) % shards


def shard_of_id(value: str, shards: int) -> int:
    """The shard that gave `value`: a UUID (or a file name that starts with one, as a recording's),
    read from the UUID's last four hex digits; 0 for one shard or for text that is no id of ours
    (that shard then answers that it has no such thing)."""
    if shards <= 1:
        return 0
    tail = value[:36][-4:]
    try:
        shard = int(tail, 16)
    except ValueError:
        return 0
    return shard if shard < shards else 0


class IdSource:
    """Seeded, independent streams of version-4 UUIDs, and numeric member ids.

    >>> a, b = IdSource(0), IdSource(0)
    >>> a.uuid("mpc") == b.uuid("mpc")
    True
    >>> a.member_id() == b.member_id()
    True
    """

    def __init__(self, seed: int, shard: int = 0, shards: int = 1) -> None:
        if not 1 <= shards <= MAX_SHARDS or not 0 <= shard < shards:
            raise ValueError(f"shard {shard} of {shards}: need 0 <= shard < shards <= {MAX_SHARDS}")
        self._seed = seed
        self._shard = shard
        self._shards = shards
        self._streams: dict[str, random.Random] = {}
        self._taken: dict[str, set[str]] = {}  # ids of earlier runs a stream must not give again
        # Member ids are numeric strings counting up from a seeded base, like the API's ("355").
        self._next_member = self._stream("member").randint(100, 899)

    def _stream(self, kind: str) -> random.Random:
        rng = self._streams.get(kind)
        if rng is None:
            key = f"mpcmix:{self._seed}:{kind}"
            if self._shards > 1:  # each shard its own streams
                key += f":{self._shard}/{self._shards}"
            rng = self._streams[kind] = random.Random(key)
        return rng

    def uuid(self, kind: str) -> str:
        """The next UUID of stream `kind` (``mpc``, ``call``, ``recording``, ``api``, ``request``)
        that is not one of its `avoid`ed ids."""
        taken = self._taken.get(kind, ())
        while True:
            value = str(uuid.UUID(int=self._stream(kind).getrandbits(128), version=4))
            if self._shards > 1:
                value = f"{value[:-4]}{self._shard:04x}"  # names its shard (`shard_of_id`)
            if value not in taken:
                return value

    def avoid(self, kind: str, ids: Iterable[str]) -> None:
        """Never give these ids of stream `kind` (ids an earlier run on the same data gave)."""
        self._taken.setdefault(kind, set()).update(ids)

    def member_ids_from(self, first: int) -> None:
        """Give member ids from `first` on (at least): the ids below it are taken."""
        if self._shards > 1:  # ids are n * shards + shard: the first n whose id is >= first
            first = -(-(first - self._shard) // self._shards)
        self._next_member = max(self._next_member, first)

    def member_id(self) -> str:
        """The next member id: a numeric string, unique within the account."""
        value = self._next_member
        self._next_member += 1
        return str(value * self._shards + self._shard)
