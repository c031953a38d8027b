"""Run an exported ONNX / TFLite file with its own runtime only (no
TensorFlow, no mrcnn) and compare with reference outputs of the SavedModel.

    python deploy_runtime_check.py onnx|tflite MODEL REFERENCE.npz [contract|batch]

REFERENCE.npz holds image_<i> (uint8 [H, W, 3]) and, unless "contract" is
given, <output>_<i> of the SavedModel (batch 1). Each image runs alone
(batch 1) and is compared with its reference; "batch" (ONNX) also runs the
images that share a size as one batch and compares each row with that
image's batch-1 run. Prints one JSON line per image (per batch row) and
exits 1 on the first mismatch. Tests run it in a fresh interpreter
(tests/test_deploy_runtime.py).

The bars (issue 16): same count, same classes, boxes within 1 px, scores
within 2e-3, pasted masks IoU >= 0.95, row by row; detections whose scores
tie (within 2e-3) may come in another order (match_rows). Outputs of added heads, when the
reference has them: detection_keypoints x, y within 1 px and scores within
2e-3 (rows of the detections); semantic_classes equal on >= 99 % of the
pixels; panoptic_segment_ids equal on >= 99 % of the pixels and the segment
arrays (num_segments, categories, isthing) equal, segment scores within 2e-3.
"""
import json
import sys

import numpy as np

KEYS = ("num_detections", "detection_boxes", "detection_classes", "detection_scores",
        "detection_masks")
SEGMENT_KEYS = ("segment_category_ids", "segment_isthing", "segment_scores")
PANOPTIC_KEYS = ("semantic_classes", "panoptic_segment_ids", "num_segments") + SEGMENT_KEYS


def runner(fmt, path):
    if fmt == "onnx":
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return lambda images: dict(zip(names, sess.run(None, {"images": images})))
    from ai_edge_litert.interpreter import Interpreter
    run = Interpreter(model_path=path).get_signature_runner()
    return lambda images: run(images=images)


def bilinear(mask, h, w):
    """Resize [mh, mw] to [h, w] with half-pixel centres, edges clamped."""
    mh, mw = mask.shape
    ys = np.clip((np.arange(h) + 0.5) * mh / h - 0.5, 0, mh - 1)
    xs = np.clip((np.arange(w) + 0.5) * mw / w - 0.5, 0, mw - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, mh - 1), np.minimum(x0 + 1, mw - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = mask[y0][:, x0] * (1 - fx) + mask[y0][:, x1] * fx
    bottom = mask[y1][:, x0] * (1 - fx) + mask[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def paste(box, mask, shape):
    out = np.zeros(shape, bool)
    y1, x1, y2, x2 = np.round(box).astype(int)
    if y2 > y1 and x2 > x1:
        out[y1:y2, x1:x2] = bilinear(mask, y2 - y1, x2 - x1) >= 0.5
    return out


def check_contract(got, image):
    """Names, dtypes and shapes of one image's outputs (batch row 0)."""
    missing = [k for k in KEYS if k not in got]
    if missing:
        raise SystemExit("missing outputs {}".format(missing))
    n = int(got["num_detections"][0])
    assert got["detection_boxes"].dtype == np.float32, got["detection_boxes"].dtype
    assert got["detection_classes"].dtype == np.int32, got["detection_classes"].dtype
    assert got["detection_masks"].shape[2:] == (28, 28), got["detection_masks"].shape
    boxes = got["detection_boxes"][0]
    assert np.all(boxes[:n, 2] <= image.shape[0]) and np.all(boxes[:n, 3] <= image.shape[1])
    assert np.all(got["detection_classes"][0][n:] == 0)
    if "detection_keypoints" in got:
        kp = got["detection_keypoints"]
        assert kp.dtype == np.float32 and kp.ndim == 4 and kp.shape[-1] == 3, kp.shape
        assert not kp[0][n:].any()
    if "panoptic_segment_ids" in got:
        for k in ("semantic_classes", "panoptic_segment_ids", "segment_category_ids",
                  "segment_isthing", "num_segments"):
            assert got[k].dtype == np.int32, (k, got[k].dtype)
        assert got["semantic_classes"].shape[1:] == image.shape[:2], got["semantic_classes"].shape
        assert got["panoptic_segment_ids"].shape[1:] == image.shape[:2]
    return n


def match_rows(got, want, m):
    """For each of the m reference detections, the row of `got` that is the
    same detection: row i itself when class, box (1 px) and score (2e-3)
    agree, else another unused row that does and whose score is within 2e-3
    (exact score ties are ordered by each runtime's own TopK / NMS). None
    where there is none."""
    classes, boxes, scores = (got[k][0] for k in ("detection_classes", "detection_boxes",
                                                 "detection_scores"))
    w_classes, w_boxes, w_scores = (want[k][0] for k in ("detection_classes",
                                                        "detection_boxes",
                                                        "detection_scores"))

    def same(i, j):
        return (classes[j] == w_classes[i] and np.abs(boxes[j] - w_boxes[i]).max() <= 1 and
                abs(scores[j] - w_scores[i]) <= 2e-3)

    rows, used = [], set()
    for i in range(m):
        j = i if i < len(classes) and i not in used and same(i, i) else next(
            (j for j in range(min(m, len(classes))) if j not in used and same(i, j)), None)
        rows.append(j)
        if j is not None:
            used.add(j)
    return rows


def compare(got, want, image):
    """One image's outputs (dicts of [1, ...] arrays) against the reference."""
    m = int(want["num_detections"][0])
    n = int(got["num_detections"][0])
    rows = match_rows(got, want, m) if n == m else [None] * m
    found = [i for i in range(m) if rows[i] is not None]
    boxes = got["detection_boxes"][0]
    report = dict(
        n=n, n_ref=m, matched=len(found), reordered_ties=sum(rows[i] != i for i in found),
        same_classes=len(found) == m,
        box_diff=float(max([np.abs(boxes[rows[i]] - want["detection_boxes"][0][i]).max()
                            for i in found], default=0)),
        score_diff=float(max([abs(got["detection_scores"][0][rows[i]] -
                                  want["detection_scores"][0][i]) for i in found], default=0)))
    ious = []
    for i in found:
        j = rows[i]
        a = paste(boxes[j], got["detection_masks"][0][j], image.shape[:2])
        b = paste(want["detection_boxes"][0][i], want["detection_masks"][0][i], image.shape[:2])
        union = np.logical_or(a, b).sum()
        ious.append(1.0 if union == 0 else float(np.logical_and(a, b).sum() / union))
    report["min_mask_iou"] = min(ious, default=1.0)
    ok = (n == m and len(found) == m and report["box_diff"] <= 1 and
          report["score_diff"] <= 2e-3 and report["min_mask_iou"] >= 0.95)
    perm = np.asarray([rows[i] if rows[i] is not None else i for i in range(m)], int)
    if "detection_keypoints" in want:
        a, b = got["detection_keypoints"][0], want["detection_keypoints"][0]
        a = np.concatenate([a[perm], a[m:]])
        report["keypoints"] = int((b[:m, :, 2] > 0).sum())
        report["keypoint_xy_diff"] = float(np.abs(a[:m, :, :2] - b[:m, :, :2]).max(initial=0))
        report["keypoint_score_diff"] = float(np.abs(a[:m, :, 2] - b[:m, :, 2]).max(initial=0))
        ok = (ok and a.shape == b.shape and report["keypoint_xy_diff"] <= 1 and
              report["keypoint_score_diff"] <= 2e-3 and not a[m:].any())
    if "panoptic_segment_ids" in want:
        for k in ("semantic_classes", "panoptic_segment_ids"):
            same = got[k].shape == want[k].shape and float(np.mean(got[k] == want[k]))
            report[k + "_equal"] = same
            ok = ok and same >= 0.99
        s = int(want["num_segments"][0])
        report["segments"] = s
        report["same_segments"] = bool(
            int(got["num_segments"][0]) == s and
            all(np.array_equal(got[k][0][:s], want[k][0][:s]) for k in SEGMENT_KEYS[:2]))
        report["segment_score_diff"] = float(np.abs(got["segment_scores"][0][:s] -
                                                    want["segment_scores"][0][:s]).max(initial=0))
        ok = ok and report["same_segments"] and report["segment_score_diff"] <= 2e-3
    report["ok"] = bool(ok)
    return report


def main():
    fmt, path, ref_path = sys.argv[1:4]
    mode = sys.argv[4] if len(sys.argv) > 4 else "parity"
    ref = np.load(ref_path)
    run = runner(fmt, path)
    images, singles = [], []
    while "image_{}".format(len(images)) in ref:
        i = len(images)
        image = ref["image_{}".format(i)]
        got = run(image[None])
        report = {"image": list(image.shape), "outputs": sorted(got),
                  "n": check_contract(got, image)}
        if mode != "contract":
            want = {k.rsplit("_", 1)[0]: ref[k] for k in ref.files
                    if k.rsplit("_", 1)[1] == str(i) and not k.startswith("image_")}
            report.update(compare(got, want, image))
        print(json.dumps(report))
        if mode != "contract" and not report["ok"]:
            raise SystemExit(1)
        images.append(image)
        singles.append(got)
    if mode == "batch":
        shapes = sorted({im.shape for im in images})
        for shape in shapes:
            rows = [i for i, im in enumerate(images) if im.shape == shape]
            if len(rows) < 2:
                continue
            got = run(np.stack([images[i] for i in rows]))
            for b, i in enumerate(rows):
                row = {k: v[b:b + 1] for k, v in got.items()}
                report = {"batch": len(rows), "row": b, "image": i}
                report.update(compare(row, singles[i], images[i]))
                print(json.dumps(report))
                if not report["ok"]:
                    raise SystemExit(1)
    assert "tensorflow" not in sys.modules and "mrcnn" not in sys.modules, \
        [m for m in sys.modules if m.startswith(("tensorflow", "mrcnn"))]
    print(json.dumps({"images": len(images), "tensorflow_imported": False}))


if __name__ == "__main__":
    main()
