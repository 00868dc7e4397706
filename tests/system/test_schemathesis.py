"""The running API fuzzed by schemathesis against its own OpenAPI document.

Every generated request, valid or not, must get an answer the document
describes (status, content type, body schema) and never a 500. The live
streams never end, so they are left to their own tests (test_live.py).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.harness import ADMIN_KEY, Stack

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    )
)


async def test_the_api_answers_as_its_openapi_document_says(stack: Stack, tmp_path: Path) -> None:
    await stack.start_agent("fuzz-1.dev.local")
    base = str(stack.api.base_url).rstrip("/")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    process = await asyncio.create_subprocess_exec(
        str(schemathesis),
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {ADMIN_KEY}",
        "--checks",
        CHECKS,
        "--exclude-path-regex",
        "events$",
        "--max-examples",
        "12",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # its cache of crashes stays out of the repository
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
