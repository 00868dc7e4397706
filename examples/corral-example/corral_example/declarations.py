"""The ``example`` family: what the controller and the CLI load. Pure: no I/O.

Only corral's declaration types are imported here, never the agent's code,
so a controller validates and lists the family without running anything.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from common.operations.declaration import Declaration, Family, Params, doc


class GreetingParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64), doc("Whom to greet.")]


class Greeting(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    greeting: str
    hostname: Annotated[str, doc("The agent that answered.")]


FAMILY = Family(
    name="example",
    summary="An example third-party family (examples/corral-example).",
    declarations=(
        Declaration(
            name="example.greeting.get",
            params=GreetingParams,
            result=Greeting,
            kind="read",
            summary="Greet someone from the agent's host.",
            description="Answers `hello, <name>` with the agent's hostname; touches nothing.",
            example={"name": "world"},
            platforms=("any",),
        ),
    ),
    # The agent imports this table only when its allow-list names the family.
    handlers="corral_example.handlers:HANDLERS",
)
