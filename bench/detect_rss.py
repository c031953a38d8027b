"""Peak RSS of the same procedure in this package and in matterport: import,
build the COCO-like ResNet-50 inference model, detect() one 1024x1024 image
7 times; prints one JSON line with the resident set after each stage.

    python3 bench/detect_rss.py                         # ours
    cd ../shared/peers && ~/.cache/mrcnn-peers/bench-matterport/bin/python \\
        /work/main/bench/detect_rss.py --matterport      # matterport's (cwd: its mrcnn)
    python3 bench/detect_rss.py --lean-imports          # ours, as in the peers' lean venv

Keras 3 imports IPython, OpenCV and matplotlib when they are installed (~60 MB resident, before
any model exists); this package's environment has them (notebooks, shapes, visualize), the
peers' matterport venv does not. --lean-imports hides them from the import system (detect()
needs none of them), so the two processes start from the same footprint.
"""
import json
import resource
import sys


def rss_mb():
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * resource.getpagesize() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"current_mb": round(current, 1), "peak_mb": round(peak, 1)}


def main():
    matterport = "--matterport" in sys.argv
    lean = "--lean-imports" in sys.argv
    if lean:
        for name in ("IPython", "cv2", "matplotlib"):
            sys.modules[name] = None   # import raises ImportError
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    stages = {"import_tf": rss_mb()}
    from mrcnn import model as modellib
    from mrcnn.config import Config
    stages["import_mrcnn"] = rss_mb()

    class C(Config):
        NAME = "rss"
        GPU_COUNT = 1
        IMAGES_PER_GPU = 1
        NUM_CLASSES = 81
        BACKBONE = "resnet50"
        IMAGE_MIN_DIM = 800
        IMAGE_MAX_DIM = 1024
        DETECTION_MIN_CONFIDENCE = 0.0

    model = modellib.MaskRCNN(mode="inference", config=C(), model_dir="/tmp/detect_rss")
    stages["built"] = rss_mb()
    img = np.random.RandomState(1234).randint(0, 256, (1024, 1024, 3), np.uint8)
    for i in range(7):
        model.detect([img], verbose=0)
        if i in (0, 6):
            stages["detect_%d" % (i + 1)] = rss_mb()
    print(json.dumps({"bench": "detect-rss", "impl": "matterport" if matterport else "mrcnn",
                      "lean_imports": lean, "stages": stages}))


if __name__ == "__main__":
    main()
