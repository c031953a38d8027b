"""Network heads: the RPN (mrcnn.heads.rpn) and the second-stage RoI heads,
one file each, selected by name by config.ROI_HEADS (mrcnn.heads.base):
"box" (mrcnn.heads.box), "mask" (mrcnn.heads.mask), "keypoint"
(mrcnn.heads.keypoint, selected by config.KEYPOINT_NAMES) and "semantic"
(mrcnn.heads.semantic, selected by config.NUM_STUFF_CLASSES).

The names of matterport's model.py (`build_rpn_model`,
`fpn_classifier_graph`, `build_fpn_mask_graph`) and the layers the heads
are built from stay importable from here.
"""

from mrcnn.heads.base import HEADS, RoIHead, build_roi_heads, register_head  # noqa: F401
from mrcnn.heads.box import BoxHead, fpn_classifier_graph  # noqa: F401
from mrcnn.heads.mask import MaskHead, build_fpn_mask_graph  # noqa: F401
from mrcnn.heads.keypoint import KeypointHead  # noqa: F401
from mrcnn.heads.semantic import SemanticHead  # noqa: F401
from mrcnn.heads.rpn import build_rpn_model  # noqa: F401
from mrcnn.layers.fast_conv import (SparseGradConv2D, WindowConv2D,  # noqa: F401
                                    _conv_relu_sparse_grad)
from mrcnn.layers.rois import (AnchorsReshape, FoldRois, GatherRows, ScatterRows,  # noqa: F401
                               UnfoldRois, ValidRows)
