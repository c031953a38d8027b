"""VGG Image Annotator (VIA) region files, as in matterport's balloon sample::

    from mrcnn.data.via import load_via_json
    dataset = load_via_json("balloon/train/via_region_data.json", class_attribute=None,
                            default_class="balloon")

What is read
------------
* A VIA 1.x export (``via_region_data.json``): an object whose values are
  ``{"filename", "size", "regions", "file_attributes"}``; a VIA 2.x project
  file (its ``_via_img_metadata`` is that object); or a list of such entries.
* ``regions`` as a list or as an object {"0": region, "1": region, ...}
  (older VIA 1.x writes the latter); each region is one instance.
* ``shape_attributes``: ``polygon`` (``all_points_x``, ``all_points_y``),
  ``rect`` (``x``, ``y``, ``width``, ``height``), ``circle`` (``cx``, ``cy``,
  ``r``) and ``ellipse`` (``cx``, ``cy``, ``rx``, ``ry``, optional
  ``theta`` in radians). ``point`` and ``polyline`` regions enclose no area
  and are skipped with a warning.
* The class: with ``class_attribute=None`` every region is one class named
  `default_class`; otherwise the region attribute of that name gives the
  class name (a text/dropdown/radio value, or a checkbox object with one
  ticked option).

Coordinates are pixel coordinates of the original image with the COCO
convention (pixel (r, c) covers [c, c + 1) x [r, r + 1)); polygons and
rectangles are rasterised by pycocotools, circles and ellipses by testing
pixel centres, like in `mrcnn.data.coco`. (matterport's balloon sample used
skimage.draw.polygon, whose masks are up to one pixel larger on the right and
bottom edges.) Image sizes come from the image files' headers.

Problems: malformed JSON, a region without the class attribute or a class
not in `class_names` raise `AnnotationError` naming the file, the image file
name and the region index. Polygons with fewer than 3 points and shapes of
zero size are skipped, shapes reaching outside the image are clipped; both
counted and reported once by `warnings.warn` (also in
``dataset.load_warnings``). Missing image files raise FileNotFoundError
listing them (``check_images=True``) or when loaded.
"""

import os

import numpy as np

from mrcnn.data.annotations import (AnnotationError, ProblemCounter, _is_number, box_polygon,
                                    image_size, points_outside, read_json,
                                    resolve_image_path, stack_rendered_instances)
from mrcnn.data.dataset import Dataset

SHAPES_WITHOUT_AREA = ("point", "polyline")


class ViaDataset(Dataset):
    """Dataset of VIA region files (see the module docstring).

        dataset = ViaDataset()
        dataset.load_via("train/via_region_data.json")
        dataset.prepare()
    """

    def __init__(self, class_map=None):
        super().__init__(class_map)
        self.load_warnings = []

    def load_via(self, json_path, image_dir=None, class_attribute=None, class_names=None,
                 default_class="object", source="via", skip_empty=False, check_images=True):
        """Add the images and regions of a VIA file.

        json_path: the VIA export or project file.
        image_dir: folder of the images; default: the JSON file's folder.
        class_attribute: name of the region attribute holding the class, or
            None for a single class named `default_class`.
        class_names: the class names in internal-id order (1, 2, ...); a
            region of another class is an error. Default: the sorted names
            found in the file.
        source: dataset source of the classes and images.
        skip_empty: skip images without regions (matterport's balloon
            loader did); False keeps them.
        check_images: raise FileNotFoundError listing missing image files.
        Returns the number of images added.
        """
        data = read_json(json_path, "VIA annotation file")
        if image_dir is None:
            image_dir = os.path.dirname(os.path.abspath(json_path))
        entries = _via_entries(data, json_path)
        problems = ProblemCounter(json_path)
        parsed = []
        for key, entry in entries:
            filename = entry.get("filename") if isinstance(entry, dict) else None
            if not isinstance(filename, str) or not filename:
                raise AnnotationError("{}: entry {!r} has no 'filename'; is it a VIA region "
                                      "file?".format(json_path, key))
            regions = _region_list(entry.get("regions"), json_path, filename)
            instances = []
            for index, region in regions:
                where = "{} region {}".format(filename, index)
                instance = _parse_region(region, where, json_path, class_attribute,
                                         default_class, problems)
                if instance is not None:
                    instances.append(instance)
            parsed.append((filename, instances))

        names = list(class_names) if class_names is not None else sorted(
            {inst["class_name"] for _, insts in parsed for inst in insts} or {default_class})
        if len(set(names)) != len(names):
            raise ValueError("load_via: class_names has duplicates: {}".format(names))
        class_index = {name: i + 1 for i, name in enumerate(names)}
        for name, i in class_index.items():
            self.add_class(source, i, name)

        missing, added = [], 0
        for filename, instances in parsed:
            if skip_empty and not instances:
                continue
            for inst in instances:
                if inst["class_name"] not in class_index:
                    raise AnnotationError("{}: {} has class {!r}, which is not in class_names "
                                          "{}".format(json_path, inst["where"],
                                                      inst["class_name"], names))
                inst["class_id"] = class_index[inst["class_name"]]
            path = resolve_image_path(image_dir, filename)
            size = image_size(path) if os.path.exists(path) else None
            if size is None and not os.path.exists(path):
                missing.append(path)
            height, width = size or (None, None)
            if size is not None:
                _count_outside(instances, height, width, problems)
            self.add_image(source, image_id=filename, path=path, width=width, height=height,
                           instances=instances, annotation_file=json_path)
            added += 1
        if check_images and missing:
            raise FileNotFoundError("{}: {} image file(s) not found: {}{}".format(
                json_path, len(missing), ", ".join(missing[:5]),
                ", ..." if len(missing) > 5 else ""))
        self.load_warnings.extend(problems.report())
        return added

    def load_mask(self, image_id):
        """Masks of an image's regions.

        Returns:
            masks: bool [height, width, regions].
            class_ids: int32 [regions], internal class ids.
        Regions entirely outside the image are left out.
        """
        info = self._info(image_id)
        if "instances" not in info:
            return super().load_mask(image_id)
        height, width = _known_size(info, image_id)
        return stack_rendered_instances(self, info, height, width)

    def image_reference(self, image_id):
        """The image file's path."""
        info = self._info(image_id)
        if "instances" in info:
            return info["path"]
        return super().image_reference(image_id)


def load_via_json(json_path, image_dir=None, class_attribute=None, class_names=None,
                  default_class="object", source="via", skip_empty=False, check_images=True):
    """A prepared `ViaDataset` of one VIA file (arguments as in
    `ViaDataset.load_via`)."""
    dataset = ViaDataset()
    dataset.load_via(json_path, image_dir=image_dir, class_attribute=class_attribute,
                     class_names=class_names, default_class=default_class, source=source,
                     skip_empty=skip_empty, check_images=check_images)
    dataset.prepare()
    return dataset


def _known_size(info, image_id):
    """(height, width) of an image, read from the file's header if needed."""
    if info.get("height") is None:
        size = image_size(info["path"])
        if size is None:
            raise FileNotFoundError("image {}: cannot read {} to find its size".format(
                image_id, info["path"]))
        info["height"], info["width"] = size
    return info["height"], info["width"]


def _via_entries(data, path):
    """[(key, entry)] of a VIA 1.x export, VIA 2.x project or list."""
    if isinstance(data, dict) and "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
    if isinstance(data, dict):
        return list(data.items())
    if isinstance(data, list):
        return list(enumerate(data))
    raise AnnotationError("{}: the top level is a {}; a VIA file is an object of image "
                          "entries".format(path, type(data).__name__))


def _region_list(regions, path, filename):
    """[(index, region)] of a "regions" list or {"0": region, ...} object."""
    if regions is None:
        return []
    if isinstance(regions, list):
        return list(enumerate(regions))
    if isinstance(regions, dict):
        def order(key):
            return (0, int(key), "") if str(key).isdigit() else (1, 0, str(key))
        return [(k, regions[k]) for k in sorted(regions, key=order)]
    raise AnnotationError("{}: {} has 'regions' of type {}; expected a list or an "
                          "object".format(path, filename, type(regions).__name__))


def _numbers(shape, keys, where, path):
    values = []
    for key in keys:
        v = shape.get(key)
        if not _is_number(v):
            raise AnnotationError("{}: {} ({}) has {} = {!r}; expected a number".format(
                path, where, shape.get("name"), key, v))
        values.append(float(v))
    return values


def _parse_region(region, where, path, class_attribute, default_class, problems):
    """{"class_name", "shapes", "where"} of a VIA region, or None to skip it."""
    if not isinstance(region, dict):
        raise AnnotationError("{}: {} is a {}, expected an object".format(
            path, where, type(region).__name__))
    shape = region.get("shape_attributes")
    if not isinstance(shape, dict) or "name" not in shape:
        raise AnnotationError("{}: {} has no shape_attributes with a 'name'".format(path, where))
    kind = shape["name"]
    if kind == "polygon":
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if (not isinstance(xs, list) or not isinstance(ys, list)
                or not all(_is_number(v) for v in xs + ys)):
            raise AnnotationError("{}: {} (polygon) needs all_points_x and all_points_y lists "
                                  "of numbers".format(path, where))
        if len(xs) != len(ys):
            raise AnnotationError("{}: {} (polygon) has {} x but {} y coordinates".format(
                path, where, len(xs), len(ys)))
        if len(xs) < 3:
            problems.add("polygons with fewer than 3 points skipped", where)
            return None
        shapes = [{"type": "polygon",
                   "points": np.stack([xs, ys], axis=1).astype(np.float64).ravel().tolist()}]
    elif kind == "rect":
        x, y, w, h = _numbers(shape, ("x", "y", "width", "height"), where, path)
        if w <= 0 or h <= 0:
            problems.add("shapes of zero size skipped", where)
            return None
        shapes = [{"type": "polygon", "points": box_polygon(x, y, w, h)}]
    elif kind in ("circle", "ellipse"):
        if kind == "circle":
            cx, cy, r = _numbers(shape, ("cx", "cy", "r"), where, path)
            rx = ry = r
            theta = 0.0
        else:
            cx, cy, rx, ry = _numbers(shape, ("cx", "cy", "rx", "ry"), where, path)
            theta = float(shape.get("theta") or 0.0)
        if rx <= 0 or ry <= 0:
            problems.add("shapes of zero size skipped", where)
            return None
        shapes = [{"type": "ellipse", "cx": cx, "cy": cy, "rx": rx, "ry": ry,
                   "theta": theta}]
    elif kind in SHAPES_WITHOUT_AREA:
        problems.add("{} regions (no area) skipped".format(kind), where)
        return None
    else:
        problems.add("regions of unknown shape {!r} skipped".format(kind), where)
        return None
    return {"class_name": _region_class(region, where, path, class_attribute, default_class),
            "shapes": shapes, "where": where}


def _region_class(region, where, path, class_attribute, default_class):
    if class_attribute is None:
        return default_class
    attributes = region.get("region_attributes") or {}
    value = attributes.get(class_attribute) if isinstance(attributes, dict) else None
    if isinstance(value, dict):  # checkbox: {"option": true, ...}
        ticked = [k for k, v in value.items() if v]
        if len(ticked) != 1:
            raise AnnotationError("{}: {} has {} options ticked in region attribute {!r} "
                                  "({}); expected one".format(path, where, len(ticked),
                                                             class_attribute, ticked))
        value = ticked[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise AnnotationError("{}: {} has no class in region attribute {!r} (its attributes: "
                              "{})".format(path, where, class_attribute,
                                           attributes if attributes else "none"))
    return value.strip()


def _count_outside(instances, height, width, problems):
    for inst in instances:
        for s in inst["shapes"]:
            if s["type"] == "polygon":
                outside = points_outside(s["points"], height, width)
            else:
                cos, sin = np.cos(s["theta"]), np.sin(s["theta"])
                half_w = np.hypot(s["rx"] * cos, s["ry"] * sin)
                half_h = np.hypot(s["rx"] * sin, s["ry"] * cos)
                outside = (s["cx"] - half_w < 0 or s["cy"] - half_h < 0
                           or s["cx"] + half_w > width or s["cy"] + half_h > height)
            if outside:
                problems.add("shapes reaching outside the image clipped", inst["where"])
                break
