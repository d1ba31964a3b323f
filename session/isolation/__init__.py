"""Matched conditions, enforced: resource profiles, cgroups, accounts and how processes are confined.

`Confinement.setup` decides once per session what this host can enforce and records
it; `Confinement.wrap` turns any participant command into one that runs under it.
"""

from session.isolation.confinement import Confinement, ConfinementEvent
from session.isolation.profile import NETWORK_POLICIES, ResourceProfile

__all__ = ["NETWORK_POLICIES", "Confinement", "ConfinementEvent", "ResourceProfile"]
