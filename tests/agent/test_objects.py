"""agent/objects.py against a real nats-server: the bucket as the controller fills it."""

from __future__ import annotations

import json
import os

import pytest
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.kv import MSG_ROLLUP_SUBJECT

from agent.objects import BucketObjects
from agent.operations.errors import OperationFailed
from common.subjects import OBJECTS_BUCKET, object_meta

# Three chunks and a bit (nats-py stores 128 KiB per chunk).
CONTENT = os.urandom(3 * 128 * 1024 + 17)


async def test_an_object_reads_back_whole_over_several_chunks(js: JetStreamContext) -> None:
    store = await js.object_store(OBJECTS_BUCKET)
    await store.put("big.bin", CONTENT)
    await store.put("empty", b"")
    objects = BucketObjects(js)
    assert await objects.get("big.bin") == CONTENT
    assert await objects.get("empty") == b""
    await store.put("big.bin", b"replaced")  # a new version: new chunks, old ones purged
    assert await objects.get("big.bin") == b"replaced"


async def test_a_missing_or_deleted_object_fails_naming_it(js: JetStreamContext) -> None:
    store = await js.object_store(OBJECTS_BUCKET)
    await store.put("old", b"x")
    await store.delete("old")
    objects = BucketObjects(js)
    for name in ("never", "old"):
        with pytest.raises(OperationFailed, match=f"no object named '{name}'"):
            await objects.get(name)


async def test_content_that_does_not_match_its_digest_fails(js: JetStreamContext) -> None:
    store = await js.object_store(OBJECTS_BUCKET)
    info = await store.put("conf", b"the real content")
    meta = info.as_dict()
    meta["digest"] = (await store.put("other", b"something else")).digest
    # Metadata rewritten the way the store writes it: the last one per subject wins.
    await js.publish(
        object_meta("conf"), json.dumps(meta).encode(), headers={Header.ROLLUP: MSG_ROLLUP_SUBJECT}
    )
    with pytest.raises(OperationFailed, match="object 'conf' is corrupt"):
        await BucketObjects(js).get("conf")
