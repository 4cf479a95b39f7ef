"""schemathesis against the dashboard's OpenAPI document: generated requests (as an
HQ admin with a valid session and CSRF token) never get a server error. Bounded: a few
examples per operation, no shrinking past that, so the run stays within seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from hub.config import HubConfig
from hub.web import auth
from hub.web.server import WebServer
from tests.web.conftest import make_web_hub

EXAMPLES_PER_OPERATION_MAX = 8


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    instance = make_web_hub(
        HubConfig(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.sqlite3'}", None)
    )
    with instance.seeded.hub.transaction() as conn:
        token, csrf = auth.open_session(conn, auth.User("hq", auth.Role.ADMIN, None), 3600)
    server = WebServer(instance.app, "127.0.0.1", 0)
    server.start()
    try:
        schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json")
        schema.config.headers = {"Cookie": f"tapcard_session={token}", "X-CSRF-Token": csrf}  # type: ignore[attr-defined]
        yield schema
    finally:
        server.stop()
        instance.seeded.hub.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION_MAX,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_never_fails_with_a_server_error(case: schemathesis.Case) -> None:
    headers = {"Cookie": case.operation.schema.config.headers["Cookie"]}  # type: ignore[attr-defined]
    headers["X-CSRF-Token"] = case.operation.schema.config.headers["X-CSRF-Token"]  # type: ignore[attr-defined]
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
