"""Tests for agent/facts.py, run against this Linux host."""

from __future__ import annotations

import os
import platform
import time

import msgspec

from agent.facts import collect_facts
from common.messages import Facts


def test_facts_describe_this_host() -> None:
    facts = collect_facts(["test.ping", "command.exec"], max_concurrency=4, version="1.2.3")
    assert facts.os == "Linux"
    assert facts.kernel == platform.release()
    assert facts.arch == platform.machine()
    assert facts.cpu_count == os.cpu_count()
    assert facts.memory_total > 0
    assert 0 < facts.boot_time < time.time()
    assert facts.agent_version == "1.2.3"
    assert facts.python == platform.python_version()
    assert facts.operations == ["command.exec", "test.ping"]
    assert facts.max_concurrency == 4


def test_os_release_is_the_pretty_name_when_there_is_one() -> None:
    facts = collect_facts([], max_concurrency=1, version="0")
    try:
        expected = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        expected = ""
    assert facts.os_release == expected


def test_facts_survive_the_wire() -> None:
    facts = collect_facts(["test.ping"], max_concurrency=2, version="0")
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(facts), type=Facts) == facts
