"""Schemathesis fuzzes every API operation as an authenticated owner: no 5xx, no schema violation.

The operations are driven with Hypothesis directly (one bounded run per operation) rather than
through schemathesis' pytest plugin, so the whole run shares one database fixture.
"""

import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import response_schema_conformance

from assay.wsgi import application

EXAMPLES = int(os.environ.get("ASSAY_FUZZ_EXAMPLES", "10"))
pytestmark = pytest.mark.fuzz


@pytest.fixture
def wsgi_schema(db):
    # Like Django's test client: keep the test transaction's connection open across requests.
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


def not_a_server_error(ctx, response, case):
    if response.status_code >= 500:
        raise AssertionError(f"answered {response.status_code}: {response.text[:300]}")


def _fuzz(operation, token: str) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Token {token}"},
                               checks=[not_a_server_error, response_schema_conformance])

    run()


def _summary(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    found = [line.strip() for line in lines if line.strip().startswith(("- ", "answered", "["))]
    return " | ".join((found or lines)[:4])[:500]


def test_no_operation_answers_a_server_error_or_breaks_its_schema(wsgi_schema, alice, alice_dataset,
                                                                   charlie_system):
    token = Token.objects.get_or_create(user=alice)[0].key
    failures, count = [], 0
    for result in wsgi_schema.get_all_operations():
        operation = result.ok()
        count += 1
        try:
            _fuzz(operation, token)
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {_summary(exc)}")
    assert count >= 15
    assert not failures, "\n\n".join(failures)
