"""Fuzzing the annotation loaders: no input may crash the interpreter, hang,
or fail with anything but the loaders' named errors.

Each case takes a valid file of one format (COCO, VIA, LabelMe, the folder
format's class map), applies 1-3 random mutations to its parsed JSON (a
value replaced by a huge, negative, NaN or infinite number, a string, null,
a bool or an empty container; a number turned into its string; a key or an
element dropped or duplicated; a list turned into an object...), sometimes
damages the text itself, then loads it and calls load_mask and load_image on
every image. The case must end in success or in AnnotationError/ValueError
(or FileNotFoundError for a missing image) whose message names a file of
the case; any other exception is a failure.

The cases run in a child process, one after another, and the parent watches
it: a child killed by a signal (a segfault in pycocotools, exit 139) or a
case running longer than CASE_TIMEOUT seconds (a hang) is recorded against
the case, and a new child carries on with the next one. Every case is
reproducible from (loader, seed, index): `mutated_case` rebuilds it.

The fast variant (FAST_CASES per loader) runs with the suite; the slow one
(SLOW_CASES per loader) only with `pytest --runslow` (see conftest.py).
"""
import base64
import copy
import io
import json
import os
import random
import subprocess
import sys
import time
import traceback

import numpy as np
import pytest

from test_data_coco import _uncompressed_rle  # tests/ is on sys.path (no __init__.py)

LOADERS = ("coco", "via", "labelme", "folder")
FAST_CASES = 50
SLOW_CASES = 1000
CASE_TIMEOUT = 30.0
SEED = 20240515

# Values a mutation puts in place of another.
REPLACEMENTS = [0, -1, -7.5, 65, 0.5, 1e-300, 1e9, -1e9, 1e12, 1e18, -1e18, 1e308, -1e308,
                2 ** 31, 2 ** 63, 2 ** 64 + 1, 10 ** 30, -(10 ** 30), float("nan"),
                float("inf"), float("-inf"), "", "12", "-3.5", "1e9", "abc", "NaN", "\u00e9\u00e8",
                "../../../etc/passwd", "a" * 300, None, True, False, [], {}, [[]], [None],
                [1, 2], {"x": 1}, [0] * 7]


############################################################
#  Valid seed files
############################################################

def _png(array):
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(_png(array))


def _rgb(height, width, seed):
    return np.random.RandomState(seed).randint(0, 255, (height, width, 3)).astype(np.uint8)


def _coco_rle(mask):
    from pycocotools import mask as mask_util
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(mask.shape), "counts": rle["counts"].decode("ascii")}


def write_seeds(root):
    """Valid files of every format under `root`. Returns {loader: (path of
    the JSON file the cases mutate, its parsed content)}; for labelme the
    folder holds two files and the cases mutate either."""
    seeds = {}

    # COCO, in datumaro's layout: annotations/instances_default.json and
    # images/default/ (found without an image_dir).
    coco_dir = os.path.join(root, "coco")
    _save(os.path.join(coco_dir, "images", "default", "a.png"), _rgb(48, 64, 0))
    _save(os.path.join(coco_dir, "images", "default", "b.png"), _rgb(32, 40, 1))
    blob = np.zeros((48, 64), bool)
    blob[10:30, 20:50] = True
    ring = np.zeros((32, 40), bool)
    ring[5:25, 5:30] = True
    ring[10:20, 10:20] = False
    coco = {
        "info": {"description": "fuzz seed"}, "licenses": [],
        "categories": [{"id": 1, "name": "cat", "supercategory": ""},
                       {"id": 4, "name": "dog", "supercategory": ""}],
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48},
                   {"id": 2, "file_name": "b.png"}],  # size from the header
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 300.0,
             "bbox": [10, 5, 20, 20], "segmentation": [[10, 5, 30, 5, 30, 25, 10, 25]]},
            {"id": 2, "image_id": 1, "category_id": 4, "iscrowd": 0, "area": 200.0,
             "bbox": [35, 20, 25, 25],
             "segmentation": [[35, 20, 60, 22, 50, 45], [40, 40, 45, 40, 45, 47.5]]},
            {"id": 3, "image_id": 1, "category_id": 4, "iscrowd": 1, "area": 600.0,
             "bbox": [20, 10, 30, 20], "segmentation": _coco_rle(blob)},
            {"id": 4, "image_id": 2, "category_id": 1, "iscrowd": 1, "area": 400.0,
             "bbox": [5, 5, 25, 20], "segmentation": _uncompressed_rle(ring)},
            {"id": 5, "image_id": 2, "category_id": 1, "iscrowd": 0, "area": 100.0,
             "bbox": [2, 2, 10, 10]},  # detection only: the box is the mask
        ]}
    path = os.path.join(coco_dir, "annotations", "instances_default.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(coco, f)
    seeds["coco"] = (path, coco)

    # VIA 1.x export.
    via_dir = os.path.join(root, "via")
    _save(os.path.join(via_dir, "a.png"), _rgb(48, 64, 2))
    _save(os.path.join(via_dir, "b.png"), _rgb(32, 40, 3))
    via = {
        "a.png100": {"filename": "a.png", "size": 100, "file_attributes": {}, "regions": {
            "0": {"shape_attributes": {"name": "polygon", "all_points_x": [5, 30, 20],
                                       "all_points_y": [5, 8, 30]},
                  "region_attributes": {"colour": "red"}},
            "1": {"shape_attributes": {"name": "rect", "x": 35, "y": 5, "width": 20,
                                       "height": 15},
                  "region_attributes": {"colour": {"blue": True, "red": False}}}}},
        "b.png200": {"filename": "b.png", "size": 200, "file_attributes": {}, "regions": [
            {"shape_attributes": {"name": "circle", "cx": 20, "cy": 15, "r": 8.5},
             "region_attributes": {"colour": "red"}},
            {"shape_attributes": {"name": "ellipse", "cx": 10, "cy": 25, "rx": 6, "ry": 3,
                                  "theta": 0.4},
             "region_attributes": {"colour": "blue"}},
            {"shape_attributes": {"name": "polygon", "all_points_x": [30, 45, 35],
                                  "all_points_y": [-5, 10, 20]},
             "region_attributes": {"colour": "blue"}},
            {"shape_attributes": {"name": "point", "cx": 3, "cy": 3},
             "region_attributes": {"colour": "red"}}]},
    }
    path = os.path.join(via_dir, "via_region_data.json")
    with open(path, "w") as f:
        json.dump(via, f)
    seeds["via"] = (path, via)

    # LabelMe: a.json with an image file, b.json with an embedded image.
    labelme_dir = os.path.join(root, "labelme")
    _save(os.path.join(labelme_dir, "a.png"), _rgb(48, 64, 4))
    patch = np.zeros((6, 8), np.uint8)
    patch[1:5, 2:7] = 255

    def shape(label, points, kind="polygon", group=None, **extra):
        return dict({"label": label, "points": points, "group_id": group,
                     "shape_type": kind, "flags": {}}, **extra)

    a = {"version": "5.4.1", "flags": {}, "imagePath": "a.png", "imageData": None,
         "imageHeight": 48, "imageWidth": 64, "shapes": [
             shape("cat", [[5, 5], [30, 6], [25, 30], [4, 20]]),
             shape("dog", [[40, 30], [60, 10]], "rectangle"),
             shape("cat", [[50, 40], [50, 45]], "circle"),
             shape("dog", [[2, 35], [12, 35], [12, 45]], group=1),
             shape("dog", [[15, 35], [25, 35], [20, 46]], group=1),
             shape("bird", [[30, 30], [38, 36]], "mask",
                   mask=base64.b64encode(_png(patch)).decode("ascii")),
             shape("cat", [[1, 1], [5, 5], [9, 2]], "linestrip")]}
    b = {"version": "5.0.1", "flags": {}, "imagePath": "gone.png",
         "imageData": base64.b64encode(_png(_rgb(16, 20, 5))).decode("ascii"),
         "imageHeight": 16, "imageWidth": 20,
         "shapes": [shape("cat", [[2, 2], [15, 3], [8, 12]])]}
    os.makedirs(labelme_dir, exist_ok=True)
    for name, data in (("a", a), ("b", b)):
        with open(os.path.join(labelme_dir, name + ".json"), "w") as f:
            json.dump(data, f)
    seeds["labelme"] = ({"a": os.path.join(labelme_dir, "a.json"),
                         "b": os.path.join(labelme_dir, "b.json")}, {"a": a, "b": b})

    # Image folder: the class map is the JSON the cases mutate.
    folder_dir = os.path.join(root, "folder")
    labels_x = np.zeros((24, 32), np.uint8)
    labels_x[2:10, 3:12], labels_x[12:20, 15:30] = 1, 2
    labels_y = np.zeros((20, 20), np.uint16)
    labels_y[5:15, 5:15], labels_y[0:3, 0:3] = 1, 3
    _save(os.path.join(folder_dir, "images", "x.png"), _rgb(24, 32, 6))
    _save(os.path.join(folder_dir, "images", "y.png"), _rgb(20, 20, 7))
    _save(os.path.join(folder_dir, "masks", "x.png"), labels_x)
    from PIL import Image
    Image.fromarray(labels_y).save(os.path.join(folder_dir, "masks", "y.png"))
    class_map = {"classes": ["cat", "dog"], "instances": {"1": "cat", "2": "dog"},
                 "images": {"y": {"1": "dog", "3": 1}}, "default": "cat"}
    path = os.path.join(folder_dir, "classes.json")
    with open(path, "w") as f:
        json.dump(class_map, f)
    seeds["folder"] = (path, class_map)
    return seeds


############################################################
#  Mutations
############################################################

def _slots(value, out):
    """Every (container, key) of a parsed JSON value, depth first."""
    if isinstance(value, dict):
        for key in list(value):
            out.append((value, key))
            _slots(value[key], out)
    elif isinstance(value, list):
        for i in range(len(value)):
            out.append((value, i))
            _slots(value[i], out)
    return out


def _swap_type(value, rng):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return rng.choice([str(value), [value], {"value": value}, value * rng.choice(
            [1e8, -1e9, 1e300]) if value else 1e9])
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return rng.choice([len(value), [value], {value: value}])
    if isinstance(value, list):
        return rng.choice([{str(i): v for i, v in enumerate(value)}, list(reversed(value)),
                           value[:1], value * 3, [str(v) for v in value]])
    if isinstance(value, dict):
        return rng.choice([list(value.values()), list(value), json.dumps(value)])
    return rng.choice(REPLACEMENTS)


def mutate(data, rng):
    """A mutated deep copy of parsed JSON (1-3 mutations)."""
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        slots = _slots(data, [])
        if not slots:
            return rng.choice(REPLACEMENTS)
        container, key = rng.choice(slots)
        kind = rng.random()
        if kind < 0.35:
            container[key] = copy.deepcopy(rng.choice(REPLACEMENTS))
        elif kind < 0.6:
            container[key] = _swap_type(container[key], rng)
        elif kind < 0.8:
            del container[key]
        elif kind < 0.9:
            if isinstance(container, list):
                container.insert(key, copy.deepcopy(container[key]))
            else:
                container[key + "_"] = copy.deepcopy(container[key])
        else:
            value = container[key]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                container[key] = rng.choice([-value, value * 1e8, value + 0.5, -1e9, 1e9])
            else:
                container[key] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return data


def _text(data, rng):
    """JSON text of mutated data; sometimes damaged (cut, a stray byte)."""
    text = json.dumps(data)  # NaN and Infinity as Python writes them
    r = rng.random()
    if r < 0.04 and len(text) > 2:
        text = text[:rng.randrange(1, len(text))]
    elif r < 0.07:
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice(["\x00", "\ufeff", "}", ",", "\ud800"]) + text[i:]
    return text


def mutated_case(seeds, loader, seed, index):
    """(path to write, text) of case `index`; the same for the same arguments."""
    rng = random.Random("{}:{}:{}".format(seed, loader, index))
    paths, data = seeds[loader]
    if loader == "labelme":
        which = rng.choice(["a", "b"])
        paths, data = paths[which], data[which]
    return paths, _text(mutate(data, rng), rng)


############################################################
#  Running cases (child process)
############################################################

def _load_and_read(loader, seeds, variant):
    """Load the (mutated) files of `loader` and read every image's masks
    and pixels."""
    from mrcnn.data.coco import load_coco_json
    from mrcnn.data.folder import load_image_folder
    from mrcnn.data.labelme import load_labelme_folder
    from mrcnn.data.via import load_via_json

    if loader == "coco":
        dataset = load_coco_json(seeds["coco"][0], crowd_as_instances=bool(variant % 2))
    elif loader == "via":
        dataset = load_via_json(seeds["via"][0],
                                class_attribute="colour" if variant % 2 else None)
    elif loader == "labelme":
        dataset = load_labelme_folder(os.path.dirname(seeds["labelme"][0]["a"]))
    else:
        root = os.path.dirname(seeds["folder"][0])
        dataset = load_image_folder(os.path.join(root, "images"), os.path.join(root, "masks"),
                                    class_map=seeds["folder"][0])
    for image_id in dataset.image_ids:
        dataset.load_mask(image_id)
        dataset.load_image(image_id)
    return dataset


def _names_a_file(message, path, root):
    return root in message or os.path.basename(path) in message


def run_cases(root, loader, seed, start, stop, results_path, progress_path):
    """Child process: cases start..stop-1, one JSON line per finished case
    in results_path; "index" in progress_path before each case starts."""
    import warnings

    import mrcnn.data  # noqa: F401 (imported before the first case is timed)
    from mrcnn.data.annotations import AnnotationError

    seeds = write_seeds(os.path.join(root, "seed"))
    originals = {}
    for name, (paths, _) in seeds.items():
        for path in (paths.values() if isinstance(paths, dict) else [paths]):
            with open(path, "rb") as f:
                originals[path] = f.read()
    with open(results_path, "a") as results, open(progress_path, "a") as progress:
        for index in range(start, stop):
            path, text = mutated_case(seeds, loader, seed, index)
            progress.write("{}\n".format(index))
            progress.flush()
            with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(text)
            record = {"case": index}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _load_and_read(loader, seeds, index)
                record["outcome"] = "ok"
            except (AnnotationError, ValueError, FileNotFoundError) as e:
                named = _names_a_file(str(e), path, root)
                record.update(outcome="error" if named else "unnamed", type=type(e).__name__,
                              message=str(e)[:500])
            except Exception as e:  # anything else is a failure of the test
                record.update(outcome="other", type=type(e).__name__, message=str(e)[:500],
                              traceback=traceback.format_exc()[-3000:])
            with open(path, "wb") as f:  # the next case starts from the seed
                f.write(originals[path])
            results.write(json.dumps(record) + "\n")
            results.flush()


def fuzz(loader, cases, tmp_path, seed=SEED, case_timeout=CASE_TIMEOUT):
    """Run `cases` cases of `loader` in watched child processes. Returns
    {"ok", "error", "unnamed", "other", "crash", "hang": counts} and the
    records of the failures."""
    root = str(tmp_path)
    results_path = os.path.join(root, "results.jsonl")
    progress_path = os.path.join(root, "progress.txt")
    import mrcnn
    env = dict(os.environ)
    # The child imports the mrcnn this process tests.
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(mrcnn.__file__)))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    failures = []
    start = 0
    while start < cases:
        child = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), root, loader, str(seed), str(start),
             str(cases), results_path, progress_path],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        current, since, hung = None, time.time(), False
        while child.poll() is None:
            time.sleep(0.05)
            last = _last_started(progress_path)
            if last != current:
                current, since = last, time.time()
            elif current is not None and current >= start and \
                    time.time() - since > case_timeout:
                child.kill()
                hung = True
                break
        child.wait()
        stderr = child.stderr.read().decode("utf-8", "replace")
        child.stderr.close()
        if child.returncode == 0 and not hung:
            break
        current = _last_started(progress_path)
        if current is None or current < start:
            raise RuntimeError("the fuzz child failed before its first case (exit status "
                               "{}): {}".format(child.returncode, stderr[-3000:]))
        if hung:
            failures.append({"case": current, "outcome": "hang",
                             "message": "still running after {:.0f} s".format(case_timeout)})
        else:
            failures.append({"case": current, "outcome": "crash",
                             "message": "exit status {}: {}".format(child.returncode,
                                                                     stderr[-2000:])})
        start = current + 1
    done = _read_results(results_path)
    counts = {k: 0 for k in ("ok", "error", "unnamed", "other", "crash", "hang")}
    for record in done.values():
        counts[record["outcome"]] += 1
        if record["outcome"] in ("unnamed", "other"):
            failures.append(record)
    for failure in failures:
        if failure["outcome"] in ("crash", "hang"):
            counts[failure["outcome"]] += 1
    return counts, failures


def _last_started(progress_path):
    if not os.path.exists(progress_path):
        return None
    with open(progress_path) as f:
        lines = f.read().split()
    return int(lines[-1]) if lines else None


def _read_results(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["case"]: r for r in records}


def _check(loader, cases, tmp_path):
    counts, failures = fuzz(loader, cases, tmp_path)
    tried = sum(counts.values())
    print("fuzz {}: {} cases: {} loaded, {} named errors, {} unnamed errors, {} other "
          "exceptions, {} crashes, {} hangs".format(
              loader, tried, counts["ok"], counts["error"], counts["unnamed"],
              counts["other"], counts["crash"], counts["hang"]))
    assert tried == cases
    if failures:
        seeds = write_seeds(str(tmp_path / "replay"))
        shown = []
        for failure in failures[:5]:
            path, text = mutated_case(seeds, loader, SEED, failure["case"])
            shown.append("case {} ({}): {} {}\n  {} <- {}".format(
                failure["case"], failure["outcome"], failure.get("type", ""),
                failure.get("message", "")[:400], os.path.basename(path), text[:600]))
        pytest.fail("{} of {} {} cases failed:\n{}".format(len(failures), cases, loader,
                                                           "\n".join(shown)))
    # The mutations reach the loaders' checks, not only their JSON parser.
    assert counts["ok"] > 0 and counts["error"] > 0


@pytest.mark.parametrize("loader", LOADERS)
def test_fuzzed_files_load_or_fail_with_a_named_error(loader, tmp_path):
    _check(loader, FAST_CASES, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("loader", LOADERS)
def test_fuzzed_files_load_or_fail_with_a_named_error_many(loader, tmp_path):
    _check(loader, SLOW_CASES, tmp_path)


def test_the_watcher_sees_crashes_and_hangs(tmp_path, monkeypatch):
    """The harness itself: a case that kills its process or never ends is
    counted as a crash or a hang, and the cases after it still run."""
    monkeypatch.setenv("MRCNN_FUZZ_SABOTAGE", "3:crash,5:hang")
    counts, failures = fuzz("folder", 8, tmp_path, case_timeout=5)
    assert counts["crash"] == 1 and counts["hang"] == 1
    assert sorted((f["case"], f["outcome"]) for f in failures
                  if f["outcome"] in ("crash", "hang")) == [(3, "crash"), (5, "hang")]
    assert counts["ok"] + counts["error"] + counts["unnamed"] + counts["other"] == 6


def _sabotage(index):
    """Test hook of the harness test (MRCNN_FUZZ_SABOTAGE=case:crash,...)."""
    for item in os.environ.get("MRCNN_FUZZ_SABOTAGE", "").split(","):
        if item:
            case, what = item.split(":")
            if int(case) == index:
                if what == "crash":
                    os.abort()
                while True:
                    time.sleep(1)


if __name__ == "__main__":
    _root, _loader, _seed, _start, _stop, _results, _progress = sys.argv[1:8]
    _original = _load_and_read

    def _load_and_read(loader, seeds, variant):  # noqa: F811
        _sabotage(variant)
        return _original(loader, seeds, variant)
    run_cases(_root, _loader, _seed, int(_start), int(_stop), _results, _progress)


_HUGE_SHAPES = r'''
import json, sys, warnings
from mrcnn.data.labelme import load_labelme_folder
from mrcnn.data.via import load_via_json
root = sys.argv[1]
out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    via = load_via_json(root + "/via/via.json")
    labelme = load_labelme_folder(root + "/labelme")
out["via"] = via.load_mask(0)[0].sum(axis=(0, 1)).tolist()
out["labelme"] = labelme.load_mask(0)[0].sum(axis=(0, 1)).tolist()
out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out))
'''


def test_via_and_labelme_shapes_at_1e9_keep_their_pixels(tmp_path):
    """The shared rasteriser clips for every format: VIA and LabelMe shapes
    at +-1e9 (which crashed or came out empty) cover what they cover inside
    the image. In a child process, so that a crash fails only this test."""
    import mrcnn
    os.makedirs(str(tmp_path / "via"))
    os.makedirs(str(tmp_path / "labelme"))
    _save(str(tmp_path / "via" / "a.png"), _rgb(30, 40, 0))
    _save(str(tmp_path / "labelme" / "a.png"), _rgb(30, 40, 0))
    via = {"a.png1": {"filename": "a.png", "size": 1, "file_attributes": {}, "regions": [
        {"shape_attributes": {"name": "polygon", "all_points_x": [-1e9, 1e9, 0],
                              "all_points_y": [-1e9, -1e9, 1e9]}, "region_attributes": {}},
        {"shape_attributes": {"name": "rect", "x": 10, "y": -1e9, "width": 1e9,
                              "height": 2e9}, "region_attributes": {}}]}}
    with open(str(tmp_path / "via" / "via.json"), "w") as f:
        json.dump(via, f)
    labelme = {"version": "5.4.1", "flags": {}, "imagePath": "a.png", "imageData": None,
               "imageHeight": 30, "imageWidth": 40, "shapes": [
                   {"label": "x", "points": [[-1e9, 5], [1e9, 5], [1e9, 1e9], [-1e9, 1e9]],
                    "group_id": None, "shape_type": "polygon", "flags": {}},
                   {"label": "x", "points": [[-1e9, -1e9], [20, 1e9]], "group_id": None,
                    "shape_type": "rectangle", "flags": {}}]}
    with open(str(tmp_path / "labelme" / "a.json"), "w") as f:
        json.dump(labelme, f)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(mrcnn.__file__))),
         os.environ.get("PYTHONPATH", "")]))
    child = subprocess.run([sys.executable, "-c", _HUGE_SHAPES, str(tmp_path)],
                           capture_output=True, text=True, timeout=120, env=env)
    assert child.returncode == 0, child.stderr[-2000:]
    out = json.loads(child.stdout.splitlines()[-1])
    assert out["via"] == [30 * 40, 30 * 30]
    assert out["labelme"] == [25 * 40, 30 * 20]
    assert sum("reaching outside the image clipped" in w for w in out["warnings"]) == 2


def test_bomb_sized_images_are_named_errors_in_every_loader(tmp_path):
    import struct
    import zlib

    from mrcnn.data.annotations import AnnotationError
    from mrcnn.data.folder import load_image_folder
    from mrcnn.data.via import load_via_json

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "big.png").write_bytes(bomb)
    _save(str(tmp_path / "masks" / "big.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(AnnotationError, match=r"big\.png: the image header claims 50000 x "
                                              r"50000 pixels"):
        load_image_folder(str(tmp_path / "images"), str(tmp_path / "masks"))
    via = {"big.png1": {"filename": "big.png", "size": 1, "file_attributes": {},
                        "regions": []}}
    (tmp_path / "images" / "via.json").write_text(json.dumps(via))
    with pytest.raises(AnnotationError, match=r"big\.png: the image header claims 50000"):
        load_via_json(str(tmp_path / "images" / "via.json"))
