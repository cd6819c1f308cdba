"""The OpenAPI document, with links: which response gives the id that other operations take.

A client (or a stateful fuzzer) reads them to chain calls: ``POST /orders`` answers the order's
``id``, which ``GET /orders/{order_id}``, its payments, cancel, ship... take as ``order_id``. Each
producer below names the path parameter it yields and where in its response body it is; a link is
added from it to every operation whose path takes that parameter.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

# (method, path, status) of a producer -> {path parameter: JSON pointer into its response body}
PRODUCERS: dict[tuple[str, str, str], dict[str, str]] = {
    ("post", "/orders", "201"): {"order_id": "/id"},
    ("post", "/carts/{cart_id}/checkout", "201"): {"order_id": "/id"},
    ("post", "/carts", "201"): {"cart_id": "/id"},
    ("post", "/orders/{order_id}/payments", "201"): {"payment_id": "/payment/id"},
    ("post", "/orders/{order_id}/ship", "200"): {"waybill": "/shipments/0/waybill"},
    ("post", "/orders/{order_id}/returns", "201"): {"request_id": "/id"},
    ("post", "/products", "201"): {"product_id": "/id", "sku": "/skus/0/sku"},
    ("post", "/customers", "201"): {"customer_id": "/id", "member_code": "/member_code"},
}


def _operation_id(method: str, path: str) -> str:
    return f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}"


def add_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every operation a stable ``operationId`` (``post_orders_order_id_payments``) and add the
    links of ``PRODUCERS`` to the responses that carry them."""
    operations = {(method, path): op for path, item in schema["paths"].items() for method, op in item.items()}
    for (method, path), op in operations.items():
        op["operationId"] = _operation_id(method, path)
    for (method, path, status), yields in PRODUCERS.items():
        response = operations[(method, path)]["responses"].setdefault(status, {"description": "Successful Response"})
        links = response.setdefault("links", {})
        for (c_method, c_path), consumer in sorted(operations.items()):
            taken = {name: f"$response.body#{pointer}" for name, pointer in yields.items() if f"{{{name}}}" in c_path}
            if taken and (c_method, c_path) != (method, path):
                links[consumer["operationId"]] = {"operationId": consumer["operationId"], "parameters": taken}
    return schema


def raw_json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its body itself (a signed callback must be verified
    on the exact bytes before parsing): documents the body as ``model``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def install(app: FastAPI) -> None:
    """Serve the linked document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(get_openapi(title=app.title, version=app.version,
                                                       description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi
