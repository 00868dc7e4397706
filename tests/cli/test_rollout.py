"""``corral run``'s rollout flags become the submit's ``rollout``. Pure."""

from __future__ import annotations

from typing import Any

import click
import pytest

from cli.rollout import rollout_from
from common.rollout import Rollout
from corral_sdk.calls import job_body

NONE: dict[str, Any] = dict.fromkeys(("batch_size", "pause", "max_failures", "max_concurrency"))


def test_no_flag_no_rollout() -> None:
    assert rollout_from(NONE) is None
    assert "rollout" not in job_body("test.ping", target="_all")


def test_counts_go_as_numbers_and_shares_as_text() -> None:
    given = {**NONE, "batch_size": "25%", "pause": 2.0, "max_failures": "1"}
    rollout = rollout_from(given)
    assert rollout == Rollout(batch_size="25%", pause=2.0, max_failures=1)
    body = job_body("test.ping", target="_all", rollout=rollout)
    assert body["rollout"] == {"batch_size": "25%", "pause": 2.0, "max_failures": 1}


def test_a_setting_without_a_batch_size_is_a_usage_error() -> None:
    with pytest.raises(click.UsageError, match="need --batch-size"):
        rollout_from({**NONE, "pause": 5.0})


def test_a_bad_value_names_its_flag() -> None:
    with pytest.raises(click.BadParameter, match="--batch-size"):
        rollout_from({**NONE, "batch_size": "half"})
