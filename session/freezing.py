"""Pause means no work: the participant's processes are frozen while any reason holds.

Reasons: a pause of the clock (the `work` group: commands, the shell, what they left
running, `setsid` children included), a stopped daemon (the same: work must not go on
while nobody keeps the clock), and a timed scoring (`work` and the agent's own process,
so nothing left behind competes with the measurement or reaches into the part being
timed). A group is thawed when its last reason goes. The kernel keeps a frozen group
frozen across a daemon restart; the next holder reconciles (`reconcile`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from session.isolation import Confinement

PAUSE_GROUPS = ("work",)
SCORING_GROUPS = ("work", "agent")


class Freezing:
    def __init__(self, confinement: Confinement) -> None:
        self.confinement = confinement
        self._reasons: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    @property
    def enforced(self) -> bool:
        return self.confinement.can_freeze

    def hold(self, reason: str, groups: tuple[str, ...]) -> dict[str, int]:
        """Freeze `groups` for `reason`; {group: processes frozen} for the groups this froze."""
        frozen: dict[str, int] = {}
        if not self.enforced:
            return frozen
        with self._lock:
            for group in groups:
                reasons = self._reasons.setdefault(group, set())
                first = not reasons
                reasons.add(reason)
                if first:
                    self.confinement.freeze(group)
                    frozen[group] = len(self.confinement.group_pids(group))
        return frozen

    def release(self, reason: str, groups: tuple[str, ...]) -> list[str]:
        """Drop `reason`; thaw (and return) the groups no reason holds any more."""
        thawed: list[str] = []
        if not self.enforced:
            return thawed
        with self._lock:
            for group in groups:
                reasons = self._reasons.setdefault(group, set())
                reasons.discard(reason)
                if not reasons:
                    self.confinement.thaw(group)
                    thawed.append(group)
        return thawed

    def reconcile(self, paused: bool) -> None:
        """At the start of a holder: frozen exactly when the clock is paused (a previous holder
        may have died in a timed scoring, with work still frozen)."""
        if not self.enforced:
            return
        with self._lock:
            self._reasons.clear()
        for group in SCORING_GROUPS:
            self.confinement.thaw(group)
        if paused:
            self.hold("pause", PAUSE_GROUPS)
