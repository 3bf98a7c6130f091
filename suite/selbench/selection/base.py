"""The selector contract (DataPerf-style: one small class, a typed result).

A plugin subclasses :class:`Selector`, declares its metadata as class attributes and implements
``select(pool, budget, ctx)``. It may return a :class:`Selection` or a plain list of ids; the
selection stage validates either (exactly ``budget`` unique ids from the pool) and never trusts
the plugin's own claims.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from selbench.pools.pool import Pool
    from selbench.selection.context import SelectionContext

Track = Literal["general", "targeted"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass
class Selection:
    """Ordered ids (most preferred first), optional per-id scores and free-form info."""

    ids: list[str]
    scores: list[float] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Selector(ABC):
    """Base class of every selector plugin.

    Metadata (class attributes) is shown by ``selbench ls selectors`` and copied into every
    selection artifact and submission:

    - ``name``: registry name (lowercase, ``[a-z0-9_.-]``), ``version``: bump when output changes;
    - ``paper``: URL or arXiv id; ``track``: ``general`` or ``targeted`` (gets a query set);
    - ``needs_gpu``, ``uses_api``, ``external_models`` (hub ids it loads): shown as filters;
    - ``seeded``: output depends on the seed (``random``); ``ignores_budget``: returns the
      whole pool whatever the budget (``full``).

    Constructor keyword arguments are the selector's parameters; they are recorded and hashed.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = ""
    paper: ClassVar[str | None] = None
    track: ClassVar[Track] = "general"
    needs_gpu: ClassVar[bool] = False
    uses_api: ClassVar[bool] = False
    external_models: ClassVar[tuple[str, ...]] = ()
    seeded: ClassVar[bool] = False
    ignores_budget: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)

    @abstractmethod
    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection | list[str]:
        """Pick ``budget`` ids from ``pool`` (``pool.data`` is a canonical ``datasets.Dataset``)."""

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        doc = (cls.__doc__ or "").strip()
        return {
            "name": cls.name,
            "version": cls.version,
            "description": cls.description or (doc.splitlines()[0] if doc else ""),
            "paper": cls.paper,
            "track": cls.track,
            "needs_gpu": cls.needs_gpu,
            "uses_api": cls.uses_api,
            "external_models": list(cls.external_models),
            "seeded": cls.seeded,
            "ignores_budget": cls.ignores_budget,
        }

    @classmethod
    def metadata_problems(cls) -> list[str]:
        """What is wrong with the declared metadata (empty when it is fine)."""
        problems = []
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append("class attribute `name` must be a lowercase name like 'my_method'")
        if not isinstance(cls.version, str) or not cls.version:
            problems.append("`version` must be a non-empty string")
        if cls.track not in ("general", "targeted"):
            problems.append("`track` must be 'general' or 'targeted'")
        for flag in ("needs_gpu", "uses_api", "seeded", "ignores_budget"):
            if not isinstance(getattr(cls, flag), bool):
                problems.append(f"`{flag}` must be True or False")
        if not isinstance(cls.external_models, (tuple, list)) or not all(isinstance(m, str) for m in cls.external_models):
            problems.append("`external_models` must be a tuple of model ids")
        return problems
