"""Op handlers and tracer bindings (one module per family); importing registers them all."""

from . import activation, arith, attention, conv, embedding, indexing, linear, norm, pooling, recurrent, shape  # noqa: F401
from .registry import FORWARDING, HANDLERS  # noqa: F401  (used as netgraph.trace.ops.HANDLERS / FORWARDING)
from .registry import Lowered, bind_function, bind_method, bind_module, register_op

__all__ = ["Lowered", "register_op", "bind_module", "bind_function", "bind_method"]
