"""Model-zoo builders and research datasets of trained networks (imported as ``netgraph.datasets``)."""
