"""Panoptic data: the COCO panoptic format and a synthetic panoptic shapes set.

    from mrcnn.data.panoptic import load_coco_panoptic
    dataset = load_coco_panoptic("annotations/panoptic_val2017.json",
                                 "annotations/panoptic_val2017", "val2017")
    masks, class_ids = dataset.load_mask(0)      # the things, as instances
    semantic = dataset.load_semantic(0)          # int32 [H, W] stuff class ids
    dataset.get_source_class_id(class_ids[0], "coco")   # the COCO category id

The COCO panoptic format
------------------------
A JSON file with ``images`` (``id``, ``file_name``, ``height``, ``width``),
``categories`` (``id``, ``name``, ``isthing`` 0/1) and ``annotations``, one
per image: ``image_id``, ``file_name`` (the image's PNG in the PNG folder)
and ``segments_info`` (``id``, ``category_id``, ``iscrowd``, ``area``,
``bbox``). In the RGB PNG a pixel's segment id is R + 256 G + 256² B, 0
being void (`mrcnn.panoptic.rgb2id`).

Categories become contiguous internal class ids 1..N in increasing category
id order, things and stuff alike; ``dataset.thing_class_ids`` and
``dataset.stuff_class_ids`` list them, ``dataset.class_info[i]["isthing"]``
tells one, and ``get_source_class_id(i, "coco")`` gives the category id.

* `load_mask` gives the thing segments as instances; crowd segments come
  with their class id negated, as `mrcnn.data.coco` does, so training
  neither learns them nor uses what touches them as background.
* `load_semantic` gives an int32 ``[H, W]`` map of stuff class ids (0 on
  things, and on void unless ``void=`` says otherwise).
* `load_panoptic` gives the id map and the ``segments_info``.

Problems: malformed JSON, a missing field, an unknown category or image id
raise `mrcnn.panoptic.PanopticError` (an `AnnotationError`) at load time,
naming the file, the image and the segment; missing PNGs or images raise
FileNotFoundError listing them (``check_files=True``). A PNG whose ids
disagree with its ``segments_info`` (an id the JSON lacks, a listed segment
the PNG lacks) or whose size differs from the image's raises PanopticError
when the image is read, naming the PNG and the segment.

`PanopticShapesDataset` draws the synthetic shapes of `mrcnn.data.shapes`
(the things) over two or three textured background regions (the stuff);
`write_coco_panoptic` writes any panoptic dataset in the COCO panoptic
format, e.g. as ground truth for `mrcnn.panoptic.pq_compute`.
"""

import logging
import os
import random

import numpy as np

from mrcnn.data.annotations import default_image_dir, resolve_image_path
from mrcnn.data.dataset import Dataset
from mrcnn.data.shapes import SHAPE_NAMES, ShapesDataset
from mrcnn.panoptic import (VOID, PanopticError, PanopticWriter, _list_field, _read_json,
                            check_segments, parse_annotation, parse_categories,
                            read_panoptic_png, segment_bbox)

logger = logging.getLogger(__name__)


class PanopticDataset(Dataset):
    """A dataset of things (instances) and stuff (a semantic map); see the
    module docstring.

        dataset = PanopticDataset()
        dataset.load_coco_panoptic("panoptic_val2017.json", "panoptic_val2017", "val2017")
        dataset.prepare()

    A subclass for another source implements `load_panoptic` and marks its
    classes with `add_class(..., isthing=...)`.
    """

    def __init__(self, class_map=None, **kwargs):
        super().__init__(class_map, **kwargs)
        self.load_warnings = []

    def add_class(self, source, class_id, class_name, isthing=None):
        """`Dataset.add_class`, plus whether the class is a thing (1) or
        stuff (0)."""
        super().add_class(source, class_id, class_name)
        if isthing is not None:
            for info in self.class_info:
                if info["source"] == source and info["id"] == class_id:
                    info["isthing"] = int(bool(isthing))

    @property
    def thing_class_ids(self):
        """int32 internal ids of the thing classes."""
        return np.array([i for i, c in enumerate(self.class_info) if c.get("isthing") == 1],
                        np.int32)

    @property
    def stuff_class_ids(self):
        """int32 internal ids of the stuff classes."""
        return np.array([i for i, c in enumerate(self.class_info) if c.get("isthing") == 0],
                        np.int32)

    # ------------------------------------------------------------ loading --

    def load_coco_panoptic(self, json_path, panoptic_png_dir=None, image_dir=None,
                           source="coco", check_files=True, data=None):
        """Add the images and categories of a COCO panoptic JSON file.

        json_path: the JSON file.
        panoptic_png_dir: the folder of the PNGs (default: the JSON's path
            without ``.json``, as COCO lays out ``panoptic_val2017.json``
            beside ``panoptic_val2017/``).
        image_dir: the folder of the images (default: the JSON's folder, or
            its sibling "images" when that folder is named "annotations").
        source: the source name of the classes and images.
        check_files: raise FileNotFoundError listing the PNGs and images that
            do not exist (else they fail when read).
        data: the already parsed JSON (then `json_path` only names it).

        Images without an entry in ``annotations`` are skipped (counted in
        ``load_warnings``).
        """
        if data is None:
            data = _read_json(json_path, "COCO panoptic annotation file")
        if panoptic_png_dir is None:
            panoptic_png_dir = os.path.splitext(json_path)[0]
        if image_dir is None:
            image_dir = default_image_dir(json_path)
        categories = parse_categories(data, json_path)
        images = {}
        for i, image in enumerate(_list_field(data, "images", json_path)):
            if not isinstance(image, dict) or not isinstance(image.get("id"), (int, str)) \
                    or not isinstance(image.get("file_name"), str):
                raise PanopticError("{}: images[{}] needs an 'id' and a 'file_name', got "
                                    "{}".format(json_path, i, _short(image)))
            for key in ("height", "width"):
                value = image.get(key)
                if value is not None and (not isinstance(value, int) or value <= 0):
                    raise PanopticError("{}: image {!r} has {} {!r}; expected a positive "
                                        "integer".format(json_path, image["id"], key, value))
            if image["id"] in images:
                raise PanopticError("{}: image id {!r} is declared twice".format(
                    json_path, image["id"]))
            images[image["id"]] = image
        annotations = {}
        for i, ann in enumerate(_list_field(data, "annotations", json_path)):
            ann = parse_annotation(ann, i, json_path)
            image_id = ann["image_id"]
            if image_id not in images:
                raise PanopticError("{}: annotations[{}] ({}) has image_id {!r} which is not in "
                                    "'images'".format(json_path, i, ann["file_name"], image_id))
            if image_id in annotations:
                raise PanopticError("{}: image {!r} has two annotations ({} and {})".format(
                    json_path, image_id, annotations[image_id]["file_name"], ann["file_name"]))
            for seg in ann["segments_info"]:
                if seg["category_id"] not in categories:
                    raise PanopticError(
                        "{}: image {!r} ({}): segment {} has category_id {} which is not in "
                        "'categories' (known ids: {})".format(
                            json_path, image_id, ann["file_name"], seg["id"],
                            seg["category_id"], sorted(categories)))
                if seg.get("iscrowd", 0) not in (0, 1):
                    raise PanopticError("{}: image {!r}: segment {} has iscrowd {!r}; expected "
                                        "0 or 1".format(json_path, image_id, seg["id"],
                                                        seg.get("iscrowd")))
            annotations[image_id] = ann

        for cat_id in sorted(categories):
            cat = categories[cat_id]
            self.add_class(source, cat_id, str(cat.get("name", cat_id)), isthing=cat["isthing"])
        missing, skipped = [], 0
        for image_id, image in images.items():
            ann = annotations.get(image_id)
            if ann is None:
                skipped += 1
                continue
            path = resolve_image_path(image_dir, image["file_name"])
            png = os.path.join(panoptic_png_dir, ann["file_name"])
            missing.extend(p for p in (png, path) if not os.path.exists(p))
            self.add_image(source, image_id=image_id, path=path, width=image.get("width"),
                           height=image.get("height"), file_name=image["file_name"],
                           panoptic_path=png, segments_info=ann["segments_info"],
                           json_path=json_path, coco_panoptic=True)
        if skipped:
            message = "{}: {} image(s) without a panoptic annotation skipped".format(
                json_path, skipped)
            logger.info(message)
            self.load_warnings.append(message)
        if check_files and missing:
            raise FileNotFoundError("{}: {} file(s) not found: {}{}".format(
                json_path, len(missing), ", ".join(missing[:5]),
                ", ..." if len(missing) > 5 else ""))

    def load_panoptic(self, image_id):
        """The image's segment id map and its segments.

        Returns:
            ids: int32 ``[H, W]`` segment ids (0 = void).
            segments: the ``segments_info`` dicts (``id``, ``category_id``
                in the source's ids, ``iscrowd``, ...).
        Raises PanopticError naming the PNG and the segment when the PNG
        disagrees with the JSON or with the image's size.
        """
        info = self._info(image_id)
        if not info.get("coco_panoptic"):
            raise NotImplementedError("{}: {} has no panoptic annotation; a subclass implements "
                                      "load_panoptic".format(self.image_name(image_id),
                                                             type(self).__name__))
        png = info["panoptic_path"]
        ids = read_panoptic_png(png, "panoptic PNG of image {!r}".format(info["id"]))
        expected = (info.get("height"), info.get("width"))
        if None not in expected and ids.shape != expected:
            raise PanopticError("{}: image {!r}: the PNG is {}x{} but the JSON says {}x{} "
                                "(height x width)".format(png, info["id"], ids.shape[0],
                                                          ids.shape[1], *expected))
        check_segments(ids, info["segments_info"], png, info["id"], info["json_path"])
        return ids.astype(np.int32), info["segments_info"]

    def _class_of(self, source, category_id):
        return self.map_source_class_id("{}.{}".format(source, category_id))

    def load_mask(self, image_id):
        """The thing segments as instances.

        Returns:
            masks: bool ``[H, W, instances]``.
            class_ids: int32 ``[instances]``, negative for crowd segments.
        """
        info = self._info(image_id)
        if not info.get("coco_panoptic"):
            return super().load_mask(image_id)
        ids, segments = self.load_panoptic(image_id)
        masks, class_ids = [], []
        for seg in segments:
            class_id = self._class_of(info["source"], seg["category_id"])
            if self.class_info[class_id].get("isthing") != 1:
                continue
            masks.append(ids == seg["id"])
            class_ids.append(-class_id if seg.get("iscrowd", 0) == 1 else class_id)
        if not masks:
            return np.zeros(ids.shape + (0,), bool), np.zeros([0], np.int32)
        return np.stack(masks, axis=2), np.array(class_ids, np.int32)

    def load_semantic(self, image_id, void=0):
        """int32 ``[H, W]``: the internal class id of the stuff segment of
        each pixel, 0 on things and `void` on void pixels (default 0; the
        training pipeline asks for -1, which the semantic head's loss
        ignores, mrcnn.data.semantic)."""
        info = self._info(image_id)
        ids, segments = self.load_panoptic(image_id)
        lookup_ids, lookup_classes = [VOID], [int(void)]
        for seg in segments:
            class_id = self._class_of(info["source"], seg["category_id"])
            lookup_ids.append(seg["id"])
            lookup_classes.append(class_id if self.class_info[class_id].get("isthing") == 0
                                  else 0)
        order = np.argsort(lookup_ids)
        sorted_ids = np.array(lookup_ids, np.int64)[order]
        classes = np.array(lookup_classes, np.int32)[order]
        return classes[np.searchsorted(sorted_ids, ids)]

    def image_reference(self, image_id):
        """The image's path."""
        info = self._info(image_id)
        if info.get("coco_panoptic"):
            return info["path"]
        return super().image_reference(image_id)


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def load_coco_panoptic(json_path, panoptic_png_dir=None, image_dir=None, source="coco",
                       check_files=True):
    """A prepared `PanopticDataset` of a COCO panoptic file (arguments as in
    `PanopticDataset.load_coco_panoptic`)."""
    dataset = PanopticDataset()
    dataset.load_coco_panoptic(json_path, panoptic_png_dir, image_dir, source=source,
                               check_files=check_files)
    dataset.prepare()
    return dataset


############################################################
#  Synthetic panoptic shapes
############################################################

STUFF_NAMES = ("sky", "grass", "sea")
"""The stuff classes of `PanopticShapesDataset`, ids 4, 5, 6 of source
"shapes" after the three shapes. Each has its own texture: sky a vertical
gradient, grass vertical stripes, sea a checkerboard."""


class PanopticShapesDataset(ShapesDataset, PanopticDataset):
    """`ShapesDataset`'s shapes (the things: square, circle, triangle, ids
    1-3) over two or three background regions of the stuff classes
    `STUFF_NAMES` (ids 4-6), split by gently sloped lines.

        dataset = PanopticShapesDataset()
        dataset.load_panoptic_shapes(100, 128, 128, seed=1)
        dataset.prepare()
        image = dataset.load_image(0)
        masks, class_ids = dataset.load_mask(0)     # the shapes
        semantic = dataset.load_semantic(0)         # 4..6 on the background

    The same seed gives the same images. Each region has a class of its own.
    """

    def load_panoptic_shapes(self, count, height, width, seed=None, regions=(2, 3)):
        """Add `count` random images (see `ShapesDataset.load_shapes` for
        the shapes and the sizes allowed).

        regions: the numbers of background regions to choose from (each
            1..3).
        """
        regions = tuple(int(n) for n in regions)
        if not regions or any(not 1 <= n <= len(STUFF_NAMES) for n in regions):
            raise ValueError("load_panoptic_shapes: regions must be counts in 1..{}, got "
                             "{!r}".format(len(STUFF_NAMES), regions))
        first = len(self.image_info)
        self.load_shapes(count, height, width, seed=seed)
        for i, name in enumerate(SHAPE_NAMES):
            self.add_class("shapes", i + 1, name, isthing=1)
        for k, name in enumerate(STUFF_NAMES):
            self.add_class("shapes", len(SHAPE_NAMES) + 1 + k, name, isthing=0)
        rng = random if seed is None else random.Random("panoptic-shapes-{}".format(seed))
        for info in self.image_info[first:]:
            info["stuff"] = self.random_stuff(height, width, rng, regions)
            info["panoptic_shapes"] = True

    @staticmethod
    def random_stuff(height, width, rng=random, regions=(2, 3)):
        """Random background regions, top to bottom: a list of (class id,
        colour, cut) where cut (y0, slope) is the line y = y0 + slope * (x -
        width / 2) above the region (None for the top one)."""
        n = rng.choice(regions)
        classes = rng.sample(range(len(STUFF_NAMES)), n)
        stuff = []
        for k, c in enumerate(classes):
            colour = tuple(rng.randint(40, 255) for _ in range(3))
            cut = None
            if k:
                y0 = height * k / n + rng.uniform(-height / (5 * n), height / (5 * n))
                cut = (y0, rng.uniform(-0.1, 0.1))
            stuff.append((len(SHAPE_NAMES) + 1 + c, colour, cut))
        return stuff

    def stuff_map(self, image_id):
        """int32 ``[H, W]``: the stuff class id of each pixel's background
        region (ignoring the shapes)."""
        info = self._info(image_id)
        height, width = info["height"], info["width"]
        ys, xs = np.mgrid[0:height, 0:width] + 0.5
        region = np.zeros((height, width), np.int32)
        for _, _, cut in info["stuff"][1:]:
            y0, slope = cut
            region += (ys > y0 + slope * (xs - width / 2)).astype(np.int32)
        classes = np.array([c for c, _, _ in info["stuff"]], np.int32)
        return classes[region]

    def load_image(self, image_id):
        """Render the textured background, then the shapes over it."""
        info = self._info(image_id)
        if not info.get("panoptic_shapes"):
            return super().load_image(image_id)
        height, width = info["height"], info["width"]
        ys, xs = np.mgrid[0:height, 0:width]
        textures = {4: 0.7 + 0.3 * ys / max(height - 1, 1),           # sky: gradient
                    5: np.where((xs // 3) % 2 == 1, 0.7, 1.0),         # grass: stripes
                    6: np.where((xs // 4 + ys // 4) % 2 == 1, 0.7, 1.0)}  # sea: checks
        stuff = self.stuff_map(image_id)
        image = np.zeros((height, width, 3), np.float64)
        for class_id, colour, _ in info["stuff"]:
            where = stuff == class_id
            image[where] = textures[class_id][where][:, None] * np.array(colour)[None, :]
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
        for shape, color, dims in info["shapes"]:
            image = self.draw_shape(image, shape, dims, color)
        return image

    def load_panoptic(self, image_id):
        """The id map and segments: the shapes first (ids 1, 2, ... in
        drawing order; shapes hidden by later ones are left out), then one
        segment per background region still visible. ``category_id`` is the
        class id in source "shapes"."""
        info = self._info(image_id)
        if not info.get("panoptic_shapes"):
            return PanopticDataset.load_panoptic(self, image_id)
        masks, class_ids = ShapesDataset.load_mask(self, image_id)
        ids = np.zeros((info["height"], info["width"]), np.int32)
        segments = []

        def add(mask, class_id):
            segment_id = len(segments) + 1
            ids[mask] = segment_id
            segments.append({"id": segment_id, "category_id": int(class_id), "iscrowd": 0,
                             "area": int(mask.sum()), "bbox": segment_bbox(ids, segment_id)})

        for i in range(masks.shape[2]):
            if masks[:, :, i].any():
                add(masks[:, :, i], class_ids[i])
        stuff = self.stuff_map(image_id)
        for class_id, _, _ in info["stuff"]:
            mask = (stuff == class_id) & (ids == VOID)
            if mask.any():
                add(mask, class_id)
        return ids, segments

    def load_semantic(self, image_id, void=0):
        """int32 ``[H, W]``: the stuff class (4..6) of the background, 0 on
        the shapes (the images have no void pixel)."""
        return PanopticDataset.load_semantic(self, image_id, void=void)


def load_panoptic_shapes(count, height, width, seed=None, regions=(2, 3)):
    """A prepared `PanopticShapesDataset` (see
    `PanopticShapesDataset.load_panoptic_shapes`)."""
    dataset = PanopticShapesDataset()
    dataset.load_panoptic_shapes(count, height, width, seed=seed, regions=regions)
    dataset.prepare()
    return dataset


############################################################
#  Writing a dataset in the COCO panoptic format
############################################################

def write_coco_panoptic(dataset, json_path, png_dir=None, image_dir=None, image_ids=None):
    """Write a panoptic dataset's ground truth as a COCO panoptic JSON file
    and PNGs (each written to a temporary name and renamed; the JSON last,
    so it exists only when every PNG does).

    dataset: a prepared `PanopticDataset` (anything with `load_panoptic`).
    png_dir: the PNG folder (default: the JSON's path without ``.json``).
    image_dir: when given, the images are written there too, as PNG files
        named like the panoptic PNGs, so that `load_coco_panoptic` can read
        the set back.
    image_ids: internal image ids to write (default: all).

    The categories are the classes of the images' source with their
    ``isthing``; segment ids and crowd flags are kept. Returns the JSON path.
    """
    from PIL import Image

    from mrcnn.panoptic import _atomic_write, png_name

    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    sources = sorted({dataset.image_info[i]["source"] for i in image_ids})
    if len(sources) > 1:
        raise ValueError("write_coco_panoptic: the images come from several sources {}; "
                         "write one source per file".format(sources))
    source = sources[0] if sources else "coco"
    writer = PanopticWriter(json_path, png_dir, dataset=None, images=False)
    writer.categories = [{"id": c["id"], "name": c["name"], "isthing": int(c["isthing"])}
                         for c in dataset.class_info
                         if c["source"] == source and "isthing" in c]
    images, names = [], set()
    if image_dir is not None:
        os.makedirs(image_dir, exist_ok=True)
    with writer:
        for image_id in image_ids:
            info = dataset.image_info[image_id]
            written_id = info["id"].item() if isinstance(info["id"], np.generic) else info["id"]
            name = png_name(info.get("file_name") or info.get("path") or str(written_id))
            if name in names:
                name = "{}.png".format(written_id)
            names.add(name)
            ids, segments = dataset.load_panoptic(image_id)
            annotation = writer.add(written_id, ids, segments, file_name=name)
            by_id = {s["id"]: s for s in segments}
            for seg in annotation["segments_info"]:  # keep the ground truth's crowd flags
                seg["iscrowd"] = int(by_id[seg["id"]].get("iscrowd", 0))
            image_name = info.get("file_name") or name
            if image_dir is not None:
                image_name = name
                image = Image.fromarray(dataset.load_image(image_id))
                _atomic_write(os.path.join(image_dir, name),
                              lambda f: image.save(f, format="PNG"), ".png")
            images.append({"id": written_id, "file_name": image_name,
                           "height": int(ids.shape[0]), "width": int(ids.shape[1])})
        writer.images = images
    return json_path
