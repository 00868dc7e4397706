"""The example configuration and the README name every setting, with its real default."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from common import config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "corral.example.toml"
# Values a deployment sets that the built-in defaults leave empty.
SET_BY_DEPLOYMENT = {"signing_key", "public_key", "journal_dir", "api_keys"}


def defaults(kind: type[msgspec.Struct]) -> dict[str, Any]:
    # Through JSON, so tuples compare equal to the example's TOML arrays.
    return msgspec.json.decode(msgspec.json.encode(msgspec.convert({}, kind)))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("section", "kind"), [("controller", config.ControllerConfig), ("agent", config.AgentConfig)]
)
def test_the_example_file_lists_every_setting_with_its_default(
    section: str, kind: type[msgspec.Struct]
) -> None:
    example = tomllib.loads(EXAMPLE.read_text())[section]
    built_in = defaults(kind)
    assert set(example) == set(built_in), "missing or unknown settings in the example"
    differ = {k for k in built_in if k not in SET_BY_DEPLOYMENT and example[k] != built_in[k]}
    assert not differ, f"the example's value is not the default for {sorted(differ)}"


def test_the_example_file_loads() -> None:
    controller = config.load_controller({}, config_file=str(EXAMPLE))
    assert [key.name for key in controller.api_keys] == ["ops-admin", "monitoring"]
    agent = config.load_agent({}, {"hostname": "web-1.example"}, config_file=str(EXAMPLE))
    assert agent.journal_dir == "/var/lib/corral-agent"


def test_the_readme_names_every_environment_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    names = {*config._CONTROLLER_ENV, *config._AGENT_ENV, "CORRAL_CONFIG", "CORRAL_API_KEY"}
    assert not {name for name in names if f"`{name}`" not in readme}
