"""Errors of ``netgraph.hub``."""

from netgraph.errors import NetgraphError

__all__ = ["HubRepoError"]


class HubRepoError(NetgraphError, ValueError):
    """A repo (a Hub repo id, a local folder or a bundled name) is missing, incomplete, unreachable or
    holds something else than what was asked for; the message names the repo and what to do."""
