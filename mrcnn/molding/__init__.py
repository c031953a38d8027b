"""How images enter the network and detections leave it, in NumPy and in
TensorFlow side by side.

`detect()` molds images in NumPy; the SavedModel export (mrcnn.export) does
the same work inside the graph. Every step has both versions in one module,
and tests/test_molding.py checks that each pair gives the same numbers
(bit-exact) on the same inputs:

| step (module) | NumPy | TensorFlow |
|---|---|---|
| resize and pad (`resize`) | `resize_image` | `resize_params_graph`, `resize_images_graph` |
| mold pixels, metas (`resize`) | `mold_image`, `mold_inputs` | `mold_graph`, `preprocess_graph` |
| image meta (`meta`) | `compose_image_meta`, `parse_image_meta` | `compose_image_meta_graph`, `parse_image_meta_graph` |
| anchors (`anchors`) | `pyramid_anchors`, `normalized_anchors` | `anchors_graph` |
| detections (`detections`) | `unmold_detections`, `paste_masks` | `unmold_detections_graph`, `paste_masks_graph` |

The image-meta layout is defined once, in `mrcnn.molding.meta`: read a meta
only through its accessors (`meta_window`, `meta_image_shape`,
`meta_original_shape`, `meta_active_class_ids`, ...), which take arrays and
tensors alike. The backbone divisor 64 is `BACKBONE_DIVISOR`
(`mrcnn.molding.divisor`, with `check_divisible`).

All names are importable from `mrcnn.molding`; matterport's
(`mold_image`, `compose_image_meta`, `parse_image_meta`, `unmold_detections`,
...) also from `mrcnn.model`. The TensorFlow modules load on first use, so
that `mrcnn.config` (which needs the meta layout and the divisor) imports
without TensorFlow.
"""

import importlib

from mrcnn.molding.divisor import (BACKBONE_DIVISOR, check_divisible,  # noqa: F401
                                   is_divisible, padding_to_divisor)
from mrcnn.molding.meta import (META_FIELDS, META_FIXED_SIZE,  # noqa: F401
                                compose_image_meta, compose_image_meta_graph,
                                image_meta_size, meta_active_class_ids, meta_image_id,
                                meta_image_shape, meta_original_shape, meta_scale,
                                meta_window, parse_image_meta, parse_image_meta_graph)

# Names of the modules that import TensorFlow, loaded lazily.
_LAZY = {
    "resize": ("resize_image", "resize_params_graph", "resize_images_graph", "mold_image",
               "unmold_image", "mold_graph", "mold_inputs", "preprocess_graph"),
    "anchors": ("compute_backbone_shapes", "pyramid_anchors", "normalized_anchors",
                "anchors_graph"),
    "detections": ("unmold_detections", "unmold_detections_graph", "paste_masks",
                   "paste_masks_graph"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name):
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError("module 'mrcnn.molding' has no attribute {!r}".format(name))
    value = getattr(importlib.import_module("mrcnn.molding." + module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))
