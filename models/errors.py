"""The one exception that means "not enough data", as opposed to a bug."""

from __future__ import annotations


class NotEnoughData(ValueError):
    """The data is too thin (or lacks an optional input) for this model or mart: a skip by design.

    ``needs`` says what input would enable it, in the user's words ("customer ids on the
    transactions", "stock positions or inventory movements"). Callers catch this exception alone:
    any other error is a real failure and must fail the run.
    """

    def __init__(self, reason: str, needs: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needs = needs

    def as_skip(self) -> dict[str, str]:
        """The metadata a skipped asset reports: ``{"skipped": reason, "needs": what enables it}``."""
        return {"skipped": self.reason, "needs": self.needs}
