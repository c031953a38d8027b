"""LabelMe annotation files: one JSON file per image, usually next to it::

    from mrcnn.data.labelme import load_labelme_folder
    dataset = load_labelme_folder("annotated/")      # every *.json in the folder
    config.NUM_CLASSES = dataset.num_classes

What is read (LabelMe 3.x-5.x)
------------------------------
* ``imagePath``: the image, relative to the JSON file's folder (absolute
  paths work too). When that file is missing or is no image (LabelMe's own
  tutorial file names the JSON itself) and the JSON embeds ``imageData``
  (base64), the embedded image is used.
* ``imageHeight``/``imageWidth``: the image size (read from the image when
  absent).
* ``shapes``: each has a ``label`` (the class name), ``points`` [[x, y],
  ...], ``shape_type`` and ``group_id``:

  - ``polygon`` (also a missing/null shape_type, as older LabelMe wrote),
  - ``rectangle``: two opposite corners,
  - ``circle``: the centre and a point on the circle,
  - ``mask``: a base64 PNG of the box between the two points (LabelMe 5.3+),
  - ``line``, ``linestrip``, ``point``, ``points``: no area, skipped with a
    warning (``point`` shapes are keypoints with `keypoint_names`, below).

  Shapes with the same ``label`` and the same non-null ``group_id`` form ONE
  instance (their union), e.g. an object split by an occluder. Shapes whose
  ``group_id`` is null are one instance each.

Classes are the sorted labels found, or `class_names` (fixed order; another
label is an error naming the file and the shape). Labels in `ignore_labels`
are dropped. Rasterisation follows pycocotools like every format of this
package (pixel (r, c) covers [c, c + 1) x [r, r + 1)).

Keypoints (`keypoint_names`, docs/keypoints.md): a ``point`` shape whose
``label`` is one of `keypoint_names` is that keypoint of the instance with
its ``group_id`` (LabelMe's way of tying shapes to one object). Its
coordinates are taken as they are (LabelMe's continuous pixel frame, that of
the polygons) with v = 2; LabelMe has no visibility field, so a keypoint is
labelled (2) or absent (0, x = y = 0). `load_keypoints` returns float32
[N, K, 3] aligned with `load_mask`'s instances. AnnotationError (file and
shape index) for a keypoint without a group_id, a group_id shared by
instances of several labels, the same keypoint twice in one instance, or a
point shape without exactly one [x, y]; counted warnings for point shapes
whose label is no keypoint name (skipped), keypoints whose group_id has no
shape with an area (skipped) and keypoints outside the image (unlabelled).
Without `keypoint_names` point shapes are skipped as before.

Problems: malformed JSON raises `AnnotationError` naming the file, line and
column; a shape with malformed points or an unknown label names the file and
the shape index. Polygons with fewer than 3 points are skipped and shapes
reaching outside the image clipped, counted and reported once by
`warnings.warn` (also in ``dataset.load_warnings``). Missing images raise
FileNotFoundError listing them (``check_images=True``) or when loaded; an
image whose size differs from imageHeight/imageWidth raises AnnotationError
from `load_image`.
"""

import base64
import glob
import io
import os
import warnings

import numpy as np

from mrcnn.data.annotations import (AnnotationError, ProblemCounter, _is_number, box_polygon,
                                    check_pixel_count,
                                    image_size, points_outside, read_json,
                                    stack_rendered_instances)
from mrcnn.data.dataset import Dataset

SHAPES_WITHOUT_AREA = ("line", "linestrip", "point", "points")


class LabelMeDataset(Dataset):
    """Dataset of LabelMe JSON files (see the module docstring).

        dataset = LabelMeDataset()
        dataset.load_labelme("annotated/")
        dataset.prepare()
    """

    def __init__(self, class_map=None):
        super().__init__(class_map)
        self.load_warnings = []

    def load_labelme(self, folder_or_files, class_names=None, ignore_labels=(),
                     source="labelme", skip_empty=False, check_images=True, recursive=False,
                     keypoint_names=None):
        """Add LabelMe-annotated images.

        folder_or_files: a folder (its *.json files are read, in sorted
            order; subfolders too when `recursive`) or a list of JSON paths.
        class_names: class names in internal-id order (1, 2, ...); default:
            the sorted labels found.
        ignore_labels: labels whose shapes are dropped (e.g. "__ignore__").
        source: the dataset source of the classes and images.
        skip_empty: skip images without shapes; False keeps them.
        check_images: raise FileNotFoundError listing images that are
            neither on disk nor embedded.
        keypoint_names: read ``point`` shapes of these labels as keypoints
            (e.g. config.KEYPOINT_NAMES; see the module docstring); they
            become ``dataset.keypoint_names``. None: no keypoints.
        Returns the number of images added. Image ids are the JSON paths
        relative to the folder, without ".json".
        """
        if isinstance(folder_or_files, (str, os.PathLike)):
            folder = os.fspath(folder_or_files)
            if not os.path.isdir(folder):
                raise FileNotFoundError("LabelMe folder not found: {}".format(folder))
            pattern = os.path.join(folder, "**", "*.json") if recursive else os.path.join(
                folder, "*.json")
            files = sorted(glob.glob(pattern, recursive=recursive))
            if not files:
                raise FileNotFoundError("no .json files in {}".format(folder))
        else:
            files = [os.fspath(f) for f in folder_or_files]
            folder = os.path.commonpath([os.path.dirname(os.path.abspath(f))
                                         for f in files]) if files else ""
        ignore = set(ignore_labels)
        keypoint_names = self._check_keypoint_names(keypoint_names)

        problems = ProblemCounter(folder or "LabelMe files")
        parsed, labels, num_keypoints = [], set(), 0
        for path in files:
            in_file = _InFile(problems, os.path.relpath(os.path.abspath(path),
                                                        os.path.abspath(folder or ".")))
            record = _parse_file(path, ignore, in_file, keypoint_names)
            labels.update(inst["class_name"] for inst in record["instances"])
            num_keypoints += sum(len(inst.get("keypoints", ())) for inst in record["instances"])
            parsed.append((path, record, in_file))

        names = list(class_names) if class_names is not None else sorted(labels)
        if len(set(names)) != len(names):
            raise ValueError("load_labelme: class_names has duplicates: {}".format(names))
        class_index = {name: i + 1 for i, name in enumerate(names)}
        for name, i in class_index.items():
            self.add_class(source, i, name)

        missing, added = [], 0
        for path, record, in_file in parsed:
            if skip_empty and not record["instances"]:
                continue
            for inst in record["instances"]:
                if inst["class_name"] not in class_index:
                    raise AnnotationError("{}: {} has label {!r}, which is not in class_names "
                                          "{}".format(path, inst["where"], inst["class_name"],
                                                      names))
                inst["class_id"] = class_index[inst["class_name"]]
            image_path = record["image_path"]
            # A readable image file wins, else the embedded imageData: LabelMe's
            # tutorial file names the JSON itself as its imagePath. An existing
            # file that is no image, without imageData, is named by load_image.
            exists = image_path is not None and os.path.isfile(image_path)
            size = image_size(image_path) if exists else None
            on_disk = size is not None or (exists and not record["has_image_data"])
            if not on_disk and not record["has_image_data"]:
                missing.append(image_path or "(no imagePath in {})".format(path))
            if record["height"] is None:
                if not on_disk and record["has_image_data"]:
                    size = _embedded_image(path).shape[:2]
                record["height"], record["width"] = size or (None, None)
            if record["height"] is not None:
                _count_outside(record["instances"], record["height"], record["width"],
                               in_file)
                if keypoint_names:
                    _drop_outside_keypoints(record["instances"], record["height"],
                                            record["width"], in_file)
            image_id = os.path.splitext(os.path.relpath(os.path.abspath(path),
                                                        os.path.abspath(folder)))[0]
            self.add_image(source, image_id=image_id, path=image_path if on_disk else None,
                           image_path=image_path, width=record["width"],
                           height=record["height"], instances=record["instances"],
                           annotation_file=path, embedded_image=not on_disk
                           and record["has_image_data"])
            added += 1
        if check_images and missing:
            raise FileNotFoundError("{} image file(s) not found (and not embedded as "
                                    "imageData): {}{}".format(len(missing), ", ".join(missing[:5]),
                                                              ", ..." if len(missing) > 5 else ""))
        if keypoint_names:
            self.keypoint_names = keypoint_names
        self.load_warnings.extend(problems.report())
        if keypoint_names and not num_keypoints:
            message = ("{}: no keypoints found (no point shape labelled with one of "
                       "keypoint_names, {}, belongs to an object); every keypoint is "
                       "unlabelled".format(
                           folder or "LabelMe files", ", ".join(keypoint_names)))
            warnings.warn(message, stacklevel=2)
            self.load_warnings.append(message)
        return added

    def _check_keypoint_names(self, names):
        """`names` as a tuple of distinct non-empty strings (None stays None);
        a ValueError naming keypoint_names otherwise, or when an earlier
        load_labelme of this dataset read other names."""
        if names is None:
            return None
        if (isinstance(names, str) or not isinstance(names, (list, tuple))
                or not all(isinstance(n, str) and n.strip() for n in names)):
            raise ValueError("load_labelme: keypoint_names must be a list of names (strings), "
                             "got {!r}".format(names))
        names = tuple(n.strip() for n in names)
        if not names:
            return None
        if len(set(names)) != len(names):
            raise ValueError("load_labelme: keypoint_names has duplicates: {}".format(
                list(names)))
        if self.keypoint_names is not None and tuple(self.keypoint_names) != names:
            raise ValueError("load_labelme: keypoint_names {} differ from those of an earlier "
                             "load into this dataset: {}".format(list(names),
                                                                 list(self.keypoint_names)))
        return names

    def load_image(self, image_id):
        """[H, W, 3] uint8, from the file or the JSON's embedded imageData;
        an image whose size differs from imageHeight/imageWidth raises
        AnnotationError naming it."""
        info = self._info(image_id)
        if "instances" not in info:
            return super().load_image(image_id)
        if info.get("embedded_image"):
            image = _embedded_image(info["annotation_file"])
        elif info["path"] is None:
            raise FileNotFoundError("image {}: file not found: {} (imagePath of {})".format(
                image_id, info["image_path"], info["annotation_file"]))
        else:
            image = super().load_image(image_id)
        if info.get("height") is not None and tuple(image.shape[:2]) != (info["height"],
                                                                          info["width"]):
            raise AnnotationError("image {} ({}): the image is {}x{} pixels but {} says {}x{} "
                                  "(height x width)".format(
                                      image_id, info["image_path"], image.shape[0],
                                      image.shape[1], info["annotation_file"], info["height"],
                                      info["width"]))
        return image

    def load_mask(self, image_id):
        """Masks of an image's instances (grouped shapes are one instance).

        Returns:
            masks: bool [height, width, instances].
            class_ids: int32 [instances], internal class ids.
        """
        info = self._info(image_id)
        if "instances" not in info:
            return super().load_mask(image_id)
        if info.get("height") is None:
            raise FileNotFoundError("image {}: its size is unknown: {} gives no "
                                    "imageHeight/imageWidth and the image {} cannot be "
                                    "read".format(image_id, info["annotation_file"],
                                                  info["image_path"]))
        height, width = info["height"], info["width"]
        return stack_rendered_instances(
            self, info, height, width,
            shapes_of=lambda inst: _decoded(inst["shapes"], height, width, inst["where"],
                                            info["annotation_file"]))

    def load_keypoints(self, image_id):
        """Keypoints of the instances load_mask returns (same order):
        float32 [instances, len(keypoint_names), (x, y, v)], v = 2 for a
        point shape, 0 (x = y = 0) for a keypoint the instance lacks. None
        when the dataset was loaded without keypoint_names."""
        info = self._info(image_id)
        if "instances" not in info or self.keypoint_names is None:
            return super().load_keypoints(image_id)
        names = list(self.keypoint_names)
        rows = []
        for inst in self._drawn_instances(image_id, info):
            row = np.zeros((len(names), 3), np.float32)
            for name, (x, y, _) in inst.get("keypoints", {}).items():
                row[names.index(name)] = (x, y, 2)
            rows.append(row)
        return np.stack(rows) if rows else np.zeros((0, len(names), 3), np.float32)

    def _drawn_instances(self, image_id, info):
        """The instances that cover a pixel, those load_mask returns."""
        if "drawn_instances" not in info:
            self.load_mask(image_id)  # records them (or names an image of unknown size)
        return [info["instances"][i] for i in info["drawn_instances"]]

    def image_reference(self, image_id):
        """The image's path (or the JSON file's, for an embedded image)."""
        info = self._info(image_id)
        if "instances" in info:
            return info["path"] or info["annotation_file"]
        return super().image_reference(image_id)


def load_labelme_folder(folder_or_files, class_names=None, ignore_labels=(), source="labelme",
                        skip_empty=False, check_images=True, recursive=False,
                        keypoint_names=None):
    """A prepared `LabelMeDataset` (arguments as in
    `LabelMeDataset.load_labelme`)."""
    dataset = LabelMeDataset()
    dataset.load_labelme(folder_or_files, class_names=class_names, ignore_labels=ignore_labels,
                         source=source, skip_empty=skip_empty, check_images=check_images,
                         recursive=recursive, keypoint_names=keypoint_names)
    dataset.prepare()
    return dataset


class _InFile(object):
    """A ProblemCounter view that prefixes locations with a file name."""

    def __init__(self, problems, name):
        self.problems, self.name = problems, name

    def add(self, kind, where):
        self.problems.add(kind, "{} {}".format(self.name, where))


def _embedded_image(json_path):
    """The imageData of a LabelMe file as uint8 [H, W, 3]."""
    from PIL import Image

    data = read_json(json_path, "LabelMe file")
    try:
        raw = base64.b64decode(data["imageData"])
        with Image.open(io.BytesIO(raw)) as image:
            return np.array(image.convert("RGB"))
    except (ValueError, OSError, TypeError, KeyError) as e:
        raise AnnotationError("{}: cannot decode imageData: {}".format(json_path, e)) from None


def _decode_mask_png(text, where, path):
    from PIL import Image
    try:
        with Image.open(io.BytesIO(base64.b64decode(text))) as image:
            return np.array(image.convert("L")) > 0
    except (ValueError, OSError, TypeError) as e:
        raise AnnotationError("{}: {} has an undecodable mask: {}".format(path, where, e)) \
            from None


def _decoded(shapes, height, width, where, path):
    """Shapes with LabelMe "mask" entries turned into full-image masks."""
    out = []
    for s in shapes:
        if s["type"] != "png_mask":
            out.append(s)
            continue
        patch = _decode_mask_png(s["png"], where, path)
        full = np.zeros((height, width), bool)
        x0, y0 = int(round(s["x"])), int(round(s["y"]))
        ys0, xs0 = max(y0, 0), max(x0, 0)
        ys1, xs1 = min(y0 + patch.shape[0], height), min(x0 + patch.shape[1], width)
        if ys1 > ys0 and xs1 > xs0:
            full[ys0:ys1, xs0:xs1] = patch[ys0 - y0:ys1 - y0, xs0 - x0:xs1 - x0]
        out.append({"type": "mask", "mask": full})
    return out


def _parse_file(path, ignore, problems, keypoint_names=None):
    data = read_json(path, "LabelMe file")
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise AnnotationError("{}: no 'shapes' list; is it a LabelMe file?".format(path))
    image_path = data.get("imagePath")
    if image_path is not None and not isinstance(image_path, str):
        raise AnnotationError("{}: imagePath is {!r}; expected a file name".format(
            path, image_path))
    if image_path:
        image_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)),
                                                   image_path.replace("\\", "/")))
    height, width = data.get("imageHeight"), data.get("imageWidth")
    if height is not None or width is not None:
        if not (isinstance(height, int) and isinstance(width, int) and height > 0
                and width > 0 and not isinstance(height, bool) and not isinstance(width, bool)):
            raise AnnotationError("{}: imageHeight/imageWidth are {!r}/{!r}; expected positive "
                                  "integers".format(path, height, width))
        check_pixel_count(height, width, "{}: imageHeight/imageWidth say the image".format(path))
    groups, instances, points, ignored_groups = {}, [], [], set()
    for index, shape in enumerate(data["shapes"]):
        where = "shape {}".format(index)
        if not isinstance(shape, dict):
            raise AnnotationError("{}: {} is a {}, expected an object".format(
                path, where, type(shape).__name__))
        label = shape.get("label")
        if not isinstance(label, str) or not label.strip():
            raise AnnotationError("{}: {} has no label".format(path, where))
        label = label.strip()
        where = "shape {} ({!r})".format(index, label)
        if label in ignore:
            if shape.get("group_id") is not None:
                ignored_groups.add(_hashable(shape.get("group_id")))
            continue
        if keypoint_names and shape.get("shape_type") == "point":
            if label in keypoint_names:
                points.append(_parse_keypoint(shape, index, label, where, path))
            else:
                problems.add("point shapes whose label is not in keypoint_names skipped", where)
            continue
        parsed = _parse_shape(shape, where, path, problems)
        if parsed is None:
            continue
        group = _group_id(shape, where, path)
        if group is None:
            instances.append({"class_name": label, "shapes": [parsed], "where": where})
            continue
        key = (label, group)
        if key in groups:
            groups[key]["shapes"].append(parsed)
        else:
            groups[key] = {"class_name": label, "shapes": [parsed],
                           "where": where + " (group {})".format(group)}
            instances.append(groups[key])
    if keypoint_names:
        for inst in instances:
            inst["keypoints"] = {}
        _attach_keypoints(points, groups, ignored_groups, path, problems)
    return {"image_path": image_path or None, "height": height, "width": width,
            "instances": instances, "has_image_data": bool(data.get("imageData"))}


def _hashable(group):
    return group if isinstance(group, (int, str)) else repr(group)


def _group_id(shape, where, path):
    group = shape.get("group_id")
    if group is not None and (isinstance(group, bool) or not isinstance(group, (int, str))):
        raise AnnotationError("{}: {} has group_id {!r}; expected an integer or "
                              "null".format(path, where, group))
    return group


def _parse_keypoint(shape, index, label, where, path):
    """A keypoint's point shape: {"index", "name", "group", "x", "y"}."""
    points = shape.get("points")
    if (not isinstance(points, list) or len(points) != 1 or not isinstance(points[0], list)
            or len(points[0]) != 2 or not all(_is_number(v) for v in points[0])):
        raise AnnotationError("{}: {} is a point shape with points {!r}; expected one "
                              "[x, y]".format(path, where, points))
    group = _group_id(shape, where, path)
    if group is None:
        raise AnnotationError("{}: {} is a keypoint without a group_id; give it the group_id "
                              "of its object's polygon or rectangle".format(path, where))
    return {"index": index, "name": label, "group": group, "where": where,
            "x": float(points[0][0]), "y": float(points[0][1])}


def _attach_keypoints(points, groups, ignored_groups, path, problems):
    """Put each keypoint into inst["keypoints"][name] = (x, y, shape index)
    of the instance of its group_id (`groups`: {(label, group_id): instance})."""
    by_group = {}
    for (_, group), inst in groups.items():
        by_group.setdefault(group, []).append(inst)
    for p in points:
        owners = by_group.get(p["group"], [])
        if not owners:
            if p["group"] not in ignored_groups:
                problems.add("keypoints whose group_id has no shape with an area skipped",
                             "{} (group {})".format(p["where"], p["group"]))
            continue
        if len(owners) > 1:
            raise AnnotationError(
                "{}: {} is a keypoint of group {}, which has shapes of several labels ({}); "
                "a keypoint's group_id must name one object".format(
                    path, p["where"], p["group"],
                    ", ".join(repr(inst["class_name"]) for inst in owners)))
        found = owners[0]["keypoints"]
        if p["name"] in found:
            raise AnnotationError(
                "{}: {} is a second {!r} keypoint of group {} (the first is shape {})".format(
                    path, p["where"], p["name"], p["group"], found[p["name"]][2]))
        found[p["name"]] = (p["x"], p["y"], p["index"])


def _parse_shape(shape, where, path, problems):
    kind = shape.get("shape_type") or "polygon"
    points = shape.get("points")
    if (not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2
                                                and all(_is_number(v) for v in p)
                                                for p in points)):
        raise AnnotationError("{}: {} has points {!r}; expected a list of [x, y] "
                              "pairs".format(path, where, points if not isinstance(points, list)
                                             else points[:3]))
    flat = [float(v) for p in points for v in p]
    if kind == "polygon":
        if len(points) < 3:
            problems.add("polygons with fewer than 3 points skipped", where)
            return None
        return {"type": "polygon", "points": flat}
    if kind == "rectangle":
        if len(points) == 4:  # some converters write all four corners
            return {"type": "polygon", "points": flat}
        if len(points) != 2:
            raise AnnotationError("{}: {} is a rectangle with {} points; expected 2 "
                                  "corners".format(path, where, len(points)))
        (x0, y0), (x1, y1) = points
        if x0 == x1 or y0 == y1:
            problems.add("shapes of zero size skipped", where)
            return None
        return {"type": "polygon", "points": box_polygon(min(x0, x1), min(y0, y1),
                                                         abs(x1 - x0), abs(y1 - y0))}
    if kind == "circle":
        if len(points) != 2:
            raise AnnotationError("{}: {} is a circle with {} points; expected the centre and "
                                  "a point on the circle".format(path, where, len(points)))
        (cx, cy), (px, py) = points
        r = float(np.hypot(px - cx, py - cy))
        if r == 0:
            problems.add("shapes of zero size skipped", where)
            return None
        return {"type": "ellipse", "cx": float(cx), "cy": float(cy), "rx": r, "ry": r}
    if kind == "mask":
        if len(points) != 2 or not isinstance(shape.get("mask"), str):
            raise AnnotationError("{}: {} is a mask shape without 2 points and a base64 "
                                  "'mask'".format(path, where))
        (x0, y0), _ = points
        return {"type": "png_mask", "png": shape["mask"], "x": x0, "y": y0}
    if kind in SHAPES_WITHOUT_AREA:
        problems.add("{} shapes (no area) skipped".format(kind), where)
        return None
    problems.add("shapes of unknown type {!r} skipped".format(kind), where)
    return None


def _count_outside(instances, height, width, problems):
    for inst in instances:
        for s in inst["shapes"]:
            if s["type"] == "polygon":
                outside = points_outside(s["points"], height, width)
            elif s["type"] == "ellipse":
                outside = (s["cx"] - s["rx"] < 0 or s["cy"] - s["ry"] < 0
                           or s["cx"] + s["rx"] > width or s["cy"] + s["ry"] > height)
            else:
                outside = False
            if outside:
                problems.add("shapes reaching outside the image clipped", inst["where"])
                break


def _drop_outside_keypoints(instances, height, width, problems):
    """Keypoints outside [0, width] x [0, height] become unlabelled."""
    for inst in instances:
        for name, (x, y, index) in list(inst.get("keypoints", {}).items()):
            if not (0 <= x <= width and 0 <= y <= height):
                del inst["keypoints"][name]
                problems.add("keypoints outside the image unlabelled (v = 0)",
                             "shape {} ({!r})".format(index, name))
