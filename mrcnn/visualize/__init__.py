"""Drawing helpers for Mask R-CNN detections and data set samples.

The public functions keep the names, signatures and defaults of matterport's
``mrcnn.visualize`` so existing notebooks and scripts keep working
(``from mrcnn import visualize; visualize.display_instances(...)``). This
package re-exports them from the modules they live in:

:mod:`mrcnn.visualize.instances` - colours, masks and instance figures:

* :func:`random_colors` - distinct colours for instances.
* :func:`apply_mask` - blend one binary mask into an image array.
* :func:`display_instances` - image with boxes, captions, masks and outlines.
* :func:`display_images` - a grid of images with titles.
* :func:`display_top_masks` - the image beside its largest classes' masks.

:mod:`mrcnn.visualize.comparison` - boxes, RoIs and ground truth against
predictions:

* :func:`draw_box` - burn a box outline into an image array.
* :func:`display_differences` - ground truth (green) and predictions (red)
  on one image, captioned with score / IoU.
* :func:`draw_boxes` - anchors/proposals and their refinements, masks.
* :func:`draw_rois` - training RoIs (DetectionTargetLayer output) with their
  refined boxes and target masks.

:mod:`mrcnn.visualize.evaluation` - evaluation plots and tables:

* :func:`plot_precision_recall` - the precision/recall curve of
  ``utils.compute_ap``.
* :func:`plot_overlaps` - the IoU grid of predictions against ground truth.
* :func:`display_table` / :func:`display_weight_stats` - tables (HTML in a
  notebook, text elsewhere), e.g. per-weight min/max/std of a model.

:mod:`mrcnn.visualize.curves` - training curves:

* :func:`read_tensorboard_scalars` / :func:`plot_training_curves` - the loss
  curves written by ``MaskRCNN.train``'s TensorBoard callback.

:mod:`mrcnn.visualize.panoptic` - panoptic segmentations:

* :func:`display_panoptic` - stuff in flat colours, things as instances.

:mod:`mrcnn.visualize.keypoints` - keypoints (Keypoint R-CNN):

* :func:`display_keypoints` - points and skeleton lines over the instances.

Conventions
-----------
* Images are ``[height, width, 3]`` arrays with values in ``0..255``.
* Boxes are ``[N, (y1, x1, y2, x2)]`` in pixel coordinates.
* Masks are ``[height, width, N]`` arrays of bool (or 0/1).
* Colours are RGB tuples with components in ``[0, 1]``.

Headless use
------------
On Linux without a display (no ``DISPLAY`` / ``WAYLAND_DISPLAY``) importing
this package selects matplotlib's non-interactive ``Agg`` backend, but only
when pyplot has not been imported yet and no backend was requested through
``MPLBACKEND``, so notebooks and scripts that choose a backend themselves are
left alone. Importing one of the modules above imports this package first, so
the choice is made before any of them imports pyplot. Every drawing function
accepts ``save_path`` to write the figure to a file.
"""

import os
import sys

import matplotlib


def _select_headless_backend():
    """Use Agg on a display-less Linux box unless the user chose a backend."""
    if "matplotlib.pyplot" in sys.modules:
        return  # a backend is already in use; switching could break it
    if os.environ.get("MPLBACKEND"):
        return  # explicit choice (Jupyter's kernel sets this too)
    if not sys.platform.startswith("linux"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    matplotlib.use("Agg")


_select_headless_backend()

# The modules below import pyplot: only after the backend choice. The private
# helpers stay importable as mrcnn.visualize._name, as in the single module.
from mrcnn.visualize.instances import (  # noqa: E402,F401
    _count, _finish_figure, apply_mask, display_images, display_instances,
    display_top_masks, random_colors)
from mrcnn.visualize.comparison import (  # noqa: E402
    display_differences, draw_box, draw_boxes, draw_rois)
from mrcnn.visualize.evaluation import (  # noqa: E402,F401
    _in_notebook, display_table, display_weight_stats, plot_overlaps,
    plot_precision_recall)
from mrcnn.visualize.curves import (  # noqa: E402
    plot_training_curves, read_tensorboard_scalars)
from mrcnn.visualize.panoptic import display_panoptic  # noqa: E402
from mrcnn.visualize.keypoints import display_keypoints  # noqa: E402

__all__ = [
    "random_colors", "apply_mask", "display_instances", "display_images",
    "display_top_masks",
    "draw_box", "display_differences", "draw_boxes", "draw_rois",
    "plot_precision_recall", "plot_overlaps", "display_table",
    "display_weight_stats",
    "read_tensorboard_scalars", "plot_training_curves",
    "display_panoptic", "display_keypoints",
]
