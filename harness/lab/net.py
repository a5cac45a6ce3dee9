"""Addresses as they are written next to a port or in a URL."""
from __future__ import annotations


def bracketed(ip) -> str:
    """`ip` for host:port and URLs: IPv6 in brackets ([fd00::1]), IPv4 as is."""
    text = str(ip)
    return f"[{text}]" if ":" in text else text
