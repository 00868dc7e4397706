"""``skipped``: an agent whose host lacks what the operation needs leaves the job's count."""

from __future__ import annotations

from tests.harness import Stack

HOSTS = ("a.dev.local", "b.dev.local", "c.dev.local")


async def test_skipped_agents_count_as_neither_completed_nor_failed(stack: Stack) -> None:
    for host in HOSTS:
        await stack.start_agent(host)

    some = await stack.final(
        await stack.submit("test.skip", {"reason": "no systemd", "hosts": ["a.dev.local"]}, "_all")
    )
    assert some["status"] == "completed"
    assert some["error"] is None
    skipped = some["agent_states"]["a.dev.local"]
    assert (skipped["status"], skipped["error"]) == ("skipped", "no systemd")
    assert some["responses"]["a.dev.local"]["status"] == "skipped"
    assert {some["agent_states"][h]["status"] for h in HOSTS[1:]} == {"completed"}
    entry = next(e for e in some["timeline"] if e["event"] == "skipped")
    assert (entry["hostname"], entry["error"]) == ("a.dev.local", "no systemd")

    everywhere = await stack.final(await stack.submit("test.skip", {"reason": "no apt"}, "_all"))
    assert everywhere["status"] == "failed"
    assert everywhere["error"] == "skipped on every target"
    assert {s["status"] for s in everywhere["agent_states"].values()} == {"skipped"}

    alone = await stack.final(await stack.submit("test.skip", {"reason": "no docker"}, "_any"))
    assert alone["status"] == "failed"
    assert alone["error"] == "skipped on every target: no docker"
