"""The environment interface, modelled on METR's task standard.

An environment says what the participant must do (instructions), lays out the start
(prepare), and judges a workspace (score, always run in a separate process by
`environments.scoring`). Module import must stay cheap: heavy imports (torch, triton)
belong inside `score` and the participant's code, so the daemon starts fast.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Aggregation = Literal["min", "max", "last"]

# Small datasets and models the environments ship (outside every workspace).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Resources:
    """What the environment expects the participant to get (enforced later by isolation)."""

    cpus: int
    gpus: int
    memory_gb: float


@dataclass(frozen=True)
class ScaleConfig:
    """One task size: `cpu` runs in minutes on 2 cores, `gpu` is the real task size."""

    name: str
    score_timeout_s: float
    memory_limit_mb: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoreResult:
    """A scorer's verdict. raw is NaN for an invalid submission; details are never shown."""

    raw: float
    message: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not math.isnan(self.raw)

    @classmethod
    def invalid(cls, reason: str, **details: Any) -> ScoreResult:
        return cls(math.nan, {"error": reason}, dict(details))

    def to_json(self) -> dict[str, Any]:
        return {"raw": None if not self.valid else self.raw, "message": self.message, "details": self.details}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreResult:
        raw = data.get("raw")
        return cls(math.nan if raw is None else float(raw), data.get("message") or {}, data.get("details") or {})


class Environment(ABC):
    """One research-engineering task. Subclasses set the class attributes and the three methods."""

    id: str
    title: str
    aggregation: Aggregation
    score_visible: bool = True
    resources: Resources
    scales: dict[str, ScaleConfig]
    # The working-time budget a session gets by default (RE-Bench: 8 hours).
    budget_s: float = 8 * 3600

    def scale(self, name: str) -> ScaleConfig:
        try:
            return self.scales[name]
        except KeyError:
            raise ValueError(f"environment {self.id!r} has no scale {name!r}; scales: {sorted(self.scales)}") from None

    def resources_for(self, scale: str) -> Resources:
        """The resources a scale needs; environments whose scales differ override this."""
        self.scale(scale)
        return self.resources

    @property
    def folder(self) -> Path:
        """The environment's package folder (instructions, starting and reference solutions)."""
        import sys

        return Path(sys.modules[type(self).__module__].__file__).resolve().parent

    def protected_paths(self) -> list[Path]:
        """Files the participant must never read (reference solutions, held-out sources): root-only
        when the harness runs isolated. Environments that ship more private data add it here.
        The shared corpus's held-out documents are every environment's: a participant of one
        must not read another's validation text."""
        return [self.folder / "reference", DATA_DIR / self.id / "reference", DATA_DIR / "corpus" / "validation.json.xz"]

    @abstractmethod
    def instructions(self, scale: str) -> str:
        """Markdown shown to the participant."""

    @abstractmethod
    def prepare(self, workspace: Path, private: Path, scale: str) -> None:
        """Copy the starting solution into `workspace`; put what must stay hidden in `private`."""

    def score(self, workspace: Path, private: Path, scale: str) -> ScoreResult:
        """Judge the workspace. Runs inside the scorer subprocess, never in the daemon.

        An environment implements either this, or the split below (`participant_inputs`,
        `run_participant_part`, `judge`), which keeps the participant's code out of the
        process that reads the private data.
        """
        raise NotImplementedError(f"{self.id} scores in two parts: see participant_inputs")

    # -- scoring in two parts -------------------------------------------------------------
    def participant_inputs(self, private: Path, scale: str) -> dict[str, Any] | None:
        """What the participant's part of scoring may see (public data only), or None.

        None (the default) means one scorer process runs the participant's code and reads the
        private data. Otherwise the harness first runs `run_participant_part` as the participant
        (their account and limits, no access to `private`), then `judge` as the scorer on what
        that part wrote. Runs in the harness, so keep it cheap.
        """
        return None

    def run_participant_part(self, workspace: Path, inputs: dict[str, Any], outputs: Path, scale: str) -> None:
        """Run the participant's code on `inputs`; write the results as plain files (JSON) under `outputs`."""
        raise NotImplementedError

    def judge(self, workspace: Path, private: Path, scale: str, outputs: Path, inputs: dict[str, Any]) -> ScoreResult:
        """Score what `run_participant_part` wrote, which is untrusted: parse it defensively.

        `inputs` are the ones `participant_inputs` gave, passed on by the harness (trusted)."""
        raise NotImplementedError

    @abstractmethod
    def install_reference(self, workspace: Path, scale: str) -> None:
        """Overlay the reference solution onto a prepared workspace (used only by calibrate)."""
