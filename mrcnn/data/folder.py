"""A folder of images plus instance-label PNGs (and an optional class map)::

    from mrcnn.data.folder import load_image_folder
    dataset = load_image_folder("data/images", "data/masks", class_map="data/classes.json")
    config.NUM_CLASSES = dataset.num_classes

Layout
------
::

    data/images/0001.jpg        any of .jpg .jpeg .png .bmp .tif .tiff
    data/masks/0001.png         same name, `mask_suffix` (".png") instead of the extension
    data/classes.json           optional

An instance-label PNG is a single-channel image of the image's size: 0 is
background and every other value is one instance (all pixels of value 7 are
instance 7). 8-bit, 16-bit and palette PNGs work (a palette PNG's values are
its palette indices); colour (RGB) PNGs are refused, as their colours are
ambiguous. Instances come back in increasing label order.

Class map
---------
Without one, every instance is one class named `default_class`. Otherwise a
dict, or the path of a JSON file holding it::

    {
      "classes": ["cat", "dog"],                    # optional: names in internal-id order
      "instances": {"1": "cat", "2": "dog"},        # label value -> class, every image
      "images": {"0001": {"1": "dog", "3": "cat"}}, # per image (file stem), overrides "instances"
      "default": "cat"                              # optional: class of unlisted values
    }

A class may be given by name or by its 1-based index in "classes". Without
"classes" the class names are the sorted names used. A label value that
neither its image's map, "instances" nor "default" covers is an error
naming the mask file and the value. ("instances" alone suits masks whose
values encode classes, e.g. semantic masks where 1 = cat everywhere; such
a mask then has one instance per class.)

Problems: missing masks raise FileNotFoundError listing them; masks that
are not single-channel, or whose size differs from their image, raise
`AnnotationError` naming the mask, the image and the image id; masks without
an image are ignored with a warning.
"""

import os
import warnings

import numpy as np

from mrcnn.data.annotations import AnnotationError, image_size, read_json
from mrcnn.data.dataset import Dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def read_label_png(path):
    """An instance-label image as a 2-D integer array (uint8, uint16 or
    int32). Colour images raise AnnotationError naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LA", "HSV", "LAB"):
                raise AnnotationError(
                    "{}: a {} image; an instance-label mask must have one channel (8- or "
                    "16-bit grayscale or palette) with one integer per instance".format(
                        path, mode))
            array = np.array(image)
    except FileNotFoundError:
        raise FileNotFoundError("mask not found: {}".format(path)) from None
    except OSError as e:
        raise AnnotationError("{}: cannot read the mask: {}".format(path, e)) from None
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.ndim != 2:
        raise AnnotationError("{}: mask of shape {}; expected [height, width]".format(
            path, array.shape))
    return array


def _read_class_map(class_map):
    if class_map is None:
        return None, "class map"
    if isinstance(class_map, (str, os.PathLike)):
        path = os.fspath(class_map)
        return read_json(path, "class map file"), path
    if isinstance(class_map, dict):
        return class_map, "class_map"
    raise TypeError("class_map must be None, a dict or a JSON file path, not {}".format(
        type(class_map).__name__))


class ImageFolderDataset(Dataset):
    """Dataset of an image folder with instance-label PNGs (see the module
    docstring).

        dataset = ImageFolderDataset()
        dataset.load_folder("images/", "masks/", class_map="classes.json")
        dataset.prepare()
    """

    def load_folder(self, image_dir, mask_dir, class_map=None, default_class="object",
                    source="folder", mask_suffix=".png", skip_empty=False):
        """Add the images of `image_dir` with their masks from `mask_dir`.

        class_map: None (one class, `default_class`), a dict or a JSON path
            (format in the module docstring).
        source: the dataset source of the classes and images.
        mask_suffix: the mask of image "x.jpg" is `mask_dir`/x + mask_suffix.
        skip_empty: skip images whose mask has no instance (reads every mask
            now); False keeps them.
        Returns the number of images added. Image ids are the file stems.
        """
        if not os.path.isdir(image_dir):
            raise FileNotFoundError("image folder not found: {}".format(image_dir))
        if not os.path.isdir(mask_dir):
            raise FileNotFoundError("mask folder not found: {}".format(mask_dir))
        names = sorted(f for f in os.listdir(image_dir)
                       if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
        if not names:
            raise FileNotFoundError("no images ({}) in {}".format(
                " ".join(IMAGE_EXTENSIONS), image_dir))
        stems = [os.path.splitext(f)[0] for f in names]
        if len(set(stems)) != len(stems):
            doubles = sorted({s for s in stems if stems.count(s) > 1})
            raise AnnotationError("{}: several images share the name(s) {}; their masks "
                                  "would be the same file".format(image_dir, doubles))
        mask_paths = [os.path.join(mask_dir, s + mask_suffix) for s in stems]
        missing = [p for p in mask_paths if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError("{} mask(s) not found: {}{}".format(
                len(missing), ", ".join(missing[:5]), ", ..." if len(missing) > 5 else ""))
        orphans = sorted(set(f for f in os.listdir(mask_dir) if f.endswith(mask_suffix))
                         - set(os.path.basename(p) for p in mask_paths))
        if orphans:
            warnings.warn("{}: {} mask(s) without an image ignored (first: {})".format(
                mask_dir, len(orphans), orphans[0]), stacklevel=2)

        mapping, where = _read_class_map(class_map)
        classes = _class_names(mapping, where, default_class)
        for i, name in enumerate(classes):
            self.add_class(source, i + 1, name)

        added = 0
        for name, stem, mask_path in zip(names, stems, mask_paths):
            path = os.path.join(image_dir, name)
            size = image_size(path)
            if size is None:
                raise AnnotationError("cannot read image {}".format(path))
            if skip_empty and not np.any(read_label_png(mask_path)):
                continue
            self.add_image(source, image_id=stem, path=path, height=size[0], width=size[1],
                           mask_path=mask_path,
                           value_classes=_value_classes(mapping, where, stem, classes),
                           default_class_id=_default_class_id(mapping, where, classes))
            added += 1
        return added

    def load_mask(self, image_id):
        """Instance masks from the label PNG.

        Returns:
            masks: bool [height, width, instances], one per non-zero value,
                in increasing value order.
            class_ids: int32 [instances], internal class ids.
        """
        info = self._info(image_id)
        if "mask_path" not in info:
            return super().load_mask(image_id)
        labels = read_label_png(info["mask_path"])
        if labels.shape != (info["height"], info["width"]):
            raise AnnotationError(
                "image {} ({}): mask {} is {}x{} but the image is {}x{} (height x "
                "width)".format(image_id, info["path"], info["mask_path"], labels.shape[0],
                                labels.shape[1], info["height"], info["width"]))
        values = np.unique(labels)
        values = values[values != 0]
        class_ids = []
        for v in values.tolist():
            class_id = info["value_classes"].get(v, info["default_class_id"])
            if class_id is None:
                raise AnnotationError("image {}: mask {} has label value {}, which the class "
                                      "map gives no class (and it has no 'default')".format(
                                          image_id, info["mask_path"], v))
            class_ids.append(self.map_source_class_id("{}.{}".format(info["source"],
                                                                     class_id)))
        masks = labels[:, :, None] == values[None, None, :]
        return masks, np.array(class_ids, np.int32)

    def image_reference(self, image_id):
        """The image file's path."""
        info = self._info(image_id)
        if "mask_path" in info:
            return info["path"]
        return super().image_reference(image_id)


def load_image_folder(image_dir, mask_dir, class_map=None, default_class="object",
                      source="folder", mask_suffix=".png", skip_empty=False):
    """A prepared `ImageFolderDataset` (arguments as in
    `ImageFolderDataset.load_folder`)."""
    dataset = ImageFolderDataset()
    dataset.load_folder(image_dir, mask_dir, class_map=class_map, default_class=default_class,
                        source=source, mask_suffix=mask_suffix, skip_empty=skip_empty)
    dataset.prepare()
    return dataset


def _class_names(mapping, where, default_class):
    """The class names in internal-id order."""
    if mapping is None:
        return [default_class]
    if not isinstance(mapping, dict):
        raise AnnotationError("{}: the class map is a {}, expected an object".format(
            where, type(mapping).__name__))
    unknown = set(mapping) - {"classes", "instances", "images", "default"}
    if unknown:
        raise AnnotationError("{}: unknown class map key(s) {}; expected classes, instances, "
                              "images, default".format(where, sorted(unknown)))
    for key in ("instances", "images"):
        if mapping.get(key) is not None and not isinstance(mapping[key], dict):
            raise AnnotationError("{}: {!r} is a {}, expected an object".format(
                where, key, type(mapping[key]).__name__))
    for stem, table in (mapping.get("images") or {}).items():
        if table is not None and not isinstance(table, dict):
            raise AnnotationError("{}: images[{!r}] is a {}, expected an object of label "
                                  "value -> class".format(where, stem, type(table).__name__))
    if "classes" in mapping:
        classes = mapping["classes"]
        if (not isinstance(classes, list) or not classes
                or not all(isinstance(c, str) and c for c in classes)):
            raise AnnotationError("{}: 'classes' must be a non-empty list of names".format(where))
        if len(set(classes)) != len(classes):
            raise AnnotationError("{}: 'classes' has duplicates: {}".format(where, classes))
        return list(classes)
    used = set()
    for table in [mapping.get("instances") or {}] + list((mapping.get("images") or {}).values()):
        if not isinstance(table, dict):
            raise AnnotationError("{}: a value -> class table is a {}, expected an "
                                  "object".format(where, type(table).__name__))
        used.update(c for c in table.values() if isinstance(c, str))
    if isinstance(mapping.get("default"), str):
        used.add(mapping["default"])
    if not used:
        raise AnnotationError("{}: the class map names no class".format(where))
    return sorted(used)


def _class_id(value, classes, where, context):
    """1-based class id of a class name or index."""
    if isinstance(value, str) and value in classes:
        return classes.index(value) + 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(classes):
        return value
    raise AnnotationError("{}: {} maps to {!r}, which is not a class of {} (or its 1-based "
                          "index)".format(where, context, value, classes))


def _label_value(key, where, context):
    try:
        return int(key)
    except (TypeError, ValueError):
        raise AnnotationError("{}: {} has label value {!r}; expected an integer".format(
            where, context, key)) from None


def _value_classes(mapping, where, stem, classes):
    """{label value: class id} of one image."""
    if mapping is None:
        return {}
    out = {}
    tables = [("instances", mapping.get("instances") or {}),
              ("images[{!r}]".format(stem), (mapping.get("images") or {}).get(stem) or {})]
    for context, table in tables:
        if not isinstance(table, dict):
            raise AnnotationError("{}: {} is a {}, expected an object".format(
                where, context, type(table).__name__))
        for key, value in table.items():
            v = _label_value(key, where, context)
            out[v] = _class_id(value, classes, where, "{} value {}".format(context, v))
    return out


def _default_class_id(mapping, where, classes):
    if mapping is None:
        return 1
    if mapping.get("default") is None:
        return None
    return _class_id(mapping["default"], classes, where, "'default'")
