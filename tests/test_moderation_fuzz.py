"""Schemathesis fuzzes the moderation operations as an authenticated owner: no 5xx, no schema violation.

The whole-API fuzz test (test_fuzz_api.py) covers them too; this one runs them alone, with more
examples, against an organisation that has the demo keyword list and a default policy.
"""

import pytest

from moderation import services
from tests.test_fuzz_api import _fuzz, _summary, wsgi_schema  # noqa: F401 (the fixture)

pytestmark = pytest.mark.fuzz


@pytest.fixture(autouse=True)
def spool(settings, tmp_path):
    settings.ASSAY_MODERATION_SPOOL_DIR = str(tmp_path / "spool")
    settings.ASSAY_MODERATION_CACHE_SECONDS = 0
    services._compiled.clear()
    services._lookups.clear()


def test_no_moderation_operation_answers_a_server_error(wsgi_schema, alice, alice_org):  # noqa: F811
    from rest_framework.authtoken.models import Token

    services.default_policy(alice_org, alice)
    token = Token.objects.get_or_create(user=alice)[0].key
    failures, count = [], 0
    for result in wsgi_schema.get_all_operations():
        operation = result.ok()
        if "moderation" not in operation.path and "/gateway/" not in operation.path:
            continue
        count += 1
        try:
            _fuzz(operation, token)
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {_summary(exc)}")
    assert count >= 15
    assert not failures, "\n\n".join(failures)
