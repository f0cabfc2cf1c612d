"""schemathesis: generated requests from the OpenAPI document, run in-process against the app.

Every answer must be one the document declares (status, media type, schema), and no
request, however odd, may produce a 500.
"""
import json
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from core import PlaylistService
from core.config import load_settings
from core.setup import setup
from rest.app import create_app
from tests.conftest import TEST_ENV

# schemathesis sends bad credentials again and again to check each gets a 401; the lockout
# would rightly turn them into 429s after 20. The lockout has tests of its own. (Settings
# given directly, not through os.environ: every server later tests start would inherit it.)
HOME = Path(tempfile.mkdtemp(prefix="playlists-schemathesis-"))
SETTINGS = load_settings({"PLAYLISTS_HOME": str(HOME), "PLAYLISTS_UNSAFE": "lockout", **TEST_ENV})
setup(SETTINGS)
app = create_app(PlaylistService(SETTINGS))
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
API_KEY = json.loads((HOME / "credentials.json").read_text())["users"]["alice"]["api_key"]


@schema.exclude(operation_id="issue_token").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case):
    # Some schema-valid requests are rightly refused by rules no schema can state (a track id
    # that does not exist, a page token we never issued, an e-mail address in a name).
    case.call_and_validate(headers={"X-API-Key": API_KEY}, excluded_checks=[positive_data_acceptance])
