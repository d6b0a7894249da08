"""Metanetworks: permutation-equivariant models over weight spaces and parameter graphs
(imported as ``netgraph.metanets``)."""
