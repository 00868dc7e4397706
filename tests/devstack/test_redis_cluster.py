"""The test Redis Cluster (devstack/redis_cluster.py): formed as asked, every slot served."""

from __future__ import annotations

from redis.crc import key_slot

from devstack.redis_cluster import SCHEME, EmbeddedRedisCluster


async def test_three_masters_each_with_a_replica_serve_every_slot(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    roles = await redis_cluster.roles()
    assert sorted(roles.values()) == ["master"] * 3 + ["slave"] * 3
    assert await redis_cluster.healthy()
    assert redis_cluster.url.startswith(f"{SCHEME}://")
    assert redis_cluster.url.count(",") == 5
    # Keys far apart in slot space land on the master serving their slot.
    owners = {}
    for key in ("a", "corral:{index}:all", "zz-top"):
        owners[key_slot(key.encode())] = (await redis_cluster.owner(key)).port
    assert set(owners.values()) <= {port for port, role in roles.items() if role == "master"}
    assert len(set(owners.values())) > 1
