"""mrcnn.data.pipeline: the tf.data training input, check_trainable, and the
names it re-exports (load_image_gt and build_rpn_targets: tests/test_data_sample.py)."""
import re

import numpy as np
import pytest

from mrcnn.config import Config
from mrcnn.data.dataset import Dataset
from mrcnn.data.images import to_model_image
from mrcnn.data.pipeline import load_image_gt, make_tf_dataset, training_anchors


class PipeConfig(Config):
    NAME = "pipe"
    NUM_CLASSES = 3
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 3
    MINI_MASK_SHAPE = (28, 28)


class BoxDataset(Dataset):
    """Images of 50x100 with given boxes as masks; `bad` entries break load_mask."""

    def __init__(self, items):
        super().__init__()
        self.add_class("box", 1, "a")
        self.add_class("box", 2, "b")
        for i, item in enumerate(items):
            self.add_image("box", image_id=i, path=None, **item)
        self.prepare()

    def load_image(self, image_id):
        return np.full((50, 100, 3), 90, np.uint8)

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        shape = info.get("mask_shape", (50, 100))
        masks = np.zeros(shape + (len(info["boxes"]),), bool)
        for i, (y1, x1, y2, x2) in enumerate(info["boxes"]):
            masks[y1:y2, x1:x2, i] = True
        return masks, np.array(info.get("class_ids", [1] * len(info["boxes"])), np.int32)


def test_tf_dataset_batches_and_skips_images_without_instances():
    config = PipeConfig()
    d = BoxDataset([{"boxes": [(10, 20, 30, 60)]}, {"boxes": []},
                    {"boxes": [(5, 5, 45, 95), (0, 0, 8, 8)], "class_ids": [2, 1]}])
    batches = list(make_tf_dataset(d, config, shuffle=False, repeat=False))
    assert len(batches) == 1  # 2 images with instances make one batch of 2
    images, metas, rpn_match, rpn_bbox, class_ids, boxes, masks = [b.numpy() for b in batches[0]]
    assert images.shape == (2, 128, 128, 3) and images.dtype == np.float32
    assert rpn_match.shape == (2, len(training_anchors(config)), 1)
    np.testing.assert_array_equal(metas[:, 0], [0, 2])
    np.testing.assert_array_equal(class_ids, [[1, 0, 0], [2, 1, 0]])
    assert masks.shape == (2, 28, 28, 3) and masks.dtype == bool
    assert (rpn_match == 1).sum(axis=(1, 2)).min() >= 1


class ChannelConfig(Config):
    """Tiny network for the N-channel end-to-end test."""
    NAME = "channels"
    NUM_CLASSES = 2
    BACKBONE = "resnet18"
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    PRE_NMS_LIMIT = 200
    POST_NMS_ROIS_TRAINING = 32
    POST_NMS_ROIS_INFERENCE = 16
    TRAIN_ROIS_PER_IMAGE = 8
    RPN_TRAIN_ANCHORS_PER_IMAGE = 16
    MAX_GT_INSTANCES = 2
    DETECTION_MAX_INSTANCES = 4
    DETECTION_MIN_CONFIDENCE = 0.0
    OPTIMIZER = "Adam"
    STEPS_PER_EPOCH = 1
    VALIDATION_STEPS = 0


class BandDataset(Dataset):
    """48x40 images of `image_channels` bands (float in [0, 1], as a
    microscope or multispectral reader may give) with one bright square."""

    def __init__(self, channels):
        super().__init__(image_channels=channels)
        self.add_class("bands", 1, "square")
        for i in range(2):
            self.add_image("bands", image_id=i, path=None)
        self.prepare()

    def load_image(self, image_id):
        image = np.full((48, 40, self.image_channels), 0.1, np.float32)
        image[10:30, 8:24] = np.linspace(0.5, 1.0, self.image_channels)
        return image[..., 0] if self.image_channels == 1 else image

    def load_mask(self, image_id):
        masks = np.zeros((48, 40, 1), bool)
        masks[10:30, 8:24] = True
        return masks, np.array([1], np.int32)


@pytest.mark.parametrize("channels", [1, 4])
def test_n_channel_images_train_and_detect(tmp_path, channels):
    from mrcnn.model import MaskRCNN

    config = type("C{}".format(channels), (ChannelConfig,), {
        "IMAGE_CHANNEL_COUNT": channels, "MEAN_PIXEL": np.full(channels, 60.0)})()
    dataset = BandDataset(channels)
    image, meta, _, boxes, _ = load_image_gt(dataset, config, 0)
    assert image.shape == (64, 64, channels) and image.dtype == np.uint8
    np.testing.assert_array_equal(meta[1:4], [48, 40, channels])
    batch = next(iter(make_tf_dataset(dataset, config, shuffle=False)))
    assert tuple(batch[0].shape) == (1, 64, 64, channels)

    model = MaskRCNN(mode="training", config=config, model_dir=str(tmp_path))
    history = model.train(dataset, None, learning_rate=1e-3, epochs=1, layers="all", verbose=0)
    assert np.isfinite(history.history["loss"][0])
    checkpoint = model.find_last()
    inference = MaskRCNN(mode="inference", config=config, model_dir=str(tmp_path))
    inference.load_weights(checkpoint, by_name=True)
    result = inference.detect([to_model_image(dataset.load_image(0), channels)])[0]
    assert result["masks"].shape[:2] == (48, 40)
    assert result["rois"].shape[1] == 4


_NOTHING_TO_TRAIN = r'''
import json
import numpy as np
from test_pipeline import BoxDataset, PipeConfig
from mrcnn.data.pipeline import make_tf_dataset
out = {}
for name, items in (("crowd", [{"boxes": [(10, 20, 30, 60)], "class_ids": [-1]},
                               {"boxes": []}]),
                    ("empty", [{"boxes": []}, {"boxes": [(5, 5, 5, 9)]}])):
    try:
        make_tf_dataset(BoxDataset(items), PipeConfig())
        out[name] = "no error"
    except ValueError as e:
        out[name] = str(e)


def wipe(image, masks):  # an augmentation that removes every instance
    return {"image": image, "masks": [np.zeros_like(m) for m in masks]}


ds = make_tf_dataset(BoxDataset([{"boxes": [(10, 20, 30, 60)]}] * 2), PipeConfig(),
                     augmentation=wipe)
try:
    next(iter(ds))
    out["wiped"] = "no error"
except Exception as e:
    out["wiped"] = str(e)
print(json.dumps(out))
'''


def test_nothing_to_train_on_is_an_error_not_an_endless_wait():
    """The repeated, filtered training input never yields when no image has
    a (non-crowd) instance: make_tf_dataset says so at once, and an input
    whose instances all vanish later (augmentation) fails after
    MAX_EMPTY_PASSES passes. In a child process: before, it waited forever."""
    import json
    import os
    import subprocess
    import sys

    import mrcnn
    here = os.path.dirname(os.path.abspath(__file__))
    # The child imports the mrcnn this process tests, and this file.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [here, os.path.dirname(os.path.dirname(os.path.abspath(mrcnn.__file__))),
         os.environ.get("PYTHONPATH", "")]))
    child = subprocess.run([sys.executable, "-c", _NOTHING_TO_TRAIN], capture_output=True,
                           text=True, timeout=120, env=env)
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.splitlines()[-1])
    from mrcnn.data.pipeline import MAX_EMPTY_PASSES
    assert out["crowd"].startswith("the dataset (BoxDataset) has no instance to train on in "
                                   "its 2 images: all 1 of its instances (in 1 images) are "
                                   "crowd regions")
    assert "--crowd-as-instances" in out["crowd"]
    assert "no instance to train on in its 2 images (every image has no annotation" in \
        out["empty"]
    # Images load in parallel: the count may pass 2 * MAX_EMPTY_PASSES + 1
    # by the time one of them raises.
    wiped = r"(\d+) images in a row \({} passes over the dataset\) had no instance left to " \
        r"train on after resizing and augmentation: the training input would never yield " \
        r"a batch".format(MAX_EMPTY_PASSES)
    found = re.search(wiped, out["wiped"])
    assert found and int(found.group(1)) > 2 * MAX_EMPTY_PASSES, out["wiped"]
