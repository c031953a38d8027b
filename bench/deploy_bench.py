"""ONNX / TFLite deployment bench: export time and file size per format,
per-image latency of SavedModel, ONNX Runtime, TFLite (and OpenVINO on the
ONNX file when `openvino` is installed), alternating in one run, peak RSS
of each runtime in its own process, and accuracy (mAP50, mask AP) of the
float32 / float16 / int8 files on the demo's evaluation set.

    python bench/deploy_bench.py --model demo:/tmp/demo/model --out bench/results/deploy.jsonl
    python bench/deploy_bench.py --model r50 --rounds 5
    python bench/deploy_bench.py --accuracy /tmp/demo/model     # quantisation cost
    python bench/deploy_bench.py --rss onnx FILE                # one runtime, prints peak RSS

--model r50: matterport's COCO config (81 classes, 1024 x 1024 square,
ResNet-50, random weights seeded 1234, DETECTION_MIN_CONFIDENCE 0), as the
detect-r50 bench. Threads: 2 for every runtime (TF intra/inter 2, ORT
intra_op 2, TFLite num_threads 2).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
THREADS = 2


def _image(size):
    return np.random.RandomState(1234).randint(0, 256, (size, size, 3)).astype(np.uint8)


def runtime(fmt, path):
    """A function uint8 [1, H, W, 3] -> outputs dict, for one runtime."""
    if fmt == "onnx":
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = THREADS
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return lambda x: dict(zip(names, sess.run(None, {"images": x})))
    if fmt in ("tflite", "tflite-float16", "tflite-dynamic-int8"):
        from ai_edge_litert.interpreter import Interpreter
        run = Interpreter(model_path=path, num_threads=THREADS).get_signature_runner()
        return lambda x: run(images=x)
    if fmt == "openvino":
        import openvino as ov
        core = ov.Core()
        compiled = core.compile_model(core.read_model(path), "CPU",
                                      {"INFERENCE_NUM_THREADS": THREADS})
        return lambda x: {o.get_any_name(): v for o, v in compiled(x).items()}
    if fmt == "saved_model":
        import tensorflow as tf
        try:
            tf.config.threading.set_intra_op_parallelism_threads(THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(THREADS)
        except RuntimeError:  # already initialised (the export ran first, same values)
            pass
        fn = tf.saved_model.load(path).signatures["serving_images"]
        return lambda x: {k: v.numpy() for k, v in fn(images=tf.constant(x)).items()}
    raise ValueError(fmt)


def build_model(spec):
    from mrcnn.model import MaskRCNN
    if spec == "r50":
        import keras
        from mrcnn.config import Config

        class R50(Config):
            NAME = "r50"
            NUM_CLASSES = 81
            IMAGE_MIN_DIM = 800
            IMAGE_MAX_DIM = 1024
            DETECTION_MIN_CONFIDENCE = 0
            IMAGES_PER_GPU = 1
        keras.utils.set_random_seed(1234)
        return MaskRCNN("inference", R50(), tempfile.mkdtemp()), 1024
    path = spec.split(":", 1)[1]
    model = MaskRCNN.from_directory(path)
    return model, int(model.config.IMAGE_MAX_DIM)


def _existing(workdir, fmt):
    name = {"saved_model": os.path.join("sm", "1"), "onnx": "m.onnx"}.get(fmt, fmt + ".tflite")
    path = os.path.join(workdir, name)
    return path if os.path.exists(path) else None


def export_all(model, workdir, formats, reuse=False):
    from mrcnn import deploy
    files, record = {}, {}
    for fmt in formats:
        if reuse and _existing(workdir, fmt):
            files[fmt] = _existing(workdir, fmt)
            record[fmt] = "reused from an earlier run of this bench"
            continue
        start = time.time()
        if fmt == "saved_model":
            path = model.export(os.path.join(workdir, "sm"), version=1, force=True, verbose=0)
        elif fmt == "onnx":
            path = deploy.export_onnx(model, os.path.join(workdir, "m.onnx"), force=True)
        else:
            quantize = None if fmt == "tflite" else fmt[len("tflite-"):]
            path = deploy.export_tflite(model, os.path.join(workdir, fmt + ".tflite"),
                                        quantize=quantize, force=True)
        seconds = time.time() - start
        size = (sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path)
                    for f in fs) if os.path.isdir(path) else os.path.getsize(path))
        files[fmt] = path
        record[fmt] = {"export_s": round(seconds, 1), "size_mb": round(size / 1e6, 1)}
        print(json.dumps({"export": fmt, **record[fmt]}), flush=True)
    return files, record


def latency(files, image, rounds, warmup=2, failed=None):
    """Median/min seconds per call, one call of each runtime per round. A
    runtime that cannot load its file is left out (its error in `failed`)."""
    runs = {}
    for fmt, path in files.items():
        try:
            runs[fmt] = runtime("tflite" if fmt.startswith("tflite") else fmt, path)
        except Exception as e:  # e.g. OpenVINO refusing an ONNX node
            if failed is None:
                raise
            failed[fmt] = "{}: {}".format(type(e).__name__, " ".join(str(e).split())[:600])
    x = image[None]
    for _ in range(warmup):
        for run in runs.values():
            run(x)
    times = {fmt: [] for fmt in runs}
    for _ in range(rounds):              # alternating: one call of each per round
        for fmt, run in runs.items():
            start = time.perf_counter()
            run(x)
            times[fmt].append(time.perf_counter() - start)
    return {fmt: {"median_s": round(float(np.median(t)), 4), "min_s": round(min(t), 4)}
            for fmt, t in times.items()}


def peak_rss(fmt, path, image_size):
    out = subprocess.run([sys.executable, __file__, "--rss", fmt, path, str(image_size)],
                         capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    except (IndexError, ValueError, KeyError):
        return "failed: " + out.stderr[-300:]


def _rss_main(fmt, path, size):
    run = runtime("tflite" if fmt.startswith("tflite") else fmt, path)
    for _ in range(3):
        run(_image(int(size))[None])
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the
    # parent across fork + exec, so every child would report the bench's own peak.
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mb": round(hwm / 1024, 1)}))


class ExportedDetector(object):
    """detect()-like adapter of an exported file for mrcnn.evaluate."""

    def __init__(self, fmt, path, config):
        self.run = runtime(fmt, path)
        self.config = config

    def detect(self, images, verbose=0):
        from mrcnn.molding import paste_masks
        results = []
        for image in images:
            out = self.run(np.ascontiguousarray(image[None]))
            n = int(out["num_detections"][0])
            boxes = out["detection_boxes"][0][:n]
            results.append({"rois": np.round(boxes).astype(np.int32),
                            "class_ids": out["detection_classes"][0][:n].astype(np.int32),
                            "scores": out["detection_scores"][0][:n],
                            "masks": paste_masks(boxes, out["detection_masks"][0][:n],
                                                 image.shape)})
        return results


def accuracy(model_dir, workdir):
    from mrcnn import deploy
    from mrcnn.data.shapes import ShapesDataset
    from mrcnn.demo import VAL_SEED
    from mrcnn.evaluate import evaluate_dataset
    from mrcnn.model import MaskRCNN
    model = MaskRCNN.from_directory(model_dir)
    val = ShapesDataset()
    val.load_shapes(50, model.config.IMAGE_SHAPE[0], model.config.IMAGE_SHAPE[1], seed=VAL_SEED)
    val.prepare()
    rows = []
    metrics, _ = evaluate_dataset(model, val, verbose=0)
    rows.append({"format": "detect()", "mAP50": metrics["mAP50"], "segm_AP": metrics["segm_AP"],
                 "bbox_AP": metrics["bbox_AP"]})
    print(json.dumps(rows[-1]), flush=True)
    variants = [("onnx", None), ("onnx", "dynamic-int8"), ("tflite", None),
                ("tflite", "float16"), ("tflite", "dynamic-int8")]
    for fmt, quantize in variants:
        path = os.path.join(workdir, "{}-{}.{}".format(fmt, quantize or "float32", fmt))
        if fmt == "onnx":
            deploy.export_onnx(model, path, quantize=quantize, force=True)
        else:
            deploy.export_tflite(model, path, quantize=quantize, force=True)
        metrics, _ = evaluate_dataset(ExportedDetector(fmt, path, model.config), val,
                                      batch_size=1, verbose=0)
        rows.append({"format": fmt, "quantize": quantize or "float32",
                     "size_mb": round(os.path.getsize(path) / 1e6, 1),
                     "mAP50": metrics["mAP50"], "segm_AP": metrics["segm_AP"],
                     "bbox_AP": metrics["bbox_AP"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="r50", help="r50 or demo:MODEL_DIR")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--formats", default="saved_model,onnx,tflite,tflite-float16,"
                                        "tflite-dynamic-int8,openvino")
    p.add_argument("--accuracy", metavar="MODEL_DIR", help="quantisation cost on the demo set")
    p.add_argument("--rss", nargs=3, metavar=("FORMAT", "FILE", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--out", help="append JSON lines here")
    p.add_argument("--workdir", help="export here (default: a new temporary directory)")
    p.add_argument("--reuse", action="store_true",
                   help="use the files an earlier run left in --workdir")
    args = p.parse_args(argv)
    if args.rss:
        return _rss_main(*args.rss)
    workdir = args.workdir or tempfile.mkdtemp(prefix="mrcnn-deploy-bench-")
    os.makedirs(workdir, exist_ok=True)
    load = os.getloadavg()
    if args.accuracy:
        record = {"bench": "deploy-accuracy", "model": args.accuracy,
                  "rows": accuracy(args.accuracy, workdir)}
    else:
        formats = args.formats.split(",")
        want_ov = "openvino" in formats
        formats = [f for f in formats if f != "openvino"]
        model, size = build_model(args.model)
        files, exports = export_all(model, workdir, formats, reuse=args.reuse)
        if want_ov:
            try:
                import openvino  # noqa: F401
                files["openvino"] = files["onnx"]
            except ImportError:
                exports["openvino"] = "not installed"
        image = _image(size)
        failed = {}
        lat = latency(files, image, args.rounds, failed=failed)
        rss = {fmt: peak_rss(fmt, path, size) for fmt, path in files.items() if fmt in lat}
        base = lat["saved_model"]["median_s"]
        record = {"bench": "deploy", "model": args.model, "image": [size, size, 3],
                  "rounds": args.rounds, "threads": THREADS, "exports": exports,
                  "latency": lat, "ratio_to_saved_model": {
                      f: round(v["median_s"] / base, 2) for f, v in lat.items()},
                  "peak_rss_mb": rss, "failed": failed}
    record["loadavg_before"] = [round(x, 2) for x in load]
    record["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    line = json.dumps(record)
    print(line)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
