"""``network.ping``: the ``ping`` tool, else an unprivileged ICMP socket. I/O: runs, sends.

The tool is used where installed (through the host seam, so a test can
stand one in); its summary lines are parsed as iputils prints them.
Without it, an ICMP datagram socket (``SOCK_DGRAM``, ``IPPROTO_ICMP``)
needs no privilege where ``net.ipv4.ping_group_range`` admits the
agent's group; the kernel then picks the echo id and filters replies to
this socket. When neither works the host cannot ping:
:class:`OperationSkipped`.
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import struct
import time
from typing import Any

from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from common.operations.declaration import OperationResult
from common.operations.network import PingParams

_HEADER = re.compile(r"^PING \S+ \((?P<address>[^)]+)\)", re.MULTILINE)
_COUNTS = re.compile(r"(?P<sent>\d+) packets transmitted, (?P<got>\d+) received")
_RTT = re.compile(r"rtt min/avg/max/mdev = (?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)")
# ping's exit codes: 0 replies, 1 none came back; anything else is an error.
_NO_REPLY = 1

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTOCOL = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}
PAYLOAD = b"corral ping".ljust(56, b".")  # 56 bytes, like ping's


def summary(
    host: str, address: str | None, sent: int, got: int, rtts: list[float]
) -> dict[str, Any]:
    return {
        "host": host,
        "address": address,
        "transmitted": sent,
        "received": got,
        "packet_loss": round(100.0 * (sent - got) / sent, 3) if sent else 100.0,
        "rtt_min": round(min(rtts), 3) if rtts else None,
        "rtt_avg": round(sum(rtts) / len(rtts), 3) if rtts else None,
        "rtt_max": round(max(rtts), 3) if rtts else None,
    }


def parse_ping_output(host: str, text: str) -> dict[str, Any]:
    """The statistics of ``ping``'s output; ValueError when it has none."""
    counts = _COUNTS.search(text)
    if counts is None:
        raise ValueError("no statistics line")
    header, rtt = _HEADER.search(text), _RTT.search(text)
    sent, got = int(counts["sent"]), int(counts["got"])
    result = summary(host, header["address"] if header else None, sent, got, [])
    if rtt is not None:
        result.update(
            rtt_min=float(rtt["min"]), rtt_avg=float(rtt["avg"]), rtt_max=float(rtt["max"])
        )
    return result


async def _with_tool(params: PingParams, ctx: OperationContext) -> dict[str, Any]:
    deadline = str(max(1, math.ceil(params.timeout)))
    argv = ["ping", "-n", "-c", str(params.count), "-w", deadline, params.host]
    ran = await ctx.host.run(argv, check=False)
    if ran.exit_code not in (0, _NO_REPLY):
        raise OperationFailed(f"ping exited with {ran.exit_code}: {ran.reason()}")
    try:
        return parse_ping_output(params.host, ran.stdout)
    except ValueError:
        raise OperationFailed(f"ping printed no statistics: {ran.reason()}") from None


# -- the datagram socket ------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(family: socket.AddressFamily, sequence: int) -> bytes:
    # The kernel sets the id of a ping socket's echo (and, for IPv6, the checksum).
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, 0, sequence)
    return (
        struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + PAYLOAD), 0, sequence)
        + PAYLOAD
    )


def is_reply(family: socket.AddressFamily, packet: bytes, sequence: int) -> bool:
    """Whether ``packet`` (an ICMP message, no IP header) answers echo ``sequence``."""
    if len(packet) < 8:
        return False
    kind, _, _, _, seq = struct.unpack("!BBHHH", packet[:8])
    return bool(kind == ECHO_REPLY[family] and seq == sequence)


def open_socket(family: socket.AddressFamily) -> socket.socket:
    try:
        return socket.socket(family, socket.SOCK_DGRAM, PROTOCOL[family])
    except OSError as exc:
        raise OperationSkipped(
            "ping is not installed and the kernel refuses an unprivileged ICMP socket"
            f" ({exc.strerror or exc}; see net.ipv4.ping_group_range)"
        ) from None


def _echo_all(family: socket.AddressFamily, address: str, count: int, wait: float) -> list[float]:
    """Round trips in milliseconds of the echoes answered; runs in a thread (blocking socket)."""
    rtts: list[float] = []
    with open_socket(family) as sock:
        sock.connect((address, 0))
        for sequence in range(1, count + 1):
            sent = time.perf_counter()
            sock.send(echo_request(family, sequence))
            until = sent + wait
            while (left := until - time.perf_counter()) > 0:
                sock.settimeout(left)
                try:
                    packet = sock.recv(2048)
                except TimeoutError:
                    break
                if is_reply(family, packet, sequence):
                    rtts.append((time.perf_counter() - sent) * 1000)
                    break
    return rtts


async def _with_socket(params: PingParams) -> dict[str, Any]:
    open_socket(socket.AF_INET).close()  # can this host ping at all? Skipped before resolving.
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(params.host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise OperationFailed(f"cannot resolve {params.host}: {exc.strerror}") from None
    family, address = found[0][0], str(found[0][4][0])
    wait = params.timeout / params.count
    try:
        rtts = await asyncio.to_thread(_echo_all, family, address, params.count, wait)
    except OSError as exc:
        raise OperationFailed(f"ping {address}: {exc.strerror or exc}") from None
    return summary(params.host, address, params.count, len(rtts), rtts)


async def ping(params: PingParams, ctx: OperationContext) -> OperationResult:
    if ctx.host.which("ping") is not None:
        data = {**await _with_tool(params, ctx), "method": "ping"}
    else:
        data = {**await _with_socket(params), "method": "socket"}
    return OperationResult(data=data)
