"""Mask R-CNN for TensorFlow 2 / Keras 3 with matterport's Mask_RCNN API.

    from mrcnn import utils, visualize
    from mrcnn.config import Config
    import mrcnn.model as modellib
"""

__version__ = "0.1.0"
