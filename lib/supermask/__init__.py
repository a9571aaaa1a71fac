"""supermask: edge-popup (Ramanujan et al., 2020) and related supermask methods, reproduced."""

__version__ = "0.1.0"
