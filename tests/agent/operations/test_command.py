"""``command.shell``: command.exec's run of ``[shell, "-c", script]``, opt-in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.executor import allowed_operations, run_operation
from agent.operations.base import OperationContext, OperationFailed
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError

CTX = OperationContext(hostname="h", timeout=10)


async def test_a_script_runs_in_the_shell_with_its_env_and_cwd(tmp_path: Path) -> None:
    data = {
        "script": 'echo "$GREETING from $(pwd)" | tr a-z A-Z; exit 3',
        "env": {"GREETING": "hi"},
    }
    data["cwd"] = str(tmp_path)
    result = await run_operation("command.shell", data, CTX, frozenset({"command.shell"}))
    assert result.changed is True
    assert (result.data["stdout"], result.data["exit_code"]) == (f"HI FROM {tmp_path}\n".upper(), 3)


async def test_it_is_off_unless_the_allow_list_names_it() -> None:
    assert "command.shell" not in allowed_operations(())
    assert "command.shell" not in allowed_operations(["command.*"])
    with pytest.raises(OperationFailed, match=r"command\.shell is not on this agent's allow-list"):
        await run_operation("command.shell", {"script": "true"}, CTX, allowed_operations(()))


async def test_a_dry_run_says_what_it_would_run(tmp_path: Path) -> None:
    dry = OperationContext(hostname="h", timeout=5, dry_run=True)
    data = {"script": f"touch {tmp_path}/made", "shell": "/bin/bash", "env": {"TOKEN": "s3cret"}}
    result = await run_operation("command.shell", data, dry, frozenset({"command.shell"}))
    assert result.changed is False
    assert result.data["would_run"] == {
        "argv": ["/bin/bash", "-c", f"touch {tmp_path}/made"],
        "cwd": None,
        "env": ["TOKEN"],
        "stdin": False,
        "timeout": 5,
    }
    assert os.listdir(tmp_path) == []


async def test_a_missing_shell_fails_naming_it() -> None:
    with pytest.raises(OperationFailed, match="executable not found: /nonexistent/sh"):
        await run_operation(
            "command.shell",
            {"script": "true", "shell": "/nonexistent/sh"},
            CTX,
            frozenset({"command.shell"}),
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"script": ""}, r"operation\.data\.script: Expected `str` of length >= 1"),
        ({"script": "true", "shell": "sh"}, "shell: must be an absolute path"),
        ({"script": "a\0b"}, "script contains a NUL character"),
        ({"script": "true", "env": {"A=B": "1"}}, "env name 'A=B' must be non-empty"),
        (
            {"script": "true", "argv": ["x"]},
            r"operation\.data: Object contains unknown field `argv`",
        ),
    ],
)
def test_bad_shell_params_are_refused_naming_the_field(data: dict[str, str], message: str) -> None:
    with pytest.raises(OperationError, match=message):
        validate_params("command.shell", data)
