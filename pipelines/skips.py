"""How an asset says it skipped part of its work for lack of data (``models.errors.NotEnoughData``)."""

from __future__ import annotations

from collections.abc import Iterable


def skip_message(result: dict) -> str | None:
    """``"skipped: <reason>; needs <input>"`` for a result that was skipped, else None."""
    if "skipped" not in result:
        return None
    needs = result.get("needs")
    return f"skipped: {result['skipped']}" + (f"; needs {needs}" if needs else "")


def skipped_assets(materializations: Iterable[tuple[str, dict]]) -> dict[str, str]:
    """(asset name, metadata values) of a run's materializations -> {asset: skip message} for the
    skipped ones, so the run's summary can list every skip and what would enable it."""
    out: dict[str, str] = {}
    for name, metadata in materializations:
        message = skip_message(metadata)
        if message:
            out[name] = message
    return out
