"""mrcnn.data.coco: COCO-format files as exported by annotation tools.

The reference masks come from pycocotools' own COCO.annToMask on the file,
so "what the annotation file says" is what pycocotools says it says.
"""
import json
import os
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from mrcnn import utils
from mrcnn.data.coco import (AnnotationError, build_coco_results,
                             evaluate_coco, load_coco_json)

CATEGORIES = [{"id": 3, "name": "cat", "supercategory": "animal"},
              {"id": 7, "name": "dog", "supercategory": "animal"},
              {"id": 12, "name": "bird", "supercategory": "animal"}]


def _rle_of(mask):
    from pycocotools import mask as mask_util
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _uncompressed_rle(mask):
    """Column-major run lengths starting with a run of zeros."""
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def _tight_bbox(mask):
    ys, xs = np.where(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1)]


def make_coco_export(root, crowd=True, image_dir_name="images"):
    """Write a small COCO export like CVAT's: root/annotations/instances.json
    and root/images/*.{jpg,png}. Returns (json path, image dir, data)."""
    from pycocotools import mask as mask_util

    image_dir = os.path.join(root, image_dir_name)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    images = [
        {"id": 101, "file_name": "a.png", "width": 128, "height": 96,
         "coco_url": "http://example.org/a.png"},
        {"id": 102, "file_name": "b.jpg", "width": 80, "height": 64},
        {"id": 103, "file_name": "c.png", "width": 64, "height": 64},  # no annotations
    ]
    anns = []

    def add(image_id, cat, segm, iscrowd=0, mask_shape=None):
        ann = {"id": len(anns) + 1, "image_id": image_id, "category_id": cat,
               "segmentation": segm, "iscrowd": iscrowd}
        h, w = mask_shape
        if isinstance(segm, list):
            rle = mask_util.merge(mask_util.frPyObjects(segm, h, w))
        elif isinstance(segm["counts"], list):
            rle = mask_util.frPyObjects(segm, h, w)
        else:
            rle = dict(segm, counts=segm["counts"].encode())
        m = mask_util.decode(rle).astype(bool)
        ann["bbox"] = _tight_bbox(m)
        ann["area"] = int(m.sum())
        anns.append(ann)
        return m

    masks = {101: [], 102: []}
    # Image a: a single polygon (float coordinates), a two-part polygon, and a
    # crowd region as compressed RLE.
    masks[101].append(add(101, 3, [[10.5, 8.2, 50.3, 12.0, 44.7, 60.9, 12.1, 40.4]],
                          mask_shape=(96, 128)))
    masks[101].append(add(101, 7, [[70, 10, 90, 10, 90, 30, 70, 30],
                                   [95, 40, 120, 42, 110, 70]], mask_shape=(96, 128)))
    crowd_mask = np.zeros((96, 128), bool)
    crowd_mask[60:90, 60:120] = True
    crowd_mask[70:80, 80:100] = False
    masks[101].append(add(101, 7, _rle_of(crowd_mask), iscrowd=int(crowd),
                          mask_shape=(96, 128)))
    # Image b: an uncompressed RLE and a polygon reaching outside the image.
    blob = np.zeros((64, 80), bool)
    yy, xx = np.mgrid[:64, :80]
    blob[(yy - 30) ** 2 + (xx - 25) ** 2 < 15 ** 2] = True
    masks[102].append(add(102, 12, _uncompressed_rle(blob), mask_shape=(64, 80)))
    masks[102].append(add(102, 3, [[50, -10, 95, 20, 60, 50]], mask_shape=(64, 80)))

    rng = np.random.RandomState(0)
    for image in images:
        h, w = image["height"], image["width"]
        pixels = rng.randint(0, 60, (h, w, 3)).astype(np.uint8)
        for k, m in enumerate(masks.get(image["id"], [])):
            pixels[m] = (200 - 40 * k, 60 + 50 * k, 90)
        Image.fromarray(pixels).save(os.path.join(image_dir, image["file_name"]),
                                     quality=95)
    data = {"info": {"description": "test export"}, "licenses": [],
            "images": images, "annotations": anns, "categories": CATEGORIES}
    json_path = os.path.join(root, "annotations", "instances.json")
    with open(json_path, "w") as f:
        json.dump(data, f, indent=1)
    return json_path, image_dir, data


@pytest.fixture
def export(tmp_path):
    return make_coco_export(str(tmp_path))


def _load(json_path, image_dir, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_coco_json(json_path, image_dir, **kwargs)


def test_masks_classes_and_boxes_are_the_files(export):
    from pycocotools.coco import COCO

    json_path, image_dir, data = export
    reference = COCO(json_path)
    with pytest.warns(UserWarning, match="1 polygons reaching outside the image clipped"):
        dataset = load_coco_json(json_path, image_dir)
    # Categories 3, 7, 12 -> internal 1, 2, 3, names kept.
    assert dataset.class_names == ["BG", "cat", "dog", "bird"]
    assert [dataset.get_source_class_id(i, "coco") for i in (1, 2, 3)] == [3, 7, 12]
    assert dataset.num_images == 3
    assert [info["id"] for info in dataset.image_info] == [101, 102, 103]
    internal = {3: 1, 7: 2, 12: 3}
    for image_id in dataset.image_ids:
        info = dataset.image_info[image_id]
        masks, class_ids = dataset.load_mask(image_id)
        image = dataset.load_image(image_id)
        assert masks.dtype == bool and class_ids.dtype == np.int32
        assert masks.shape == (info["height"], info["width"], len(class_ids))
        assert image.shape == (info["height"], info["width"], 3)
        anns = reference.loadAnns(reference.getAnnIds(imgIds=[info["id"]]))
        assert len(anns) == masks.shape[-1]
        for k, ann in enumerate(anns):
            expected = reference.annToMask(ann).astype(bool)
            np.testing.assert_array_equal(masks[..., k], expected, err_msg=str(ann["id"]))
            sign = -1 if ann["iscrowd"] else 1
            assert class_ids[k] == sign * internal[ann["category_id"]]
            x, y, w, h = ann["bbox"]
            np.testing.assert_array_equal(utils.extract_bboxes(masks[..., k:k + 1])[0],
                                          [y, x, y + h, x + w])
    # The crowd region is class -2 (dog), the empty image has no instances.
    assert list(dataset.load_mask(0)[1]) == [1, 2, -2]
    masks, class_ids = dataset.load_mask(2)
    assert masks.shape == (64, 64, 0) and class_ids.shape == (0,)
    assert dataset.image_reference(0) == "http://example.org/a.png"
    assert dataset.image_reference(1) == os.path.join(image_dir, "b.jpg")
    assert dataset.load_warnings and "instances.json" in dataset.load_warnings[0]


def test_class_subset_skip_empty_and_default_image_dir(tmp_path):
    # Roboflow layout: images next to the JSON file.
    json_path, _, _ = make_coco_export(str(tmp_path), image_dir_name="annotations")
    dataset = _load(json_path, None, class_ids=[7], skip_empty=True)
    assert dataset.class_names == ["BG", "dog"]
    assert [info["id"] for info in dataset.image_info] == [101]
    assert list(dataset.load_mask(0)[1]) == [1, -1]
    kept = _load(json_path, None, class_ids=[7])
    assert kept.num_images == 3 and kept.load_mask(1)[1].shape == (0,)
    # CVAT layout: annotations/x.json beside images/.
    cvat_json, cvat_images, _ = make_coco_export(str(tmp_path / "cvat"))
    cvat = _load(cvat_json, None)
    assert cvat.image_info[0]["path"] == os.path.join(cvat_images, "a.png")
    with pytest.raises(AnnotationError, match=r"class_ids \[5\]"):
        _load(json_path, None, class_ids=[5])


def _write(tmp_path, text, name="bad.json"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_corrupt_and_truncated_json_name_file_line_and_column(tmp_path, export):
    json_path, image_dir, _ = export
    text = open(json_path).read()
    truncated = _write(tmp_path, text[:len(text) // 2], "truncated.json")
    with pytest.raises(AnnotationError, match=r"truncated\.json: invalid JSON at line \d+ "
                                              r"column \d+"):
        load_coco_json(truncated, image_dir)
    lines = text.splitlines()
    lines[3] = lines[3] + " oops"
    corrupt = _write(tmp_path, "\n".join(lines), "corrupt.json")
    with pytest.raises(AnnotationError, match=r"corrupt\.json: invalid JSON at line 4 column"):
        load_coco_json(corrupt, image_dir)
    with pytest.raises(AnnotationError, match="empty"):
        load_coco_json(_write(tmp_path, "", "empty.json"), image_dir)
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        load_coco_json(str(tmp_path / "nothere.json"), image_dir)
    with pytest.raises(AnnotationError, match="no 'images' list"):
        load_coco_json(_write(tmp_path, '{"annotations": []}'), image_dir)


def test_top_level_errors_name_the_file_and_the_format(tmp_path, export):
    """COCO and COCO panoptic files share one check of their top-level lists
    (annotations.list_field); each message names the file and its format."""
    from mrcnn.panoptic import PanopticError, pq_compute
    _, image_dir, _ = export
    cases = [("[1, 2]", r"list\.json: the top level is a list; a COCO-format file is an object "
                        r"with 'images', 'annotations' and 'categories'"),
             ('{"images": [], "info": {}}', r"list\.json: no 'categories' list; is it a "
                                            r"COCO-format file\? \(top-level keys: images, info\)"),
             ('{"images": {}, "categories": []}', r"list\.json: 'images' is a dict, expected a "
                                                  r"list")]
    for text, message in cases:
        with pytest.raises(AnnotationError, match=message):
            load_coco_json(_write(tmp_path, text, "list.json"), image_dir)
    gt = _write(tmp_path, '"gt"', "gt.json")
    (tmp_path / "gt").mkdir()
    with pytest.raises(PanopticError, match=r"gt\.json: the top level is a str; a COCO panoptic "
                                            r"file is an object with 'annotations' \(and "
                                            r"'categories'\)"):
        pq_compute(gt, gt)


def test_annotation_errors_name_the_annotation(tmp_path, export):
    json_path, image_dir, data = export

    def broken(edit):
        d = json.loads(json.dumps(data))
        edit(d)
        return _write(tmp_path, json.dumps(d))

    path = broken(lambda d: d["annotations"][2].update(category_id=42))
    with pytest.raises(AnnotationError, match=r"annotation 3 has category_id 42 which is not "
                                              r"in 'categories' \(known ids: \[3, 7, 12\]\)"):
        load_coco_json(path, image_dir)
    path = broken(lambda d: d["annotations"][0].update(image_id=5))
    with pytest.raises(AnnotationError, match="annotation 1 has image_id 5"):
        load_coco_json(path, image_dir)
    path = broken(lambda d: d["annotations"][0]["segmentation"][0].pop())
    with pytest.raises(AnnotationError, match="annotation 1 has a polygon of 7 coordinates"):
        load_coco_json(path, image_dir)
    path = broken(lambda d: d["annotations"][3]["segmentation"]["counts"].append(1))
    with pytest.raises(AnnotationError, match="annotation 4 has uncompressed RLE counts"):
        load_coco_json(path, image_dir)
    path = broken(lambda d: d["annotations"][2]["segmentation"].update(size=[90, 128]))
    with pytest.raises(AnnotationError, match=r"annotation 3 of image 101 \(.*a\.png\): RLE "
                                              r"mask size 90x128 differs from the image's "
                                              r"96x128"):
        load_coco_json(path, image_dir)
    for garbage in ("garbage!!", ""):
        path = broken(lambda d: d["annotations"][2]["segmentation"].update(counts=garbage))
        with pytest.raises(AnnotationError, match="annotation 3 has a compressed RLE that "
                                                  "cannot be decoded"):
            load_coco_json(path, image_dir)
    path = broken(lambda d: d["images"][1].pop("file_name"))
    with pytest.raises(AnnotationError, match=r"images\[1\] has no 'file_name'"):
        load_coco_json(path, image_dir)


def test_missing_images_and_wrong_sizes_name_the_file(tmp_path, export):
    json_path, image_dir, data = export
    os.remove(os.path.join(image_dir, "b.jpg"))
    with pytest.raises(FileNotFoundError, match=r"1 image file\(s\) not found: .*b\.jpg"):
        _load(json_path, image_dir)
    dataset = _load(json_path, image_dir, check_images=False)
    with pytest.raises(FileNotFoundError, match=r"image 1: file not found: .*b\.jpg"):
        dataset.load_image(1)
    # A file of another size than the JSON says.
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(os.path.join(image_dir, "c.png"))
    with pytest.raises(AnnotationError, match=r"image 2 \(.*c\.png\): the file is 50x60 pixels "
                                              r"but the annotations say 64x64"):
        dataset.load_image(2)


def test_sizes_read_from_files_when_the_json_has_none(tmp_path, export):
    json_path, image_dir, data = export
    for image in data["images"]:
        del image["width"], image["height"]
    del data["annotations"][2:4]  # RLEs carry sizes; keep polygons only
    path = _write(tmp_path, json.dumps(data))
    dataset = _load(path, image_dir)
    assert (dataset.image_info[0]["height"], dataset.image_info[0]["width"]) == (96, 128)
    assert dataset.load_mask(0)[0].shape == (96, 128, 2)



def _tiny_config(classes=3):
    from mrcnn.config import Config

    class Tiny(Config):
        NAME = "cocotiny"
        NUM_CLASSES = 1 + classes
        BACKBONE = "resnet18"
        IMAGES_PER_GPU = 2
        IMAGE_MIN_DIM = 64
        IMAGE_MAX_DIM = 128
        RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
        TOP_DOWN_PYRAMID_SIZE = 32
        FPN_CLASSIF_FC_LAYERS_SIZE = 64
        TRAIN_BN = None
        PRE_NMS_LIMIT = 300
        POST_NMS_ROIS_TRAINING = 32
        POST_NMS_ROIS_INFERENCE = 16
        TRAIN_ROIS_PER_IMAGE = 16
        RPN_TRAIN_ANCHORS_PER_IMAGE = 32
        MAX_GT_INSTANCES = 4
        MINI_MASK_SHAPE = (28, 28)
        STEPS_PER_EPOCH = 1
        VALIDATION_STEPS = 1
        OPTIMIZER = "Adam"

    return Tiny()


def test_feeds_the_training_pipeline(export):
    from mrcnn.data.pipeline import load_image_gt, make_tf_dataset

    json_path, image_dir, _ = export
    dataset = _load(json_path, image_dir)
    config = _tiny_config()
    image, meta, class_ids, boxes, masks = load_image_gt(dataset, config, 0,
                                                         use_mini_mask=True)
    assert image.shape == (128, 128, 3)
    assert list(class_ids) == [1, 2, -2]  # the crowd region stays negative
    assert masks.shape == (28, 28, 3) and boxes.shape == (3, 4)
    # The 128x96 image is scaled by 1 and padded by 16 rows on top.
    gt, _ = dataset.load_mask(0)
    np.testing.assert_array_equal(boxes, utils.extract_bboxes(gt) + [16, 0, 16, 0])
    batch = next(iter(make_tf_dataset(dataset, config, shuffle=False)))
    assert len(batch) == 7 and batch[4].shape == (2, 4)
    ids = batch[4].numpy()
    assert sorted(ids[ids != 0].tolist()) == [-2, 1, 1, 2, 3]  # images a and b; c is skipped


def test_one_training_step(export, tmp_path):
    import keras

    from mrcnn.model import MaskRCNN

    json_path, image_dir, _ = export
    dataset = _load(json_path, image_dir)
    keras.utils.set_random_seed(0)
    model = MaskRCNN("training", _tiny_config(), str(tmp_path / "logs"))
    history = model.train(dataset, None, learning_rate=0.001, epochs=1, layers="heads",
                          verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert os.path.basename(model.find_last()) == "mask_rcnn_cocotiny_0001.h5"


class OracleModel:
    """Returns a dataset's non-crowd ground truth as detections."""

    class config:
        BATCH_SIZE = 2

    def __init__(self, dataset):
        self.dataset = dataset
        self.queue = list(dataset.image_ids)

    def detect(self, images, verbose=0):
        out = []
        for _ in images:
            masks, class_ids = self.dataset.load_mask(self.queue.pop(0))
            keep = class_ids > 0
            masks, class_ids = masks[..., keep], class_ids[keep]
            out.append({"rois": utils.extract_bboxes(masks), "class_ids": class_ids,
                        "scores": np.linspace(1, 0.5, len(class_ids)), "masks": masks})
        return out


def test_ground_truth_as_predictions_scores_ap_1(tmp_path):
    from mrcnn import evaluate

    json_path, image_dir, _ = make_coco_export(str(tmp_path), crowd=False)
    dataset = _load(json_path, image_dir)
    metrics, results = evaluate.evaluate_dataset(OracleModel(dataset), dataset, verbose=0)
    assert metrics["segm_AP"] == 1.0 and metrics["bbox_AP"] == 1.0
    # The per-image mAP50 leaves out images without ground truth.
    assert metrics["mAP50"] == 1.0
    # Crowd regions are not objects to find.
    json_path, image_dir, _ = make_coco_export(str(tmp_path / "crowd"), crowd=True)
    crowded = _load(json_path, image_dir)
    assert any((crowded.load_mask(i)[1] < 0).any() for i in crowded.image_ids)
    metrics, _ = evaluate.evaluate_dataset(OracleModel(crowded), crowded, verbose=0)
    assert metrics["mAP50"] == 1.0 and metrics["segm_AP"] == 1.0
    # And against the original file, with its own image and category ids.
    for eval_type in ("segm", "bbox"):
        stats = evaluate_coco(OracleModel(dataset), dataset, dataset.coco, eval_type,
                              verbose=0)
        assert stats["AP"] == pytest.approx(1.0), eval_type


def test_crowd_regions_are_ignored_by_coco_evaluation(export):
    json_path, image_dir, _ = export
    dataset = _load(json_path, image_dir)
    stats = evaluate_coco(OracleModel(dataset), dataset, dataset.coco, "segm", verbose=0)
    assert stats["AP"] == pytest.approx(1.0)
    stats = evaluate_coco(OracleModel(dataset), dataset, dataset.coco, "segm", limit=1,
                          verbose=0)
    assert stats["AP"] == pytest.approx(1.0)


def test_build_coco_results_uses_file_ids(export):
    json_path, image_dir, _ = export
    dataset = _load(json_path, image_dir)
    masks, class_ids = dataset.load_mask(0)
    rois = utils.extract_bboxes(masks)
    results = build_coco_results(dataset, [101], rois, np.abs(class_ids),
                                 np.array([0.9, 0.8, 0.7]), masks.astype(np.uint8))
    assert [r["category_id"] for r in results] == [3, 7, 7]
    assert {r["image_id"] for r in results} == {101}
    y1, x1, y2, x2 = rois[0]
    assert results[0]["bbox"] == [x1, y1, x2 - x1, y2 - y1]
    json.dumps(results)  # JSON-ready


############################################################
#  Files from real tools (issue #15)
############################################################

def make_cvat_mask_export(root, subset="default", crowd=True):
    """A COCO file as CVAT's "COCO 1.0" export writes mask (brush)
    annotations: every one iscrowd 1 with an uncompressed RLE, in datumaro's
    layout annotations/instances_<subset>.json + images/<subset>/.
    Returns (json path, image dir, {image file: [masks]})."""
    image_dir = os.path.join(root, "images", subset)
    os.makedirs(image_dir)
    os.makedirs(os.path.join(root, "annotations"))
    yy, xx = np.mgrid[:96, :128]
    masks = {"frame_000000.png": [(yy - 40) ** 2 + (xx - 50) ** 2 < 20 ** 2,
                                  (abs(yy - 60) < 12) & (abs(xx - 100) < 18)],
             "frame_000001.png": [(abs(yy - 30) < 25) & (abs(xx - 64) < 40)]}
    images, anns = [], []
    for i, (name, image_masks) in enumerate(sorted(masks.items())):
        pixels = np.full((96, 128, 3), 30, np.uint8)
        for k, m in enumerate(image_masks):
            pixels[m] = (220, 80 + 60 * k, 40)
        Image.fromarray(pixels).save(os.path.join(image_dir, name))
        images.append({"id": i + 1, "file_name": name, "width": 128, "height": 96,
                       "license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0})
        for m in image_masks:
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1,
                         "segmentation": _uncompressed_rle(m), "area": float(m.sum()),
                         "bbox": [float(v) for v in _tight_bbox(m)], "iscrowd": int(crowd),
                         "attributes": {"occluded": False}})
    data = {"licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {"contributor": "", "date_created": "", "description": "", "url": "",
                     "version": "", "year": ""},
            "categories": [{"id": 1, "name": "blob", "supercategory": ""}],
            "images": images, "annotations": anns}
    json_path = os.path.join(root, "annotations", "instances_{}.json".format(subset))
    with open(json_path, "w") as f:
        json.dump(data, f)
    return json_path, image_dir, masks


def test_cvat_crowd_masks_warn_and_load_as_instances_on_request(tmp_path):
    """CVAT writes brush masks as crowd RLE: by default they stay crowd (with
    a warning naming the option); crowd_as_instances=True trains on them."""
    json_path, image_dir, masks = make_cvat_mask_export(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crowd = load_coco_json(json_path)  # images/default/ found by itself
    text = "\n".join(str(w.message) for w in caught)
    assert "instances_default.json: all 3 annotations are crowd regions" in text
    assert "crowd_as_instances=True" in text and "--crowd-as-instances" in text
    assert crowd.load_warnings[-1] in text
    assert list(crowd.load_mask(0)[1]) == [-1, -1]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_coco_json(json_path, crowd_as_instances=True)
    assert not [w for w in caught if "crowd" in str(w.message)]
    for image_id, name in enumerate(sorted(masks)):
        got, class_ids = dataset.load_mask(image_id)
        assert list(class_ids) == [1] * len(masks[name])
        np.testing.assert_array_equal(got, np.stack(masks[name], axis=2))
    # The COCO object used for scoring agrees: the regions are objects now.
    assert {a["iscrowd"] for a in dataset.coco.dataset["annotations"]} == {0}
    assert all(a["iscrowd"] == 1 for a in crowd.coco.dataset["annotations"])


def test_training_input_of_an_all_crowd_file_is_an_error_not_a_hang(tmp_path):
    from mrcnn.data.pipeline import make_tf_dataset

    json_path, _, _ = make_cvat_mask_export(str(tmp_path))
    dataset = _load(json_path, None)
    start = time.time()  # (the check needs no TensorFlow import)
    with pytest.raises(ValueError, match=r"no instance to train on in its 2 images: all 3 of "
                                         r"its instances \(in 2 images\) are crowd.*"
                                         r"crowd_as_instances=True"):
        make_tf_dataset(dataset, _tiny_config(1))
    assert time.time() - start < 10
    batch = next(iter(make_tf_dataset(_load(json_path, None, crowd_as_instances=True),
                                      _tiny_config(1), shuffle=False)))
    assert sorted(batch[4].numpy().ravel().tolist()) == [0] * 5 + [1] * 3


def test_datumaro_and_ms_coco_subset_image_folders(tmp_path):
    """annotations/<task>_<subset>.json finds images/<subset>/ (datumaro,
    CVAT, MS COCO), and images/ itself when the files are there."""
    json_path, image_dir, _ = make_cvat_mask_export(str(tmp_path / "cvat"))
    assert _load(json_path, None).image_info[0]["path"] == os.path.join(
        image_dir, "frame_000000.png")
    json_path, image_dir, _ = make_cvat_mask_export(str(tmp_path / "coco"), subset="val2017")
    assert os.path.dirname(_load(json_path, None).image_info[1]["path"]) == image_dir
    # Flat images/ beside a subset folder that does not hold the files.
    flat = tmp_path / "flat"
    json_path, image_dir, _ = make_cvat_mask_export(str(flat), subset="train")
    for name in os.listdir(image_dir):
        os.rename(os.path.join(image_dir, name), str(flat / "images" / name))
    assert os.path.dirname(_load(json_path, None).image_info[0]["path"]) == str(
        flat / "images")


def test_strings_bombs_and_sizes_are_named_errors(tmp_path):
    import struct
    import zlib

    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(str(tmp_path / "images" / "a.png"))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    # A PNG whose header claims 60000 x 60000 pixels (a decompression bomb).
    with open(str(tmp_path / "images" / "bomb.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000,
                                                                  8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))

    def write(images, annotations):
        data = {"images": images, "categories": [{"id": 1, "name": "x"}],
                "annotations": annotations}
        return _write(tmp_path, json.dumps(data), "f.json")

    a = {"id": 1, "file_name": "a.png", "width": 64, "height": 48}
    image_dir = str(tmp_path / "images")
    path = write([a], [{"id": 7, "image_id": 1, "category_id": 1,
                        "segmentation": [[10, 5, "30", 5, 30, 25, 10, 25]]}])
    with pytest.raises(AnnotationError, match=r"f\.json: annotation 7 has a polygon that is "
                                              r"not a list of numbers"):
        load_coco_json(path, image_dir)
    path = write([{"id": 1, "file_name": "bomb.png"}], [])
    with pytest.raises(AnnotationError, match=r"bomb\.png: the image header claims 60000 x "
                                              r"60000 pixels.*PIL\.Image\.MAX_IMAGE_PIXELS"):
        load_coco_json(path, image_dir)
    path = write([dict(a, width=100000, height=100000)], [])
    with pytest.raises(AnnotationError, match=r"f\.json: image 1 \(.*a\.png\) is 100000 x "
                                              r"100000 pixels.*decompression-bomb limit"):
        load_coco_json(path, image_dir)
    # An RLE claiming a huge size for an image without one in the JSON is
    # compared with the file's size before anything is decoded.
    path = write([{"id": 1, "file_name": "a.png"}],
                 [{"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 1,
                   "segmentation": {"size": [30000, 30000], "counts": "abc"}}])
    with pytest.raises(AnnotationError, match=r"annotation 3 of image 1 .*RLE mask size "
                                              r"30000x30000 differs from the image's 48x64"):
        load_coco_json(path, image_dir)
    # Annotations without an id (optional for this loader) still index.
    path = write([a], [{"image_id": 1, "category_id": 1, "segmentation": [[1, 1, 9, 1, 9, 9]]},
                       {"id": [1], "image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 5]}])
    dataset = _load(path, image_dir)
    assert dataset.load_mask(0)[0].shape == (48, 64, 2)
    assert len({a["id"] for a in dataset.coco.dataset["annotations"]}) == 2
