"""The baseline of ``bench/serving_http.py``: a bare async FastAPI endpoint returning a constant list."""

from fastapi import FastAPI

app = FastAPI()
ITEMS = [f"SKU{i:04d}" for i in range(10)]


@app.get("/bare")
async def bare() -> dict:
    return {"customer_id": "B0000", "variant": "repeat", "source": "personal", "items": ITEMS}
