"""Injection and traversal attempts in every string parameter of every route (search text, filters,
sort keys, ids in paths) are harmless: a 4xx or an empty answer, never a 5xx, never a database
error, a file's content or a secret in the body, and the database unchanged by what was read.

The schemathesis fuzz (test_commerce_fuzz.py) sends random values; these are the ones an attacker
picks, as an admin (who may call everything) and as a shopper. Landed file names are data too
(test_bad_files.py)."""

from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa

PAYLOADS = (
    "' OR '1'='1", "1; DROP TABLE orders; --", "' UNION SELECT key_hash, name FROM api_keys --",
    "../../../../etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2fetc%2fpasswd", "/etc/passwd\x00.png",
    "<script>alert(1)</script>", "${jndi:ldap://127.0.0.1/a}", "{{7*7}}", "$(id)", "%", "_", "*",
    "\\", "A" * 5000, "ＳＫＵ－１", "🙂", "-1", "1e309", "NaN",
)
LEAKS = ("root:x:0:0", "[fonts]", "Traceback", "psycopg", "sqlalchemy", "syntax error", "key_hash")


def _fingerprint(engine: sa.Engine) -> dict[str, int]:
    names = sa.inspect(engine).get_table_names()
    with engine.connect() as con:
        return {name: con.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one() for name in names}


def _operations(app) -> list[tuple[str, str, list[dict]]]:
    spec = app.openapi()
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")
                      and p.get("schema", {}).get("type", "string") == "string"]
            if params:
                out.append((method.upper(), path, params))
    return out


def _request(w, method: str, path: str, params: list[dict], payload: str, role: str):
    url = path
    query = {}
    for p in params:
        if p["in"] == "path":
            url = url.replace("{" + p["name"] + "}", quote(payload, safe=""))
        else:
            query[p["name"]] = payload
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return w.call(method, url, role=role, params=query, **body)


def test_every_string_parameter_shrugs_off_injection_and_traversal(pg_world):
    w = pg_world
    engine = w.services.sessions.kw["bind"]
    operations = _operations(w.app)
    assert len(operations) >= 20, [path for _, path, _ in operations]
    reads = [op for op in operations if op[0] == "GET"]
    before = _fingerprint(engine)
    answers = {}
    for role in ("admin", "shopper"):
        for method, path, params in operations:
            for payload in PAYLOADS:
                r = _request(w, method, path, params, payload, role)
                answers[r.status_code] = answers.get(r.status_code, 0) + 1
                assert r.status_code < 500, (method, path, payload[:40], r.status_code, r.text[:300])
                text = r.text
                leaked = [leak for leak in LEAKS if leak in text]
                assert not leaked, (method, path, payload[:40], leaked, text[:300])
                if payload == "{{7*7}}":
                    assert "49" not in text.replace(payload, ""), (method, path, text[:300])  # no template evaluated
    # nothing was written: every write above was refused
    after = _fingerprint(engine)
    assert after == before, {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    print(f"{len(operations)} operations ({len(reads)} reads) x {len(PAYLOADS)} payloads x 2 roles: {answers}")


def test_a_wildcard_or_a_quote_in_a_filter_matches_nothing(pg_world):
    w = pg_world
    assert w.call("GET", "/products", expect=200).json()["items"]
    assert w.call("GET", "/products", params={"category": "Accessories"}, expect=200).json()["items"]
    for value in ("%", "_", "*", ".*", "Accessories' OR '1'='1", "Accessories%"):
        assert w.call("GET", "/products", params={"category": value}, expect=200).json()["items"] == [], value
