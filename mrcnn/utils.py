"""matterport's `mrcnn.utils` namespace: its NumPy helpers under their old
names, re-exported from the modules that define them.

| helpers | defined in |
|---|---|
| boxes: `extract_bboxes`, `compute_iou`, `compute_overlaps`, `compute_overlaps_masks`, `non_max_suppression`, `apply_box_deltas`, `box_refinement`, `box_refinement_graph`, `norm_boxes`, `denorm_boxes` | `mrcnn.boxes` |
| resizing and masks: `resize`, `resize_image`, `resize_mask`, `minimize_mask`, `expand_mask`, `unmold_mask`, `mask_to_box` | `mrcnn.masks` |
| anchors: `generate_anchors`, `generate_pyramid_anchors` | `mrcnn.anchors` |
| AP: `trim_zeros`, `compute_matches`, `compute_ap`, `compute_ap_range`, `compute_recall` | `mrcnn.ap` |
| COCO weights: `COCO_MODEL_URL`, `download_trained_weights` | `mrcnn.pretrained` |
| files: `download_file`, `write_json_atomic`, `write_text_atomic` | `mrcnn.fileio` |
| `Dataset` (imported on first use) | `mrcnn.data.dataset` |

Each name is the object of its home module (`mrcnn.utils.compute_ap is
mrcnn.ap.compute_ap`), so numbers are the same whichever way it is
imported. Only `batch_slice`, matterport's helper for per-image graph code,
is defined here. Modules of this package import from the home modules;
none imports this one (tests/test_utils_namespace.py).

Conventions
-----------
* Boxes are ``[N, (y1, x1, y2, x2)]``. In pixel coordinates ``(y2, x2)`` lies
  just outside the box; in normalised coordinates (``norm_boxes``) it is the
  last pixel inside it, divided by ``(height - 1, width - 1)``.
* Masks are ``[height, width, instances]`` arrays of bool.
"""

import logging

from mrcnn.anchors import generate_anchors, generate_pyramid_anchors  # noqa: F401
from mrcnn.ap import (compute_ap, compute_ap_range, compute_matches,  # noqa: F401
                      compute_recall, trim_zeros)
from mrcnn.boxes import (apply_box_deltas, box_refinement,  # noqa: F401
                         box_refinement_graph, compute_iou, compute_overlaps,
                         compute_overlaps_masks, denorm_boxes, extract_bboxes,
                         non_max_suppression, norm_boxes)
from mrcnn.fileio import download_file, write_json_atomic, write_text_atomic  # noqa: F401
from mrcnn.masks import (expand_mask, mask_to_box, minimize_mask, resize,  # noqa: F401
                         resize_image, resize_mask, unmold_mask)
from mrcnn.pretrained import COCO_MODEL_URL, download_trained_weights  # noqa: F401

logger = logging.getLogger(__name__)


def __getattr__(name):
    # matterport's utils.Dataset, imported on first use: importing
    # mrcnn.data.dataset runs mrcnn/data/__init__.py, which loads every
    # annotation format and the input pipeline.
    if name == "Dataset":
        from mrcnn.data.dataset import Dataset
        globals()["Dataset"] = Dataset
        return Dataset
    raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))


def __dir__():
    return sorted(list(globals()) + ["Dataset"])


def batch_slice(inputs, graph_fn, batch_size, names=None):
    """Run `graph_fn` on each of the first `batch_size` slices of `inputs`
    (a tensor or list of tensors) and stack the results (matterport's helper
    for graph code written for one image; this package's own layers are
    batched instead)."""
    import tensorflow as tf

    if not isinstance(inputs, list):
        inputs = [inputs]
    outputs = []
    for i in range(batch_size):
        output_slice = graph_fn(*[x[i] for x in inputs])
        if not isinstance(output_slice, (tuple, list)):
            output_slice = [output_slice]
        outputs.append(output_slice)
    outputs = list(zip(*outputs))
    names = names or [None] * len(outputs)
    result = [tf.stack(o, axis=0, name=n) for o, n in zip(outputs, names)]
    return result[0] if len(result) == 1 else result
