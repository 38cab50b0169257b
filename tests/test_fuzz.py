"""Property-based fuzzing of the search and API parameters: no 500s, no tracebacks, answers as documented.

Hypothesis throws arbitrary text at the search page, the search API and the related-moments
API; Schemathesis generates requests from the OpenAPI description kept in the repository
(openapi.yaml) and checks every response against it. The app runs as in production
(not TESTING), over the demo talks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from archive.doors.web import create_app

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_app(demo_archive, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz") / "archive"
    shutil.copytree(demo_archive, data_dir)
    return create_app({"data_dir": data_dir})


def assert_no_internals(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:300]
    assert "Traceback" not in body and 'File "/' not in body


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
search_args = st.fixed_dictionaries(
    {"q": text},
    optional={
        "limit": st.one_of(text, st.integers(-(10**6), 10**6).map(str)),
        "speaker": text,
        "org": text,
        "tag": text,
        "since": st.one_of(text, st.dates().map(str)),
        "until": st.one_of(text, st.dates().map(str)),
        "sort": st.one_of(st.sampled_from(["relevance", "date"]), text),
    },
)


@FUZZ
@given(args=search_args)
def test_search_api_and_page_take_any_parameters(fuzz_app, args):
    client = fuzz_app.test_client()
    api = client.get("/api/search", query_string=args)
    assert_no_internals(api)
    assert api.is_json and (api.status_code == 400) == ("error" in api.json)
    assert_no_internals(client.get("/search", query_string=args))
    assert_no_internals(client.get("/", query_string={k: v for k, v in args.items() if k != "q"}))


@FUZZ
@given(recording_id=st.integers(-5, 10**12), t=st.one_of(text, st.floats(allow_nan=True).map(str)))
def test_related_and_recording_routes_take_any_parameters(fuzz_app, recording_id, t):
    client = fuzz_app.test_client()
    assert_no_internals(client.get(f"/api/recordings/{recording_id}/related", query_string={"t": t}))
    assert_no_internals(client.get(f"/api/recordings/{recording_id}"))
    assert_no_internals(
        client.get("/recordings/relational-social-prescribing-staying-with-clients", query_string={"t": t, "end": t})
    )


OPERATIONS = [result.ok() for result in schemathesis.openapi.from_path(OPENAPI).get_all_operations()]


# Schemathesis's own pytest plugin does not run under pytest 9, so each operation's
# strategy drives a plain Hypothesis test here.
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_the_api_answers_as_openapi_yaml_says(fuzz_app, operation):
    operation.schema.app = fuzz_app

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case):
        response = case.call_and_validate(
            app=fuzz_app,
            # Schemathesis asks for gzip like a browser but reads the body as sent: the schema is
            # about the content, and compression has its own tests (tests/test_compression.py).
            headers={"Accept-Encoding": "identity"},
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        )
        assert "Traceback" not in response.text

    check()
