"""Run an exported ONNX / TFLite file with its own runtime only (no
TensorFlow, no mrcnn) and compare with reference outputs of the SavedModel.

    python deploy_runtime_check.py onnx|tflite MODEL REFERENCE.npz [contract]

REFERENCE.npz holds image_<i> (uint8 [H, W, 3]) and, unless "contract" is
given, <output>_<i> of the SavedModel. Prints one JSON line per image and
exits 1 on the first mismatch. Tests run it in a fresh interpreter
(tests/test_deploy_runtime.py).
"""
import json
import sys

import numpy as np

KEYS = ("num_detections", "detection_boxes", "detection_classes", "detection_scores",
        "detection_masks")


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


def main():
    fmt, path, ref_path = sys.argv[1:4]
    contract = len(sys.argv) > 4 and sys.argv[4] == "contract"
    ref = np.load(ref_path)
    run = runner(fmt, path)
    i = 0
    while "image_{}".format(i) in ref:
        image = ref["image_{}".format(i)]
        got = run(image[None])
        report = {"image": list(image.shape), "outputs": sorted(got)}
        missing = [k for k in KEYS if k not in got]
        if missing:
            raise SystemExit("missing outputs {}".format(missing))
        n = int(got["num_detections"][0])
        assert got["detection_boxes"].dtype == np.float32 and got["detection_classes"].dtype == np.int32
        assert got["detection_masks"].shape[2:] == (28, 28), got["detection_masks"].shape
        boxes = got["detection_boxes"][0]
        assert np.all(boxes[:n, 2] <= image.shape[0]) and np.all(boxes[:n, 3] <= image.shape[1])
        assert np.all(got["detection_classes"][0][n:] == 0)
        report["n"] = n
        if not contract:
            want = {k: ref["{}_{}".format(k, i)] for k in KEYS}
            m = int(want["num_detections"][0])
            report.update(
                n_ref=m,
                same_classes=bool(np.array_equal(got["detection_classes"][0][:m],
                                                 want["detection_classes"][0][:m])),
                box_diff=float(np.abs(boxes[:m] - want["detection_boxes"][0][:m]).max(initial=0)),
                score_diff=float(np.abs(got["detection_scores"][0][:m] -
                                        want["detection_scores"][0][:m]).max(initial=0)))
            ious = []
            for j in range(m):
                a = paste(boxes[j], got["detection_masks"][0][j], image.shape[:2])
                b = paste(want["detection_boxes"][0][j], want["detection_masks"][0][j],
                          image.shape[:2])
                union = np.logical_or(a, b).sum()
                ious.append(1.0 if union == 0 else float(np.logical_and(a, b).sum() / union))
            report["min_mask_iou"] = min(ious, default=1.0)
            ok = (n == m and report["same_classes"] and report["box_diff"] <= 1 and
                  report["score_diff"] <= 2e-3 and report["min_mask_iou"] >= 0.95)
            report["ok"] = ok
        print(json.dumps(report))
        if not contract and not report["ok"]:
            raise SystemExit(1)
        i += 1
    assert "tensorflow" not in sys.modules and "mrcnn" not in sys.modules, \
        [m for m in sys.modules if m.startswith(("tensorflow", "mrcnn"))]
    print(json.dumps({"images": i, "tensorflow_imported": False}))


if __name__ == "__main__":
    main()
