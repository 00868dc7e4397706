"""network.ping (agent/operations/network_ping.py).

Through a stand-in ``ping`` answering with ping's own output, and for real
over an ICMP socket where this host allows one (else: skipped).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from agent.operations import network_ping
from agent.operations.base import OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError
from tests.agent.operations.test_network import run
from tests.standins import Answer, Standins, capture

# -- ping -----------------------------------------------------------------------


def ping_standin(tmp_path: Path, answer: Answer) -> Standins:
    standins = Standins.create(tmp_path, tmp_path)
    standins.add("ping", otherwise=answer)
    return standins


async def test_ping_with_the_tool_reads_its_statistics(tmp_path: Path) -> None:
    standins = ping_standin(tmp_path, Answer(stdout=capture("ping/loopback.txt")))
    data = {"host": "127.0.0.1", "count": 3, "timeout": 10}
    result = await run("network.ping", data, Host(tmp_path, standins.only))
    assert result.data == {
        "host": "127.0.0.1",
        "address": "127.0.0.1",
        "transmitted": 3,
        "received": 3,
        "packet_loss": 0.0,
        "rtt_min": 0.036,
        "rtt_avg": 0.043,
        "rtt_max": 0.048,
        "method": "ping",
    }
    assert standins.calls("ping") == [["-n", "-c", "3", "-w", "10", "127.0.0.1"]]


async def test_ping_without_replies_is_a_result_not_a_failure(tmp_path: Path) -> None:
    answer = Answer(stdout=capture("ping/no-reply.txt"), exit_code=1)
    standins = ping_standin(tmp_path, answer)
    result = await run(
        "network.ping", {"host": "192.0.2.1", "timeout": 4.5}, Host(tmp_path, standins.only)
    )
    assert result.data["transmitted"] == 5
    assert (result.data["received"], result.data["packet_loss"]) == (0, 100.0)
    assert result.data["rtt_avg"] is None
    assert standins.calls("ping") == [["-n", "-c", "3", "-w", "5", "192.0.2.1"]]


async def test_ping_of_an_unknown_host_fails_with_what_ping_said(tmp_path: Path) -> None:
    answer = Answer(stderr=capture("ping/unknown-host.stderr.txt"), exit_code=2)
    standins = ping_standin(tmp_path, answer)
    with pytest.raises(
        OperationFailed, match=r"exited with 2: ping: nosuch\.invalid: Name or service"
    ):
        await run("network.ping", {"host": "nosuch.invalid"}, Host(tmp_path, standins.only))


def unprivileged_icmp_allowed() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except OSError:
        return False
    return True


async def test_ping_without_the_tool_uses_an_icmp_socket_or_is_skipped(tmp_path: Path) -> None:
    no_tools = Host(tmp_path, str(Standins.create(tmp_path, tmp_path).only))
    data = {"host": "127.0.0.1", "count": 2, "timeout": 4}
    if not unprivileged_icmp_allowed():  # this machine: net.ipv4.ping_group_range = "1 0"
        with pytest.raises(OperationSkipped, match="ping is not installed and the kernel refuses"):
            await run("network.ping", data, no_tools)
        return
    result = await run("network.ping", data, no_tools)
    assert (result.data["method"], result.data["address"]) == ("socket", "127.0.0.1")
    assert result.data["received"] == 2
    assert result.data["rtt_min"] is not None


def test_an_echo_request_carries_a_valid_checksum_and_its_reply_is_recognized() -> None:
    packet = network_ping.echo_request(socket.AF_INET, 7)
    assert network_ping.checksum(packet) == 0  # a correct checksum sums to zero
    assert len(packet) == 8 + 56
    reply = bytes([0]) + packet[1:]  # type 0: echo reply, same sequence
    assert network_ping.is_reply(socket.AF_INET, reply, 7)
    assert not network_ping.is_reply(socket.AF_INET, reply, 8)
    assert not network_ping.is_reply(socket.AF_INET, packet, 7)  # a request is not a reply


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"host": "-oProxy"}, "host"),
        ({"host": "a b"}, "host"),
        ({"host": "x", "count": 0}, "count"),
    ],
)
def test_ping_refuses_bad_values_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(OperationError, match=rf"^operation\.data[.:] ?{field}"):
        validate_params("network.ping", data)
