"""Evaluation of a model over a dataset.

Two families of numbers:
* matterport's mAP: `utils.compute_ap` (mask IoU 0.5, VOC-style) per image,
  averaged over images;
* COCO metrics from pycocotools (AP over IoU 0.50:0.95, AP50, AP75,
  APs/m/l) for masks ("segm") and boxes ("bbox"), overall and per class.

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
from mrcnn.fileio import write_json_atomic

COCO_STAT_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl"]


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


def _run_cocoeval(coco_gt, detections, iou_type, image_ids=None, quiet=True):
    """A COCOeval after evaluate/accumulate/summarize, or None when there
    are no detections. image_ids: restrict it to these ids of coco_gt.
    quiet: hide pycocotools' printout (the summary table)."""
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return None
    output = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    with output:
        coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        if image_ids is not None:
            evaluator.params.imgIds = list(image_ids)
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
        detections.extend(coco_results(image_id, r))
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

    eval_type: "bbox" or "segm".
    limit: evaluate only the first `limit` images (0: all).
    image_ids: internal image ids to evaluate (default: all).
    Prints COCOeval's summary when verbose; returns {"AP", "AP50", "AP75",
    "APs", "APm", "APl"} as floats (-1 as pycocotools gives where there is
    no ground truth of that size; all 0.0 without detections).
    """
    import time

    from mrcnn.data.coco import build_coco_results

    if eval_type not in ("bbox", "segm"):
        raise ValueError("evaluate_coco: eval_type must be 'bbox' or 'segm', got {!r}".format(
            eval_type))
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    if limit:
        image_ids = image_ids[:limit]
    coco_image_ids = [dataset.image_info[i]["id"] for i in image_ids]
    batch_size = getattr(model.config, "BATCH_SIZE", 1) or 1
    start, timing, results = time.time(), {"predict": 0.0}, []
    for image_id, _, r in _detect_all(model, dataset, image_ids, batch_size, verbose=0,
                                      timing=timing):
        results.extend(build_coco_results(dataset, dataset.image_info[image_id]["id"],
                                          r["rois"], r["class_ids"], r["scores"],
                                          r["masks"].astype(np.uint8)))
    if not results:
        if verbose:
            print("evaluate_coco: no detections on {} images".format(len(image_ids)))
        return {name: 0.0 for name in COCO_STAT_NAMES}
    evaluator = _run_cocoeval(coco, results, eval_type, image_ids=coco_image_ids,
                              quiet=not verbose)
    if verbose:
        print("Prediction time: {:.1f}s. Average {:.2f}s/image".format(
            timing["predict"], timing["predict"] / max(len(image_ids), 1)))
        print("Total time: {:.1f}s".format(time.time() - start))
    return {name: float(v) for name, v in zip(COCO_STAT_NAMES, evaluator.stats[:6])}


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
    for name, row in metrics.get("per_class", {}).items():
        lines.append("{:{w}}  segm AP {}  bbox AP {}  ({} objects)".format(
            name, fmt(row["segm_AP"]), fmt(row["bbox_AP"]), row["num_gt"], w=width))
    return "\n".join(lines)


def _fmt(value):
    return "  -  " if value is None else "{:.3f}".format(value)
