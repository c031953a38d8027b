"""Benchmarks of mrcnn (TF 2.21 / Keras 3) on the CPU, matching the peers'
definitions in shared/peers (matterport on tf_keras, torchvision).

    python3 bench/bench_mrcnn.py --all                 # every bench, each in its own process
    python3 bench/bench_mrcnn.py --all --out bench/results/$(date -u +%Y%m%d).jsonl
    python3 bench/bench_mrcnn.py --bench detect-r50    # one bench, in this process
    python3 bench/bench_mrcnn.py --list

One JSON line per bench on stdout (see bench/README.md for every field). Each
bench runs in a fresh subprocess under --all, so `peak_rss_mb` is per bench.
TF threads: intra-op 2, inter-op 2 (--threads/--inter), set before TF starts.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import benchlib as bl  # noqa: E402

PEAK_GFLOPS_NOMINAL = 210.0   # peers' practical fp32 peak of this 2-core Zen 4 (RESULTS.md)

BENCHES = {
    # name: (function name, default warmup, default runs, extra kwargs)
    "matmul": ("bench_matmul", 2, 5, {}),
    "detect-r50": ("bench_detect", 3, 7, {"backbone": "resnet50", "flops": True}),
    "detect-r101": ("bench_detect", 3, 7, {"backbone": "resnet101", "flops": True}),
    "detect-r50-bf16": ("bench_detect", 3, 7, {"backbone": "resnet50", "flops": False,
                                               "precision": "mixed_bfloat16",
                                               "name": "detect-r50-bf16"}),
    "train-heads": ("bench_train", 3, 7, {"layers": "heads"}),
    "train-all": ("bench_train", 3, 7, {"layers": "all"}),
    "train-heads-bf16": ("bench_train", 3, 7, {"layers": "heads",
                                               "precision": "mixed_bfloat16"}),
    "train-all-bf16": ("bench_train", 3, 7, {"layers": "all", "precision": "mixed_bfloat16"}),
    # COCO-sized step: 1024x1024, batch 1, 200 RoIs; -dense-rpn-grad = the RPN conv's dense
    # backward kernels (SparseGradConv2D.dense_fraction = -1), to show what the sparse one saves.
    # The same step as train-all (same config, same images) with the keypoint head of
    # Keypoint R-CNN (the paper's 8 x 512 convs, 56x56 heatmaps; the shapes' 4 keypoints):
    # run it alternating with train-all for the head's cost.
    "train-all-keypoints": ("bench_train", 3, 7, {"layers": "all", "keypoints": True}),
    "train-all-1024": ("bench_train", 2, 5, {"layers": "all", "size": 1024}),
    "train-all-1024-dense-rpn-grad": ("bench_train", 2, 5, {"layers": "all", "size": 1024,
                                                            "dense_rpn_grad": True}),
    "pipeline-shapes256": ("bench_pipeline", 1, 5, {"kind": "shapes256"}),
    "pipeline-coco1024": ("bench_pipeline", 1, 3, {"kind": "coco1024"}),
    "pipeline-poly1024": ("bench_pipeline", 1, 3, {"kind": "poly1024"}),
    "pipeline-poly1024-flip": ("bench_pipeline", 1, 3, {"kind": "poly1024", "flip": True}),
    "profile-detect-r50": ("bench_profile", 1, 2, {"backbone": "resnet50"}),
    "train-fit-1rep": ("bench_train_fit", 2, 8, {"replicas": 1}),
    "train-fit-2rep": ("bench_train_fit", 2, 8, {"replicas": 2}),
    "train-fit-1rep-bf16": ("bench_train_fit", 2, 8, {"replicas": 1,
                                                      "precision": "mixed_bfloat16"}),
    "train-fit-2rep-bf16": ("bench_train_fit", 2, 8, {"replicas": 2,
                                                      "precision": "mixed_bfloat16"}),
    "train-fit-1rep-xla": ("bench_train_fit", 2, 8, {"replicas": 1, "xla": True}),
    "export-r50": ("bench_export", 2, 5, {"backbone": "resnet50"}),
    # The semantic branch's cost (issue #17; bars: <= 15 % detect, <= 20 % training step):
    # run each pair alternating. COCO panoptic's 80 things + 53 stuff classes, with
    # NUM_STUFF_CLASSES = 53 (branch) or 0 (none, same classes); the training step is
    # train-all-1024's on panoptic shapes (3 things + 3 stuff classes), branch on or off.
    "detect-r50-panoptic-off": ("bench_detect", 3, 7, {"backbone": "resnet50", "flops": False,
                                                       "stuff": 0,
                                                       "name": "detect-r50-panoptic-off"}),
    "detect-r50-panoptic": ("bench_detect", 3, 7, {"backbone": "resnet50", "flops": False,
                                                   "stuff": 53, "name": "detect-r50-panoptic"}),
    "train-all-1024-panoptic-off": ("bench_train", 2, 5, {"layers": "all", "size": 1024,
                                                          "stuff": 0}),
    "train-all-1024-panoptic": ("bench_train", 2, 5, {"layers": "all", "size": 1024,
                                                      "stuff": 3}),
}
DEFAULT_ALL = list(BENCHES)


# ----------------------------------------------------------------------------
# Process set-up
# ----------------------------------------------------------------------------

def init_tf(threads, inter):
    """Import TF and fix its thread pools before any op runs."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    return tf


def versions():
    import numpy as np
    import tensorflow as tf
    v = {"tensorflow": tf.__version__, "numpy": np.__version__,
         "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default(on)")}
    try:
        import keras
        v["keras"] = keras.__version__
    except ImportError:
        pass
    try:
        sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "mrcnn"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        v["mrcnn_git"] = sha + ("+dirty(mrcnn/)" if dirty else "")
    except Exception:
        pass
    return v


def base_record(name, a, **kw):
    rec = {"peer": "mrcnn-keras3", "bench": name, "threads": a.threads,
           "inter_op_threads": a.inter}
    rec.update(kw)
    return rec


def coco_like_config(backbone, precision=None, stuff=None):
    """stuff: None: COCO's 81 classes; a number: COCO panoptic's 134 classes
    with that many stuff classes in the semantic branch (0: no branch)."""
    from mrcnn.config import Config

    class CocoBench(Config):
        NAME = "bench_coco"
        GPU_COUNT = 1
        IMAGES_PER_GPU = 1
        NUM_CLASSES = 81 if stuff is None else 1 + 80 + 53
        NUM_STUFF_CLASSES = stuff or 0
        BACKBONE = backbone
        IMAGE_MIN_DIM = 800
        IMAGE_MAX_DIM = 1024
        DETECTION_MIN_CONFIDENCE = 0.0
        MIXED_PRECISION = precision
    return CocoBench()


def shapes_train_config(size=256, batch=2, backbone="resnet50", stuff=None, keypoints=False):
    """stuff: None: the 3 shapes; a number: panoptic shapes (3 things + 3
    stuff classes) with that many stuff classes in the semantic branch.
    keypoints: also the keypoint head, for the shapes' keypoints (with the
    head's default size); everything else the same."""
    from mrcnn.config import Config
    from mrcnn.data import keypoints as kp

    class ShapesBench(Config):
        NAME = "bench_shapes"
        GPU_COUNT = 1
        IMAGES_PER_GPU = batch
        NUM_CLASSES = 1 + 3 if stuff is None else 1 + 3 + 3
        NUM_STUFF_CLASSES = stuff or 0
        BACKBONE = backbone
        IMAGE_MIN_DIM = size
        IMAGE_MAX_DIM = size
        RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
        TRAIN_ROIS_PER_IMAGE = 32
        TRAIN_BN = False
        LEARNING_RATE = 1e-3
        LEARNING_MOMENTUM = 0.9
        WEIGHT_DECAY = 1e-4
        GRADIENT_CLIP_NORM = 5.0
        OPTIMIZER = "SGD"
        STEPS_PER_EPOCH = 100
        VALIDATION_STEPS = 5
        if keypoints:
            KEYPOINT_NAMES = kp.SHAPE_KEYPOINT_NAMES
            KEYPOINT_FLIP_PAIRS = kp.SHAPE_KEYPOINT_FLIP_PAIRS
            KEYPOINT_OKS_SIGMAS = (0.05,) * 4
    return ShapesBench()


def config_summary(cfg, keys):
    out = {}
    for k in keys:
        v = getattr(cfg, k)
        if hasattr(v, "tolist"):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


# ----------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------

def count_flops(concrete_fn, cfg):
    """2 * multiply-adds of the Conv2D / Conv2DBackpropInput (transposed conv) /
    MatMul / BatchMatMul ops of a traced forward graph (the op classes the peers
    count). Per-RoI layers run on RoIs folded into the batch axis, whose static
    size is unknown: it is set from the config by layer name (mrcnn_mask* ->
    DETECTION_MAX_INSTANCES, mrcnn_class*/mrcnn_bbox* -> POST_NMS_ROIS_INFERENCE,
    times BATCH_SIZE). Returns (total, {group: flops}, unresolved op names)."""
    g = concrete_fn.graph

    def lead(name):
        if "mrcnn_mask" in name:
            return cfg.DETECTION_MAX_INSTANCES * cfg.BATCH_SIZE
        if "mrcnn_class" in name or "mrcnn_bbox" in name:
            return cfg.POST_NMS_ROIS_INFERENCE * cfg.BATCH_SIZE
        return None

    def dims(t):
        return t.shape.as_list() if t.shape.rank is not None else None

    def group(name):
        for key in ("rpn_", "fpn_", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask"):
            if key in name:
                return key.rstrip("_")
        return "backbone"

    total, groups, unresolved = 0, {}, []
    for op in g.get_operations():
        t = op.type
        try:
            if t == "Conv2D":
                out, k = dims(op.outputs[0]), dims(op.inputs[1])
                n0 = out[0] if out[0] is not None else lead(op.name)
                f = 2 * n0 * out[1] * out[2] * out[3] * k[0] * k[1] * k[2]
            elif t == "Conv2DBackpropInput":
                x, k = dims(op.inputs[2]), dims(op.inputs[1])
                n0 = x[0] if x[0] is not None else lead(op.name)
                f = 2 * n0 * x[1] * x[2] * x[3] * k[0] * k[1] * k[2]
            elif t in ("MatMul", "BatchMatMulV2", "BatchMatMulV3"):
                a_, b_ = dims(op.inputs[0]), dims(op.inputs[1])
                ta = op.get_attr("transpose_a") if t == "MatMul" else op.get_attr("adj_x")
                tb = op.get_attr("transpose_b") if t == "MatMul" else op.get_attr("adj_y")
                m_ = a_[-1] if ta else a_[-2]
                k_ = a_[-2] if ta else a_[-1]
                n_ = b_[-2] if tb else b_[-1]
                if m_ is None:
                    m_ = lead(op.name)
                batch = 1
                for d in a_[:-2]:
                    batch *= d if d is not None else 1
                f = 2 * batch * m_ * k_ * n_
            else:
                continue
        except TypeError:  # a None left in the product
            unresolved.append(op.name)
            continue
        total += f
        gname = group(op.name)
        groups[gname] = groups.get(gname, 0) + f
    return total, groups, unresolved


# ----------------------------------------------------------------------------
# Benches
# ----------------------------------------------------------------------------

def bench_matmul(a, warmup, runs, n=4096):
    """Machine peak: fp32 n x n tf.linalg.matmul on the configured threads."""
    import numpy as np
    tf = init_tf(a.threads, a.inter)
    rng = np.random.RandomState(0)
    A = tf.constant(rng.standard_normal((n, n)).astype(np.float32))
    B = tf.constant(rng.standard_normal((n, n)).astype(np.float32))
    mm = tf.function(lambda x, y: tf.linalg.matmul(x, y))
    def run():
        mm(A, B).numpy()
    lat = bl.time_it(run, warmup, runs)
    flops = 2.0 * n ** 3
    return base_record("matmul", a, task="fp32_matmul", size="%dx%d" % (n, n),
                       warmup=warmup, runs=runs, latency_s=lat,
                       gflops_per_s={"best": round(flops / lat["min"] / 1e9, 1),
                                     "median": round(flops / lat["median"] / 1e9, 1)},
                       versions=versions())


def bench_detect(a, warmup, runs, backbone, flops, precision=None, name=None, stuff=None):
    """MaskRCNN.detect([img]) at 1024x1024, COCO-like config, random weights;
    `precision`: config.MIXED_PRECISION (None = float32); `stuff`: see
    coco_like_config (the semantic branch)."""
    import numpy as np
    tf = init_tf(a.threads, a.inter)
    import keras
    from mrcnn.model import MaskRCNN, unmold_detections

    cfg = coco_like_config(backbone, precision, stuff)
    keras.utils.set_random_seed(bl.SEED)
    img = bl.seeded_image(1024, 1024)
    with tempfile.TemporaryDirectory() as logdir:
        t0 = time.perf_counter()
        model = MaskRCNN(mode="inference", config=cfg, model_dir=logdir)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = model.detect([img], verbose=0)[0]
        first_s = time.perf_counter() - t0
        lat = bl.time_it(lambda: model.detect([img], verbose=0) and None,
                         max(warmup - 1, 0), runs)
        rss_detect = bl.peak_rss_mb()   # before the model-only / unmold timings below

        molded, metas, windows = model.mold_inputs([img])
        anchors = model.get_anchors(molded[0].shape)
        batch_anchors = np.broadcast_to(anchors, (1,) + anchors.shape)
        lat_mold = bl.time_it(lambda: model.mold_inputs([img]) and None, 1, runs)
        lat_model = bl.time_it(
            lambda: model._predict(molded, metas, batch_anchors) and None, 1, runs)
        outs = model._predict(molded, metas, batch_anchors)
        detections, mrcnn_mask = outs["detections"], outs["mrcnn_mask"]
        lat_post = bl.time_it(lambda: unmold_detections(
            detections[0], mrcnn_mask[0], img.shape, molded[0].shape, windows[0]) and None,
            1, runs)
        rec = base_record(
            name or "detect-" + ("r50" if backbone == "resnet50" else "r101"), a,
            task="inference", precision=precision or "float32", what="MaskRCNN.detect([img]) end to end",
            backbone=backbone, image="1024x1024", processed="%dx%d" % molded.shape[1:3],
            config=config_summary(cfg, ["NUM_CLASSES", "IMAGE_MIN_DIM", "IMAGE_MAX_DIM",
                                        "IMAGE_RESIZE_MODE", "DETECTION_MIN_CONFIDENCE",
                                        "POST_NMS_ROIS_INFERENCE", "PRE_NMS_LIMIT",
                                        "DETECTION_MAX_INSTANCES", "BATCH_SIZE",
                                        "NUM_STUFF_CLASSES", "ROI_HEADS"]),
            weights="random (keras.utils.set_random_seed(1234))",
            warmup=warmup, runs=runs,
            latency_s=lat,
            model_only_latency_s=lat_model,
            model_only_what="model._predict(molded, metas, anchors): tf.function over "
                            "keras_model incl. tf.constant in / .numpy() out",
            postprocess_latency_s=lat_post,
            postprocess_what="unmold_detections of the 100 detections (full-size masks)",
            mold_latency_s=lat_mold,
            first_call_s=round(first_s, 2), build_s=round(build_s, 2),
            peak_rss_after_detect_mb=rss_detect,
            n_detections=int(len(r["class_ids"])),
            masks_shape=list(r["masks"].shape),
            detections_finite=bool(np.isfinite(r["rois"]).all() and
                                   np.isfinite(r["scores"]).all()),
            params=int(model.keras_model.count_params()),
            versions=versions())
        if flops:
            specs = [tf.TensorSpec(molded.shape, tf.float32),
                     tf.TensorSpec(metas.shape, tf.float32),
                     tf.TensorSpec(batch_anchors.shape, tf.float32)]
            cf = model._predict_fn.get_concrete_function(*specs)
            total, groups, unresolved = count_flops(cf, cfg)
            gf = total / 1e9
            rec["gflops_forward"] = round(gf, 1)
            rec["gflops_by_part"] = {k: round(v / 1e9, 1) for k, v in sorted(groups.items())}
            rec["flops_unresolved_ops"] = unresolved
            rec["flops_note"] = ("analytic 2*MAC of Conv2D/Conv2DBackpropInput/MatMul in the "
                                 "traced inference graph, per-RoI layers x1000 rois (class/box "
                                 "head) / x100 detections (mask head); same rule as the peers")
            best = lat_model.get("quiet_min", lat_model["min"])
            rec["model_gflops_per_s"] = round(gf / lat_model["min"], 1)
            rec["efficiency_vs_nominal_peak"] = {
                "peak_gflops": PEAK_GFLOPS_NOMINAL,
                "model_only_min": round(gf / lat_model["min"] / PEAK_GFLOPS_NOMINAL, 3),
                "model_only_quiet_min_or_min": round(gf / best / PEAK_GFLOPS_NOMINAL, 3),
                "detect_min": round(gf / lat["min"] / PEAK_GFLOPS_NOMINAL, 3)}
    return rec


def _training_batches(cfg, n, seed, count=16, panoptic=False):
    """n batches (tuples of 7 numpy arrays, 8 with the semantic branch or
    keypoints) from ShapesDataset (PanopticShapesDataset with `panoptic`,
    KeypointShapesDataset with keypoints: the same images with keypoints),
    built before timing with mrcnn.data.pipeline.build_training_sample,
    serially and reproducibly."""
    import numpy as np
    from mrcnn.data.keypoints import KeypointShapesDataset
    from mrcnn.data.panoptic import PanopticShapesDataset
    from mrcnn.data.pipeline import build_training_sample, training_anchors
    from mrcnn.data.shapes import ShapesDataset

    if panoptic:
        ds = PanopticShapesDataset()
        ds.load_panoptic_shapes(count, int(cfg.IMAGE_SHAPE[0]), int(cfg.IMAGE_SHAPE[1]),
                                seed=seed)
    else:
        ds = KeypointShapesDataset() if cfg.KEYPOINT_NAMES else ShapesDataset()
        ds.load_shapes(count, int(cfg.IMAGE_SHAPE[0]), int(cfg.IMAGE_SHAPE[1]), seed=seed)
    ds.prepare()
    np.random.seed(seed)   # build_rpn_targets subsamples anchors with np.random
    anchors = training_anchors(cfg)
    samples, i = [], 0
    while len(samples) < n * cfg.BATCH_SIZE:
        s = build_training_sample(ds, cfg, ds.image_ids[i % len(ds.image_ids)], anchors)
        i += 1
        if s is not None:
            samples.append(s)
    batches = []
    for b in range(n):
        chunk = samples[b * cfg.BATCH_SIZE:(b + 1) * cfg.BATCH_SIZE]
        batches.append(tuple(np.stack(x) for x in zip(*chunk)))
    return batches


def bench_train(a, warmup, runs, layers, precision=None, size=256, dense_rpn_grad=False,
                stuff=None, keypoints=False):
    """Seconds per training step (shapes 256x256, batch 2) through mrcnn.training.Trainer
    (precision: config.MIXED_PRECISION, e.g. "mixed_bfloat16"). size=1024: a COCO-sized
    step instead (batch 1, TRAIN_ROIS_PER_IMAGE 200, anchors 32..512, shapes drawn at 1024).
    dense_rpn_grad: rpn_conv_shared's dense backward kernels instead of the sparse one.
    stuff: panoptic shapes with that many stuff classes in the semantic branch (0: none).
    keypoints: the same step with the keypoint head (256 only)."""
    import numpy as np
    init_tf(a.threads, a.inter)
    import keras
    from mrcnn.config import LOSS_NAMES
    from mrcnn.heads import SparseGradConv2D
    from mrcnn.model import MaskRCNN
    from mrcnn.training import LAYER_REGEX, Trainer, make_optimizer

    if size == 256:
        cfg = shapes_train_config(stuff=stuff, keypoints=keypoints)
    else:
        cfg = shapes_train_config(size=size, batch=1, stuff=stuff)
        cfg.RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)
        cfg.TRAIN_ROIS_PER_IMAGE = 200
    if precision:
        cfg.MIXED_PRECISION = precision
    if dense_rpn_grad:
        SparseGradConv2D.dense_fraction = -1.0
    batches = _training_batches(cfg, warmup + runs, bl.SEED, panoptic=stuff is not None)
    keras.utils.set_random_seed(bl.SEED)
    with tempfile.TemporaryDirectory() as logdir:
        t0 = time.perf_counter()
        model = MaskRCNN(mode="training", config=cfg, model_dir=logdir)
        model.set_trainable(LAYER_REGEX[layers], verbose=0)
        trainer = Trainer(model.keras_model, cfg)
        trainer.compile(optimizer=make_optimizer(cfg, cfg.LEARNING_RATE), jit_compile=False)
        build_s = time.perf_counter() - t0
        # The step is driven like fit drives it: the compiled train_function on
        # an iterator of one 7-array batch (numpy in, converted inside the step).
        try:
            trainer._maybe_symbolic_build(data_batch=batches[0])  # what fit/train_on_batch do
        except Exception as e:  # noqa: BLE001 - the optimizer then builds on first step
            print("symbolic build skipped: %r" % (e,), file=sys.stderr)
        trainer.make_train_function()
        build_s = time.perf_counter() - t0
        losses = []
        it = iter(batches)

        def step():
            trainer.reset_metrics()
            logs = trainer.train_function(iter([next(it)]))
            losses.append({k: float(v) for k, v in logs.items()})
        t0 = time.perf_counter()
        step()
        first_s = time.perf_counter() - t0
        lat = bl.time_it(step, max(warmup - 1, 0), runs)
        head_rois = None
        if keypoints:
            # The RoIs the keypoint head ran on in each timed batch (positives
            # with a keypoint target; DetectionTargetLayer samples anew each
            # call, so this is the same distribution, not the same draw).
            probe = keras.Model(model.keras_model.inputs,
                                model.keras_model.get_layer("keypoint_rows").output)
            head_rois = [int(np.asarray(probe([np.asarray(x) for x in b], training=False)).sum())
                         for b in batches[warmup:]]
    trainable = int(sum(np.prod(w.shape) for w in model.keras_model.trainable_weights))
    name = "train-" + layers + ("" if size == 256 else "-%d" % size) + (
        "-bf16" if precision == "mixed_bfloat16" else "-" + precision if precision else "") + (
        "-dense-rpn-grad" if dense_rpn_grad else "") + (
        "" if stuff is None else "-panoptic" if stuff else "-panoptic-off") + (
        "-keypoints" if keypoints else "")
    return base_record(
        name, a, task="train_step", rpn_conv_backward="dense" if dense_rpn_grad else "sparse",
        precision=precision or "float32",
        what="Trainer.train_function(iter([7-array numpy batch])) = one fit() step; SGD+momentum, "
             "clipnorm, L2 decay",
        backbone=cfg.BACKBONE, image="%dx%d" % (size, size), batch=cfg.BATCH_SIZE,
        layers=layers,
        layer_regex=LAYER_REGEX[layers],
        config=config_summary(cfg, ["NUM_CLASSES", "RPN_ANCHOR_SCALES", "TRAIN_ROIS_PER_IMAGE",
                                    "TRAIN_BN", "LEARNING_RATE", "LEARNING_MOMENTUM",
                                    "WEIGHT_DECAY", "GRADIENT_CLIP_NORM", "OPTIMIZER",
                                    "POST_NMS_ROIS_TRAINING", "MAX_GT_INSTANCES",
                                    "USE_MINI_MASK", "MINI_MASK_SHAPE", "NUM_STUFF_CLASSES",
                                    "ROI_HEADS", "KEYPOINT_CONV_LAYERS",
                                    "KEYPOINT_CONV_CHANNELS"]),
        data="ShapesDataset(seed=1234) %dx%d via build_training_sample, built before timing"
             % (size, size),
        warmup=warmup, runs=runs, latency_s=lat,
        first_step_s=round(first_s, 2), build_compile_s=round(build_s, 2),
        **({"keypoint_head_rois_per_step": head_rois} if keypoints else {}),
        trainable_params=trainable, total_params=int(model.keras_model.count_params()),
        losses_finite=bool(all(np.isfinite(v) for d in losses for v in d.values())),
        losses_first=losses[0], losses_last=losses[-1],
        loss_names=["loss"] + list(LOSS_NAMES) + (["semantic_loss"] if stuff else []) + (
            ["keypoint_loss"] if keypoints else []),
        versions=versions())


def bench_train_fit(a, warmup, runs, replicas, precision=None, xla=False):
    """Training throughput through MaskRCNN.train (fit, tf.data pipeline,
    tf.distribute): shapes 256x256, ResNet-50, layers "all", global batch 2
    (IMAGES_PER_GPU = 2 / replicas); `replicas` > 1 = MirroredStrategy over
    that many logical CPU devices sharing the same cores."""
    import numpy as np
    tf = init_tf(a.threads, a.inter)
    if replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    import keras
    from mrcnn.data.shapes import ShapesDataset
    from mrcnn.model import MaskRCNN

    base = shapes_train_config()

    class Cfg(type(base)):
        GPU_COUNT = replicas
        IMAGES_PER_GPU = 2 // replicas
        STEPS_PER_EPOCH = warmup + runs
        VALIDATION_STEPS = 0
        MIXED_PRECISION = precision
        XLA = xla
    cfg = Cfg()
    ds = ShapesDataset()
    ds.load_shapes(16, 256, 256, seed=bl.SEED)
    ds.prepare()
    times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t0)
    keras.utils.set_random_seed(bl.SEED)
    rec = base_record("train-fit-%drep%s%s" % (replicas, "-bf16" if precision else "",
                                               "-xla" if xla else ""), a,
                      task="train_throughput", replicas=replicas,
                      precision=precision or "float32", xla=xla, backbone=cfg.BACKBONE,
                      image="256x256", global_batch=2, layers="all",
                      what="MaskRCNN.train(...) step times from a Keras callback "
                           "(fit + tf.data; first `warmup` steps dropped)",
                      warmup=warmup, runs=runs, versions=versions())
    with tempfile.TemporaryDirectory() as logdir:
        model = MaskRCNN("training", cfg, logdir)
        try:
            model.train(ds, None, learning_rate=1e-3, epochs=1, layers="all", verbose=0,
                        custom_callbacks=[StepTimer()])
        except Exception as e:  # noqa: BLE001 - e.g. ops without XLA kernels
            rec["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300])
            return rec
    steady = times[warmup:]
    rec["step_s"] = {"min": round(min(steady), 4), "median": round(float(np.median(steady)), 4),
                     "all": [round(t, 4) for t in steady]}
    rec["first_step_s"] = round(times[0], 2)
    rec["images_per_s"] = {"at_min": round(2 / min(steady), 3),
                           "at_median": round(2 / float(np.median(steady)), 3)}
    return rec


class PolygonDataset(object):
    """COCO-like images made in memory: `count` 1024x1024 RGB images (seeded
    noise plus the filled polygons), each with `per_image` random polygon
    instances of 80 classes; load_mask rasterises the polygons as COCO's
    annToMask does (one cv2.fillPoly per instance)."""

    @staticmethod
    def build(count, size=1024, per_image=10, seed=1234):
        import cv2
        import numpy as np
        from mrcnn.data.dataset import Dataset

        class _Polygons(Dataset):
            def load_image(self, image_id):
                return self.image_info[image_id]["pixels"]

            def load_mask(self, image_id):
                info = self.image_info[image_id]
                masks = np.zeros((size, size, len(info["polygons"])), np.uint8)
                for i, poly in enumerate(info["polygons"]):
                    layer = np.zeros((size, size), np.uint8)
                    cv2.fillPoly(layer, [poly], 1)
                    masks[:, :, i] = layer
                return masks.astype(bool), np.array(info["class_ids"], np.int32)

        rng = np.random.RandomState(seed)
        ds = _Polygons()
        for c in range(1, 81):
            ds.add_class("poly", c, "class%d" % c)
        for i in range(count):
            pixels = rng.randint(0, 256, (size, size, 3)).astype(np.uint8)
            polygons, class_ids = [], []
            for _ in range(per_image):
                cy, cx = rng.randint(64, size - 64, 2)
                radius = rng.randint(20, 250)
                angles = np.sort(rng.uniform(0, 2 * np.pi, rng.randint(5, 16)))
                r = radius * rng.uniform(0.5, 1.0, angles.shape)
                poly = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], -1)
                poly = np.clip(np.round(poly), 0, size - 1).astype(np.int32)
                cv2.fillPoly(pixels, [poly], tuple(int(v) for v in rng.randint(0, 256, 3)))
                polygons.append(poly)
                class_ids.append(int(rng.randint(1, 81)))
            ds.add_image("poly", image_id=i, path=None, pixels=pixels, polygons=polygons,
                         class_ids=class_ids)
        ds.prepare()
        return ds


def bench_pipeline(a, warmup, runs, kind, flip=False):
    """Throughput (images/s) of make_tf_dataset, after warm-up."""
    import numpy as np
    init_tf(a.threads, a.inter)
    from mrcnn.config import Config
    from mrcnn.data.pipeline import build_training_sample, make_tf_dataset, training_anchors
    from mrcnn.data.shapes import ShapesDataset

    augmentation, what_data = None, "ShapesDataset"
    if flip:
        import albumentations as A
        augmentation = A.Compose([A.HorizontalFlip(p=0.5)], seed=bl.SEED)
    if kind == "shapes256":
        cfg = shapes_train_config()
        size, count, per_run = 256, 64, 10
    elif kind == "poly1024":
        class PolyTrain(Config):
            NAME = "bench_poly_train"
            GPU_COUNT = 1
            IMAGES_PER_GPU = 2
            NUM_CLASSES = 81
            IMAGE_MIN_DIM = 800
            IMAGE_MAX_DIM = 1024
        cfg = PolyTrain()
        size, count, per_run = 1024, 16, 3
        what_data = "PolygonDataset (10 polygons/image, 80 classes, in memory)"
    else:
        class CocoLikeTrain(Config):
            NAME = "bench_coco_train"
            GPU_COUNT = 1
            IMAGES_PER_GPU = 2
            NUM_CLASSES = 1 + 3   # ShapesDataset's classes (image meta length follows it)
            IMAGE_MIN_DIM = 800
            IMAGE_MAX_DIM = 1024
        cfg = CocoLikeTrain()
        size, count, per_run = 1024, 16, 3
    if kind == "poly1024":
        ds = PolygonDataset.build(count, size, seed=bl.SEED)
    else:
        ds = ShapesDataset()
        ds.load_shapes(count, size, size, seed=bl.SEED)
        ds.prepare()
    np.random.seed(bl.SEED)
    tfds = make_tf_dataset(ds, cfg, shuffle=True, seed=bl.SEED, augmentation=augmentation)
    it = iter(tfds)
    shapes_seen = []

    def consume():
        for _ in range(per_run):
            b = next(it)
        shapes_seen.append([list(t.shape) for t in b][:1])
    lat = bl.time_it(consume, warmup, runs)
    imgs = per_run * cfg.BATCH_SIZE
    # Serial python cost of one sample (what each tf.data worker runs).
    anchors = training_anchors(cfg)
    ser = bl.time_it(lambda: build_training_sample(ds, cfg, 0, anchors, augmentation) and None,
                     1, max(runs, 3))
    return base_record(
        "pipeline-" + kind + ("-flip" if flip else ""), a, task="input_pipeline",
        what="next() on iter(make_tf_dataset(%s, config%s)) "
             "(num_parallel_calls=AUTOTUNE, prefetch AUTOTUNE), nothing else running" % (
                 what_data, ", augmentation=A.Compose([A.HorizontalFlip(p=0.5)])" if flip
                 else ""),
        image="%dx%d" % (size, size), batch=cfg.BATCH_SIZE, batches_per_run=per_run,
        images_per_run=imgs, n_anchors=int(anchors.shape[0]),
        config=config_summary(cfg, ["IMAGE_MIN_DIM", "IMAGE_MAX_DIM", "IMAGE_RESIZE_MODE",
                                    "NUM_CLASSES", "USE_MINI_MASK", "MINI_MASK_SHAPE",
                                    "MAX_GT_INSTANCES", "RPN_ANCHOR_SCALES",
                                    "RPN_TRAIN_ANCHORS_PER_IMAGE"]),
        warmup=warmup, runs=runs, latency_s=lat,
        images_per_s={"best": round(imgs / lat["min"], 2),
                      "median": round(imgs / lat["median"], 2)},
        serial_build_training_sample_s=ser,
        serial_images_per_s_best=round(1.0 / ser["min"], 2),
        versions=versions())


def _xplane_op_profile(logdir, top=25):
    """Aggregate TF op self-times by op type and by op name from the profiler's
    xplane.pb (host CPU events). Returns (by_type, by_name) sorted, seconds."""
    import glob
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    by_type, by_name = {}, {}
    for path in files:
        xs = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            xs.ParseFromString(f.read())
        for plane in xs.planes:
            if not plane.name.startswith("/host:CPU"):
                continue
            md = plane.event_metadata
            for line in plane.lines:
                # TF executor op events are "name:Type"; skip python / framework scopes.
                for ev in line.events:
                    name = md[ev.metadata_id].name
                    if ":" not in name or "::" in name or name.startswith(("$", "Tf", "tf.")):
                        continue
                    op_name, op_type = name.rsplit(":", 1)
                    if not op_type or not (op_type[0].isupper() or op_type[0] == "_") \
                            or " " in op_type:
                        continue
                    s = ev.duration_ps / 1e12
                    by_type[op_type] = by_type.get(op_type, 0.0) + s
                    by_name[name] = by_name.get(name, 0.0) + s
    srt = lambda d: [[k, round(v, 4)] for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]  # noqa: E731
    return srt(by_type), srt(by_name), len(files)


def _runner(tf, sub_model, x):
    fn = tf.function(lambda a, b, c: sub_model([a, b, c], training=False))

    def run():
        for t in tf.nest.flatten(fn(*x)):
            t.numpy()
    return run


def bench_profile(a, warmup, runs, backbone):
    """Where detect()'s model time goes: cumulative sub-models cut at stage
    boundaries (timed as tf.functions), plus a per-op-type profile of one call."""
    import numpy as np
    tf = init_tf(a.threads, a.inter)
    import keras
    from mrcnn.model import MaskRCNN

    cfg = coco_like_config(backbone)
    keras.utils.set_random_seed(bl.SEED)
    img = bl.seeded_image(1024, 1024)
    with tempfile.TemporaryDirectory() as logdir:
        model = MaskRCNN(mode="inference", config=cfg, model_dir=logdir)
        km = model.keras_model
        molded, metas, _ = model.mold_inputs([img])
        anchors = model.get_anchors(molded[0].shape)
        x = [tf.constant(molded, tf.float32), tf.constant(metas, tf.float32),
             tf.constant(np.broadcast_to(anchors, (1,) + anchors.shape), tf.float32)]

        def out(name):
            return km.get_layer(name).output
        stages = [
            ("backbone+fpn", [out("fpn_p2"), out("fpn_p3"), out("fpn_p4"), out("fpn_p5"),
                              out("fpn_p6")]),
            ("+rpn", [out("rpn_class"), out("rpn_bbox")]),
            ("+proposals(NMS 6000->1000)", [out("ROI")]),
            ("+roialign+class/box head", [out("mrcnn_class"), out("mrcnn_bbox")]),
            ("+detection layer", [out("mrcnn_detection")]),
            ("+mask head (full model)", list(km.outputs)),
        ]
        timings = []
        prev = 0.0
        for label, outs in stages:
            sub = keras.Model(km.inputs, outs)
            r = bl.time_it(_runner(tf, sub, x), warmup, runs)
            timings.append({"stage": label, "cumulative_min_s": r["min"],
                            "cumulative_median_s": r["median"],
                            "stage_min_s": round(r["min"] - prev, 4),
                            "foreign_cpu_frac": r["foreign_cpu_frac"]})
            prev = r["min"]
        # per-op profile of the full model (model._predict), 2 calls
        model._predict(molded, metas, np.broadcast_to(anchors, (1,) + anchors.shape))
        prof_dir = os.path.join(logdir, "prof")
        tf.profiler.experimental.start(prof_dir)
        t0 = time.perf_counter()
        for _ in range(2):
            model._predict(molded, metas, np.broadcast_to(anchors, (1,) + anchors.shape))
        prof_wall = time.perf_counter() - t0
        tf.profiler.experimental.stop()
        try:
            by_type, by_name, nfiles = _xplane_op_profile(prof_dir)
            prof = {"calls": 2, "wall_s": round(prof_wall, 3), "xplane_files": nfiles,
                    "op_type_self_s_total_over_threads": by_type,
                    "top_ops_s": by_name}
        except Exception as e:  # profiler format changed
            prof = {"error": repr(e)}
    return base_record("profile-detect-" + ("r50" if backbone == "resnet50" else "r101"), a,
                       task="inference_profile", backbone=backbone, image="1024x1024",
                       warmup=warmup, runs=runs,
                       what="cumulative sub-models of keras_model (inputs -> stage outputs) "
                            "as tf.functions; stage_min_s = difference of minima",
                       stages=timings, op_profile=prof, versions=versions())


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------

def bench_export(a, warmup, runs, backbone):
    """SavedModel export time at 1024x1024 (COCO-like config) and the serving
    latency of both signatures next to detect() on the same image, alternating."""
    import numpy as np
    tf = init_tf(a.threads, a.inter)
    import keras
    from mrcnn.model import MaskRCNN

    cfg = coco_like_config(backbone)
    keras.utils.set_random_seed(bl.SEED)
    img = bl.seeded_image(1024, 1024)
    with tempfile.TemporaryDirectory() as logdir:
        model = MaskRCNN(mode="inference", config=cfg, model_dir=logdir)
        t0 = time.perf_counter()
        path = model.export(os.path.join(logdir, "export"), verbose=0)
        export_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = tf.saved_model.load(path)
        load_s = time.perf_counter() - t0
        encoded_fn = loaded.signatures["serving_default"]
        images_fn = loaded.signatures["serving_images"]
        jpeg = tf.constant([tf.io.encode_jpeg(img, quality=95).numpy()])
        png = tf.constant([tf.io.encode_png(img).numpy()])
        batch = tf.constant(img[None])
        fns = {"detect": lambda: model.detect([img]),
               "serving_default_jpeg": lambda: encoded_fn(images=jpeg),
               "serving_default_png": lambda: encoded_fn(images=png),
               "serving_images": lambda: images_fn(images=batch)}
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        samples = {k: [] for k in fns}
        for _ in range(runs):  # alternate, so machine noise hits all alike
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                samples[k].append(time.perf_counter() - t0)
        out = images_fn(images=batch)
        ref = model.detect([img])[0]
        n = int(out["num_detections"][0])
        # Random weights give many tied scores (1.0), whose order (and which
        # make the top 100) NMS may break either way: compare rows as sets.
        rows = {tuple(r) for r in np.concatenate(
            [out["detection_boxes"][0, :n].numpy(),
             out["detection_classes"][0, :n].numpy()[:, None]], axis=1).astype(int).tolist()}
        ref_rows = {tuple(r) for r in np.concatenate(
            [ref["rois"], ref["class_ids"][:, None]], axis=1).astype(int).tolist()}
        same = len(rows & ref_rows) / max(len(ref_rows), 1)
        lat = {k: {"min": round(min(v), 3), "median": round(float(np.median(v)), 3)}
               for k, v in samples.items()}
        return base_record(
            "export-" + ("r50" if backbone == "resnet50" else "r101"), a,
            task="serving", what="export_saved_model + signatures vs detect() at 1024x1024",
            backbone=backbone, image="1024x1024", weights="random", warmup=warmup, runs=runs,
            export_s=round(export_s, 1), load_s=round(load_s, 1), latency_s=lat,
            serving_over_detect_min={k: round(lat[k]["min"] / lat["detect"]["min"], 3)
                                     for k in lat if k != "detect"},
            rows_also_in_detect=round(same, 3), n_detections=n,
            tied_scores=int(len(ref["scores"]) - len(np.unique(ref["scores"]))),
            versions=versions())


def run_one(name, a):
    fn_name, warmup, runs, kw = BENCHES[name]
    warmup = a.warmup if a.warmup is not None else warmup
    runs = a.runs if a.runs is not None else runs
    if name.startswith("detect") and a.no_flops:
        kw = dict(kw, flops=False)
    bl.probe_at_start()
    t0 = time.perf_counter()
    rec = globals()[fn_name](a, warmup, runs, **kw)
    rec["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    bl.emit(rec)


def run_all(a, names):
    """Each bench in a fresh subprocess (peak RSS per bench); JSON lines to stdout
    (and appended to --out); the child's stderr to --log-dir."""
    os.makedirs(a.log_dir, exist_ok=True)
    records = []
    for name in names:
        waited = bl.wait_quiet(a.quiet_wait, window_s=3.0) if a.quiet_wait > 0 else 0.0
        cmd = [sys.executable, os.path.abspath(__file__), "--bench", name,
               "--threads", str(a.threads), "--inter", str(a.inter)]
        if a.warmup is not None:
            cmd += ["--warmup", str(a.warmup)]
        if a.runs is not None:
            cmd += ["--runs", str(a.runs)]
        if a.no_flops:
            cmd.append("--no-flops")
        env = dict(os.environ, BENCH_WAITED_S=str(waited))
        log_path = os.path.join(a.log_dir, name + ".err")
        print("[bench_mrcnn] %s (waited %.0fs for quiet) ..." % (name, waited),
              file=sys.stderr, flush=True)
        with open(log_path, "w") as err:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
        if p.returncode != 0 or not lines:
            lines = [json.dumps({"peer": "mrcnn-keras3", "bench": name,
                                 "error": "exit %d, see %s" % (p.returncode, log_path)})]
        for line in lines:
            print(line, flush=True)
            records.append(json.loads(line))
            if a.out:
                with open(a.out, "a") as f:
                    f.write(line + "\n")
    return records


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--all", action="store_true", help="every bench, each in a subprocess")
    g.add_argument("--only", help="comma-separated bench names, each in a subprocess")
    g.add_argument("--bench", choices=sorted(BENCHES), help="one bench, in this process")
    g.add_argument("--list", action="store_true")
    p.add_argument("--threads", type=int, default=2, help="TF intra-op threads")
    p.add_argument("--inter", type=int, default=2, help="TF inter-op threads")
    p.add_argument("--warmup", type=int, default=None, help="override the bench's warm-up")
    p.add_argument("--runs", type=int, default=None, help="override the bench's timed runs")
    p.add_argument("--no-flops", action="store_true", help="detect: skip the FLOP count")
    p.add_argument("--out", help="also append the JSON lines to this file")
    p.add_argument("--log-dir", default=os.path.join(HERE, "results", "logs"),
                   help="stderr of each bench subprocess")
    p.add_argument("--quiet-wait", type=float, default=0.0,
                   help="before each bench wait up to this many s for a quiet machine")
    a = p.parse_args()
    if a.list:
        for k, (fn, w, r, kw) in BENCHES.items():
            print("%-22s %s warmup=%d runs=%d %s" % (k, fn, w, r, kw))
        return
    if a.bench:
        run_one(a.bench, a)
        return
    names = DEFAULT_ALL if a.all else [n.strip() for n in a.only.split(",") if n.strip()]
    bad = [n for n in names if n not in BENCHES]
    if bad:
        p.error("unknown bench(es) %s; see --list" % bad)
    run_all(a, names)


if __name__ == "__main__":
    main()
