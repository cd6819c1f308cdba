"""Everything generated from the one contract (``data/contract.py``) and the models' vocabularies
(``models/``), written into the repo.

Run ``python -m pipelines.contract_sync`` after changing the contract: it rewrites the
great-expectations project (``gx/``, see ``pipelines.quality``) and the value lists that the dbt
tests read as vars (the marked block of ``dbt/dbt_project.yml``). The tests fail when either is
behind the contract (``tests/test_contract_agreement.py``).
"""

from __future__ import annotations

import json
import re
import sys

from data.contract import CHANNELS, EVENT_NAMES, FULFILLMENTS, IOT_KINDS, LOCATION_KINDS, MOVEMENT_TYPES
from models.rfm import SEGMENTS
from pipelines.environment import DBT_PROJECT_DIR
from pipelines.quality import write_repo_project

BEGIN = "  # generated from data/contract.py and models/ by `python -m pipelines.contract_sync`: do not edit by hand\n"
END = "  # end of the generated block\n"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)


def dbt_vars() -> dict[str, list[str]]:
    """The contract's value domains (and the RFM segment names) as the dbt project's vars
    (``accepted_values`` tests read them)."""
    return {"contract_channels": list(CHANNELS), "contract_event_names": list(EVENT_NAMES),
            "contract_fulfillments": list(FULFILLMENTS), "contract_iot_kinds": list(IOT_KINDS),
            "contract_location_kinds": list(LOCATION_KINDS), "contract_movement_types": list(MOVEMENT_TYPES),
            "rfm_segments": list(SEGMENTS)}


def dbt_vars_block() -> str:
    return BEGIN + "".join(f"  {name}: {json.dumps(values, ensure_ascii=False)}\n"
                           for name, values in dbt_vars().items()) + END


def write_dbt_vars() -> None:
    path = DBT_PROJECT_DIR / "dbt_project.yml"
    text = path.read_text()
    if BLOCK.search(text):
        text = BLOCK.sub(lambda _: dbt_vars_block(), text)
    else:
        text = text.replace("vars:\n", "vars:\n" + dbt_vars_block(), 1)
    path.write_text(text)


def main() -> None:
    gx = "rewrote gx/" if write_repo_project() else "gx/ was up to date"
    write_dbt_vars()
    print(f"{gx}; wrote the contract vars of dbt/dbt_project.yml", file=sys.stderr)


if __name__ == "__main__":
    main()
