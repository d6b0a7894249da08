"""Weight-space tasks: training and evaluating metanetworks (imported as ``netgraph.tasks``)."""
