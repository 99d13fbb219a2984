"""Schemathesis on the evidence endpoints of issue 14 only (the full run is tests/test_fuzz_api.py)."""

import pytest
from rest_framework.authtoken.models import Token

from tests.test_fuzz_api import _fuzz, _summary, wsgi_schema  # noqa: F401 - the fixture

pytestmark = pytest.mark.fuzz
PATHS = ("/events", "/event-logs", "/evidence-samples", "/review")


def test_the_evidence_endpoints_answer_no_server_error_and_keep_their_schema(wsgi_schema, alice,  # noqa: F811
                                                                             alice_system):
    token = Token.objects.get_or_create(user=alice)[0].key
    failures, count = [], 0
    for result in wsgi_schema.get_all_operations():
        operation = result.ok()
        if not operation.path.rstrip("/").endswith(PATHS) and "/evidence-samples/" not in operation.path:
            continue
        count += 1
        try:
            _fuzz(operation, token)
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {_summary(exc)}")
    assert count >= 7
    assert not failures, "\n\n".join(failures)
