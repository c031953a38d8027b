"""The Dataset base class (matterport's `utils.Dataset`).

A dataset is a list of classes and a list of images. Subclass it, register
classes with `add_class` and images with `add_image`, implement `load_mask`
(and `load_image` if images are not files), then call `prepare()`::

    class BalloonDataset(Dataset):
        def load_balloons(self, files):
            self.add_class("balloon", 1, "balloon")
            for i, path in enumerate(files):
                self.add_image("balloon", image_id=i, path=path)

        def load_mask(self, image_id):
            ...
            return masks, class_ids   # bool [H, W, N], int32 [N]

    dataset = BalloonDataset()
    dataset.load_balloons(files)
    dataset.prepare()

Class 0 is always the background ("BG"). Classes and images are identified
by their source ("coco", "balloon", ...) and their id in that source; after
`prepare()` they also have contiguous internal ids.
"""

import logging

import numpy as np

logger = logging.getLogger(__name__)

# Attributes that only exist after prepare().
_PREPARED_ATTRIBUTES = ("num_classes", "class_ids", "class_names", "num_images",
                        "class_from_source_map", "image_from_source_map",
                        "sources")


class Dataset(object):
    """Base class of datasets. See the module docstring for an example.

    image_channels: channels of the images `load_image` returns (3: RGB,
        matterport's behaviour). Set it to config.IMAGE_CHANNEL_COUNT for
        1-channel or N-channel models, as an argument or a class attribute.
    exif_transpose: apply the EXIF orientation of photos when loading
        (default False, as matterport: pixels as stored in the file). See
        docs/images.md.
    """

    image_channels = 3
    exif_transpose = False
    # Names of the keypoints load_keypoints returns, in its order (None: the
    # order of config.KEYPOINT_NAMES), and the skeleton as pairs of names.
    keypoint_names = None
    keypoint_skeleton = None

    def __init__(self, class_map=None, image_channels=None, exif_transpose=None):
        if image_channels is not None:
            if int(image_channels) < 1:
                raise ValueError("image_channels must be >= 1, got {!r}".format(image_channels))
            self.image_channels = int(image_channels)
        if exif_transpose is not None:
            self.exif_transpose = bool(exif_transpose)
        self._image_ids = []
        self.image_info = []
        # Background is always the first class.
        self.class_info = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids = {}

    def __getattr__(self, name):
        # Only called when normal lookup fails.
        if name in _PREPARED_ATTRIBUTES:
            raise AttributeError(
                "{}.{} is not set: call prepare() after adding classes and images".format(
                    type(self).__name__, name))
        raise AttributeError("{!r} object has no attribute {!r}".format(
            type(self).__name__, name))

    def add_class(self, source, class_id, class_name):
        """Register class `class_id` of `source` under `class_name`.
        Adding the same (source, class_id) twice keeps the first."""
        if "." in str(source):
            raise ValueError("add_class: source name {!r} must not contain a dot".format(source))
        for info in self.class_info:
            if info["source"] == source and info["id"] == class_id:
                return
        self.class_info.append({
            "source": source,
            "id": class_id,
            "name": class_name,
        })

    def add_image(self, source, image_id, path, **kwargs):
        """Register an image. Extra keyword arguments are kept in its info
        dict (e.g. width, height, annotations) for `load_image`/`load_mask`."""
        image_info = {
            "id": image_id,
            "source": source,
            "path": path,
        }
        image_info.update(kwargs)
        self.image_info.append(image_info)

    def image_reference(self, image_id):
        """A link or description that helps find the image while debugging.
        Override for your dataset."""
        return ""

    def prepare(self, class_map=None):
        """Build the internal ids and lookup tables. Call it after adding
        classes and images, and again after adding more."""
        def clean_name(name):
            """The part of a name before its first comma, for display."""
            return ",".join(name.split(",")[:1])

        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [clean_name(c["name"]) for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)

        self.class_from_source_map = {"{}.{}".format(info["source"], info["id"]): id
                                      for info, id in zip(self.class_info, self.class_ids)}
        self.image_from_source_map = {"{}.{}".format(info["source"], info["id"]): id
                                      for info, id in zip(self.image_info, self.image_ids)}

        # For each source, the internal class ids it supports (BG in all).
        self.sources = list(set([i["source"] for i in self.class_info]))
        self.source_class_ids = {}
        for source in self.sources:
            self.source_class_ids[source] = [
                i for i, info in enumerate(self.class_info)
                if i == 0 or source == info["source"]]

    def map_source_class_id(self, source_class_id):
        """Internal class id of a "source.class_id" string, e.g. "coco.12" -> 11."""
        try:
            return self.class_from_source_map[source_class_id]
        except KeyError:
            raise KeyError("unknown source class {!r}; known: {}".format(
                source_class_id, ", ".join(sorted(self.class_from_source_map)))) from None

    def get_source_class_id(self, class_id, source):
        """The id in `source` of internal class `class_id`."""
        info = self.class_info[class_id]
        if info["source"] != source:
            raise ValueError("class {} ({!r}) comes from source {!r}, not {!r}".format(
                class_id, info["name"], info["source"], source))
        return info["id"]

    @property
    def image_ids(self):
        return self._image_ids

    def source_image_link(self, image_id):
        """Path or URL of the image. Override to return a URL."""
        return self.image_info[image_id]["path"]

    def _info(self, image_id):
        try:
            return self.image_info[image_id]
        except (IndexError, TypeError):
            raise IndexError("image id {!r} is not in {} ({} images)".format(
                image_id, type(self).__name__, len(self.image_info))) from None

    def image_name(self, image_id):
        """How errors name an image: "image <id>" plus its reference or path."""
        try:
            info = self.image_info[image_id]
        except (IndexError, TypeError):
            info = {}
        where = self.image_reference(image_id) or info.get("path")
        return "image {} ({})".format(image_id, where) if where else "image {}".format(image_id)

    def load_image(self, image_id):
        """Load an image file as uint8 [H, W, image_channels] (RGB by default).

        Any common file works (see mrcnn.data.images.read_image): grayscale
        is expanded to RGB, alpha is dropped, palette images are looked up,
        16-bit images are scaled to 8 bits (x // 257), float images in
        [0, 1] or [0, 255] are rescaled. With `image_channels` = 1 the
        result is grayscale [H, W, 1]; with other counts the file must hold
        that many channels (e.g. a 4-channel TIFF or a .npy array).
        `exif_transpose` = True applies the EXIF orientation. Errors name
        the image id and the file.
        """
        from mrcnn.data.images import read_image

        path = self._info(image_id)["path"]
        if path is None:
            raise ValueError("image {} of {} has no path: override load_image() to "
                             "generate it".format(image_id, type(self).__name__))
        return read_image(path, channels=self.image_channels,
                          exif_transpose=self.exif_transpose,
                          name="image {}".format(image_id))

    def load_mask(self, image_id):
        """Instance masks of an image. Override it.

        Returns:
            masks: bool [height, width, instances], one mask per instance.
            class_ids: int32 [instances], internal class ids.
        The base class returns no instances.
        """
        logger.warning("You are using the default load_mask(), maybe you need to "
                       "define your own one.")
        mask = np.empty([0, 0, 0])
        class_ids = np.empty([0], np.int32)
        return mask, class_ids

    def load_keypoints(self, image_id):
        """Keypoints of an image's instances (Keypoint R-CNN). Override it
        for a dataset with keypoints.

        Returns float32 [instances, K, (x, y, v)] aligned with load_mask's
        instances, or None (the base class: no keypoints; with
        config.KEYPOINT_NAMES set they count as unlabelled, v = 0). x, y are
        continuous pixel coordinates (pixel (r, c) covers [c, c + 1) x
        [r, r + 1)), v is COCO's visibility (0 unlabelled, 1 labelled but
        hidden, 2 visible). K and the order are those of `keypoint_names`
        when the dataset sets it, else of config.KEYPOINT_NAMES. See
        docs/keypoints.md.
        """
        return None
