"""Where the HTTP server listens: `--http ADDR`, loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class BadAddress(ValueError):
    """An `--http` value that is not an address to listen on; the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Only this host can connect (127.0.0.0/8, ::1, localhost)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse(text: str) -> Address:
    """`PORT`, `:PORT`, `HOST:PORT` or `[IPV6]:PORT`; the host defaults to 127.0.0.1."""
    value = text.strip()
    if value.isdigit():
        return Address(DEFAULT_HOST, _port(value, text))
    host, colon, port = value.rpartition(":")
    if not colon:
        raise BadAddress(f"'{text}' is not HOST:PORT or a port (for example 127.0.0.1:8080)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise BadAddress(f"'{text}': write an IPv6 address in brackets, like [::1]:8080")
    host = host or DEFAULT_HOST
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise BadAddress(
                f"'{text}': '{host}' is not an IP address (or localhost); "
                "name the address of the interface to listen on"
            ) from None
    return Address(host, _port(port, text))


def _port(value: str, text: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise BadAddress(f"'{text}': the port must be a number from 1 to 65535")
    return int(value)
