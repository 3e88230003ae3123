"""Model names the price catalog does not know: counted, and warned about once each."""

from __future__ import annotations

import logging
import threading

from ._forksafe import renew_after_fork

__all__ = ["MAX_UNKNOWN_MODELS", "OTHER_UNKNOWN", "UnknownModels"]

logger = logging.getLogger("langgraph_observe")

#: distinct unknown model names counted (and warned about) one by one; the rest are
#: counted together under :data:`OTHER_UNKNOWN`
MAX_UNKNOWN_MODELS = 1000
OTHER_UNKNOWN = "..."


class UnknownModels:
    """Counts cost look-ups of models missing from the catalog; warns once per name (for
    the first :data:`MAX_UNKNOWN_MODELS` names; then once, and counts the rest together
    under :data:`OTHER_UNKNOWN`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")
        self._counts: dict[str, int] = {}

    def record(self, model: str) -> None:
        with self._lock:
            counts = self._counts
            n = counts.get(model)
            if n is None and len(counts) >= MAX_UNKNOWN_MODELS:
                first_other = OTHER_UNKNOWN not in counts
                counts[OTHER_UNKNOWN] = counts.get(OTHER_UNKNOWN, 0) + 1
                if first_other:
                    logger.warning(
                        "langgraph-observe: more than %d models have no price; further "
                        "names are counted together as %r and not logged",
                        MAX_UNKNOWN_MODELS,
                        OTHER_UNKNOWN,
                    )
                return
            counts[model] = (n or 0) + 1
        if n is None:
            logger.warning(
                "langgraph-observe: no price for model %r; its cost is left unset. Add it "
                "under 'prices:' in the config file or with PriceCatalog.with_overrides().",
                model,
            )

    def snapshot(self) -> dict[str, int]:
        """``{model: look-ups}`` so far."""
        with self._lock:
            return dict(self._counts)
