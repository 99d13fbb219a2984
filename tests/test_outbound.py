"""Outbound calls (core/outbound.py): only public addresses, resolved at validation and at send time,
connected to as checked (no DNS rebinding), no redirects, and failures that say only what kind."""

import datetime
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import artifacts, outbound
from core.models import AuditLogEntry
from reports import services as reports
from reports.models import Report, ReportDelivery

PUBLIC = "93.184.215.14"  # a global unicast address; no test connects to it
SECRET = "webhook-secret-0123456789"


class Receiver:
    """A real HTTP(S) server on 127.0.0.1 that records what it receives."""

    def __init__(self, status: int = 204, location: str | None = None, tls: ssl.SSLContext | None = None):
        self.requests: list[dict] = []
        self.sni: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": self.rfile.read(length)})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def allow_private(settings):
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def deny_private(settings):
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False


def fake_dns(monkeypatch, answers):
    """Make socket.getaddrinfo answer `answers[name]` (a list of IPs, or a callable returning one).

    Return the list of names looked up. Other names (and IP literals) resolve as usual.
    """
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        ips = answers[host]() if callable(answers[host]) else answers[host]
        out = []
        for ip in ips:
            if ipaddress.ip_address(ip).version == 6:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port), 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port))))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


#
# The address rules
#


@pytest.mark.parametrize("ip", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.0.1",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "fec0::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.1.2.3", "2002:7f00:1::", "64:ff9b::a9fe:a9fe",
])
def test_non_public_addresses_are_refused(ip):
    assert outbound.address_refusal(ipaddress.ip_address(ip)) is not None


@pytest.mark.parametrize("ip", ["8.8.8.8", PUBLIC, "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(ip):
    assert outbound.address_refusal(ipaddress.ip_address(ip)) is None


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.org/x", "gopher://example.org/", "javascript:alert(1)", "dict://x:11211/",
    "http://", "https:///path", "http://user:pw@example.org/", "http://[::1", "http://example.org:99999/",
    "http://example.org/a b", "http://example.org/\r\nX-Injected: 1", "", "//example.org/x",
])
def test_only_plain_http_and_https_urls_are_accepted(url, allow_private):
    with pytest.raises(outbound.RefusedURL):
        outbound.check_url(url)


def test_loopback_private_and_metadata_urls_are_refused_unless_allowed(settings):
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1/", "http://localhost:8000/", "http://[::1]/", "http://169.254.169.254/latest/",
                "http://10.0.0.7/", "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://0x7f.1/"):
        with pytest.raises(outbound.RefusedURL, match="public addresses only"):
            outbound.check_url(url)
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True
    target = outbound.check_url("http://127.0.0.1:8080/hook?x=1")
    assert (target.address, target.port, target.path, target.host_header) == ("127.0.0.1", 8080, "/hook?x=1",
                                                                             "127.0.0.1:8080")


def test_a_name_that_resolves_to_a_private_address_is_refused(monkeypatch, deny_private):
    fake_dns(monkeypatch, {"intranet.example.com": ["10.1.2.3"], "mixed.example.com": [PUBLIC, "127.0.0.1"],
                           "v6.example.com": ["fd00::5"], "ok.example.com": [PUBLIC]})
    for name in ("intranet.example.com", "mixed.example.com", "v6.example.com"):
        with pytest.raises(outbound.RefusedURL, match=f"{name} resolves to a"):
            outbound.check_url(f"https://{name}/hook")
    assert outbound.check_url("https://ok.example.com/hook").address == PUBLIC


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    def nxdomain(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    with pytest.raises(outbound.RefusedURL, match="does not resolve"):
        outbound.check_url("https://nowhere.example.com/")


#
# A real server on 127.0.0.1
#


def test_it_posts_to_a_local_server_only_when_private_addresses_are_allowed(receiver, settings):
    url = f"http://127.0.0.1:{receiver.port}/hook?k=v"
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.RefusedURL):
        outbound.post_json(url, {"a": 1})
    assert receiver.requests == []

    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True
    answer = outbound.post_json(url, {"a": 1}, {"X-Test": "yes"}, timeout=5)
    assert answer.status == 204
    (request,) = receiver.requests
    assert request["path"] == "/hook?k=v" and json.loads(request["body"]) == {"a": 1}
    assert request["headers"]["X-Test"] == "yes" and request["headers"]["Content-Type"] == "application/json"


def test_it_connects_to_the_address_it_checked_and_sends_the_name_as_host(receiver, monkeypatch, allow_private):
    # given: a name whose first answer is the local server and whose later answers point elsewhere
    answers = iter([["127.0.0.1"]])
    asked = fake_dns(monkeypatch, {"hooks.internal.test": lambda: next(answers, ["10.255.255.1"])})

    answer = outbound.post_json(f"http://hooks.internal.test:{receiver.port}/x", b'{"k":1}', timeout=5)

    # then: one lookup, the connection went to that answer, and the Host header names the host
    assert answer.status == 204 and asked == ["hooks.internal.test"]
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.internal.test:{receiver.port}" and request["body"] == b'{"k":1}'


def test_dns_rebinding_cannot_reach_the_local_server(receiver, monkeypatch, deny_private):
    # given: a name that answers with a public address first and with 127.0.0.1 afterwards
    answers = iter([[PUBLIC]])
    fake_dns(monkeypatch, {"rebind.example.com": lambda: next(answers, ["127.0.0.1"])})
    url = f"http://rebind.example.com:{receiver.port}/hook"

    # when: validation sees the public address, the call sees 127.0.0.1
    assert outbound.check_url(url).address == PUBLIC
    with pytest.raises(outbound.RefusedURL, match="loopback"):
        outbound.post_json(url, {"event": "x"}, timeout=2)

    # then: nothing reached the local server
    assert receiver.requests == []


def test_redirects_are_answers_and_not_followed(allow_private):
    r = Receiver(status=302, location="http://127.0.0.1:1/elsewhere")
    try:
        answer = outbound.post_json(f"http://127.0.0.1:{r.port}/hook", {"a": 1}, timeout=5)
        assert answer.status == 302 and len(r.requests) == 1
    finally:
        r.close()


def test_transport_failures_say_only_their_category(allow_private):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(outbound.TransportError) as info:
        outbound.post_json(f"http://127.0.0.1:{port}/", {}, timeout=2)
    assert str(info.value) == "connection refused"


def _self_signed(tmp_path, name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_sends_the_name_as_sni_and_checks_the_certificate_against_it(tmp_path, monkeypatch, allow_private):
    cert, key = _self_signed(tmp_path, "hook.test")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    r = Receiver(tls=server_context)
    client_context = ssl.create_default_context(cafile=str(cert))
    fake_dns(monkeypatch, {"hook.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    try:
        answer = outbound.post_json(f"https://hook.test:{r.port}/tls", {"a": 1}, timeout=5, context=client_context)
        assert answer.status == 204 and r.sni == ["hook.test"]
        assert r.requests[0]["headers"]["Host"] == f"hook.test:{r.port}"
        for wrong in (f"https://other.test:{r.port}/tls", f"https://127.0.0.1:{r.port}/tls"):
            with pytest.raises(outbound.TransportError, match="^TLS certificate not trusted$"):
                outbound.post_json(wrong, {"a": 1}, timeout=5, context=client_context)
        assert len(r.requests) == 1
    finally:
        r.close()


#
# Webhooks: schedule validation (the API's 400) and delivery (the worker)
#


def schedule_body(system, dataset, model, url):
    return {"name": "nightly", "system": system.pk, "dataset_version": dataset.pk, "model_version": model.pk,
            "cron": "0 2 * * *", "config": {"ig_rows": 20}, "webhook_url": url, "webhook_secret": SECRET}


def test_the_api_refuses_a_webhook_on_a_local_address_unless_allowed(as_alice, alice_system, alice_dataset,
                                                                    alice_model, receiver, settings, error_of):
    url = f"http://127.0.0.1:{receiver.port}/hook"
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False
    for target in (url, "http://169.254.169.254/latest/meta-data/", "http://[::ffff:7f00:1]/"):
        r = as_alice.post("/api/v1/schedules", schedule_body(alice_system, alice_dataset, alice_model, target),
                          format="json")
        assert r.status_code == 400, r.content
        assert "webhook_url" in error_of(r)["fields"]
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True
    r = as_alice.post("/api/v1/schedules", schedule_body(alice_system, alice_dataset, alice_model, url),
                      format="json")
    assert r.status_code == 201, r.content
    assert receiver.requests == []  # validation resolves, it does not call


def test_the_api_refuses_a_webhook_host_that_resolves_to_a_private_address(as_alice, alice_system, alice_dataset,
                                                                          alice_model, monkeypatch, deny_private,
                                                                          error_of):
    fake_dns(monkeypatch, {"hooks.corp.example.com": ["192.168.10.20"]})
    r = as_alice.post("/api/v1/schedules", schedule_body(alice_system, alice_dataset, alice_model,
                                                         "https://hooks.corp.example.com/assay"), format="json")
    assert r.status_code == 400
    assert "private" in error_of(r)["fields"]["webhook_url"]


def _report(alice, alice_system, alice_dataset, alice_model, client, url) -> Report:
    r = client.post("/api/v1/schedules", schedule_body(alice_system, alice_dataset, alice_model, url), format="json")
    assert r.status_code == 201, r.content
    from reports.models import Schedule

    schedule = Schedule.objects.get(pk=r.json()["id"])
    artifact = artifacts.store(b"%PDF-1.4 test", organization=alice_system.organization, filename="report.pdf")
    return Report.objects.create(
        organization=alice_system.organization, system=alice_system, schedule=schedule, kind="audit",
        title="test report", content={"system": {"id": alice_system.pk, "name": alice_system.name}},
        alerts=[{"metric": "FAIR-01"}], artifact=artifact, sha256=hashlib.sha256(b"x").hexdigest(),
        created_by=alice)


def test_a_webhook_reaches_a_local_receiver_when_allowed_and_is_signed(alice, as_alice, alice_system, alice_dataset,
                                                                       alice_model, receiver, allow_private):
    report = _report(alice, alice_system, alice_dataset, alice_model, as_alice,
                     f"http://127.0.0.1:{receiver.port}/hook")
    assert reports.call_webhook(report.pk, attempt=3) is True
    (request,) = receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Assay-Signature"] == expected
    assert json.loads(request["body"])["report"] == report.pk
    delivery = ReportDelivery.objects.get(report=report, channel="webhook")
    assert delivery.status == "sent" and delivery.detail == "HTTP 204"


def test_a_webhook_to_a_local_address_fails_at_send_time_when_not_allowed(alice, as_alice, alice_system,
                                                                          alice_dataset, alice_model, receiver,
                                                                          settings):
    # given: a schedule saved while private addresses were allowed, and then the operator turned that off
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True
    report = _report(alice, alice_system, alice_dataset, alice_model, as_alice,
                     f"http://127.0.0.1:{receiver.port}/hook")
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False

    assert reports.call_webhook(report.pk, attempt=3) is False
    assert receiver.requests == []
    delivery = ReportDelivery.objects.get(report=report, channel="webhook")
    assert delivery.status == "failed" and delivery.detail.startswith("refused: the address loopback")


def test_a_rebinding_webhook_host_never_reaches_the_local_server(alice, as_alice, alice_system, alice_dataset,
                                                                 alice_model, receiver, monkeypatch, deny_private):
    # given: validation (the API) sees a public address, every later lookup answers 127.0.0.1
    answers = iter([[PUBLIC]])
    fake_dns(monkeypatch, {"rebind.example.com": lambda: next(answers, ["127.0.0.1"])})
    report = _report(alice, alice_system, alice_dataset, alice_model, as_alice,
                     f"http://rebind.example.com:{receiver.port}/hook")

    assert reports.call_webhook(report.pk, attempt=3) is False
    assert receiver.requests == []
    delivery = ReportDelivery.objects.get(report=report, channel="webhook")
    assert delivery.status == "failed" and "loopback" in delivery.detail


def test_the_stored_delivery_error_is_a_category_not_the_transport_text(alice, as_alice, alice_system,
                                                                        alice_dataset, alice_model, allow_private):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = _report(alice, alice_system, alice_dataset, alice_model, as_alice, f"http://127.0.0.1:{port}/hook")

    assert reports.call_webhook(report.pk, attempt=3) is False
    delivery = ReportDelivery.objects.get(report=report, channel="webhook")
    assert delivery.detail == "connection refused"
    entry = AuditLogEntry.objects.filter(action="report.webhook").latest("id")
    assert entry.payload["detail"] == "connection refused" and "Errno" not in json.dumps(entry.payload)
