"""What every client command shares: the API address and key options, and error output.

I/O: HTTP through :class:`corral_sdk.client.Client`, stderr on errors. The client
and httpx are imported when a command runs: ``corral agent`` never loads them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from corral_sdk.errors import ApiError

if TYPE_CHECKING:
    from corral_sdk.client import Client

DEFAULT_URL = "http://127.0.0.1:8080"
_URL_HELP = "Controller API address."
_KEY_HELP = "API key (bearer)."


def client_params() -> list[click.Option]:
    """``--url`` and ``--api-key``, for commands built from parts (cli/operations.py)."""
    return [
        click.Option(
            ["--url"], envvar="CORRAL_URL", default=DEFAULT_URL, show_default=True, help=_URL_HELP
        ),
        click.Option(["--api-key"], envvar="CORRAL_API_KEY", default="", help=_KEY_HELP),
    ]


def client_options(func: Any) -> Any:
    """The same two options on a decorated command."""
    func = click.option("--api-key", envvar="CORRAL_API_KEY", default="", help=_KEY_HELP)(func)
    return click.option(
        "--url", envvar="CORRAL_URL", default=DEFAULT_URL, show_default=True, help=_URL_HELP
    )(func)


def make_client(url: str, api_key: str) -> Client:
    if not api_key:
        raise click.UsageError("an API key is required: --api-key or CORRAL_API_KEY")
    from corral_sdk.client import Client

    return Client(url, api_key)


def with_client(url: str, api_key: str, action: Callable[[Client], Any]) -> None:
    """Run ``action`` with a client; an API error or an unreachable API exits 2."""
    import httpx

    client = make_client(url, api_key)
    try:
        action(client)
    except ApiError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (OSError, httpx.TransportError) as exc:
        click.echo(f"error: cannot reach {url}: {exc}", err=True)
        sys.exit(2)
    finally:
        client.close()
