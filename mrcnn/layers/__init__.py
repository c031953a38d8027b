"""Keras layers of Mask R-CNN's graph, one concept a file:

proposals (RPN output -> RoIs), RoIAlign over the pyramid, training targets
of the heads, and the final detections.
"""

from mrcnn.layers.detection import DetectionLayer  # noqa: F401
from mrcnn.layers.detection_target import DetectionTargetLayer  # noqa: F401
from mrcnn.layers.proposal import ProposalLayer  # noqa: F401
from mrcnn.layers.roi_align import PyramidROIAlign  # noqa: F401
