"""Datasets and the input pipeline."""

from mrcnn.data.dataset import Dataset  # noqa: F401
from mrcnn.data.coco import AnnotationError, CocoFormatDataset, load_coco_json  # noqa: F401
