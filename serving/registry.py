"""Model registry: versioned folders with a JSON card, under ``<root>/<model name>/``.

Each training run writes ``v0001/``, ``v0002/``, ... holding ``card.json`` (data window,
parameters, backtest metrics, baseline metrics on the same split, whether its checks passed)
and the artefacts (``model.pkl`` etc.). ``current.json`` names the version in service; it moves
only when a new version passes its checks, so the last good version stays otherwise.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    path: Path
    card: dict[str, Any]

    def load(self, artefact: str = "model.pkl") -> Any:
        with open(self.path / artefact, "rb") as f:
            return pickle.load(f)  # noqa: S301 - our own artefacts, written by register()


class Registry:
    def __init__(self, root: Path):
        self.root = Path(root)

    def register(self, name: str, card: dict[str, Any], artefacts: dict[str, Any] | None = None,
                 passed: bool = True) -> ModelVersion:
        """Write a new version; promote it to current only when ``passed``."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(p.name for p in folder.glob("v[0-9][0-9][0-9][0-9]"))
        version = f"v{int(existing[-1][1:]) + 1:04d}" if existing else "v0001"
        path = folder / version
        path.mkdir()
        for file_name, obj in (artefacts or {}).items():
            with open(path / file_name, "wb") as f:
                pickle.dump(obj, f)
        full_card = {"name": name, "version": version, "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
                     "checks_passed": bool(passed), **card}
        (path / "card.json").write_text(json.dumps(full_card, indent=2, default=str))
        if passed:
            (folder / "current.json").write_text(json.dumps({"version": version}))
        return ModelVersion(name, version, path, full_card)

    def current(self, name: str) -> ModelVersion | None:
        pointer = self.root / name / "current.json"
        if not pointer.exists():
            return None
        version = json.loads(pointer.read_text())["version"]
        return self.get(name, version)

    def get(self, name: str, version: str) -> ModelVersion:
        path = self.root / name / version
        return ModelVersion(name, version, path, json.loads((path / "card.json").read_text()))

    def versions(self, name: str) -> list[ModelVersion]:
        return [self.get(name, p.name) for p in sorted((self.root / name).glob("v[0-9][0-9][0-9][0-9]"))]

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []
