"""Terminal rendering of API answers with rich. I/O: stdout."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def print_detail(detail: dict[str, Any]) -> None:
    dry = "  (dry run)" if detail["operation"].get("dry_run") else ""
    console.print(
        f"[bold]job[/bold] {detail['id']}  [bold]{detail['status']}[/bold]  "
        f"{detail['operation']['type']}{dry}  changed={detail['changed']}"
    )
    if detail.get("error"):
        # Unwrapped, so a pipe or a log file gets the whole error on one line.
        console.print(f"[red]error:[/red] {detail['error']}", highlight=False, soft_wrap=True)
    table = Table("agent", "status", "attempt", "duration", "error / result")
    for host, state in sorted(detail["agent_states"].items()):
        response = detail["responses"].get(host, {})
        summary = state.get("error") or json.dumps(response.get("data"))[:80]
        duration = state.get("duration")
        table.add_row(
            host,
            state["status"],
            str(state["attempt"]),
            "" if duration is None else f"{duration * 1000:.1f} ms",
            summary or "",
        )
    console.print(table)


def print_jobs(listing: dict[str, Any]) -> None:
    counts = ", ".join(f"{k}={v}" for k, v in listing["status_counts"].items() if v)
    console.print(f"{listing['total_items']} jobs ({counts})")
    table = Table("id", "status", "operation", "target", "agents", "created")
    for item in listing["items"]:
        table.add_row(
            item["id"],
            item["status"],
            item["operation"]["type"],
            item["target"],
            f"{item['finished_agents']}/{item['expected_agents']}",
            item["created"],
        )
    console.print(table)


def print_agents(listing: dict[str, Any]) -> None:
    table = Table("hostname", "state", "drained", "labels", "os", "cpus", "last seen")
    for agent in listing["items"]:
        labels = ",".join(f"{k}={v}" for k, v in agent["labels"].items())
        facts = agent["facts"]
        table.add_row(
            agent["hostname"],
            agent["state"],
            "drained" if agent.get("drained") else "",
            labels,
            facts.get("os_release") or facts.get("os", ""),
            str(facts.get("cpu_count", "")),
            agent["last_seen"],
        )
    console.print(table)


def print_objects(listing: dict[str, Any]) -> None:
    table = Table("name", "size", "sha256", "modified")
    for item in listing["objects"]:
        table.add_row(item["name"], str(item["size"]), item["sha256"], item["modified"] or "")
    console.print(table)


def print_operations(listing: dict[str, Any]) -> None:
    console.print(f"{listing['total_items']} operations")
    table = Table("operation", "kind", "scope", "summary")
    for item in listing["items"]:
        table.add_row(item["name"], item["kind"], item["scope"], item["summary"])
    console.print(table)


def _fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The properties of a msgspec JSON Schema's top-level struct (empty if not a struct)."""
    name = schema.get("$ref", "").rpartition("/")[2]
    return dict(schema.get("$defs", {}).get(name, {}).get("properties", {}))


def print_operation(view: dict[str, Any]) -> None:
    console.print(f"[bold]{view['name']}[/bold]  {view['summary']}", highlight=False)
    console.print(view["description"], highlight=False)
    dry = "yes" if view["dry_run"] else "no"
    console.print(
        f"kind: {view['kind']}  scope: {view['scope']}  platforms: "
        f"{', '.join(view['platforms'])}  dry run: {dry}",
        highlight=False,
    )
    for title, schema in (("params", view["params_schema"]), ("result", view["result_schema"])):
        table = Table(title, "schema")
        for name, field in _fields(schema).items():
            table.add_row(name, json.dumps(field))
        console.print(table)
    console.print(f"example data: {json.dumps(view['example'])}", highlight=False)
