"""deploy/grafana/corral.json asks only for metrics corral exports. Reads the file; no I/O else.

The exported names come from the registries themselves (the controller's
metrics with its scrape-time collector, the agent's collector), so a
renamed or dropped metric fails here, not on an operator's empty panel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Metric

from agent.metrics import AgentCollector
from controller.metrics import ControllerMetrics, Scraped
from tests.imports import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "corral.json"
METRIC_NAME = re.compile(r"\bcorral_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def sample_names(families: Iterable[Metric]) -> set[str]:
    """The series names a scrape can show, by each family's type."""
    return {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}


def exported() -> set[str]:
    controller = ControllerMetrics(CollectorRegistry())
    scraped = Scraped(
        folded=lambda: 0, rejected=dict, agents=dict, fold_lag=lambda: 0.0, requests=dict
    )
    scraped.backlog = 0  # known at scrape time only, like here
    controller.registry.register(scraped)
    agent = AgentCollector(lambda: None)
    return sample_names(controller.registry.collect()) | sample_names(agent.describe())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # inside a collapsed row


def test_every_expression_names_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = exported()
    named = [
        (panel["title"], name)
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        for name in METRIC_NAME.findall(target["expr"])
    ]
    assert named, "no expression names a corral metric"
    assert [(title, name) for title, name in named if name not in known] == []
    # And the list the operations team asked for is on it.
    wanted = {
        "corral_jobs_finished_total",
        "corral_job_duration_seconds_bucket",
        "corral_job_first_answer_seconds_bucket",
        "corral_fold_lag_seconds",
        "corral_event_backlog",
        "corral_agents",
        "corral_http_requests_total",
        "corral_agent_refusals_total",
    }
    assert wanted <= {name for _, name in named}


def test_every_panel_reads_the_chosen_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    chosen = {"type": "prometheus", "uid": "${" + variable["name"] + "}"}
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"] == chosen, panel["title"]
            assert all(t["datasource"] == chosen for t in panel["targets"]), panel["title"]
