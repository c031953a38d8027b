"""Panoptic quality of a model's detect() results on a panoptic dataset:
the ground truth and the predictions written as COCO panoptic files, then
`pq_compute` (used by `mrcnn evaluate --format coco-panoptic` and the
panoptic demo)."""

import os

from mrcnn.panoptic.pq import pq_compute
from mrcnn.panoptic.writer import PanopticWriter


def write_predictions(dataset, image_ids, results, json_path, source=None):
    """Write the "panoptic" / "segments" of detect() results (one per
    image of `image_ids`, in order) as COCO panoptic predictions: the JSON
    and a PNG folder beside it (json path without ``.json``), with the
    dataset's image ids and category ids. Returns the JSON path."""
    if source is None:
        source = dataset.image_info[image_ids[0]]["source"] if len(image_ids) else "coco"
    with PanopticWriter(json_path, dataset=dataset, source=source) as writer:
        for image_id, r in zip(image_ids, results):
            if "panoptic" not in r:
                raise ValueError("the detect() results have no 'panoptic': the model has no "
                                 "semantic branch (config.NUM_STUFF_CLASSES = 0)")
            writer.add(image_id, r["panoptic"], r["segments"])
    return json_path


def panoptic_metrics(dataset, image_ids, results, work_dir, verbose=False):
    """PQ, SQ and RQ (All, Things, Stuff) of detect() `results` on the
    images `image_ids` of a panoptic `dataset` (one with `load_panoptic`,
    e.g. mrcnn.data.panoptic.PanopticDataset). The ground truth goes to
    ``work_dir/panoptic_gt.json`` (+ PNGs) and the predictions to
    ``work_dir/panoptic_pred.json`` (+ PNGs), both written atomically.

    Returns a flat dict: "PQ", "SQ", "RQ" (All), "PQ_things", ...,
    "RQ_stuff", "panoptic_categories" (n of All / Things / Stuff) and
    "PQ_per_class" {class name: {"pq", "sq", "rq"}}.
    """
    from mrcnn.data.panoptic import write_coco_panoptic

    image_ids = list(image_ids)
    os.makedirs(work_dir, exist_ok=True)
    gt_json = os.path.join(work_dir, "panoptic_gt.json")
    pred_json = os.path.join(work_dir, "panoptic_pred.json")
    write_coco_panoptic(dataset, gt_json, image_ids=image_ids)
    write_predictions(dataset, image_ids, results, pred_json)
    pq = pq_compute(gt_json, pred_json, verbose=verbose)
    metrics = {}
    for part, suffix in (("All", ""), ("Things", "_things"), ("Stuff", "_stuff")):
        for key in ("pq", "sq", "rq"):
            metrics[key.upper() + suffix] = float(pq[part][key])
    metrics["panoptic_categories"] = {part: int(pq[part]["n"])
                                      for part in ("All", "Things", "Stuff")}
    source = dataset.image_info[image_ids[0]]["source"] if image_ids else "coco"
    names = {c["id"]: c["name"] for c in dataset.class_info if c["source"] == source}
    metrics["PQ_per_class"] = {str(names.get(c, c)): {k: float(v) for k, v in r.items()}
                               for c, r in sorted(pq["per_class"].items())}
    return metrics
