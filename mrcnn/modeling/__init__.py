"""The model's graph (mrcnn.modeling.graph), its stages (features, rpn)
and its named contracts (mrcnn.modeling.contracts). The RoI heads live in
mrcnn.heads, the layers in mrcnn.layers."""

from mrcnn.modeling.contracts import by_name, output_names  # noqa: F401
from mrcnn.modeling.graph import GraphContext, build_graph  # noqa: F401
