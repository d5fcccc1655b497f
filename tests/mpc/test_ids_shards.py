"""Ids of a sharded server (mpc/model/ids.py): shard K of N gives ids that name K, never another
shard's; one shard gives exactly the ids of an unsharded model."""

from __future__ import annotations

import pytest
from mpcmix.model.ids import IdSource, shard_of_id, shard_of_name


def test_one_shard_gives_the_unsharded_ids():
    a, b = IdSource(7), IdSource(7, 0, 1)
    assert [a.uuid("mpc") for _ in range(5)] == [b.uuid("mpc") for _ in range(5)]
    assert [a.member_id() for _ in range(5)] == [b.member_id() for _ in range(5)]
    assert shard_of_id(a.uuid("call"), 1) == 0 and shard_of_name("MA", "x", 1) == 0


@pytest.mark.parametrize("shards", [2, 3, 16])
def test_every_id_of_a_shard_names_it_and_no_two_shards_share_one(shards):
    seen: set[str] = set()
    members: set[str] = set()
    for shard in range(shards):
        ids = IdSource(7, shard, shards)
        for kind in ("mpc", "call", "recording"):
            for _ in range(20):
                value = ids.uuid(kind)
                assert shard_of_id(value, shards) == shard
                assert shard_of_id(f"{value}-all.wav", shards) == shard  # a recording's file name
                assert value not in seen
                seen.add(value)
        for _ in range(20):
            member = ids.member_id()
            assert int(member) % shards == shard and member not in members
            members.add(member)


def test_member_ids_after_an_earlier_run_stay_on_their_shard_and_above_it():
    ids = IdSource(7, 1, 4)
    ids.member_ids_from(10_000)
    first = int(ids.member_id())
    assert first >= 10_000 and first % 4 == 1


def test_names_spread_over_the_shards_and_stay_put():
    placed = [shard_of_name("MAMPCMIXTESTMAIN0001", f"mpc-{i}", 4) for i in range(400)]
    assert set(placed) == {0, 1, 2, 3} and min(placed.count(k) for k in range(4)) > 60
    assert placed == [shard_of_name("MAMPCMIXTESTMAIN0001", f"mpc-{i}", 4) for i in range(400)]
    assert shard_of_id("not-an-id", 4) == 0 and shard_of_id("", 4) == 0
