"""Evaluation of a model over a dataset.

Two families of numbers:
* matterport's mAP: `utils.compute_ap` (mask IoU 0.5, VOC-style) per image,
  averaged over images;
* COCO metrics from pycocotools (AP over IoU 0.50:0.95, AP50, AP75,
  APs/m/l) for masks ("segm") and boxes ("bbox").
"""

import contextlib
import io

import numpy as np

from mrcnn import utils

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
        boxes = utils.extract_bboxes(masks) if masks.shape[-1] else np.zeros((0, 4))
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


def coco_evaluate(coco_gt, detections, iou_type="segm"):
    """Run COCOeval; returns {AP, AP50, AP75, APs, APm, APl} (floats)."""
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return {name: 0.0 for name in COCO_STAT_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(max(v, 0.0)) for name, v in zip(COCO_STAT_NAMES, evaluator.stats[:6])}


def evaluate_dataset(model, dataset, image_ids=None, batch_size=None, verbose=1):
    """Detect on every image and compute matterport's mAP50 and COCO AP.

    Returns (metrics dict, list of detect() results in image_ids order).
    metrics: mAP50 (mean of utils.compute_ap over images), segm_* and bbox_*
    COCO stats, num_images.
    """
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    batch_size = batch_size or model.config.BATCH_SIZE
    results, aps, detections, loaded = [], [], [], {}
    progress = None
    if verbose:
        from tqdm import tqdm
        progress = tqdm(total=len(image_ids), desc="evaluate", unit="img")
    for start in range(0, len(image_ids), batch_size):
        ids = image_ids[start:start + batch_size]
        images = [dataset.load_image(i) for i in ids]
        batch = model.detect(images)
        for image_id, image, r in zip(ids, images, batch):
            gt_masks, gt_class_ids = dataset.load_mask(image_id)
            loaded[image_id] = (gt_masks, gt_class_ids, image.shape[:2])
            gt_boxes = utils.extract_bboxes(gt_masks)
            ap, _, _, _ = utils.compute_ap(gt_boxes, gt_class_ids, gt_masks, r["rois"],
                                           r["class_ids"], r["scores"], r["masks"])
            aps.append(float(ap))
            detections.extend(coco_results(image_id, r))
            results.append(r)
        if progress is not None:
            progress.update(len(ids))
    if progress is not None:
        progress.close()
    coco_gt = coco_ground_truth(dataset, image_ids, loaded)
    metrics = {"num_images": len(image_ids), "mAP50": float(np.mean(aps)) if aps else 0.0}
    for iou_type in ("segm", "bbox"):
        for name, value in coco_evaluate(coco_gt, detections, iou_type).items():
            metrics["{}_{}".format(iou_type, name)] = value
    return metrics, results
