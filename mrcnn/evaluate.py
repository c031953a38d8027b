"""Evaluation of a model over a dataset.

Two families of numbers:
* matterport's mAP: `utils.compute_ap` (mask IoU 0.5, VOC-style) per image,
  averaged over images;
* COCO metrics from pycocotools (AP over IoU 0.50:0.95, AP50, AP75,
  APs/m/l) for masks ("segm") and boxes ("bbox"), overall and per class;
* with keypoints (config.KEYPOINT_NAMES): pycocotools' keypoint AP (OKS
  with config.KEYPOINT_OKS_SIGMAS, iouType "keypoints"): AP, AP50, AP75,
  APm, APl.

Entry points:
    evaluate_model(model, dataset, image_ids=None, limit=None,
                   results_json=None, verbose=1, batch_size=None) -> dict
        the metrics as a flat, JSON-ready dict (see its docstring);
    evaluate_dataset(...) -> (metrics, results): the same, plus the
        detect() result of every image (used by the demo to draw them);
    evaluate_coco(model, dataset, coco, eval_type="bbox", ...) -> dict:
        matterport's COCO evaluation against the annotation file's own ids
        (samples/coco). All three share one detection loop and one COCOeval
        runner.
"""

import contextlib
import io

import numpy as np

from mrcnn.ap import compute_ap
from mrcnn.boxes import extract_bboxes
from mrcnn.data.sample import has_keypoints
from mrcnn.fileio import write_json_atomic

COCO_STAT_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
# pycocotools' keypoint summary (stats[:5]): no small objects (OKS needs area).
KEYPOINT_STAT_NAMES = ["AP", "AP50", "AP75", "APm", "APl"]


def encode_mask(mask):
    """COCO RLE of a bool [H, W] mask, with a str "counts" (JSON-ready)."""
    from pycocotools import mask as mask_util
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _box_xywh(box):
    y1, x1, y2, x2 = [float(v) for v in box]
    return [x1, y1, x2 - x1, y2 - y1]


def coco_ground_truth(dataset, image_ids, loaded=None):
    """A pycocotools COCO object of the ground truth of `image_ids`.

    loaded: optional {image_id: (masks, class_ids, (height, width))} already
        read by the caller; other images are read from the dataset.
    """
    from pycocotools.coco import COCO

    loaded = loaded or {}
    images, annotations = [], []
    for image_id in image_ids:
        if image_id in loaded:
            masks, class_ids, (h, w) = loaded[image_id]
        else:
            masks, class_ids = dataset.load_mask(image_id)
            info = dataset.image_info[image_id]
            h, w = masks.shape[:2] if masks.shape[-1] else (info.get("height"), info.get("width"))
            if h is None:
                h, w = dataset.load_image(image_id).shape[:2]
        images.append({"id": int(image_id), "height": int(h), "width": int(w)})
        boxes = extract_bboxes(masks) if masks.shape[-1] else np.zeros((0, 4))
        for i in range(masks.shape[-1]):
            if not masks[..., i].any():
                continue
            rle = encode_mask(masks[..., i])
            annotations.append({
                "id": len(annotations) + 1, "image_id": int(image_id),
                "category_id": int(abs(class_ids[i])), "segmentation": rle,
                "area": float(masks[..., i].sum()), "bbox": _box_xywh(boxes[i]),
                "iscrowd": int(class_ids[i] < 0)})
    categories = [{"id": int(i), "name": name}
                  for i, name in enumerate(dataset.class_names) if i > 0]
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress
        coco.createIndex()
    return coco


def coco_results(image_id, result):
    """COCO-format detections (dicts with RLE masks) of one detect() result."""
    out = []
    for i in range(len(result["class_ids"])):
        out.append({"image_id": int(image_id), "category_id": int(result["class_ids"][i]),
                    "bbox": _box_xywh(result["rois"][i]), "score": float(result["scores"][i]),
                    "segmentation": encode_mask(result["masks"][..., i])})
    return out


def _run_cocoeval(coco_gt, detections, iou_type, image_ids=None, quiet=True, params=None):
    """A COCOeval after evaluate/accumulate/summarize, or None when there
    are no detections. image_ids: restrict it to these ids of coco_gt.
    quiet: hide pycocotools' printout (the summary table).
    params: {name: value} set on evaluator.params (e.g. kpt_oks_sigmas)."""
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return None
    output = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    with output:
        coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        if image_ids is not None:
            evaluator.params.imgIds = list(image_ids)
        for name, value in (params or {}).items():
            setattr(evaluator.params, name, value)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _stats(evaluator):
    """COCOeval's first six stats by name; None where pycocotools gives -1
    (no ground truth of that kind, e.g. APl without large objects); all 0.0
    when evaluator is None (no detections)."""
    if evaluator is None:
        return {name: 0.0 for name in COCO_STAT_NAMES}
    return {name: (float(v) if v > -1 else None)
            for name, v in zip(COCO_STAT_NAMES, evaluator.stats[:6])}


def per_class_ap(evaluator, category_ids):
    """{category id: (AP, AP50)} from a COCOeval's precision array
    [iou thresholds, recall points, categories, area ranges, max dets], over
    all areas and the largest max-dets. None where the class has no ground
    truth (pycocotools marks those -1); (0.0, 0.0) for every class when
    evaluator is None (no detections)."""
    out = {}
    if evaluator is None:
        return {c: (0.0, 0.0) for c in category_ids}
    precision = evaluator.eval["precision"]
    cat_index = {c: k for k, c in enumerate(evaluator.params.catIds)}
    for c in category_ids:
        k = cat_index.get(c)
        values = precision[:, :, k, 0, -1] if k is not None else np.full((1, 1), -1.0)
        if not (values > -1).any():
            out[c] = None
            continue
        ap = float(np.mean(values[values > -1]))
        first = values[0][values[0] > -1]
        out[c] = (ap, float(np.mean(first)) if first.size else 0.0)
    return out


def coco_evaluate(coco_gt, detections, iou_type="segm"):
    """Run COCOeval; returns {AP, AP50, AP75, APs, APm, APl} (floats; None
    where pycocotools has no such objects)."""
    return _stats(_run_cocoeval(coco_gt, detections, iou_type))


def _detect_all(model, dataset, image_ids, batch_size, verbose, timing=None):
    """detect() over image_ids, `batch_size` at a time; yields (image_id,
    image shape, result). The one detection loop of every evaluation here
    (evaluate_dataset/evaluate_model and evaluate_coco).
    timing: optional dict; timing["predict"] accumulates the seconds spent
    in detect()."""
    import time

    from mrcnn.data.images import to_model_image

    channels = getattr(model.config, "IMAGE_CHANNEL_COUNT", 3)
    progress = None
    if verbose:
        from tqdm import tqdm
        progress = tqdm(total=len(image_ids), desc="evaluate", unit="img")
    try:
        for start in range(0, len(image_ids), batch_size):
            ids = image_ids[start:start + batch_size]
            images = [to_model_image(dataset.load_image(i), channels,
                                     name=_image_name(dataset, i)) for i in ids]
            start = time.time()
            detections = model.detect(images)
            if timing is not None:
                timing["predict"] = timing.get("predict", 0.0) + time.time() - start
            for image_id, image, r in zip(ids, images, detections):
                yield image_id, image.shape, r
            if progress is not None:
                progress.update(len(ids))
    finally:
        if progress is not None:
            progress.close()


def _image_name(dataset, image_id):
    if hasattr(dataset, "image_name"):
        return dataset.image_name(image_id)
    return "image {}".format(image_id)


def evaluate_dataset(model, dataset, image_ids=None, batch_size=None, verbose=1, limit=None,
                     results_json=None):
    """Detect on every image and score the detections.

    Returns (metrics, results): metrics as in `evaluate_model`, results the
    detect() dict of every image, in image_ids order.
    """
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    if limit:
        image_ids = image_ids[:int(limit)]
    batch_size = batch_size or getattr(model.config, "BATCH_SIZE", 1) or 1
    results, aps, detections, loaded = [], [], [], {}
    keypoints = KeypointEvaluation(model.config) if has_keypoints(model.config) else None
    for image_id, shape, r in _detect_all(model, dataset, image_ids, batch_size, verbose):
        gt_masks, gt_class_ids = dataset.load_mask(image_id)
        gt_masks = np.asarray(gt_masks, dtype=bool)
        if gt_masks.shape[-1] == 0:
            gt_masks = np.zeros(tuple(shape[:2]) + (0,), bool)
        gt_class_ids = np.asarray(gt_class_ids, np.int32)
        loaded[image_id] = (gt_masks, gt_class_ids, shape[:2])
        # matterport-style AP50 over the non-crowd objects (crowd regions,
        # negative ids, can never be matched); images without any are left
        # out of the mean (their AP is undefined: recall has no denominator).
        keep = gt_class_ids > 0
        if keep.any():
            gt_boxes = extract_bboxes(gt_masks[..., keep])
            ap, _, _, _ = compute_ap(gt_boxes, gt_class_ids[keep], gt_masks[..., keep],
                                     r["rois"], r["class_ids"], r["scores"], r["masks"])
            aps.append(float(ap))
        image_detections = coco_results(image_id, r)
        if keypoints is not None:
            keypoints.add_image(dataset, image_id, gt_masks, gt_class_ids, r, image_detections)
        detections.extend(image_detections)
        results.append(r)
    coco_gt = coco_ground_truth(dataset, image_ids, loaded)
    metrics = {"num_images": len(image_ids), "num_detections": len(detections),
               "mAP50": float(np.mean(aps)) if aps else 0.0}
    category_ids = [c["id"] for c in coco_gt.dataset["categories"]]
    per_class = {}
    for c in category_ids:
        per_class[c] = {"class_id": int(c), "num_gt": len(coco_gt.getAnnIds(catIds=[c],
                                                                             iscrowd=False))}
    for iou_type in ("segm", "bbox"):
        evaluator = _run_cocoeval(coco_gt, detections, iou_type)
        for name, value in _stats(evaluator).items():
            metrics["{}_{}".format(iou_type, name)] = value
        for c, value in per_class_ap(evaluator, category_ids).items():
            if value is None or per_class[c]["num_gt"] == 0:
                value = (None, None)  # nothing to find: AP undefined
            ap, ap50 = value
            per_class[c]["{}_AP".format(iou_type)] = ap
            per_class[c]["{}_AP50".format(iou_type)] = ap50
    if keypoints is not None:
        keypoints.score(dataset, image_ids, detections, metrics, per_class)
    names = {}
    for c in category_ids:
        name = str(dataset.class_names[c])
        names[c] = name if name not in names.values() else "{} ({})".format(name, c)
    metrics["per_class"] = {names[c]: per_class[c] for c in category_ids}
    metrics["results_json"] = None
    if results_json:
        metrics["results_json"] = write_json_atomic(results_json, detections, indent=None)
    return metrics, results


def evaluate_model(model, dataset, image_ids=None, limit=None, results_json=None, verbose=1,
                   batch_size=None, panoptic_dir=None):
    """Run `model` over `dataset` and return its metrics (a JSON-ready dict).

    model: a MaskRCNN in inference mode (anything with `config.BATCH_SIZE`
        and `detect(list of images) -> list of dicts` works).
    dataset: a prepared Dataset with masks (`load_mask`).
    image_ids: internal image ids to evaluate (default: all), in order.
    limit: evaluate only the first `limit` of them (None/0: all).
    results_json: path to write the detections to, in COCO results format
        ([{"image_id", "category_id", "bbox": [x, y, w, h], "score",
        "segmentation": RLE with str counts}]); image and category ids are
        the dataset's internal ids. Written atomically.
    verbose: 1 shows a tqdm progress bar.
    batch_size: images per detect() call (default config.BATCH_SIZE).

    Returns a dict:
        num_images, num_detections: ints.
        mAP50: matterport's mean over images of utils.compute_ap (masks, IoU
            0.5) on the non-crowd objects; images without such objects are
            left out of the mean (0.0 if no image has any).
        segm_AP, segm_AP50, segm_AP75, segm_APs, segm_APm, segm_APl and the
            same with bbox_: pycocotools' COCO metrics (0.0 without
            detections; None where pycocotools says -1, no objects of that
            kind, e.g. APl when no object is large).
        per_class: {class name: {class_id, num_gt, segm_AP, segm_AP50,
            bbox_AP, bbox_AP50}}, APs from COCOeval's precision array; None
            for a class without ground truth in these images.
        results_json: the path written, or None.
    With a panoptic model (detect() gives "panoptic") on a panoptic dataset
    (one with load_panoptic) also the panoptic quality of
    mrcnn.panoptic.evaluate.panoptic_metrics: PQ, SQ, RQ, PQ_things, ...,
    RQ_stuff, panoptic_categories, PQ_per_class; its COCO panoptic files go
    to `panoptic_dir` (default: a temporary folder, removed).
    With config.KEYPOINT_NAMES (a Keypoint R-CNN) also keypoints_AP,
    keypoints_AP50, keypoints_AP75, keypoints_APm, keypoints_APl
    (pycocotools' OKS AP with config.KEYPOINT_OKS_SIGMAS, over the classes
    of config.keypoint_class_ids()), num_keypoint_gt (instances with a
    labelled keypoint) and per_class keypoints_AP / keypoints_AP50 for those
    classes; the results JSON's detections of those classes carry
    "keypoints" [x1, y1, v1, ...] in COCO's pixel-index convention (v = 2),
    "num_keypoints" and "keypoint_scores". A ValueError names
    KEYPOINT_OKS_SIGMAS when it is unset (non-COCO names).
    """
    metrics, results = evaluate_dataset(model, dataset, image_ids=image_ids,
                                        batch_size=batch_size, verbose=verbose, limit=limit,
                                        results_json=results_json)
    if results and "panoptic" in results[0] and hasattr(dataset, "load_panoptic"):
        metrics.update(_panoptic_metrics(dataset, image_ids, limit, results, panoptic_dir))
    return metrics


def _panoptic_metrics(dataset, image_ids, limit, results, panoptic_dir):
    """evaluate_model's PQ part (the images evaluate_dataset ran on)."""
    import tempfile

    from mrcnn.panoptic.evaluate import panoptic_metrics
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    if limit:
        image_ids = image_ids[:int(limit)]
    if panoptic_dir is not None:
        return panoptic_metrics(dataset, image_ids, results, panoptic_dir)
    with tempfile.TemporaryDirectory(prefix="mrcnn-pq-") as folder:
        return panoptic_metrics(dataset, image_ids, results, folder)


def evaluate_coco(model, dataset, coco, eval_type="bbox", limit=0, image_ids=None, verbose=1):
    """Detect on the dataset's images and score them with pycocotools
    against `coco`, the COCO object of the annotation file (as returned by
    `mrcnn.data.coco.load_coco_json` / `CocoFormatDataset.load_coco_json`),
    with the file's image and category ids (matterport's evaluate_coco).

    eval_type: "bbox", "segm" or "keypoints" (a model with KEYPOINT_NAMES;
        OKS with config.KEYPOINT_OKS_SIGMAS; the results carry the
        keypoints in the order of the file's categories; stats AP, AP50,
        AP75, APm, APl).
    limit: evaluate only the first `limit` images (0: all).
    image_ids: internal image ids to evaluate (default: all).
    Prints COCOeval's summary when verbose; returns {"AP", "AP50", "AP75",
    "APs", "APm", "APl"} as floats (-1 as pycocotools gives where there is
    no ground truth of that size; all 0.0 without detections).
    """
    import time

    from mrcnn.data.coco import build_coco_results

    if eval_type not in ("bbox", "segm", "keypoints"):
        raise ValueError("evaluate_coco: eval_type must be 'bbox', 'segm' or 'keypoints', got "
                         "{!r}".format(eval_type))
    stat_names, params, orders = COCO_STAT_NAMES, None, None
    if eval_type == "keypoints":
        if not has_keypoints(model.config):
            raise ValueError("evaluate_coco: eval_type 'keypoints' needs a model with "
                             "config.KEYPOINT_NAMES")
        orders, sigmas = _file_keypoint_order(coco, model.config)
        stat_names, params = KEYPOINT_STAT_NAMES, {"kpt_oks_sigmas": sigmas}
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    if limit:
        image_ids = image_ids[:limit]
    coco_image_ids = [dataset.image_info[i]["id"] for i in image_ids]
    batch_size = getattr(model.config, "BATCH_SIZE", 1) or 1
    start, timing, results = time.time(), {"predict": 0.0}, []
    for image_id, _, r in _detect_all(model, dataset, image_ids, batch_size, verbose=0,
                                      timing=timing):
        found = build_coco_results(dataset, dataset.image_info[image_id]["id"],
                                   r["rois"], r["class_ids"], r["scores"],
                                   r["masks"].astype(np.uint8))
        if orders is not None:
            found = _coco_file_keypoints(found, r, orders)
        results.extend(found)
    if not results:
        if verbose:
            print("evaluate_coco: no detections on {} images".format(len(image_ids)))
        return {name: 0.0 for name in stat_names}
    evaluator = _run_cocoeval(coco, results, eval_type, image_ids=coco_image_ids,
                              quiet=not verbose, params=params)
    if verbose:
        print("Prediction time: {:.1f}s. Average {:.2f}s/image".format(
            timing["predict"], timing["predict"] / max(len(image_ids), 1)))
        print("Total time: {:.1f}s".format(time.time() - start))
    return {name: float(v) for name, v in zip(stat_names, evaluator.stats[:len(stat_names)])}


def format_metrics(metrics):
    """A few lines of text for a metrics dict of evaluate_model."""
    lines = ["{} images, {} detections, mAP50 (matterport) {:.3f}".format(
        metrics["num_images"], metrics["num_detections"], metrics["mAP50"])]
    for iou_type in ("segm", "bbox"):
        lines.append("{:4}  ".format(iou_type) + "  ".join(
            "{} {}".format(n, _fmt(metrics["{}_{}".format(iou_type, n)]))
            for n in COCO_STAT_NAMES))
    if "PQ" in metrics:
        lines.append("panoptic  " + "   ".join(
            "{} PQ {:.3f} SQ {:.3f} RQ {:.3f}".format(
                part, metrics["PQ" + suffix], metrics["SQ" + suffix], metrics["RQ" + suffix])
            for part, suffix in (("all", ""), ("things", "_things"), ("stuff", "_stuff"))))
    width = max([len(n) for n in metrics.get("per_class", {})] + [5])
    fmt = _fmt
    if "keypoints_AP" in metrics:
        lines.append("kpts  " + "  ".join("{} {}".format(n, _fmt(metrics["keypoints_" + n]))
                                          for n in KEYPOINT_STAT_NAMES))
    for name, row in metrics.get("per_class", {}).items():
        lines.append("{:{w}}  segm AP {}  bbox AP {}  ({} objects)".format(
            name, fmt(row["segm_AP"]), fmt(row["bbox_AP"]), row["num_gt"], w=width))
    return "\n".join(lines)


def _fmt(value):
    return "  -  " if value is None else "{:.3f}".format(value)


############################################################
#  Keypoints: OKS AP (pycocotools' iouType "keypoints")
############################################################

def keypoint_sigmas(config, names=None):
    """The OKS sigmas of config.KEYPOINT_OKS_SIGMAS as a float64 array, in
    the order of `names` (default config.KEYPOINT_NAMES); a ValueError
    naming the field when it is unset or a name is not the config's."""
    config_names = list(config.KEYPOINT_NAMES)
    sigmas = getattr(config, "KEYPOINT_OKS_SIGMAS", None)
    if sigmas is None:
        raise ValueError(
            "config.KEYPOINT_OKS_SIGMAS is not set: keypoint AP (OKS) needs one sigma per "
            "keypoint of KEYPOINT_NAMES ({}); only COCO's 17 person keypoints get COCO's "
            "sigmas by default".format(", ".join(config_names)))
    if len(sigmas) != len(config_names):
        raise ValueError("config.KEYPOINT_OKS_SIGMAS has {} values for the {} keypoints of "
                         "KEYPOINT_NAMES".format(len(sigmas), len(config_names)))
    names = config_names if names is None else list(names)
    missing = [n for n in names if n not in config_names]
    if missing:
        raise ValueError("the annotation file's keypoints {} are not in config.KEYPOINT_NAMES "
                         "({})".format(", ".join(map(repr, missing)), ", ".join(config_names)))
    return np.array([float(sigmas[config_names.index(n)]) for n in names], np.float64)


def coco_keypoint_list(points):
    """[K, 3] (x, y, v or score) in continuous pixels (a pixel's centre is
    at + 0.5) -> COCO's flat [x1, y1, v1, ...] of pixel indices: x - 0.5,
    y - 0.5, and v = 2 for a point whose third value is > 0 (a labelled
    ground-truth point, a detected one); [0, 0, 0] otherwise. Returns
    (list, number of points with v > 0)."""
    out, count = [], 0
    for x, y, v in np.asarray(points, np.float64).reshape(-1, 3):
        if v > 0:
            out.extend([round(float(x) - 0.5, 2), round(float(y) - 0.5, 2), 2])
            count += 1
        else:
            out.extend([0, 0, 0])
    return out, count


def add_keypoint_results(detections, result, keypoint_class_ids, order=None):
    """Add "keypoints" (coco_keypoint_list of the detection's), "num_keypoints"
    and "keypoint_scores" to the COCO result dicts of one image (in
    detect()'s order) whose class (result["class_ids"]) carries keypoints.
    order: indices of the config's keypoints to write, in the order of the
    file's category (default: all, config order)."""
    keypoints = result.get("keypoints")
    if keypoints is None:
        return detections
    allowed = set(int(c) for c in keypoint_class_ids)
    for det, class_id, points in zip(detections, result["class_ids"], keypoints):
        if int(class_id) not in allowed:
            continue
        points = np.asarray(points)[order] if order is not None else np.asarray(points)
        det["keypoints"], det["num_keypoints"] = coco_keypoint_list(points)
        det["keypoint_scores"] = [round(float(v), 6) for v in points[:, 2]]
    return detections


def keypoint_detections(detections):
    """The detections with keypoints, as the results loadRes reads for an
    OKS evaluation (copies without the mask: pycocotools uses only the
    keypoints, the score and, for the area ranges, the box)."""
    return [{k: v for k, v in d.items() if k not in ("segmentation", "area", "id")}
            for d in detections if "keypoints" in d]


class KeypointEvaluation(object):
    """The keypoint part of evaluate_dataset: collects the ground-truth
    keypoints (dataset.load_keypoints through the pipeline's checks and
    name order) and the detections', then scores them with COCOeval."""

    def __init__(self, config):
        self.config = config
        self.sigmas = keypoint_sigmas(config)   # fails before any detection
        self.class_ids = config.keypoint_class_ids()
        self.images, self.annotations = [], []

    def add_image(self, dataset, image_id, gt_masks, gt_class_ids, result, detections):
        """One image: its ground truth (masks, class ids with crowd < 0) and
        its detect() result; adds the keypoints to `detections`."""
        from mrcnn.data.sample import load_keypoints

        points = load_keypoints(dataset, self.config, image_id, gt_masks.shape[-1])
        h, w = gt_masks.shape[:2]
        self.images.append({"id": int(image_id), "height": int(h), "width": int(w)})
        boxes = extract_bboxes(gt_masks) if gt_masks.shape[-1] else np.zeros((0, 4))
        for i in range(gt_masks.shape[-1]):
            class_id = int(abs(gt_class_ids[i]))
            # The instances of coco_ground_truth (non-empty masks), of the
            # classes with keypoints.
            if class_id not in self.class_ids or not gt_masks[..., i].any():
                continue
            flat, count = coco_keypoint_list(points[i])
            self.annotations.append({
                "id": len(self.annotations) + 1, "image_id": int(image_id),
                "category_id": class_id, "keypoints": flat, "num_keypoints": count,
                "area": float(gt_masks[..., i].sum()), "bbox": _box_xywh(boxes[i]),
                "iscrowd": int(gt_class_ids[i] < 0)})
        add_keypoint_results(detections, result, self.class_ids)

    def ground_truth(self, dataset):
        """The pycocotools COCO object of the collected keypoints."""
        from pycocotools.coco import COCO

        names = list(self.config.KEYPOINT_NAMES)
        skeleton = [[names.index(a) + 1, names.index(b) + 1]
                    for a, b in getattr(self.config, "KEYPOINT_SKELETON", ())]
        categories = [{"id": int(c), "name": str(dataset.class_names[c]), "keypoints": names,
                       "skeleton": skeleton} for c in self.class_ids]
        coco = COCO()
        coco.dataset = {"images": self.images, "annotations": self.annotations,
                        "categories": categories}
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        return coco

    def score(self, dataset, image_ids, detections, metrics, per_class):
        """Add keypoints_AP... to `metrics` and keypoints_AP/AP50 to the
        rows of `per_class` ({class id: row}) of the keypoint classes."""
        coco_gt = self.ground_truth(dataset)
        evaluator = _run_cocoeval(coco_gt, keypoint_detections(detections), "keypoints",
                                  params={"kpt_oks_sigmas": self.sigmas})
        stats = ({n: 0.0 for n in KEYPOINT_STAT_NAMES} if evaluator is None else
                 {n: (float(v) if v > -1 else None)
                  for n, v in zip(KEYPOINT_STAT_NAMES, evaluator.stats[:5])})
        for name, value in stats.items():
            metrics["keypoints_" + name] = value
        metrics["num_keypoint_gt"] = sum(1 for a in self.annotations
                                         if a["num_keypoints"] > 0 and not a["iscrowd"])
        for c, value in per_class_ap(evaluator, self.class_ids).items():
            row = per_class.get(c)
            if row is None:
                continue
            if value is None or row["num_gt"] == 0:
                value = (None, None)
            row["keypoints_AP"], row["keypoints_AP50"] = value


def _coco_file_keypoints(found, result, orders):
    """evaluate_coco: the detections (build_coco_results' dicts of one
    image, detect()'s order) of the file's keypoint categories, with their
    keypoints in the category's order."""
    out = []
    for i, det in enumerate(found):
        order = orders.get(det["category_id"])
        if order is None or result.get("keypoints") is None:
            continue
        one = {"class_ids": [1], "keypoints": result["keypoints"][i:i + 1]}
        out.extend(add_keypoint_results([det], one, [1], order=order))
    return out


def _file_keypoint_order(coco, config):
    """evaluate_coco with keypoints: {file category id: indices of the
    config's keypoints in the category's order} and the sigmas in that
    order (one list: COCOeval has one sigma array)."""
    orders, sigmas = {}, None
    for cat_id, cat in coco.cats.items():
        names = cat.get("keypoints")
        if not names:
            continue
        these = keypoint_sigmas(config, names)
        if sigmas is not None and (len(these) != len(sigmas) or np.any(these != sigmas)):
            raise ValueError("evaluate_coco: the file's categories have different keypoint "
                             "lists; pycocotools scores one list at a time (pass their "
                             "images separately)")
        sigmas = these
        orders[cat_id] = [list(config.KEYPOINT_NAMES).index(n) for n in names]
    if not orders:
        raise ValueError("evaluate_coco: eval_type 'keypoints' but the annotation file's "
                         "categories have no 'keypoints'")
    return orders, sigmas
