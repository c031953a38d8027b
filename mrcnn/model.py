"""Mask R-CNN model facade (matterport's `mrcnn.model`).

The network itself is built in the modules of this package; this module keeps
matterport's import path for the helpers notebooks use.
"""

from mrcnn.molding import (  # noqa: F401
    compose_image_meta,
    compute_backbone_shapes,
    mold_image,
    parse_image_meta,
    parse_image_meta_graph,
    unmold_detections,
    unmold_image,
)
