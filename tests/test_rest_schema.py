"""schemathesis: generated requests from the OpenAPI document, run in-process against the app.

Every answer must be one the document declares (status, media type, schema), and no
request, however odd, may produce a 500.
"""
import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from core.config import load_settings
from core.setup import setup
from rest.app import create_app
from tests.conftest import TEST_ENV

HOME = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"playlists-schemathesis-{os.getpid()}")
# schemathesis sends bad credentials again and again to check each gets a 401; the lockout
# would rightly turn them into 429s after 20. The lockout has tests of its own.
os.environ.update({"PLAYLISTS_HOME": HOME, "PLAYLISTS_UNSAFE": "lockout", **TEST_ENV})
setup(load_settings())
app = create_app()
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
API_KEY = __import__("json").load(open(os.path.join(HOME, "credentials.json")))["users"]["alice"]["api_key"]


@schema.exclude(operation_id="issue_token").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case):
    # Some schema-valid requests are rightly refused by rules no schema can state (a track id
    # that does not exist, a page token we never issued, an e-mail address in a name).
    case.call_and_validate(headers={"X-API-Key": API_KEY}, excluded_checks=[positive_data_acceptance])
