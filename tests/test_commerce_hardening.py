"""What an adversarial client found (issue 19), each against the real app on PostgreSQL: bad event
batches, malformed signed callbacks, idempotent replays that overlap the first request, staff
reaching for a shopper's cart, loosely typed numbers, and secrets that came from the source."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl

from commerce_api.callbacks import now_seconds
from commerce_api.payments import SimulatedProvider
from commerce_api.signing import SECRET_VARS
from tests.commerce_fixtures import make_world, served_world
from tests.helpers import run_cli
from tests.test_commerce_concurrency import _fire, _stock

GOOD_EVENT = {"event": "Product Viewed", "occurred_at": "2026-03-01T10:00:00Z", "user_id": "C1", "sku": "CASE-BLK"}


def _receive(w, location: str, sku: str, quantity: int) -> None:
    w.call("POST", "/inventory/receipts", expect=201,
           json={"location_id": location, "lines": [{"sku": sku, "quantity": quantity}]})


# ------------------------------------------------------------------------------- 2. POST /events
def test_events_with_wrong_types_and_impossible_values_are_rejected_one_by_one(pg_world):
    w = pg_world
    bad = {
        "list id": {"event_id": ["e", 1]},
        "object id": {"event_id": {"$ne": None}},
        "NaN revenue": {"revenue": "nan"},
        "overflowing revenue": {"revenue": "1e999"},
        "boolean revenue": {"revenue": True},
        "NUL in an id": {"event_id": "ev\x00il"},
        "year 1": {"occurred_at": "0001-01-01T00:00:00"},
        "year 9999": {"occurred_at": "9999-12-31T23:59:59"},
        "week date": {"occurred_at": "2026-W10-1"},
        "numeric user": {"user_id": 12345},
    }
    batch = [{"event_id": f"bad-{i}", **GOOD_EVENT, **change} for i, change in enumerate(bad.values())]
    batch.insert(3, {"event_id": "good-1", **GOOD_EVENT, "revenue": 129.9})
    batch.append({"event_id": "good-2", **GOOD_EVENT, "revenue": "42.50"})
    r = w.call("POST", "/events", role="service", json=batch, expect=207).json()
    assert r["accepted"] == 2 and r["rejected"] == len(bad), r
    reasons = [e["errors"] for e in r["errors"]]
    assert all(reasons) and len(r["errors"]) == len(bad)
    assert any("must be a string" in " ".join(x) for x in reasons)
    assert any("before 2000 or in the future" in " ".join(x) for x in reasons)
    assert any("control characters" in " ".join(x) for x in reasons)
    assert any("finite amount" in " ".join(x) for x in reasons)
    # the good ones landed, whole
    landed = pl.concat([pl.read_parquet(f) for f in r["files"]])
    assert sorted(landed["event_id"]) == ["good-1", "good-2"]
    assert sorted(landed["revenue"]) == ["129.9", "42.50"]


def test_a_shoppers_app_sends_only_its_members_events(pg_world):
    w = pg_world
    batch = [{"event_id": "mine", **GOOD_EVENT}, {"event_id": "anon", **{**GOOD_EVENT, "user_id": None},
                                                 "anonymous_id": "a-1"},
             {"event_id": "theirs", **GOOD_EVENT, "user_id": "C2"}]
    r = w.call("POST", "/events", role="shopper", json=batch, expect=207).json()
    assert r["accepted"] == 2 and [e["event_id"] for e in r["errors"]] == ["theirs"]
    assert w.call("POST", "/events", role="service", json=batch[2:], expect=207).json()["accepted"] == 1


def test_events_body_that_is_not_a_list_or_too_deep_is_a_4xx(pg_world):
    w = pg_world
    assert w.call("POST", "/events", role="service", json={"event_id": "x"}).json()["errors"][0]["index"] is None
    deep = "[" * 100_000 + "]" * 100_000
    r = w.call("POST", "/events", role="service", content=deep, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text[:300]
    tomorrow_plus = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    r = w.call("POST", "/events", role="service", json=[{"event_id": "f", **GOOD_EVENT, "occurred_at": tomorrow_plus}],
               expect=207).json()
    assert r["rejected"] == 1


def test_a_10mb_event_batch_is_refused_before_it_is_read(live_pg_world):
    """413 from the headers alone: the server answers a client that has sent no byte of the body yet;
    a body of unknown length is refused too (411); a full batch of 1,000 events is under the cap."""
    w = live_pg_world
    host, port = w.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {w.keys['service']}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {10 * 2**20}\r\n\r\n".encode())
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413") and "body_too_large" in answer, answer[:300]
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {w.keys['service']}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n".encode())
        assert sock.recv(65536).decode().startswith("HTTP/1.1 411")
    batch = [{"event_id": f"full-{i}", **GOOD_EVENT} for i in range(1000)]
    r = httpx.post(f"{w.base_url}/events", json=batch, headers={"Authorization": f"Bearer {w.keys['service']}"})
    assert r.status_code == 207 and r.json()["accepted"] == 1000


def test_beyond_its_admission_limit_a_worker_answers_503_with_retry_after_at_once(pg_url, tmp_path):
    """40 shoppers' checkouts at once on a worker admitting 4: the rest are refused at once with
    Retry-After (not queued until they time out), /health still answers, and every admitted request
    is a normal answer; when the burst ends, all is admitted again."""
    with served_world(pg_url, tmp_path, db_pool_size=10, max_inflight=4) as w:
        _receive(w, "RW-E", "CASE-BLK", 1000)
        barrier = threading.Barrier(40)

        def checkout(_: int) -> tuple[int, str | None, float]:
            with httpx.Client(base_url=w.base_url, headers=w.h("admin"), timeout=10) as c:
                barrier.wait()
                started = time.monotonic()
                r = c.post("/orders", json={"channel": "app", "customer_id": "C1",
                                            "lines": [{"sku": "CASE-BLK", "quantity": 1}]})
                return r.status_code, r.headers.get("Retry-After"), time.monotonic() - started

        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(checkout, range(40)))
            health = httpx.get(f"{w.base_url}/health", timeout=5)
        statuses = Counter(status for status, _, _ in answers)
        assert set(statuses) <= {201, 503} and statuses[503] > 0 and statuses[201] >= 4, statuses
        assert all(retry == "1" for status, retry, _ in answers if status == 503)
        assert max(seconds for status, _, seconds in answers if status == 503) < 1.0
        assert health.status_code == 200
        assert all(w.call("GET", "/products", expect=200) for _ in range(10))  # admitted again
        assert w.call("GET", "/products").headers["server-timing"].startswith("app;dur=")


# ----------------------------------------------------------------------- 3. signed callbacks
def _signed_payment_callback(w, body: bytes, provider: str = "alipay") -> httpx.Response:
    signature = w.services.payments.providers[provider].sign(body)
    return w.client.post(f"/payments/callbacks/{provider}", content=body, headers={"X-Signature": signature})


def _order_awaiting_alipay(w) -> tuple[dict, dict]:
    """An order for one case, and its Alipay payment waiting for the provider's callback."""
    _receive(w, "RW-E", "CASE-BLK", 5)
    order = w.call("POST", "/orders", role="shopper", expect=201,
                   json={"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()
    payment = w.call("POST", f"/orders/{order['id']}/payments", role="shopper", json={"method": "alipay"},
                     expect=201).json()["payment"]
    return order, payment


def test_signed_but_malformed_payment_callbacks_get_4xx_with_a_reason_and_a_log_line(pg_world, caplog):
    w = pg_world
    order, payment = _order_awaiting_alipay(w)
    good = {"payment_id": payment["id"], "txn_id": "t-1", "amount": payment["amount"], "currency": "CNY",
            "status": "SUCCESS", "sent_at": now_seconds()}
    bodies = {
        "payment_id as a number": json.dumps({**good, "payment_id": 12345}).encode(),
        "amount 1e999": json.dumps(good).replace(str(payment["amount"]), "1e999").encode(),
        "amount as text": json.dumps({**good, "amount": str(payment["amount"])}).encode(),
        "amount true": json.dumps({**good, "amount": True}).encode(),
        "nested 100,000 deep": b'{"payment_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "not JSON": b"\xff\xfe not json",
        "a list": b"[]",
        "unknown status": json.dumps({**good, "status": "MAYBE"}).encode(),
        "too large": json.dumps({**good, "pad": "x" * 100_000}).encode(),
    }
    with caplog.at_level(logging.WARNING, logger="smartmall.api.callbacks"):
        for what, body in bodies.items():
            r = _signed_payment_callback(w, body)
            assert 400 <= r.status_code < 500, (what, r.status_code, r.text[:300])
            assert r.json()["error"]["message"], what
    assert sum("callback from alipay refused" in m for m in caplog.messages) == len(bodies)
    # the payment is still pending, and the good callback still settles it
    r = _signed_payment_callback(w, json.dumps(good).encode())
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text


def test_callbacks_outside_the_replay_window_or_in_another_currency_or_amount_are_refused_and_logged(pg_world,
                                                                                                     caplog):
    """A correctly signed callback captured and sent again later (or from a sender whose clock is far
    off), one in another currency and one for another amount: each refused with its reason, logged;
    the payment stays pending and the genuine callback still settles it."""
    w = pg_world
    order, payment = _order_awaiting_alipay(w)
    provider, carrier = w.services.payments.providers["alipay"], w.services.carrier
    window = w.services.settings.callback_window_seconds
    refused = {
        "stale_callback": provider.callback(payment["id"], payment["amount"], sent_at=now_seconds() - window - 60),
        "from the future": provider.callback(payment["id"], payment["amount"], sent_at=now_seconds() + window + 60),
        "currency_mismatch": provider.callback(payment["id"], payment["amount"], currency="USD"),
        "amount_mismatch": provider.callback(payment["id"], payment["amount"] - 1),
    }
    with caplog.at_level(logging.WARNING, logger="smartmall.api.callbacks"):
        for what, (body, signature) in refused.items():
            r = w.client.post("/payments/callbacks/alipay", content=body, headers={"X-Signature": signature})
            code = "stale_callback" if what == "from the future" else what
            assert r.status_code in (401, 422) and r.json()["error"]["code"] == code, (what, r.text)
        body, signature = carrier.callback("SIM-ANY", "delivered", sent_at=now_seconds() - window - 1)
        r = w.client.post(f"/logistics/callbacks/{carrier.name}", content=body, headers={"X-Signature": signature})
        assert r.status_code == 401 and r.json()["error"]["code"] == "stale_callback"
    logged = [m for m in caplog.messages if "refused" in m]
    assert len(logged) == len(refused) + 1 and all(("alipay" in m) or (carrier.name in m) for m in logged)
    assert w.call("GET", f"/orders/{order['id']}", role="shopper", expect=200).json()["status"] == "created"
    body, signature = provider.callback(payment["id"], payment["amount"], sent_at=now_seconds() - window + 30)
    r = w.client.post("/payments/callbacks/alipay", content=body, headers={"X-Signature": signature})
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text


def test_signed_but_malformed_carrier_callbacks_get_4xx(pg_world):
    w = pg_world
    carrier = w.services.carrier
    for body in (b'{"waybill": 7, "status": "delivered"}', b'{"waybill": "W1", "status": "teleported"}',
                 b"[" * 50_000 + b"]" * 50_000):
        r = w.client.post(f"/logistics/callbacks/{carrier.name}", content=body,
                          headers={"X-Signature": carrier.sign(body)})
        assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text[:300])


# --------------------------------------------------- 4. a replay while the first is still running
def _all_one_answer(responses: list[httpx.Response], id_of) -> None:
    codes = [r.status_code for r in responses]
    assert set(codes) == {201}, [(r.status_code, r.text[:200]) for r in responses if r.status_code != 201]
    assert len({id_of(r.json()) for r in responses}) == 1
    assert sum(not r.json()["idempotent_replay"] for r in responses) == 1


def test_overlapping_replays_of_a_sold_out_order_all_get_the_first_answer(live_pg_world):
    w = live_pg_world
    _receive(w, "RW-E", "CASE-BLK", 3)  # exactly what the order takes: a second attempt would be out of stock
    body = {"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 3}]}
    for attempt in range(3):
        headers = {"Authorization": f"Bearer {w.keys['shopper']}", "Idempotency-Key": f"overlap-{attempt}"}
        responses = asyncio.run(_fire(w.base_url, [("POST", "/orders", body, headers)] * 12))
        if attempt == 0:
            _all_one_answer(responses, lambda b: b["id"])
        else:  # stock is gone now: each new key is refused once, and its replays say the same
            assert {r.status_code for r in responses} == {409}
    assert _stock(w, "CASE-BLK", "RW-E")["reserved"] == 3


def test_overlapping_replays_of_a_cart_checkout_and_a_stored_value_payment(live_pg_world):
    w = live_pg_world
    _receive(w, "RW-E", "CASE-BLK", 2)
    cart = w.call("POST", "/carts", role="shopper", json={"channel": "app"}, expect=201).json()
    w.call("PUT", f"/carts/{cart['id']}/lines/CASE-BLK", role="shopper", json={"quantity": 2}, expect=200)
    headers = {"Authorization": f"Bearer {w.keys['shopper']}", "Idempotency-Key": "cart-overlap"}
    responses = asyncio.run(_fire(w.base_url, [("POST", f"/carts/{cart['id']}/checkout", {}, headers)] * 12))
    _all_one_answer(responses, lambda b: b["id"])
    order_id = responses[0].json()["id"]

    w.call("POST", "/customers/C1/stored-value/top-ups", role="service", json={"amount": 10**6, "reference": "r1"},
           expect=201)
    headers = {**headers, "Idempotency-Key": "pay-overlap"}
    responses = asyncio.run(_fire(w.base_url, [("POST", f"/orders/{order_id}/payments", {"method": "stored_value"},
                                                headers)] * 12))
    _all_one_answer(responses, lambda b: b["payment"]["id"])
    total = responses[0].json()["payment"]["amount"]
    balance = w.call("GET", "/customers/C1/stored-value", role="shopper", expect=200).json()["balance"]
    assert balance == 10**6 - total  # charged once


# ------------------------------------------------------------- 5. staff act on their store's carts
def test_store_staff_cannot_touch_a_shoppers_online_cart_or_another_stores_cart(pg_world):
    w = pg_world
    _receive(w, "S1", "CASE-BLK", 5)
    online = w.call("POST", "/carts", role="shopper", json={"channel": "app"}, expect=201).json()
    w.call("PUT", f"/carts/{online['id']}/lines/CASE-BLK", role="shopper", json={"quantity": 1}, expect=200)
    assert online["store_id"] is None
    for method, path, body in [("GET", f"/carts/{online['id']}", None),
                               ("PUT", f"/carts/{online['id']}/lines/CASE-BLK", {"quantity": 3}),
                               ("POST", f"/carts/{online['id']}/checkout", {"fulfillment": "pickup", "store_id": "S1"})]:
        w.call(method, path, role="staff_s1", json=body, expect=403)
    assert w.call("GET", f"/carts/{online['id']}", role="shopper", expect=200).json()["lines"][0]["quantity"] == 1
    # a till cart belongs to the store whose staff opened it
    till = w.call("POST", "/carts", role="staff_s1", json={"channel": "store_pos", "customer_id": "C1"},
                  expect=201).json()
    assert till["store_id"] == "S1"
    w.call("PUT", f"/carts/{till['id']}/lines/CASE-BLK", role="staff_s1", json={"quantity": 1}, expect=200)
    w.call("GET", f"/carts/{till['id']}", role="staff_s3", expect=403)
    w.call("POST", "/carts", role="staff_s3", json={"channel": "store_pos", "store_id": "S1"}, expect=403)
    order = w.call("POST", f"/carts/{till['id']}/checkout", role="staff_s1", json={"fulfillment": "in_store"},
                   expect=201).json()
    assert order["store_id"] == "S1" and order["customer_id"] == "C1"


# ------------------------------------------------------------------------------ 6. strict numbers
def test_money_and_quantities_take_integers_only(pg_world):
    w = pg_world
    _receive(w, "RW-E", "CASE-BLK", 5)
    for quantity in (True, "2", 2.0, 2.5, None):
        r = w.call("POST", "/orders", role="shopper",
                   json={"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": quantity}]})
        assert r.status_code == 422, (quantity, r.status_code, r.text[:200])
        r = w.call("POST", "/inventory/receipts",
                   json={"location_id": "RW-E", "lines": [{"sku": "CASE-BLK", "quantity": quantity}]})
        assert r.status_code == 422, (quantity, r.status_code)
    cart = w.call("POST", "/carts", role="shopper", json={"channel": "app"}, expect=201).json()
    assert w.call("PUT", f"/carts/{cart['id']}/lines/CASE-BLK", role="shopper", json={"quantity": "1"}).status_code == 422
    order = w.call("POST", "/orders", role="shopper", expect=201,
                   json={"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}).json()
    r = w.call("POST", f"/orders/{order['id']}/payments", role="shopper",
               json={"method": "alipay", "amount": str(order["total"])})
    assert r.status_code == 422
    r = w.call("POST", "/customers/C1/stored-value/top-ups", role="service", json={"amount": "100", "reference": "x"})
    assert r.status_code == 422
    # dates still travel as ISO strings
    w.call("POST", "/customers", json={"id": "C9", "member_code": "M0009", "birthday": "1990-05-01"}, expect=201)


# ---------------------------------------------------------------------------- 7. no default secrets
def test_the_api_refuses_to_start_without_signing_secrets_until_they_are_set_or_generated(tmp_path):
    unset = tuple(SECRET_VARS.values())
    refused = run_cli(tmp_path, "api", "migrate", check=False, unset=unset)
    assert refused.returncode != 0
    assert all(var in refused.stderr for var in unset), refused.stderr
    assert "init-secrets" in refused.stderr
    made = run_cli(tmp_path, "api", "init-secrets", unset=unset)
    path = tmp_path / "commerce" / "secrets.json"
    assert str(path) in made.stdout
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == set(SECRET_VARS) and all(len(v) >= 32 for v in stored.values())
    assert len(set(stored.values())) == len(stored)
    run_cli(tmp_path, "api", "migrate", unset=unset)  # now it starts
    run_cli(tmp_path, "api", "init-secrets", unset=unset)  # a second run keeps them
    assert json.loads(path.read_text()) == stored


def test_a_callback_signed_with_the_old_built_in_secret_is_refused(pg_world):
    w = pg_world
    assert w.services.payments.providers["alipay"].secret not in ("dev-alipay-secret", "")
    forged = SimulatedProvider("alipay", "dev-alipay-secret")
    body, signature = forged.callback("any-payment", 100)
    r = w.client.post("/payments/callbacks/alipay", content=body, headers={"X-Signature": signature})
    assert r.status_code == 401


def test_a_guessably_short_secret_is_refused(tmp_path):
    proc = run_cli(tmp_path, "api", "migrate", check=False, env={"COMMERCE_ALIPAY_SECRET": "short"})
    assert proc.returncode != 0
    assert "COMMERCE_ALIPAY_SECRET" in proc.stderr and "COMMERCE_WECHAT_PAY_SECRET" not in proc.stderr


def test_writes_beyond_a_keys_rate_and_key_guessing_get_429_with_retry_after(tmp_path):
    """A shopper key writing faster than its rate is held back (another key is not); a client trying
    unknown keys is held back after its burst while a key it already uses keeps working; both recover."""
    w = make_world(f"sqlite:///{tmp_path / 'commerce.db'}", tmp_path, write_rate=2.0, write_burst=5,
                   auth_failure_rate=1.0, auth_failure_burst=3)
    try:
        _receive(w, "RW-E", "CASE-BLK", 50)
        body = {"channel": "app", "lines": [{"sku": "CASE-BLK", "quantity": 1}]}
        codes = [w.call("POST", "/orders", role="shopper", json=body).status_code for _ in range(8)]
        assert codes[:5] == [201] * 5 and 429 in codes[5:], codes
        limited = w.call("POST", "/orders", role="shopper", json=body)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        assert w.call("GET", "/orders", role="shopper").status_code == 200  # reads are not limited
        assert w.call("POST", "/orders", role="shopper2", json=body).status_code == 201  # another key
        time.sleep(1.1)
        assert w.call("POST", "/orders", role="shopper", json=body).status_code == 201  # tokens came back
        guesses = [w.client.get("/orders", headers={"Authorization": f"Bearer guess-{i}"}).status_code
                   for i in range(6)]
        assert guesses[:3] == [401] * 3 and set(guesses[3:]) == {429}, guesses
        assert w.call("GET", "/orders", role="shopper").status_code == 200  # a key in use still works
        time.sleep(1.1)
        assert w.client.get("/orders", headers={"Authorization": "Bearer guess-x"}).status_code == 401
    finally:
        w.client.close()
        w.services.sessions.kw["bind"].dispose()


def test_a_signing_secret_rotates_without_downtime(tmp_path):
    """During a rotation the new secret signs and both verify; once the old one is unset, a callback
    signed with it is refused."""
    old, new = "old-alipay-secret-0123456789", "new-alipay-secret-9876543210"
    w = make_world(f"sqlite:///{tmp_path / 'commerce.db'}", tmp_path, alipay_secret=new, alipay_secret_previous=old)
    try:
        order, payment = _order_awaiting_alipay(w)
        by_old = SimulatedProvider("alipay", old).callback(payment["id"], payment["amount"], txn_id="t-old")
        by_other = SimulatedProvider("alipay", "another-secret-000000000").callback(payment["id"], payment["amount"])
        r = w.client.post("/payments/callbacks/alipay", content=by_other[0], headers={"X-Signature": by_other[1]})
        assert r.status_code == 401
        r = w.client.post("/payments/callbacks/alipay", content=by_old[0], headers={"X-Signature": by_old[1]})
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        provider = w.services.payments.providers["alipay"]
        assert provider.sign(b"x") == SimulatedProvider("alipay", new).sign(b"x")  # the new one signs
    finally:
        w.client.close()
        w.services.sessions.kw["bind"].dispose()
    rotated = make_world(f"sqlite:///{tmp_path / 'after.db'}", tmp_path / "after", alipay_secret=new)
    try:
        order, payment = _order_awaiting_alipay(rotated)
        body, signature = SimulatedProvider("alipay", old).callback(payment["id"], payment["amount"])
        r = rotated.client.post("/payments/callbacks/alipay", content=body, headers={"X-Signature": signature})
        assert r.status_code == 401
    finally:
        rotated.client.close()
        rotated.services.sessions.kw["bind"].dispose()
