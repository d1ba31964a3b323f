"""The reference repair (a protected path: root-only, invisible to participants)."""
