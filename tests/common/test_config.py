"""Configuration: precedence, and the settings refused at load with a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common import config
from common.config import ConfigError, hash_key, load_agent, load_controller
from common.operations import plugins
from common.operations.catalog import add_families
from tests.catalogs import restored_tables

ROOT = Path(__file__).resolve().parents[2]


def test_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    file = tmp_path / "corral.toml"
    file.write_text('[controller]\nport = 9000\nname = "from-file"\n')
    env = {"CORRAL_CONFIG": str(file), "CORRAL_PORT": "9100"}
    assert load_controller(env).port == 9100
    assert load_controller(env).name == "from-file"
    assert load_controller(env, {"port": 9200}).port == 9200


def test_api_key_env_becomes_an_admin_digest_never_the_secret() -> None:
    config = load_controller({"CORRAL_API_KEY": "s3cret"})
    (key,) = config.api_keys
    assert key.sha256 == hash_key("s3cret")
    assert "admin" in key.scopes
    assert "s3cret" not in repr(config)


def test_unknown_scope_and_bad_types_are_config_errors(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text(
        '[[controller.api_keys]]\nname = "x"\nsha256 = "' + "ab" * 32 + '"\nscopes = ["job:nuke"]\n'
    )
    with pytest.raises(ConfigError, match="job:nuke"):
        load_controller({}, config_file=str(file))
    with pytest.raises(ConfigError, match="port"):
        load_controller({"CORRAL_PORT": "eighty"})


def test_the_known_scopes_are_the_apis_and_two_per_operation_family() -> None:
    families = {"test:read", "test:write", "node:read", "node:write"}
    families |= {"command:read", "command:write", "file:read", "file:write"}
    assert families | config.API_SCOPES == config.SCOPES


def _key_with(tmp_path: Path, scope: str) -> str:
    file = tmp_path / "c.toml"
    file.write_text(
        f'[[controller.api_keys]]\nname = "x"\nsha256 = "{"ab" * 32}"\nscopes = ["{scope}"]\n'
    )
    return str(file)


def test_a_family_scope_is_known_once_its_family_is_in_the_table(tmp_path: Path) -> None:
    (key,) = load_controller({}, config_file=_key_with(tmp_path, "node:write")).api_keys
    assert key.scopes == {"node:write"}
    with pytest.raises(ConfigError, match="example:read"):
        load_controller({}, config_file=_key_with(tmp_path, "example:read"))
    with restored_tables():
        add_families([plugins.load("example")])
        load_controller({}, config_file=_key_with(tmp_path, "example:read"))


def test_agent_needs_a_hostname_and_parses_labels() -> None:
    with pytest.raises(ConfigError, match="hostname"):
        load_agent({})
    config = load_agent({"CORRAL_HOSTNAME": "web-1", "CORRAL_LABELS": "group=web.dev,env=x"})
    assert config.labels == {"group": "web.dev", "env": "x"}


@pytest.mark.parametrize("hostname", ["my host", "web-1.", "-web", "controller"])
def test_an_agent_hostname_no_job_could_target_is_refused(hostname: str) -> None:
    with pytest.raises(ConfigError, match="hostname"):
        load_agent({"CORRAL_HOSTNAME": hostname})


def test_api_key_digest_must_be_sha256_hex(tmp_path: Path) -> None:
    config = tmp_path / "corral.toml"
    config.write_text(
        '[[controller.api_keys]]\nname = "ci"\nsha256 = "not-a-digest"\nscopes = ["job:read"]\n'
    )
    with pytest.raises(ConfigError, match="sha256"):
        load_controller({}, config_file=str(config))


def test_stream_replicas_come_from_the_environment() -> None:
    config = load_controller({"CORRAL_STREAM_REPLICAS": "3"})
    assert config.stream_replicas == 3


@pytest.mark.parametrize(
    ("env", "field"),
    [({"CORRAL_LOG_LEVEL": "verbose"}, "log_level"), ({"CORRAL_LOG_FORMAT": "xml"}, "log_format")],
)
def test_unknown_log_level_or_format_is_a_config_error(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        load_controller(env)
    with pytest.raises(ConfigError, match=field):
        load_agent({"CORRAL_HOSTNAME": "web-1.example", **env})
    assert load_controller({"CORRAL_LOG_LEVEL": "WARNING"}).log_level == "WARNING"


@pytest.mark.parametrize("hostname", ["web-9\n", "web-9\r\n", "web-9\nother"])
def test_an_agent_hostname_with_a_trailing_newline_is_refused(hostname: str) -> None:
    with pytest.raises(ConfigError, match="is not a hostname"):
        load_agent({"CORRAL_HOSTNAME": hostname})
    with pytest.raises(ConfigError, match="is not a hostname"):
        load_agent({}, {"hostname": hostname})


def test_agent_labels_from_the_environment_or_the_file_are_matched_whole(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CORRAL_LABELS: label 'group=web\\\\n'"):
        load_agent({"CORRAL_HOSTNAME": "web-1", "CORRAL_LABELS": "group=web\n"})
    file = tmp_path / "agent.toml"
    file.write_text('[agent]\nhostname = "web-1"\nlabels = { group = "web\\n" }\n')
    with pytest.raises(ConfigError, match="label value 'web\\\\n'"):
        load_agent({}, config_file=str(file))
    file.write_text('[agent]\nhostname = "web-1"\nlabels = { "group\\n" = "web" }\n')
    with pytest.raises(ConfigError, match="label key 'group\\\\n'"):
        load_agent({}, config_file=str(file))


def test_an_api_key_digest_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "corral.toml"
    config.write_text(
        '[[controller.api_keys]]\nname = "ci"\nsha256 = "'
        + "ab" * 32
        + '\\n"\nscopes = ["job:read"]\n'
    )
    with pytest.raises(ConfigError, match="sha256"):
        load_controller({}, config_file=str(config))


def test_the_agent_command_refuses_to_start_with_a_newline_in_its_hostname() -> None:
    argv = [sys.executable, "-m", "cli.main", "agent", "--hostname", "web-9\n"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "agent hostname 'web-9\\n' is not a hostname" in done.stderr
