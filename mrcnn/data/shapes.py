"""Synthetic "shapes" data: squares, circles and triangles on a plain
background, like matterport's shapes sample. Needs no download, so the demo,
the tests and the benchmarks train on it.

    dataset = ShapesDataset()
    dataset.load_shapes(500, 128, 128, seed=1)
    dataset.prepare()

The same seed gives the same images, so a validation set is reproducible.
Without a seed the global `random` module is used, as matterport did.
"""

import math
import random

import cv2
import numpy as np

from mrcnn.config import Config
from mrcnn.data.dataset import Dataset

SHAPE_NAMES = ("square", "circle", "triangle")


class ShapesConfig(Config):
    """Config for 128x128 shapes images (matterport's sample settings)."""
    NAME = "shapes"
    GPU_COUNT = 1
    IMAGES_PER_GPU = 8
    NUM_CLASSES = 1 + 3  # background + 3 shapes
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)  # anchor side in pixels
    TRAIN_ROIS_PER_IMAGE = 32
    STEPS_PER_EPOCH = 100
    VALIDATION_STEPS = 5


class ShapesDataset(Dataset):
    """Generates images of 1-4 random shapes with their instance masks.

    Each image's description (background colour and a list of
    (shape, colour, (x, y, size))) is drawn when `load_shapes` runs; pixels
    are rendered on demand by `load_image` and `load_mask`.
    """

    def load_shapes(self, count, height, width, seed=None):
        """Add `count` random images of `height` x `width` pixels.

        seed: an int makes the set reproducible (independent of the global
            random state); None uses the global `random` module.
        """
        # Shapes sit 20 px inside the border with sizes from 20 to height // 4.
        if count < 0 or height < 80 or width < 41:
            raise ValueError("load_shapes: need count >= 0, height >= 80 and width >= 41, "
                             "got count={}, {}x{}".format(count, height, width))
        rng = random if seed is None else random.Random(seed)
        for i, name in enumerate(SHAPE_NAMES):
            self.add_class("shapes", i + 1, name)
        for i in range(count):
            bg_color, shapes = self.random_image(height, width, rng)
            self.add_image("shapes", image_id=i, path=None,
                           width=width, height=height,
                           bg_color=bg_color, shapes=shapes)

    def load_image(self, image_id):
        """Render the image: uint8 [height, width, 3]."""
        info = self._info(image_id)
        bg_color = np.array(info["bg_color"]).reshape([1, 1, 3])
        image = np.ones([info["height"], info["width"], 3], dtype=np.uint8)
        image = image * bg_color.astype(np.uint8)
        for shape, color, dims in info["shapes"]:
            image = self.draw_shape(image, shape, dims, color)
        return image

    def image_reference(self, image_id):
        """The list of shapes of the image."""
        info = self._info(image_id)
        if info["source"] == "shapes":
            return info["shapes"]
        return super().image_reference(image_id)

    def load_mask(self, image_id):
        """Masks of the shapes; later shapes occlude earlier ones."""
        info = self._info(image_id)
        shapes = info["shapes"]
        count = len(shapes)
        mask = np.zeros([info["height"], info["width"], count], dtype=np.uint8)
        for i, (shape, _, dims) in enumerate(shapes):
            mask[:, :, i:i + 1] = self.draw_shape(mask[:, :, i:i + 1].copy(), shape, dims, 1)
        # Remove from each mask what the shapes drawn after it cover.
        occlusion = np.logical_not(mask[:, :, -1]).astype(np.uint8)
        for i in range(count - 2, -1, -1):
            mask[:, :, i] = mask[:, :, i] * occlusion
            occlusion = np.logical_and(occlusion, np.logical_not(mask[:, :, i]))
        class_ids = np.array([self.class_names.index(s[0]) for s in shapes])
        return mask.astype(bool), class_ids.astype(np.int32)

    @staticmethod
    def draw_shape(image, shape, dims, color):
        """Draw one filled shape centred at (x, y) with half-size s."""
        x, y, s = dims
        if shape == "square":
            cv2.rectangle(image, (x - s, y - s), (x + s, y + s), color, -1)
        elif shape == "circle":
            cv2.circle(image, (x, y), s, color, -1)
        elif shape == "triangle":
            half_base = s / math.sin(math.radians(60))
            points = np.array([[(x, y - s),
                                (x - half_base, y + s),
                                (x + half_base, y + s)]], dtype=np.int32)
            cv2.fillPoly(image, points, color)
        else:
            raise ValueError("unknown shape {!r}; expected one of {}".format(shape, SHAPE_NAMES))
        return image

    @staticmethod
    def random_shape(height, width, rng=random):
        """A random (shape, colour, (x, y, size)) that fits the image."""
        shape = rng.choice(SHAPE_NAMES)
        color = tuple([rng.randint(0, 255) for _ in range(3)])
        buffer = 20
        y = rng.randint(buffer, height - buffer - 1)
        x = rng.randint(buffer, width - buffer - 1)
        s = rng.randint(buffer, height // 4)
        return shape, color, (x, y, s)

    def random_image(self, height, width, rng=random):
        """A random background colour and 1-4 shapes that overlap little
        (NMS at IoU 0.3 on their boxes)."""
        from mrcnn.boxes import non_max_suppression

        bg_color = np.array([rng.randint(0, 255) for _ in range(3)])
        shapes = []
        boxes = []
        n = rng.randint(1, 4)
        for _ in range(n):
            shape, color, dims = self.random_shape(height, width, rng)
            shapes.append((shape, color, dims))
            x, y, s = dims
            boxes.append([y - s, x - s, y + s, x + s])
        keep = non_max_suppression(np.array(boxes), np.arange(n), 0.3)
        shapes = [s for i, s in enumerate(shapes) if i in keep]
        return bg_color, shapes
