"""The stand-in program itself (tests/standins/__init__.py): record the call, answer it."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main(bin_dir: str, tool: str, args: list[str]) -> int:
    folder = Path(bin_dir)
    stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with open(folder / f"{tool}.calls.jsonl", "a") as log:
        log.write(json.dumps({"args": args, "stdin": stdin or None}) + "\n")
    spec = json.loads((folder / f"{tool}.json").read_text())
    rule = next(r for r in spec["rules"] if args[: len(r["args"])] == list(r["args"]))
    said = ""
    if rule["effect"]:
        module, _, function = rule["effect"].partition(":")
        said = getattr(importlib.import_module(module), function)(args, Path(spec["root"]), stdin)
    sys.stdout.write(rule["stdout"] + (said or ""))
    sys.stderr.write(rule["stderr"])
    return int(rule["exit_code"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
