"""Datasets and the input pipeline."""

from mrcnn.data.dataset import Dataset  # noqa: F401
from mrcnn.data.coco import AnnotationError, CocoFormatDataset, load_coco_json  # noqa: F401
from mrcnn.data.folder import ImageFolderDataset, load_image_folder  # noqa: F401
from mrcnn.data.labelme import LabelMeDataset, load_labelme_folder  # noqa: F401
from mrcnn.data.via import ViaDataset, load_via_json  # noqa: F401
