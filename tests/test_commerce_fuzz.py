"""Schemathesis over the OpenAPI spec (real PostgreSQL underneath): whatever a client sends that the
schema allows or not, the API answers 2xx/4xx and never a 500."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import make_url

from tests.commerce_fixtures import TEMPLATE, _pg, drop_database, make_world

EXAMPLES = 30  # per operation


@pytest.fixture(scope="module")
def fuzz_world(pg_template, tmp_path_factory):
    name = f"sm_fuzz_{uuid.uuid4().hex[:10]}"
    with _pg(pg_template) as con:
        con.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    url = make_url(pg_template).set(database=name).render_as_string(hide_password=False)
    w = make_world(url, tmp_path_factory.mktemp("fuzz"))
    w.call("POST", "/inventory/receipts", expect=201,
           json={"location_id": "RW-E", "lines": [{"sku": "CASE-BLK", "quantity": 1000}]})
    yield w
    w.client.close()
    w.services.sessions.kw["bind"].dispose()
    drop_database(pg_template, name)


def test_no_server_errors_on_any_operation(fuzz_world):
    # schemathesis' strategies driven by hypothesis directly (its pytest plugin predates pytest 9)
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)
    headers = {"Authorization": f"Bearer {fuzz_world.keys['admin']}"}
    failures, operations, codes = [], 0, Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=headers)
            codes[response.status_code // 100] += 1
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, response.status_code, response.text[:300]))

        run()
    assert operations >= 40
    print("responses by class:", dict(codes))
    assert codes[2] > 50 and codes[4] > 50  # it reached the handlers, not only the validators
    assert failures == []


def test_fuzz_database_is_real_postgres(fuzz_world):
    assert fuzz_world.services.sessions.kw["bind"].dialect.name == "postgresql"
