"""Hydra configurations of the ``netgraph-*`` command-line apps (``pkg://netgraph.configs``)."""
