"""`--http ADDR`: what listens where, loopback or not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobrunner.web.address import Address, BadAddress, parse


@pytest.mark.parametrize(
    ("text", "host", "port", "loopback"),
    [
        ("8080", "127.0.0.1", 8080, True),
        (":9100", "127.0.0.1", 9100, True),
        ("127.0.0.2:80", "127.0.0.2", 80, True),
        ("localhost:8080", "localhost", 8080, True),
        ("[::1]:8080", "::1", 8080, True),
        ("0.0.0.0:8080", "0.0.0.0", 8080, False),
        ("[::]:8080", "::", 8080, False),
        ("10.1.2.3:8080", "10.1.2.3", 8080, False),
    ],
)
def test_parse(text: str, host: str, port: int, loopback: bool) -> None:
    address = parse(text)
    assert (address.host, address.port, address.loopback) == (host, port, loopback)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not HOST:PORT or a port"),
        ("127.0.0.1", "is not HOST:PORT or a port"),
        ("127.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("127.0.0.1:65536", "the port must be a number from 1 to 65535"),
        ("127.0.0.1:http", "the port must be a number from 1 to 65535"),
        ("::1:8080", "write an IPv6 address in brackets, like [::1]:8080"),
        ("web.internal:8080", "'web.internal' is not an IP address (or localhost)"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(BadAddress) as refused:
        parse(text)
    assert message in str(refused.value)


@given(st.ip_addresses(), st.integers(1, 65535))
def test_an_address_reads_back_as_itself(ip: object, port: int) -> None:
    address = Address(str(ip), port)
    assert parse(str(address)) == address


def test_the_server_socket_says_it_is_tcp_so_answers_are_not_delayed() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; with proto 0
    every keep-alive answer after the first waited ~40 ms (benchmarks/README.md)."""
    import socket

    from servers import free_port

    from jobrunner.web.address import parse
    from jobrunner.web.server import _bind

    sock = _bind(parse(f"127.0.0.1:{free_port()}"))
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
