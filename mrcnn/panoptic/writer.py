"""Writing COCO panoptic files: `PanopticWriter` (one PNG per image, the
JSON when closed) and the atomic writers it uses; nothing is ever
half-written.
"""

import json
import os
import tempfile

import numpy as np

from mrcnn.panoptic.format import VOID, id2rgb, segment_bbox
from mrcnn.panoptic.fusion import fuse


def _atomic_write(path, write, suffix):
    """Call ``write(file object)`` on a temporary file beside `path`, then
    rename it to `path`: readers see the old file or the whole new one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_panoptic_png(path, panoptic):
    """Write an id map ``[H, W]`` as a COCO panoptic RGB PNG, atomically."""
    from PIL import Image
    image = Image.fromarray(id2rgb(panoptic))
    _atomic_write(path, lambda f: image.save(f, format="PNG"), ".png")


def write_json(path, data):
    """Write `data` as JSON, atomically."""
    text = json.dumps(data).encode("utf-8")
    _atomic_write(path, lambda f: f.write(text), ".json")


def png_name(file_name):
    """The PNG name of an image file name: its base name with ``.png``."""
    base = os.path.basename(str(file_name).replace("\\", "/"))
    return os.path.splitext(base)[0] + ".png"


class PanopticWriter(object):
    """Writes COCO panoptic files: one PNG per image as it is added, the
    JSON file when closed. Every file is written to a temporary name and
    renamed, so none is ever half-written; the JSON appears only when all
    images were added (leaving a ``with`` block by an exception writes no
    JSON).

        with PanopticWriter("pred.json", dataset=dataset) as writer:
            for image_id in dataset.image_ids:
                r = model.detect([dataset.load_image(image_id)])[0]
                writer.add_detections(image_id, r, semantic, dataset.stuff_class_ids)
        panoptic.pq_compute("gt.json", "pred.json")

    json_path: the JSON file; png_dir: the PNG folder (default: the JSON's
        path without ``.json``, panopticapi's default), created if needed.
    dataset: maps the internal class ids of segments to the source's
        category ids (``get_source_class_id``) and image ids to the
        source's ids and file names; without it, ids are written as given.
    source: the source of the dataset's classes (default "coco").
    categories: the JSON's ``categories`` list (default: the dataset's
        classes of `source`, with ``isthing`` when they have one).
    images: write an ``images`` list too (id, file_name, height, width).
    """

    def __init__(self, json_path, png_dir=None, dataset=None, source="coco", categories=None,
                 images=True):
        self.json_path = json_path
        self.png_dir = png_dir if png_dir is not None else os.path.splitext(json_path)[0]
        if os.path.abspath(self.png_dir) == os.path.abspath(json_path):
            raise ValueError("PanopticWriter: the PNG folder would be the JSON file itself "
                             "({}); give png_dir or a .json path".format(json_path))
        self.dataset = dataset
        self.source = source
        self.annotations = []
        self.images = [] if images else None
        self._names = set()
        if categories is None and dataset is not None:
            categories = [{"id": c["id"], "name": c["name"],
                           **({"isthing": int(c["isthing"])} if "isthing" in c else {})}
                          for c in dataset.class_info if c["source"] == source]
        self.categories = categories
        parent = os.path.dirname(os.path.abspath(json_path))
        if not os.path.isdir(parent):
            raise FileNotFoundError("PanopticWriter: the folder of {} does not exist".format(
                json_path))
        os.makedirs(self.png_dir, exist_ok=True)
        self.closed = False

    def _category_id(self, class_id):
        if self.dataset is None:
            return int(class_id)
        return int(self.dataset.get_source_class_id(int(class_id), self.source))

    def add(self, image_id, panoptic, segments, file_name=None):
        """Write the PNG of one image and keep its annotation.

        image_id: the dataset's internal image id when the writer has a
            dataset (its source id and file name are written), else the id
            to write.
        panoptic: int ``[H, W]`` segment ids; segments: `fuse`'s list (or
            any dicts with ``id``, ``category_id``, optional ``score``).
        file_name: the PNG's name (default: the image's file name with
            ``.png``, or ``<image_id>.png``).
        Returns the annotation dict.
        """
        if self.closed:
            raise ValueError("PanopticWriter: add() after close()")
        panoptic = np.asarray(panoptic)
        if panoptic.ndim != 2:
            raise ValueError("PanopticWriter.add: panoptic must be [H, W], got shape {}".format(
                panoptic.shape))
        written_id, info = image_id, {}
        if self.dataset is not None:
            info = self.dataset.image_info[image_id]
            written_id = info["id"]
        if isinstance(written_id, np.generic):
            written_id = written_id.item()
        if file_name is None:
            source_name = info.get("file_name") or info.get("path")
            file_name = png_name(source_name) if source_name else "{}.png".format(written_id)
        if file_name in self._names:
            raise ValueError("PanopticWriter: two images would write {} (image {!r}); give "
                             "file_name".format(file_name, written_id))
        by_id = {int(s["id"]): s for s in segments}
        labels, counts = np.unique(panoptic, return_counts=True)
        area = dict(zip(labels.tolist(), counts.tolist()))
        unknown = [v for v in area if v != VOID and v not in by_id]
        if unknown:
            raise ValueError("PanopticWriter.add: image {!r}: segment id(s) {} are in the map "
                             "but not in segments".format(written_id, unknown[:10]))
        segments_info = []
        for seg in segments:
            sid = int(seg["id"])
            if sid not in area:
                continue  # a segment left without pixels
            entry = {"id": sid, "category_id": self._category_id(seg["category_id"]),
                     "iscrowd": 0, "area": int(area[sid]), "bbox": segment_bbox(panoptic, sid)}
            if seg.get("score") is not None:
                entry["score"] = float(seg["score"])
            segments_info.append(entry)
        write_panoptic_png(os.path.join(self.png_dir, file_name), panoptic)
        self._names.add(file_name)
        annotation = {"image_id": written_id, "file_name": file_name,
                      "segments_info": segments_info}
        self.annotations.append(annotation)
        if self.images is not None:
            image_name = info.get("file_name") or (
                os.path.basename(info["path"]) if info.get("path") else file_name)
            self.images.append({"id": written_id, "file_name": image_name,
                                "height": int(panoptic.shape[0]),
                                "width": int(panoptic.shape[1])})
        return annotation

    def add_detections(self, image_id, detections, semantic, stuff_class_ids, file_name=None,
                       **fuse_options):
        """Fuse one image's ``detect()`` result (``masks``, ``class_ids``,
        ``scores``) with its semantic map (`fuse`, with `fuse_options`) and
        `add` it. Returns the annotation dict."""
        panoptic, segments = fuse(detections["masks"], detections["class_ids"],
                                  detections["scores"], semantic, stuff_class_ids,
                                  **fuse_options)
        return self.add(image_id, panoptic, segments, file_name=file_name)

    def close(self):
        """Write the JSON file (atomically). Returns its path."""
        if self.closed:
            return self.json_path
        data = {"annotations": self.annotations}
        if self.images is not None:
            data["images"] = self.images
        if self.categories is not None:
            data["categories"] = self.categories
        write_json(self.json_path, data)
        self.closed = True
        return self.json_path

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.closed = True  # no JSON for an interrupted run
        return False


def write_image_results(json_path, results, image_paths, class_names, stuff_class_ids):
    """Write the panoptic detect() results of image files (``mrcnn detect
    --panoptic``) as COCO panoptic predictions: the JSON and one PNG per
    image in the folder beside it (the JSON's path without ``.json``).

    Image ids are the images' positions in `image_paths`, category ids the
    model's class ids, named by `class_names` in ``categories`` (``isthing``
    0 for `stuff_class_ids`). Returns the PNG folder.
    """
    stuff = {int(c) for c in stuff_class_ids}
    categories = [{"id": i, "name": str(class_names[i]), "isthing": int(i not in stuff)}
                  for i in range(1, len(class_names))]
    names = [png_name(p) for p in image_paths]
    if len(set(names)) < len(names):  # same file names in several folders
        names = ["{:03d}_{}".format(i, name) for i, name in enumerate(names)]
    with PanopticWriter(json_path, categories=categories) as writer:
        for i, (path, r) in enumerate(zip(image_paths, results)):
            writer.add(i, r["panoptic"], r["segments"], file_name=names[i])
            writer.images[-1]["file_name"] = os.path.basename(path)
    return writer.png_dir
