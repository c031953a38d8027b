"""COCO-format instance annotations: one JSON file plus a folder of images.

This is the format CVAT, Label Studio, Roboflow, makesense.ai and most
annotation tools export ("COCO 1.0", "COCO Segmentation")::

    from mrcnn.data.coco import load_coco_json
    dataset = load_coco_json("export/annotations.json", image_dir="export/images")
    config.NUM_CLASSES = dataset.num_classes

What is read
------------
* ``images``: ``id``, ``file_name`` (relative to `image_dir`, or absolute),
  ``width``/``height`` (read from the image file's header when absent),
  ``coco_url``/``flickr_url`` (kept for `image_reference`).
* ``categories``: ``id`` and ``name``. Category ids may be any integers; they
  become contiguous internal class ids 1..N in increasing category id order
  (``dataset.class_names[i]`` is the name, ``dataset.get_source_class_id(i,
  "coco")`` the category id).
* keypoints (COCO's person keypoints format, docs/keypoints.md): a
  category's ``keypoints`` (names) and ``skeleton`` (1-based pairs), an
  annotation's ``keypoints`` [x1, y1, v1, ...] (``num_keypoints`` is not
  needed); `load_keypoints` returns them, ``dataset.keypoint_names`` and
  ``dataset.keypoint_skeleton`` name them.
* ``annotations``: ``image_id``, ``category_id``, ``iscrowd`` and a
  ``segmentation`` that is a polygon list (several parts make one instance),
  an uncompressed RLE (``counts`` a list of ints) or a compressed RLE
  (``counts`` a string). An annotation with no segmentation uses its
  ``bbox`` as a rectangular mask (detection-only exports).

Crowd annotations (``iscrowd: 1``) come back from `load_mask` with their
class id negated, as in matterport's COCO sample: the training pipeline
(`build_rpn_targets`, `DetectionTargetLayer`) neither trains on them as
positives nor uses the anchors/RoIs touching them as negatives, and
`mrcnn.evaluate` marks them ``iscrowd``. CVAT's "COCO 1.0" export writes
every mask (brush) annotation as crowd RLE: ``crowd_as_instances=True``
loads crowd annotations as ordinary instances (a file whose annotations are
all crowd is warned about, naming the option; training on a dataset without
a single non-crowd instance is an error rather than an endless wait).

Rasterisation follows pycocotools: pixel (row r, column c) covers the square
[c, c + 1) x [r, r + 1); a polygon through (0, 0), (10, 0), (10, 10), (0, 10)
fills a 10x10 block. The VIA, LabelMe and folder formats of this package use
the same helpers (`mrcnn.data.annotations`), so converting between formats
keeps masks identical.

Problems in the file
--------------------
* Malformed JSON: `AnnotationError` naming the file, line and column.
* A field of the wrong type, an annotation whose ``category_id`` or
  ``image_id`` is not declared, an RLE whose size differs from its image:
  `AnnotationError` naming the file, the annotation id and the value.
* Polygon parts with fewer than 3 points are dropped (an annotation left with
  none is dropped); polygons and boxes reaching outside the image are clipped
  to it (see `mrcnn.data.annotations.clip_polygon`: any coordinate, even
  1e9, is safe). Each kind is counted and reported once by `warnings.warn`;
  the messages are also kept in ``dataset.load_warnings``.
* An image size (in the JSON or an image header) over PIL's
  decompression-bomb limit: `AnnotationError` naming the file and the size.
* Missing image files: `FileNotFoundError` listing them at load time
  (``check_images=True``, the default), else when `load_image` reaches them.
* An image file whose size differs from the ``width``/``height`` in the JSON:
  `AnnotationError` from `load_image` naming the file and the image id.

The segmentation checks and decoding are `mrcnn.data.coco_segmentation`'s
(`ann_to_rle` and `ann_to_mask` are importable from here too).
"""

import contextlib
import io
import logging
import os
import warnings

import numpy as np

from mrcnn.data.annotations import (AnnotationError, ProblemCounter, _is_number_list, _require,
                                    check_pixel_count, default_image_dir, image_size, list_field,
                                    read_json, resolve_image_path, short_repr)
from mrcnn.data.coco_segmentation import (ann_to_mask, ann_to_rle, check_rle_sizes,
                                          clean_segmentation)
from mrcnn.data.dataset import Dataset

logger = logging.getLogger(__name__)


############################################################
#  Dataset
############################################################

class CocoFormatDataset(Dataset):
    """Dataset of a COCO-format JSON file (see the module docstring).

        dataset = CocoFormatDataset()
        dataset.load_coco_json("instances.json", "images/")
        dataset.prepare()

    Several files can be loaded into one dataset; give each a distinct
    `source` when their category ids mean different things.
    """

    def __init__(self, class_map=None):
        super().__init__(class_map)
        self.load_warnings = []

    def load_coco_json(self, json_path, image_dir=None, class_ids=None, skip_empty=False,
                       source="coco", check_images=True, data=None, crowd_as_instances=False):
        """Add the images and categories of a COCO-format file.

        json_path: the annotation file.
        image_dir: folder that ``file_name`` is relative to; default: the
            JSON file's folder, or its sibling "images" when the JSON file
            is in a folder named "annotations" (CVAT's export layout), or
            "images/<subset>" for "annotations/instances_<subset>.json"
            when that folder exists (datumaro's and MS COCO's layout).
        class_ids: category ids to load (default: all); annotations of other
            categories are ignored.
        skip_empty: False keeps images without (selected) annotations, e.g.
            to count false positives in evaluation; True skips them
            (matterport's COCO loader did). Training skips them either way.
        source: the dataset source name of the classes and images.
        check_images: raise FileNotFoundError listing the image files that
            do not exist (else they fail when `load_image` reaches them).
        data: the already parsed JSON (then `json_path` only names it in
            messages).
        crowd_as_instances: load ``iscrowd: 1`` annotations as ordinary
            instances (positive class ids, trained on, evaluated as objects).
            CVAT's "COCO 1.0" export writes every mask (brush) annotation
            this way; without it such a file has nothing to train on. A file
            whose annotations are all crowd gets a warning naming this
            option.

        Returns the pycocotools `COCO` object of the file (for evaluation).
        """
        from pycocotools.coco import COCO

        if data is None:
            data = read_json(json_path, "COCO annotation file")
        images, categories, by_image, problems = _parse_coco(data, json_path, class_ids,
                                                             crowd_as_instances)
        self._add_coco_keypoints(data, json_path, source, class_ids, by_image)
        if image_dir is None:
            image_dir = default_image_dir(json_path, [image["file_name"] for image in images])
        if class_ids is not None:
            missing = sorted(set(class_ids) - set(categories))
            if missing:
                raise AnnotationError("{}: class_ids {} are not among the categories {}".format(
                    json_path, missing, sorted(categories)))
        for cat_id in sorted(categories):
            if class_ids is None or cat_id in class_ids:
                self.add_class(source, cat_id, categories[cat_id])

        missing_files, skipped = [], 0
        for image in images:
            anns = by_image.get(image["id"], [])
            if skip_empty and not anns:
                skipped += 1
                continue
            path = resolve_image_path(image_dir, image["file_name"])
            height, width = image.get("height"), image.get("width")
            if not os.path.exists(path):
                missing_files.append(path)
            elif height is None or width is None:
                height, width = image_size(path) or (None, None)
            check_pixel_count(height, width, "{}: image {!r} ({})".format(
                json_path, image.get("id"), path))
            check_rle_sizes(anns, height, width, path, json_path,
                             decode=image.get("height") is None or image.get("width") is None)
            self.add_image(source, image_id=image["id"], path=path, width=width, height=height,
                           annotations=anns, file_name=image["file_name"],
                           annotation_file=json_path,
                           coco_url=image.get("coco_url") or image.get("flickr_url"),
                           coco_format=True)
        if skipped:
            logger.info("%s: skipped %d images without annotations", json_path, skipped)
        if check_images and missing_files:
            raise FileNotFoundError("{}: {} image file(s) not found: {}{}".format(
                json_path, len(missing_files), ", ".join(missing_files[:5]),
                ", ..." if len(missing_files) > 5 else ""))
        self.load_warnings.extend(problems.report())
        crowd_message = _all_crowd_message(json_path, by_image, crowd_as_instances)
        if crowd_message:
            warnings.warn(crowd_message, stacklevel=2)
            self.load_warnings.append(crowd_message)

        coco = COCO()
        coco.dataset = _index_data(data, crowd_as_instances)
        with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress
            coco.createIndex()
        return coco

    # matterport's names
    def annToRLE(self, ann, height, width):
        """COCO RLE of an annotation (see `ann_to_rle`)."""
        return ann_to_rle(ann, height, width)

    def annToMask(self, ann, height, width):
        """uint8 [height, width] mask of an annotation."""
        return ann_to_mask(ann, height, width)

    def load_image(self, image_id):
        """[H, W, 3] uint8; an image whose size differs from the JSON's
        width/height raises AnnotationError naming it."""
        image = super().load_image(image_id)
        info = self._info(image_id)
        if info.get("coco_format") and info.get("height") is not None:
            expected = (info["height"], info["width"])
            if tuple(image.shape[:2]) != expected:
                raise AnnotationError(
                    "image {} ({}): the file is {}x{} pixels but the annotations say {}x{} "
                    "(height x width)".format(image_id, info["path"], image.shape[0],
                                              image.shape[1], expected[0], expected[1]))
        return image

    def load_mask(self, image_id):
        """Masks of an image's annotations.

        Returns:
            masks: bool [height, width, instances].
            class_ids: int32 [instances]; negative for crowd annotations.
        Annotations whose mask is empty (e.g. entirely outside the image)
        are left out.
        """
        info = self._info(image_id)
        if not info.get("coco_format"):
            return super().load_mask(image_id)
        height, width = info.get("height"), info.get("width")
        if height is None or width is None:
            size = image_size(info["path"])
            if size is None:
                raise FileNotFoundError("image {}: cannot read {} to find its size (the "
                                        "annotation file gives none)".format(image_id,
                                                                             info["path"]))
            height, width = info["height"], info["width"] = size
            check_rle_sizes(info["annotations"], height, width, info["path"],
                             info.get("annotation_file", "image {}".format(image_id)),
                             decode=True)
        masks, class_ids = [], []
        for ann in info["annotations"]:
            class_id = self.map_source_class_id("{}.{}".format(info["source"],
                                                               ann["category_id"]))
            m = self.annToMask(ann, height, width).astype(bool)
            if not m.any():
                continue
            masks.append(m)
            class_ids.append(-class_id if ann.get("iscrowd") else class_id)
        if not masks:
            return np.zeros((height, width, 0), bool), np.zeros([0], np.int32)
        return np.stack(masks, axis=2), np.array(class_ids, np.int32)

    def _add_coco_keypoints(self, data, path, source, class_ids, by_image):
        """Read the categories' keypoint names and skeletons; check the
        annotations' keypoint lists (AnnotationError naming the file and
        the annotation)."""
        names_of = _keypoint_categories(data, path)
        names_of = {c: n for c, n in names_of.items() if class_ids is None or c in class_ids}
        if not names_of:
            return
        if not hasattr(self, "_coco_keypoint_names"):
            self._coco_keypoint_names = {}
            self.keypoint_names = ()
            self.keypoint_skeleton = ()
        for cat_id, (names, skeleton) in sorted(names_of.items()):
            self._coco_keypoint_names["{}.{}".format(source, cat_id)] = names
            self.keypoint_names = tuple(self.keypoint_names) + tuple(
                n for n in names if n not in self.keypoint_names)
            self.keypoint_skeleton = tuple(self.keypoint_skeleton) + tuple(
                p for p in skeleton if p not in self.keypoint_skeleton)
        for anns in by_image.values():
            for ann in anns:
                if ann["category_id"] not in names_of or ann.get("keypoints") is None:
                    continue
                names = names_of[ann["category_id"]][0]
                values = ann["keypoints"]
                where = "annotation {}".format(ann.get("id", "?"))
                if not _is_number_list(values) or len(values) != 3 * len(names):
                    raise AnnotationError(
                        "{}: {} has 'keypoints' {}; expected [x1, y1, v1, ...] with 3 numbers "
                        "for each of the category's {} keypoints".format(
                            path, where, short_repr(values), len(names)))
                if not set(values[2::3]) <= {0, 1, 2}:
                    raise AnnotationError("{}: {} has keypoint visibilities {}; COCO's are 0 "
                                          "(not labelled), 1 (labelled, hidden) and 2 "
                                          "(visible)".format(path, where,
                                                             sorted(set(values[2::3]))))

    def load_keypoints(self, image_id):
        """Keypoints of the annotations load_mask returns (same order):
        float32 [instances, len(dataset.keypoint_names), (x, y, v)], None
        when the file declares no keypoints. COCO's pixel-index
        coordinates get + 0.5 (the centre of the pixel, the continuous
        frame of the masks, as detectron2 reads them); keypoints of
        unlabelled (v = 0) points, of annotations without ``keypoints`` and
        of names their category lacks are zeros."""
        from pycocotools import mask as mask_util

        info = self._info(image_id)
        kp_names = getattr(self, "_coco_keypoint_names", None)
        if not info.get("coco_format") or not kp_names:
            return super().load_keypoints(image_id)
        height, width = info.get("height"), info.get("width")
        if height is None or width is None:
            self.load_mask(image_id)  # reads the size (or names the unreadable file)
            height, width = info["height"], info["width"]
        names = list(self.keypoint_names)
        rows = []
        for ann in info["annotations"]:
            # load_mask's filter: annotations with an empty mask are left out.
            if mask_util.area(ann_to_rle(ann, height, width)) == 0:
                continue
            row = np.zeros((len(names), 3), np.float32)
            cat_names = kp_names.get("{}.{}".format(info["source"], ann["category_id"]))
            if cat_names and ann.get("keypoints") is not None:
                values = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
                for k, name in enumerate(cat_names):
                    if values[k, 2] > 0:
                        row[names.index(name)] = (values[k, 0] + 0.5, values[k, 1] + 0.5,
                                                  values[k, 2])
            rows.append(row)
        return np.stack(rows) if rows else np.zeros((0, len(names), 3), np.float32)

    def image_reference(self, image_id):
        """The image's URL when the file gives one, else its path."""
        info = self._info(image_id)
        if info.get("coco_format"):
            return info.get("coco_url") or info["path"]
        return super().image_reference(image_id)


def _parse_coco(data, path, class_ids, crowd_as_instances=False):
    """Validate a parsed COCO file. Returns (images, {category id: name},
    {image id: [cleaned annotations]}, ProblemCounter)."""
    for key in ("images", "categories"):
        list_field(data, key, path, "COCO-format file",
                   "'images', 'annotations' and 'categories'")
    annotations = data.get("annotations") or []
    if not isinstance(annotations, list):
        raise AnnotationError("{}: 'annotations' is a {}, expected a list".format(
            path, type(annotations).__name__))

    categories = {}
    for i, cat in enumerate(data["categories"]):
        where = "categories[{}]".format(i)
        cat_id = _require(cat, "id", where, path, int)
        name = _require(cat, "name", where, path, str)
        if cat_id in categories:
            raise AnnotationError("{}: category id {} is declared twice ({!r} and {!r})".format(
                path, cat_id, categories[cat_id], name))
        categories[cat_id] = name

    images, sizes = [], {}
    for i, image in enumerate(data["images"]):
        where = "images[{}]".format(i)
        image_id = _require(image, "id", where, path, (int, str))
        _require(image, "file_name", where, path, str)
        if image_id in sizes:
            raise AnnotationError("{}: image id {!r} is declared twice".format(path, image_id))
        for key in ("width", "height"):
            if image.get(key) is not None and (not isinstance(image[key], int)
                                               or image[key] <= 0):
                raise AnnotationError("{}: image {!r} has {} {!r}; expected a positive "
                                      "integer".format(path, image_id, key, image[key]))
        sizes[image_id] = (image.get("height"), image.get("width"))
        images.append(image)

    problems = ProblemCounter(path)
    by_image = {}
    for i, ann in enumerate(annotations):
        ann_id = ann.get("id", "#{}".format(i)) if isinstance(ann, dict) else "#{}".format(i)
        where = "annotation {}".format(ann_id)
        cat_id = _require(ann, "category_id", where, path, int)
        image_id = _require(ann, "image_id", where, path, (int, str))
        if cat_id not in categories:
            raise AnnotationError("{}: {} has category_id {} which is not in 'categories' "
                                  "(known ids: {})".format(path, where, cat_id,
                                                           sorted(categories)))
        if image_id not in sizes:
            raise AnnotationError("{}: {} has image_id {!r} which is not in 'images'".format(
                path, where, image_id))
        if class_ids is not None and cat_id not in class_ids:
            continue
        height, width = sizes[image_id]
        cleaned = clean_segmentation(ann, where, path, height, width, problems)
        if cleaned is not None:
            if crowd_as_instances:
                cleaned["iscrowd"] = 0
            by_image.setdefault(image_id, []).append(cleaned)
    return images, categories, by_image, problems


def _keypoint_categories(data, path):
    """{category id: (keypoint names, skeleton as name pairs)} of the
    categories that declare keypoints. AnnotationError for malformed ones."""
    out = {}
    for i, cat in enumerate(data.get("categories") or []):
        if not isinstance(cat, dict) or not cat.get("keypoints"):
            continue
        names = cat["keypoints"]
        where = "category {!r}".format(cat.get("name", i))
        if (not isinstance(names, list) or not all(isinstance(n, str) and n for n in names)
                or len(set(names)) != len(names)):
            raise AnnotationError("{}: {} has 'keypoints' {}; expected a list of distinct "
                                  "names".format(path, where, short_repr(names)))
        pairs = []
        for pair in cat.get("skeleton") or []:
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(j, int) and 1 <= j <= len(names) for j in pair)):
                raise AnnotationError("{}: {} has a skeleton edge {!r}; expected a pair of "
                                      "1-based keypoint indices (1..{})".format(
                                          path, where, pair, len(names)))
            pairs.append((names[pair[0] - 1], names[pair[1] - 1]))
        out[cat["id"]] = (tuple(names), tuple(pairs))
    return out


def _all_crowd_message(json_path, by_image, crowd_as_instances):
    """The warning for a file whose loaded annotations are all crowd, or None."""
    anns = [ann for image_anns in by_image.values() for ann in image_anns]
    if crowd_as_instances or not anns or not all(ann["iscrowd"] for ann in anns):
        return None
    return ("{}: all {} annotations are crowd regions (iscrowd: 1), which training "
            "ignores and evaluation does not count as objects: there is nothing to train "
            "on. CVAT's COCO export writes mask (brush) annotations this way; to use them "
            "as instances pass crowd_as_instances=True (mrcnn train/evaluate "
            "--crowd-as-instances)".format(json_path, len(anns)))


def _index_data(data, crowd_as_instances):
    """The dict for pycocotools' COCO index: the file's images, categories
    and annotations, with an id given to annotations that have none (or an
    unusable one) and, with `crowd_as_instances`, iscrowd set to 0."""
    annotations = data.get("annotations") or []
    used = {ann.get("id") for ann in annotations
            if isinstance(ann.get("id"), (int, str)) and not isinstance(ann.get("id"), bool)}
    next_id = max([i for i in used if isinstance(i, int)], default=0) + 1
    fixed, seen = [], set()
    for ann in annotations:
        ann_id = ann.get("id")
        if not isinstance(ann_id, (int, str)) or isinstance(ann_id, bool) or ann_id in seen:
            ann = dict(ann, id=next_id)
            next_id += 1
        seen.add(ann["id"])
        if crowd_as_instances and ann.get("iscrowd"):
            ann = dict(ann, iscrowd=0)
        fixed.append(ann)
    out = dict(data)
    out["annotations"] = fixed
    return out


def load_coco_json(json_path, image_dir=None, class_ids=None, skip_empty=False, source="coco",
                   check_images=True, crowd_as_instances=False):
    """A prepared `CocoFormatDataset` of one COCO-format file (arguments as
    in `CocoFormatDataset.load_coco_json`). The pycocotools COCO object is
    kept as ``dataset.coco``."""
    dataset = CocoFormatDataset()
    dataset.coco = dataset.load_coco_json(json_path, image_dir=image_dir, class_ids=class_ids,
                                          skip_empty=skip_empty, source=source,
                                          check_images=check_images,
                                          crowd_as_instances=crowd_as_instances)
    dataset.prepare()
    return dataset


############################################################
#  COCO evaluation against the original file
############################################################

def build_coco_results(dataset, image_ids, rois, class_ids, scores, masks):
    """COCO result dicts of one image's detections, with the file's image
    and category ids (matterport's signature).

    image_ids: the image's COCO id (``dataset.image_info[i]["id"]``), or a
        list of them as matterport passed (``coco_image_ids[i:i + 1]``); each
        id gets all the detections.
    rois: [N, (y1, x1, y2, x2)]; class_ids: [N] internal ids; scores: [N];
    masks: [H, W, N].
    Returns a list of {"image_id", "category_id", "bbox" [x, y, w, h],
    "score", "segmentation" (RLE with a str "counts")}.
    """
    from mrcnn.evaluate import encode_mask

    if rois is None:
        return []
    if np.ndim(image_ids) == 0:
        image_ids = [image_ids]
    results = []
    for image_id in image_ids:
        image_id = image_id.item() if isinstance(image_id, np.generic) else image_id
        for i in range(rois.shape[0]):
            class_id = int(class_ids[i])
            source = dataset.class_info[class_id]["source"]
            y1, x1, y2, x2 = [float(v) for v in np.around(rois[i], 1)]
            results.append({
                "image_id": image_id,
                "category_id": dataset.get_source_class_id(class_id, source),
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "score": float(scores[i]),
                "segmentation": encode_mask(np.asarray(masks[:, :, i]).astype(bool)),
            })
    return results


def evaluate_coco(model, dataset, coco, eval_type="bbox", limit=0, image_ids=None, verbose=1):
    """matterport's COCO evaluation against the annotation file `coco`: see
    mrcnn.evaluate.evaluate_coco (same arguments and result), which runs
    every evaluation of this package."""
    from mrcnn.evaluate import evaluate_coco as run
    return run(model, dataset, coco, eval_type=eval_type, limit=limit, image_ids=image_ids,
               verbose=verbose)
