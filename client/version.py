"""The installed distribution's version: one answer for both CLIs and the node's build info."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "vcledger"


def installed_version() -> str:
    """The version of the installed ``vcledger`` distribution (``--version``, build info)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that pip never installed
        return "unknown (not installed)"
