"""Configs of ``netgraph-prune`` (``prune.yaml`` and the ``arch`` group), a package of their own so that
``metanet=<path>`` is a plain value here, not the ``metanet`` group of ``netgraph-train``."""
