"""``corral object`` and the SDK's object methods against a real stack."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from corral_sdk.aio import AsyncClient
from corral_sdk.errors import BadRequest, NotFound
from tests.cli.test_operations import _logs_apart, corral  # noqa: F401 - autouse fixture
from tests.harness import ADMIN_KEY, Stack


async def test_objects_are_uploaded_listed_and_deleted(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "motd.txt"
    source.write_bytes(b"Welcome\n")
    sha256 = hashlib.sha256(b"Welcome\n").hexdigest()

    uploaded = await corral(stack, "object", "upload", str(source))
    assert uploaded.exit_code == 0, uploaded.output
    assert uploaded.output == f"motd.txt 8 {sha256}\n"
    renamed = await corral(stack, "object", "upload", str(source), "--name", "motd-v2")
    assert renamed.exit_code == 0, renamed.output
    bad = await corral(stack, "object", "upload", str(source), "--name", "a/b")
    assert bad.exit_code == 2
    assert "name: must match" in bad.output

    listed = await corral(stack, "object", "list", "-o", "json")
    assert listed.exit_code == 0, listed.output
    found = {item["name"]: item["size"] for item in json.loads(listed.stdout)["objects"]}
    assert found == {"motd.txt": 8, "motd-v2": 8}
    assert (await corral(stack, "object", "delete", "motd-v2")).exit_code == 0
    missing = await corral(stack, "object", "delete", "motd-v2")
    assert (missing.exit_code, "no object named 'motd-v2'" in missing.output) == (2, True)

    async with AsyncClient(str(stack.api.base_url), ADMIN_KEY) as client:
        stored = await client.upload_object("bin", b"\x00\x01")
        assert stored.sha256 == hashlib.sha256(b"\x00\x01").hexdigest()
        assert [o.name for o in (await client.list_objects()).objects] == ["bin", "motd.txt"]
        assert (await client.get_object("motd.txt")).sha256 == sha256
        await client.delete_object("bin")
        with pytest.raises(NotFound):
            await client.get_object("bin")
        with pytest.raises(BadRequest, match="name: must match"):
            await client.upload_object("", b"x")
