"""Hugging Face Hub integration for metanetworks, generators and zoos (imported as ``netgraph.hub``)."""
