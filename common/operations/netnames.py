"""Checks for the names and addresses operation parameters carry. Pure: no I/O.

Host and domain names (RFC 1123), IP addresses and networks (:mod:`ipaddress`),
interface names (Linux's rule). Each ``check_*`` is for a params struct's
``__post_init__``: a ValueError whose message starts with the field's name.
"""

from __future__ import annotations

import ipaddress
import re

# One label: letters, digits and hyphens, 1 to 63 of them, no hyphen at either end.
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_NAME = 253


def is_hostname(value: str) -> bool:
    """Whether ``value`` is a host or domain name: dot-separated RFC 1123 labels, <= 253 chars."""
    if not value or len(value) > MAX_NAME:
        return False
    return all(_LABEL.fullmatch(label) for label in value.split("."))


def check_hostname(name: str, value: str) -> None:
    """For a params struct's ``__post_init__``: ValueError naming the field ``name``."""
    if not is_hostname(value):
        raise ValueError(
            f"{name} must be RFC 1123 labels (letters, digits, inner hyphens; 1 to 63 each)"
            f" joined by dots, at most {MAX_NAME} characters, got {value!r}"
        )


# Linux's rule (dev_valid_name): 1 to 15 bytes, no '/', ':' or white space, not '.' or '..'.
INTERFACE_RE = re.compile(r"[A-Za-z0-9_.@+-]{1,15}")


def check_interface(field: str, name: str) -> None:
    if not INTERFACE_RE.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"{field} must be an interface name: 1 to 15 of letters, digits, '_.@+-', got {name!r}"
        )


def check_ip(field: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{field} must be an IPv4 or IPv6 address, got {value!r}") from None


def check_ips(field: str, values: list[str] | None) -> None:
    for i, value in enumerate(values or ()):
        check_ip(f"{field}[{i}]", value)


def check_interface_addresses(field: str, values: list[str] | None) -> None:
    """Addresses with their prefix length, as an interface holds them: 192.0.2.10/24."""
    for i, value in enumerate(values or ()):
        try:
            if "/" not in value:
                raise ValueError
            ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(
                f"{field}[{i}] must be an address with its prefix length"
                f" (192.0.2.10/24, 2001:db8::10/64), got {value!r}"
            ) from None


def check_network(field: str, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(
            f"{field} must be a network with its prefix length and no host bits"
            f" (10.0.0.0/8, 2001:db8::/32), got {value!r}"
        ) from None
