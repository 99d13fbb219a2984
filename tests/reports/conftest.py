"""The reports tests' webhook hosts resolve to a public address without a network (core.outbound resolves them)."""

import socket

import pytest

PUBLIC_ADDRESS = "93.184.215.14"  # a global unicast address; no test connects to it
HOSTS = {"h.example", "hooks.example.org"}


@pytest.fixture(autouse=True)
def public_webhook_hosts(monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in HOSTS:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC_ADDRESS, int(port or 443)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
