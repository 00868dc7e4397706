"""The ``certificate.*`` handlers on a temporary host root, with stand-in update tools.

``openssl`` is the machine's own (reading a certificate is harmless); the
stores' update tools are recording stand-ins.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.certificate import parse_x509
from agent.operations.host import Host
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, validate_params
from common.operations.declaration import OperationError
from tests.standins import Answer, Standins, capture

EXAMPLE = capture("openssl/example-root.pem")
OTHER = capture("openssl/other-root.pem")
# openssl's own fingerprint of it: "sha256 Fingerprint=49:39:...".
EXAMPLE_SHA256 = (
    capture("openssl/fingerprint-example-root.txt")
    .strip()
    .partition("=")[2]
    .replace(":", "")
    .lower()
)
DEBIAN_STORE = "usr/local/share/ca-certificates"


async def run(op_type: str, data: dict[str, Any], ctx: OperationContext) -> tuple[Any, bool]:
    result = await HANDLERS[op_type](validate_params(op_type, data), ctx)
    msgspec.convert(result.data, OPERATIONS[op_type].result, strict=True)  # as declared
    return result.data, result.changed


def context(standins: Standins, dry_run: bool = False) -> OperationContext:
    return OperationContext(
        hostname="h", timeout=10, host=Host(standins.root, standins.only), dry_run=dry_run
    )


def with_openssl(standins: Standins) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed here")
    (standins.bin / "openssl").symlink_to(openssl)


@pytest.fixture
def debian(tmp_path: Path) -> Standins:
    root = tmp_path / "root"
    (root / DEBIAN_STORE).mkdir(parents=True)
    standins = Standins.create(tmp_path, root)
    standins.add(
        "update-ca-certificates",
        otherwise=Answer(stdout=capture("update-ca-certificates/added.txt")),
    )
    return standins


async def test_adding_writes_the_pem_once_and_updates_the_store_once(debian: Standins) -> None:
    data, changed = await run(
        "certificate.add", {"name": "example", "content": EXAMPLE}, context(debian)
    )
    path = debian.root / DEBIAN_STORE / "example.crt"
    assert changed
    assert data["path"] == "/usr/local/share/ca-certificates/example.crt"
    assert data["updated"] is True
    assert path.read_text() == EXAMPLE
    assert path.stat().st_mode & 0o777 == 0o644
    assert data["diff"].startswith(
        "--- /dev/null\n+++ b/usr/local/share/ca-certificates/example.crt\n"
    )
    assert "+-----BEGIN CERTIFICATE-----\n" in data["diff"]

    # The same certificate, pasted with other line breaks: nothing to do.
    messy = "  \n" + EXAMPLE.replace("\n", "\r\n") + "\n"
    again, changed = await run(
        "certificate.add", {"name": "example", "content": messy}, context(debian)
    )
    assert (changed, again["diff"], again["updated"]) == (False, "", False)
    assert debian.calls("update-ca-certificates") == [[]]


async def test_a_dry_run_add_shows_the_diff_and_touches_nothing(debian: Standins) -> None:
    (debian.root / DEBIAN_STORE / "example.crt").write_text(OTHER)
    data, changed = await run(
        "certificate.add", {"name": "example", "content": EXAMPLE}, context(debian, dry_run=True)
    )
    assert changed
    assert data["updated"] is False
    assert "-" + OTHER.splitlines()[1] + "\n" in data["diff"]
    assert "+" + EXAMPLE.splitlines()[1] + "\n" in data["diff"]
    assert (debian.root / DEBIAN_STORE / "example.crt").read_text() == OTHER
    assert debian.calls("update-ca-certificates") == []


async def test_a_failed_update_puts_the_file_back(debian: Standins) -> None:
    debian.add("update-ca-certificates", otherwise=Answer(stderr="E: cannot write\n", exit_code=1))
    with pytest.raises(OperationFailed, match="update-ca-certificates exited with 1"):
        await run("certificate.add", {"name": "example", "content": EXAMPLE}, context(debian))
    assert not (debian.root / DEBIAN_STORE / "example.crt").exists()


async def test_the_list_describes_each_file_and_flags_a_broken_one(debian: Standins) -> None:
    with_openssl(debian)
    store = debian.root / DEBIAN_STORE
    (store / "example.crt").write_text(EXAMPLE)
    (store / "team").mkdir()
    (store / "team" / "other.crt").write_text(OTHER)
    (store / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n")
    (store / "notes.txt").write_text("not a certificate file")
    data, changed = await run("certificate.list", {}, context(debian))
    assert not changed
    assert (data["layout"], data["directory"]) == ("debian", "/usr/local/share/ca-certificates")
    by_name = {c["name"]: c for c in data["certificates"]}
    assert sorted(by_name) == ["broken", "example", "team/other"]
    assert by_name["example"] == {
        "name": "example",
        "path": "/usr/local/share/ca-certificates/example.crt",
        "sha256": EXAMPLE_SHA256,
        "subject": "O=Example,CN=example-root CA",
        "issuer": "O=Example,CN=example-root CA",
        "not_after": "2036-11-30T11:17:57Z",
    }
    assert by_name["team/other"]["subject"] == "O=Example,CN=other-root CA"
    assert by_name["broken"]["sha256"] is None
    assert "exactly one PEM certificate" in by_name["broken"]["error"]


async def test_without_openssl_the_list_keeps_to_the_fingerprint(debian: Standins) -> None:
    (debian.root / DEBIAN_STORE / "example.crt").write_text(EXAMPLE)
    data, _ = await run("certificate.list", {}, context(debian))
    (entry,) = data["certificates"]
    assert entry["sha256"] == EXAMPLE_SHA256
    assert entry.get("subject") is None


def test_openssls_real_output_parses() -> None:
    assert parse_x509(capture("openssl/x509-example-root.txt")) == {
        "subject": "O=Example,CN=example-root CA",
        "issuer": "O=Example,CN=example-root CA",
        "not_after": "2036-11-30T11:17:57Z",
    }


async def test_removing_removes_once_and_a_dry_run_keeps_the_file(debian: Standins) -> None:
    path = debian.root / DEBIAN_STORE / "example.crt"
    path.write_text(EXAMPLE)
    dry, changed = await run(
        "certificate.remove", {"name": "example"}, context(debian, dry_run=True)
    )
    assert changed
    assert dry["diff"].startswith(
        "--- a/usr/local/share/ca-certificates/example.crt\n+++ /dev/null\n"
    )
    assert path.exists()
    data, changed = await run("certificate.remove", {"name": "example"}, context(debian))
    assert (changed, data["updated"]) == (True, True)
    assert not path.exists()
    _, changed = await run("certificate.remove", {"name": "example"}, context(debian))
    assert not changed
    assert debian.calls("update-ca-certificates") == [[]]


async def test_the_rhel_store_is_its_anchors_directory_and_update_ca_trust(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    standins = Standins.create(tmp_path, root)
    standins.add("update-ca-trust")
    data, changed = await run(
        "certificate.add", {"name": "corp", "content": EXAMPLE}, context(standins)
    )
    assert changed
    assert data["path"] == "/etc/pki/ca-trust/source/anchors/corp.crt"
    assert (root / "etc/pki/ca-trust/source/anchors/corp.crt").read_text() == EXAMPLE
    assert standins.calls("update-ca-trust") == [["extract"]]
    (root / "etc/pki/ca-trust/source/anchors/hand-made.pem").write_text(OTHER)
    listed, _ = await run("certificate.list", {}, context(standins))
    assert [c["name"] for c in listed["certificates"]] == ["corp", "hand-made.pem"]


@pytest.mark.parametrize("op_type", ["certificate.list", "certificate.add", "certificate.remove"])
async def test_a_host_without_an_update_tool_is_skipped(op_type: str, tmp_path: Path) -> None:
    data = {"certificate.list": {}, "certificate.add": {"name": "x", "content": EXAMPLE}}
    ctx = OperationContext(hostname="h", timeout=10, host=Host(tmp_path, str(tmp_path)))
    with pytest.raises(OperationSkipped, match="update-ca-certificates or update-ca-trust"):
        await run(op_type, data.get(op_type, {"name": "x"}), ctx)


KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "a/b", "content": EXAMPLE}, "operation.data.name: Expected `str` matching regex"),
        ({"name": "x", "content": EXAMPLE + KEY}, "content holds a private key"),
        ({"name": "x", "content": EXAMPLE + OTHER}, "exactly one PEM certificate, found 2"),
        ({"name": "x", "content": "hello"}, "exactly one PEM certificate, found 0"),
        (
            {
                "name": "x",
                "content": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            },
            "content: the PEM block is not a DER certificate",
        ),
    ],
)
def test_bad_parameters_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(OperationError, match=message):
        validate_params("certificate.add", data)
