"""VGG Image Annotator (VIA) region files, as in matterport's balloon sample::

    from mrcnn.data.via import load_via_json
    dataset = load_via_json("balloon/train/via_region_data.json", class_attribute=None,
                            default_class="balloon")

What is read
------------
* A VIA 1.x export (``via_region_data.json``): an object whose values are
  ``{"filename", "size", "regions", "file_attributes"}``; a VIA 2.x project
  file (its ``_via_img_metadata`` is that object); or a list of such entries.
* A VIA 3.x project (``project``, ``config``, ``attribute``, ``file``,
  ``view``, ``metadata``): each image file (``fname``, else ``src``) shown
  in a single-file view is an image; the view's spatial metadata (``xy`` =
  [shape id, coordinates...], no ``z``) are its regions, with VIA 3's shape
  ids POINT 1, RECTANGLE 2 (x, y, w, h), CIRCLE 3 (cx, cy, r), ELLIPSE 4
  (cx, cy, rx, ry), LINE 5, POLYLINE 6, POLYGON 7 (x0, y0, x1, y1, ...),
  EXTREME_RECTANGLE 8 (the box of 4 points) and EXTREME_CIRCLE 9 (the circle
  through 3 points); ``av`` holds the attribute values by attribute id, and
  `class_attribute` names the attribute (its ``aname``). Video frame regions
  and temporal segments are skipped with a warning.
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
  ticked option). Dropdown, radio and checkbox values are option ids; the
  class is the option's label as VIA shows it (``_via_attributes`` of a VIA
  2 project, ``attribute`` of a VIA 3 project), or the id where the option
  has no label (and in VIA 1 exports, which hold no attribute definitions).

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
        problems = ProblemCounter(json_path)
        if _is_via3_project(data):
            entries = _via3_entries(data, json_path, problems)
            labels = _via3_option_labels(data, class_attribute)
        else:
            entries = _via_entries(data, json_path)
            labels = _via2_option_labels(data, class_attribute)
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
                                         default_class, problems, labels)
                if instance is not None:
                    instances.append(instance)
            parsed.append((filename, instances, entry.get("other_paths", ())))

        names = list(class_names) if class_names is not None else sorted(
            {inst["class_name"] for _, insts, _ in parsed for inst in insts} or {default_class})
        if len(set(names)) != len(names):
            raise ValueError("load_via: class_names has duplicates: {}".format(names))
        class_index = {name: i + 1 for i, name in enumerate(names)}
        for name, i in class_index.items():
            self.add_class(source, i, name)

        missing, added = [], 0
        for filename, instances, other_paths in parsed:
            if skip_empty and not instances:
                continue
            for inst in instances:
                if inst["class_name"] not in class_index:
                    raise AnnotationError("{}: {} has class {!r}, which is not in class_names "
                                          "{}".format(json_path, inst["where"],
                                                      inst["class_name"], names))
                inst["class_id"] = class_index[inst["class_name"]]
            path = _image_path(image_dir, filename, other_paths)
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
    elif (isinstance(data, dict) and isinstance(data.get("project"), dict)
          and "filename" not in data["project"]):
        raise AnnotationError("{}: this looks like a VIA 3 project ('project') but it has no "
                              "'file', 'view' or 'metadata'; save the project from VIA 3 again, "
                              "or export COCO from VIA 3 and use load_coco_json".format(path))
    if isinstance(data, dict):
        return list(data.items())
    if isinstance(data, list):
        return list(enumerate(data))
    raise AnnotationError("{}: the top level is a {}; a VIA file is an object of image "
                          "entries".format(path, type(data).__name__))


def _image_path(image_dir, filename, other_paths=()):
    """The image file of an entry: `filename` in `image_dir` (see
    resolve_image_path), else the first of `other_paths` (VIA 3's ``src``
    and location prefix) that exists."""
    path = resolve_image_path(image_dir, filename)
    if os.path.exists(path):
        return path
    for other in other_paths:
        candidate = other if os.path.isabs(other) else resolve_image_path(image_dir, other)
        if os.path.exists(candidate):
            return candidate
    return path


def _option_label(options, option_id):
    """What VIA shows for an option: its description, or the id when the
    description is empty."""
    label = options.get(option_id) if isinstance(options, dict) else None
    return label.strip() if isinstance(label, str) and label.strip() else option_id


def _via2_option_labels(data, class_attribute):
    """{option id: label} of the region attribute `class_attribute` of a VIA
    2 project (``_via_attributes``); {} for VIA 1 exports and text
    attributes."""
    if class_attribute is None or not isinstance(data, dict):
        return {}
    attribute = None
    definitions = data.get("_via_attributes")
    if isinstance(definitions, dict) and isinstance(definitions.get("region"), dict):
        attribute = definitions["region"].get(class_attribute)
    if not isinstance(attribute, dict) or not isinstance(attribute.get("options"), dict):
        return {}
    return {str(k): _option_label(attribute["options"], k) for k in attribute["options"]}


############################################################
#  VIA 3 projects
############################################################

# _VIA_RSHAPE of VIA 3 (via-3.x.y/src/js/_via_metadata.js) and the number of
# coordinates after the shape id (None: a list of x, y pairs).
VIA3_SHAPES = {1: ("point", 2), 2: ("rectangle", 4), 3: ("circle", 3), 4: ("ellipse", 4),
               5: ("line", 4), 6: ("polyline", None), 7: ("polygon", None),
               8: ("extreme_rectangle", 8), 9: ("extreme_circle", 6)}
VIA3_IMAGE_FILE = 2          # _VIA_FILE_TYPE.IMAGE
VIA3_TEXT, VIA3_CHECKBOX = 1, 2   # _VIA_ATTRIBUTE_TYPE (RADIO 3, SELECT 4, IMAGE 5)


def _is_via3_project(data):
    return (isinstance(data, dict) and isinstance(data.get("project"), dict)
            and ("metadata" in data or "file" in data or "view" in data))


def _via3_table(data, key, path):
    table = data.get(key)
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise AnnotationError("{}: VIA 3 project: '{}' is a {}, expected an object".format(
            path, key, type(table).__name__))
    return table


def _via3_attribute(attributes, class_attribute):
    """(attribute id, attribute) named `class_attribute` (its ``aname``, or
    its id), or (None, None)."""
    if class_attribute is None:
        return None, None
    for aid, attribute in attributes.items():
        if isinstance(attribute, dict) and attribute.get("aname") == str(class_attribute):
            return str(aid), attribute
    attribute = attributes.get(str(class_attribute))
    return (str(class_attribute), attribute) if isinstance(attribute, dict) else (None, None)


def _via3_option_labels(data, class_attribute):
    attributes = data.get("attribute")
    _, attribute = _via3_attribute(attributes if isinstance(attributes, dict) else {},
                                   class_attribute)
    if attribute is None or not isinstance(attribute.get("options"), dict):
        return {}
    return {str(k): _option_label(attribute["options"], k) for k in attribute["options"]}


def _nested(data, *keys):
    """data[k1][k2]... or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _via3_entries(data, path, problems):
    """[(key, entry)] of a VIA 3 project in the VIA 2 entry layout: one entry
    per image file (``file``, shown in a single-file ``view``), its regions
    the spatial ``metadata`` of that view (``xy`` = [shape id, coordinates],
    no ``z``), region attributes keyed by attribute name."""
    files = _via3_table(data, "file", path)
    views = _via3_table(data, "view", path)
    metadata = _via3_table(data, "metadata", path)
    attributes = _via3_table(data, "attribute", path)
    names = {str(aid): (a["aname"] if isinstance(a, dict) and isinstance(a.get("aname"), str)
                        and a["aname"] else str(aid)) for aid, a in attributes.items()}
    checkbox = {str(aid) for aid, a in attributes.items()
                if isinstance(a, dict) and a.get("type") == VIA3_CHECKBOX}

    def file_of(fid):
        entry = files.get(str(fid))
        if not isinstance(entry, dict):
            raise AnnotationError("{}: VIA 3 project: view lists file {!r}, which is not in "
                                  "'file'".format(path, fid))
        return entry

    listed = data["project"].get("vid_list")
    order = [str(v) for v in listed if str(v) in views] if isinstance(listed, list) else []
    order += [str(v) for v in views if str(v) not in order]
    entries, view_file = {}, {}
    for vid in order:
        view = views[vid]
        fids = view.get("fid_list") if isinstance(view, dict) else None
        if not isinstance(fids, list):
            raise AnnotationError("{}: VIA 3 project: view {!r} has no 'fid_list'".format(
                path, vid))
        if len(fids) != 1:
            continue  # image pairs: no spatial regions of one image
        fid = str(fids[0])
        record = file_of(fid)
        if record.get("type", VIA3_IMAGE_FILE) != VIA3_IMAGE_FILE:
            continue
        view_file[vid] = fid
        if fid not in entries:
            fname = record.get("fname")
            if not isinstance(fname, str) or not fname:
                raise AnnotationError("{}: VIA 3 project: file {!r} has no 'fname'".format(
                    path, fid))
            others = [record["src"]] if isinstance(record.get("src"), str) and record[
                "src"] and not record["src"].startswith(("data:", "http:", "https:")) else []
            prefix = _nested(data, "config", "file", "loc_prefix", str(record.get("loc")))
            if others and isinstance(prefix, str) and prefix and not prefix.startswith(
                    ("http:", "https:")):
                others.insert(0, prefix + others[0])
            entries[fid] = {"filename": fname, "regions": {}, "other_paths": others}
    if not entries and files:
        raise AnnotationError("{}: VIA 3 project without image files (types {}): video and "
                              "audio annotations are not instance masks".format(
                                  path, sorted({f.get("type") for f in files.values()
                                                if isinstance(f, dict)}, key=str)))

    for mid, item in metadata.items():
        where = "metadata {!r}".format(mid)
        if not isinstance(item, dict):
            raise AnnotationError("{}: VIA 3 project: {} is a {}, expected an object".format(
                path, where, type(item).__name__))
        xy, z = item.get("xy") or [], item.get("z") or []
        if not xy:
            continue  # file or temporal-segment attributes
        vid = str(item.get("vid"))
        if vid not in view_file:
            if vid not in views:
                raise AnnotationError("{}: VIA 3 project: {} belongs to view {!r}, which is not "
                                      "in 'view'".format(path, where, item.get("vid")))
            problems.add("regions of video, audio or multi-file views skipped", where)
            continue
        entry = entries[view_file[vid]]
        where = "{} region {}".format(entry["filename"], mid)
        if z:
            problems.add("regions of video frames (metadata with 'z') skipped", where)
            continue
        av = item.get("av") or {}
        if not isinstance(av, dict):
            raise AnnotationError("{}: {} has 'av' of type {}; expected an object".format(
                path, where, type(av).__name__))
        region_attributes = {}
        for aid, value in av.items():
            if str(aid) in checkbox and isinstance(value, str):
                value = {v: True for v in value.split(",") if v}
            region_attributes[names.get(str(aid), str(aid))] = value
        entry["regions"][str(mid)] = {"shape_attributes": _via3_shape(xy, where, path),
                                      "region_attributes": region_attributes}
    return list(entries.items())


def _via3_shape(xy, where, path):
    """VIA 2 ``shape_attributes`` of a VIA 3 ``xy`` list."""
    if (not isinstance(xy, list) or not xy or not isinstance(xy[0], int)
            or isinstance(xy[0], bool) or not all(_is_number(v) for v in xy[1:])):
        raise AnnotationError("{}: {} has xy {!r}; expected [shape id, numbers...]".format(
            path, where, xy[:6] if isinstance(xy, list) else xy))
    shape_id, values = xy[0], [float(v) for v in xy[1:]]
    if shape_id not in VIA3_SHAPES:
        return {"name": "VIA 3 shape id {}".format(shape_id)}
    name, count = VIA3_SHAPES[shape_id]
    if (count is not None and len(values) != count) or (count is None and len(values) % 2):
        raise AnnotationError("{}: {} ({}) has {} coordinates; expected {}".format(
            path, where, name, len(values), count if count is not None else "x, y pairs"))
    xs, ys = values[0::2], values[1::2]
    if name == "point":
        return {"name": "point", "cx": values[0], "cy": values[1]}
    if name == "rectangle":
        return dict(zip(("name", "x", "y", "width", "height"), ["rect"] + values))
    if name == "circle":
        return dict(zip(("name", "cx", "cy", "r"), ["circle"] + values))
    if name == "ellipse":
        return dict(zip(("name", "cx", "cy", "rx", "ry"), ["ellipse"] + values))
    if name in ("line", "polyline"):
        return {"name": "polyline", "all_points_x": xs, "all_points_y": ys}
    if name == "polygon":
        return {"name": "polygon", "all_points_x": xs, "all_points_y": ys}
    if name == "extreme_rectangle":  # the left, top, right and bottom extreme points
        return {"name": "rect", "x": min(xs), "y": min(ys), "width": max(xs) - min(xs),
                "height": max(ys) - min(ys)}
    # extreme_circle: three points on the circle
    return _circle_through(xs, ys)


def _circle_through(xs, ys):
    """VIA 2 circle through three points (r = 0 when they are collinear)."""
    (ax, bx, cx), (ay, by, cy) = xs, ys
    d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    if abs(d) < 1e-12:
        return {"name": "circle", "cx": ax, "cy": ay, "r": 0.0}
    a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
    ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d
    uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d
    return {"name": "circle", "cx": ux, "cy": uy, "r": float(np.hypot(ax - ux, ay - uy))}


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


def _parse_region(region, where, path, class_attribute, default_class, problems, labels=None):
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
            theta = shape.get("theta") or 0.0
            if not _is_number(theta):
                raise AnnotationError("{}: {} has theta {!r}; expected a number (radians)".format(
                    path, where, theta))
            theta = float(theta)
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
    return {"class_name": _region_class(region, where, path, class_attribute, default_class,
                                        labels or {}),
            "shapes": shapes, "where": where}


def _region_class(region, where, path, class_attribute, default_class, labels):
    """The class name of a region: its `class_attribute` value; option ids
    (radio, dropdown, checkbox) become the option labels VIA shows (`labels`:
    {option id: label}), an id without a label stays as it is."""
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
    if isinstance(value, str) and value in labels:
        value = labels[value]
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
