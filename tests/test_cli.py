"""The `mrcnn` command line and the demo job (on a few steps)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mrcnn.cli import main


def test_help_and_usage_errors(capsys):
    assert main([]) == 2
    out = subprocess.run([sys.executable, "-m", "mrcnn", "demo", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "--output-dir" in out.stdout
    out = subprocess.run([sys.executable, "-m", "mrcnn", "demo"], capture_output=True, text=True)
    assert out.returncode == 2 and "--output-dir" in out.stderr



def _subparsers():
    import argparse

    from mrcnn.cli import build_parser
    parser = build_parser()
    action, = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, action.choices


def test_parser_train_and_evaluate_read_datasets_with_the_same_options():
    """train and evaluate take the dataset-reading options from one place:
    same flags, types, choices, defaults and help, and the same keyword
    arguments for load_dataset; every subcommand runs its own function."""
    from mrcnn import cli
    parser, commands = _subparsers()
    dests = ("format", "class_attribute", "ignore_labels", "crowd_as_instances")

    def described(command):
        return {a.dest: (a.option_strings, a.type, a.choices, a.required, a.default, a.help)
                for a in commands[command]._actions if a.dest in dests}
    assert described("train") == described("evaluate") and len(described("train")) == 4
    assert all(help for *_, help in described("train").values())
    reading = ["--format", "labelme", "--ignore-labels", "__ignore__, _background_",
               "--class-attribute", "kind", "--crowd-as-instances"]
    train = parser.parse_args(["train", "--train", "a", "--epochs", "1"] + reading)
    evaluate = parser.parse_args(["evaluate", "--model", "m", "--dataset", "a"] + reading)
    assert cli._dataset_options(train) == cli._dataset_options(evaluate) == {
        "class_attribute": "kind", "ignore_labels": ["__ignore__", "_background_"],
        "crowd_as_instances": True}
    assert cli._dataset_options(parser.parse_args(
        ["evaluate", "--model", "m", "--format", "coco", "--dataset", "a"])) == {
        "class_attribute": None, "ignore_labels": None, "crowd_as_instances": False}
    funcs = {name: sub.get_default("func") for name, sub in commands.items()}
    assert funcs == {"demo": cli._demo, "train": cli._train, "evaluate": cli._evaluate,
                     "detect": cli._detect, "export": cli._export,
                     "download-weights": cli._download_weights}

@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """A (barely trained) demo run: metrics, picture and model/."""
    out_dir = str(tmp_path_factory.mktemp("demo"))
    assert main(["demo", "--output-dir", out_dir, "--epochs", "1", "--steps-per-epoch", "2",
                 "--train-images", "16", "--val-images", "3", "--quiet"]) == 0
    return out_dir


def model_that_detects(model_dir, out_dir):
    """The demo model with its box classifier pushed towards the objects: 2
    training steps may leave every RoI background, and a detect test needs
    detections to compare."""
    from mrcnn.model import MaskRCNN
    model = MaskRCNN.from_directory(model_dir)
    layer = model.keras_model.get_layer("mrcnn_class_logits")
    kernel, bias = layer.get_weights()
    bias = bias.copy()
    bias[1:] += 8.0
    layer.set_weights([kernel, bias])
    model.save(out_dir, class_names=model.class_names)
    return out_dir


@pytest.fixture(scope="module")
def detecting_dir(demo_dir, tmp_path_factory):
    """demo_dir's model pushed towards the objects (model_that_detects)."""
    return model_that_detects(os.path.join(demo_dir, "model"),
                              str(tmp_path_factory.mktemp("detecting")))


def test_demo_writes_metrics_picture_and_loadable_model(demo_dir):
    out_dir = demo_dir
    with open(os.path.join(out_dir, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["num_images"] == 3 and metrics["steps"] == 2
    for key in ("mAP50", "segm_AP", "segm_AP50", "bbox_AP", "train_seconds"):
        assert 0 <= metrics[key] and np.isfinite(metrics[key]), key
    picture = np.asarray(Image.open(os.path.join(out_dir, "predictions.png")))
    assert picture.shape[0] > 100 and picture.std() > 10
    assert sorted(os.listdir(os.path.join(out_dir, "model"))) == [
        "class_names.json", "config.json", "mask_rcnn.h5"]

    from mrcnn.model import MaskRCNN
    model = MaskRCNN.from_directory(os.path.join(out_dir, "model"))
    assert model.config.BACKBONE == "resnet18" and model.config.BATCH_SIZE == 1
    result = model.detect([np.zeros((128, 128, 3), np.uint8)])[0]
    assert result["masks"].shape[:2] == (128, 128)


def _shape_images(tmp_path, count=2):
    from mrcnn.data.shapes import ShapesDataset
    dataset = ShapesDataset()
    dataset.load_shapes(count, 128, 128, seed=7)
    dataset.prepare()
    paths, images = [], []
    for i in dataset.image_ids:
        images.append(dataset.load_image(i))
        paths.append(str(tmp_path / "shapes{}.png".format(i)))
        Image.fromarray(images[-1]).save(paths[-1])
    return paths, images


def test_detect_writes_the_detections_of_maskrcnn_detect(detecting_dir, tmp_path):
    from pycocotools import mask as mask_utils

    from mrcnn.model import MaskRCNN
    model_dir = detecting_dir
    paths, images = _shape_images(tmp_path)
    out_json = str(tmp_path / "out.json")
    assert main(["detect", "--model", model_dir, "--min-confidence", "0", "--json", out_json,
                 "--save-dir", str(tmp_path / "overlays")] + paths) == 0
    with open(out_json) as f:
        report = json.load(f)
    model = MaskRCNN.from_directory(model_dir, DETECTION_MIN_CONFIDENCE=0.0)
    names = model.class_names
    assert names == ["BG", "square", "circle", "triangle"]
    expected = model.detect(images)
    total = 0
    for entry, path, r in zip(report, paths, expected):
        assert entry["image"] == path and (entry["height"], entry["width"]) == (128, 128)
        dets = entry["detections"]
        assert len(dets) == len(r["class_ids"])
        total += len(dets)
        for i, d in enumerate(dets):
            assert d["box"] == r["rois"][i].tolist()
            assert d["class_id"] == r["class_ids"][i]
            assert d["class_name"] == names[d["class_id"]]
            assert abs(d["score"] - r["scores"][i]) < 1e-5
            rle = dict(d["mask"], counts=d["mask"]["counts"].encode())
            np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool),
                                          r["masks"][..., i])
    assert total > 0
    assert sorted(os.listdir(tmp_path / "overlays")) == ["shapes0.png", "shapes1.png"]


def test_export_command_writes_a_version_and_refuses_to_overwrite(demo_dir, tmp_path, capsys):
    model_dir = os.path.join(demo_dir, "model")
    export_dir = str(tmp_path / "export")
    assert main(["export", "--model", model_dir, "--output", export_dir, "--version", "2"]) == 0
    version = os.path.join(export_dir, "2")
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(version))
    with open(os.path.join(version, "assets.extra", "class_names.json")) as f:
        assert json.load(f)[1] == "square"
    capsys.readouterr()
    assert main(["export", "--model", model_dir, "--output", export_dir, "--version", "2"]) == 1
    assert "--force" in capsys.readouterr().err


def test_evaluate_command_reports_and_writes_metrics(detecting_dir, tmp_path, capsys):
    metrics_path = str(tmp_path / "m.json")
    results_path = str(tmp_path / "r.json")
    assert main(["evaluate", "--model", detecting_dir, "--format", "shapes",
                 "--dataset", "3:5", "--set", "DETECTION_MIN_CONFIDENCE=0", "--quiet",
                 "--metrics", metrics_path, "--results", results_path]) == 0
    out = capsys.readouterr().out
    assert "mAP50" in out and "segm" in out
    with open(metrics_path) as f:
        metrics = json.load(f)
    assert metrics["num_images"] == 3 and set(metrics["per_class"]) == {
        "square", "circle", "triangle"}
    with open(results_path) as f:
        assert len(json.load(f)) == metrics["num_detections"] > 0


def test_train_command_trains_resumes_and_writes_a_model(demo_dir, tmp_path):
    from mrcnn.model import MaskRCNN
    logs = str(tmp_path / "logs")
    common = ["train", "--format", "shapes", "--train", "4:1", "--val", "2:2",
              "--config", os.path.join(demo_dir, "model", "config.json"),
              "--set", "STEPS_PER_EPOCH=1", "--set", "VALIDATION_STEPS=1",
              "--set", "IMAGES_PER_GPU=1", "--logs", logs, "--layers", "heads", "--quiet"]
    assert main(common + ["--epochs", "1", "--weights", os.path.join(demo_dir, "model",
                                                                     "mask_rcnn.h5")]) == 0
    runs = os.listdir(logs)
    assert len(runs) == 1
    run = os.path.join(logs, runs[0])
    assert "mask_rcnn_shapes_demo_0001.h5" in os.listdir(run)
    assert main(common + ["--epochs", "2", "--resume"]) == 0
    assert "mask_rcnn_shapes_demo_0002.h5" in os.listdir(run)
    model = MaskRCNN.from_directory(os.path.join(run, "model"))
    assert model.class_names == ["BG", "square", "circle", "triangle"]


def test_command_errors_name_the_problem(tmp_path, capsys):
    assert main(["detect", "--model", str(tmp_path / "missing"), "x.png"]) == 1
    assert "missing" in capsys.readouterr().err
    assert main(["evaluate", "--model", "m", "--format", "coco", "--dataset", "d.json",
                 "--set", "nope"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"x")
    assert main(["export", "--model", str(weights), "--output", str(tmp_path / "e")]) == 2
    assert "--config" in capsys.readouterr().err


def test_train_evaluate_detect_on_a_coco_export(demo_dir, tmp_path, capsys):
    """The user's path: a COCO-format export -> mrcnn train -> evaluate -> detect."""
    import warnings

    from test_data_coco import CATEGORIES, make_coco_export
    json_path, image_dir, data = make_coco_export(str(tmp_path / "export"))
    model_dir = str(tmp_path / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the export's deliberate out-of-image polygon
        assert main(["train", "--format", "coco", "--train", json_path, "--val", json_path,
                     "--config", os.path.join(demo_dir, "model", "config.json"),
                     "--set", "STEPS_PER_EPOCH=2",
                     "--set", "VALIDATION_STEPS=1", "--set", "IMAGES_PER_GPU=1",
                     "--name", "export", "--logs", str(tmp_path / "logs"),
                     "--output", model_dir, "--layers", "all", "--epochs", "1",
                     "--quiet"]) == 0
        with open(os.path.join(model_dir, "class_names.json")) as f:
            assert json.load(f) == ["BG"] + [c["name"] for c in CATEGORIES]
        capsys.readouterr()
        assert main(["evaluate", "--model", model_dir, "--format", "coco", "--dataset",
                     json_path, "--quiet", "--metrics", str(tmp_path / "m.json")]) == 0
    with open(tmp_path / "m.json") as f:
        metrics = json.load(f)
    assert metrics["num_images"] == len(data["images"])
    assert set(metrics["per_class"]) == {c["name"] for c in CATEGORIES}
    image = os.path.join(image_dir, data["images"][0]["file_name"])
    assert main(["detect", "--model", model_dir, image, "--json",
                 str(tmp_path / "d.json"), "--min-confidence", "0"]) == 0
    with open(tmp_path / "d.json") as f:
        (entry,) = json.load(f)
    assert entry["image"] == image and entry["detections"]
    names = {c["name"] for c in CATEGORIES}
    assert all(d["class_name"] in names for d in entry["detections"])
    # A second run to the same --output is refused before any training.
    assert main(["train", "--format", "coco", "--train", json_path, "--output", model_dir,
                 "--epochs", "1"]) == 1
    assert "--force" in capsys.readouterr().err


def test_dataset_classes_follow_the_training_data(tmp_path):
    """VIA classes from --class-attribute; a validation set or an evaluated
    dataset with other classes is refused instead of silently mislabelled."""
    import warnings

    from mrcnn.cli import UsageError, load_dataset
    from test_data_via import make_via_export
    (tmp_path / "a").mkdir()
    path, data = make_via_export(str(tmp_path / "a"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = load_dataset("via", path)
        train = load_dataset("via", path, class_attribute="colour")
        assert one.class_names == ["BG", "object"]
        assert train.class_names == ["BG", "blue", "red"]
        same = load_dataset("via", path, class_names=["BG", "red", "blue"],
                            class_attribute="colour")
        assert same.class_names == ["BG", "red", "blue"]  # the given order
        with pytest.raises(ValueError, match="'red', which is not in class_names"):
            load_dataset("via", path, class_names=["BG", "blue", "green"],
                         class_attribute="colour")
        # Formats whose classes come from the file itself are compared.
    with pytest.raises(ValueError, match=r"'triangle'\] but \['BG', 'a', 'b', 'c'\]"):
        load_dataset("shapes", "2", class_names=["BG", "a", "b", "c"])
    with pytest.raises(UsageError, match="COUNT"):
        load_dataset("shapes", "many")


def test_detect_overlays_of_same_named_images_do_not_overwrite(demo_dir, tmp_path):
    paths, _ = _shape_images(tmp_path, count=1)
    (tmp_path / "other").mkdir()
    twin = str(tmp_path / "other" / os.path.basename(paths[0]))
    Image.open(paths[0]).save(twin)
    assert main(["detect", "--model", os.path.join(demo_dir, "model"), paths[0], twin,
                 "--save-dir", str(tmp_path / "overlays")]) == 0
    assert sorted(os.listdir(tmp_path / "overlays")) == ["000_shapes0.png", "001_shapes0.png"]


# ----------------------------------------------------------------------
# Issue #15: weights that do not fit (10), run directories (12), full
# disks and partial overlays (13)
# ----------------------------------------------------------------------

def _copy_model(demo_dir, tmp_path, name="copy"):
    import shutil
    target = str(tmp_path / name)
    shutil.copytree(os.path.join(demo_dir, "model"), target)
    return target


def _edit_config(model_dir, **values):
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(values)
    with open(path, "w") as f:
        json.dump(config, f)


def test_detect_refuses_weights_that_leave_layers_unloaded(demo_dir, tmp_path, capsys):
    import h5py
    paths, _ = _shape_images(tmp_path, count=1)
    # The model directory's config says ResNet-34, its weights are ResNet-18's.
    other = _copy_model(demo_dir, tmp_path)
    _edit_config(other, BACKBONE="resnet34")
    capsys.readouterr()
    assert main(["detect", "--model", other] + paths) == 1
    err = capsys.readouterr().err
    assert "mask_rcnn.h5" in err and "weighted layer(s) of the model's" in err, err
    assert "res2c_branch2a" in err  # ResNet-34 has 3 blocks in stage 2, ResNet-18 2
    # An .h5 file of another model: none of its layers are the model's.
    unrelated = str(tmp_path / "other.h5")
    with h5py.File(unrelated, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        f.create_group("dense").attrs["weight_names"] = [b"dense/kernel:0"]
        f["dense"].create_dataset("dense/kernel:0", data=np.ones((3, 2), np.float32))
    config = os.path.join(demo_dir, "model", "config.json")
    assert main(["detect", "--model", unrelated, "--config", config] + paths) == 1
    err = capsys.readouterr().err
    assert "other.h5" in err and "are not in the file" in err, err
    # The directory's own weights load (every layer): accepted.
    assert main(["detect", "--model", os.path.join(demo_dir, "model")] + paths) == 0


def test_class_names_of_the_wrong_length_are_refused(demo_dir, tmp_path, capsys):
    other = _copy_model(demo_dir, tmp_path)
    with open(os.path.join(other, "class_names.json"), "w") as f:
        json.dump(["BG", "square"], f)
    paths, _ = _shape_images(tmp_path, count=1)
    capsys.readouterr()
    assert main(["detect", "--model", other] + paths) == 1
    err = capsys.readouterr().err
    assert "class_names.json: 2 class names but the model has NUM_CLASSES = 4" in err, err


def test_overlays_on_a_full_disk_leave_no_partial_png(demo_dir, tmp_path, capsys, monkeypatch):
    import errno

    import matplotlib.figure
    paths, _ = _shape_images(tmp_path, count=1)
    overlays = tmp_path / "overlays"
    model = os.path.join(demo_dir, "model")
    assert main(["detect", "--model", model, "--save-dir", str(overlays)] + paths) == 0
    (png,) = os.listdir(str(overlays))
    before = (overlays / png).read_bytes()
    assert len(before) > 1000

    def savefig(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG")  # the start of it, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    capsys.readouterr()
    assert main(["detect", "--model", model, "--save-dir", str(overlays)] + paths) == 1
    err = capsys.readouterr().err
    assert "no space left" in err and png in err and "Traceback" not in err, err
    assert os.listdir(str(overlays)) == [png] and (overlays / png).read_bytes() == before


def test_train_on_a_full_disk_and_resume_past_an_empty_run(demo_dir, tmp_path, capsys,
                                                           monkeypatch):
    import errno

    import h5py
    logs = tmp_path / "logs"
    common = ["train", "--format", "shapes", "--train", "2:1",
              "--config", os.path.join(demo_dir, "model", "config.json"),
              "--set", "STEPS_PER_EPOCH=1", "--set", "VALIDATION_STEPS=0",
              "--set", "IMAGES_PER_GPU=1", "--logs", str(logs), "--layers", "heads", "--quiet"]
    assert main(common + ["--epochs", "1"]) == 0
    (run,) = os.listdir(str(logs))
    assert "mask_rcnn_shapes_demo_0001.h5" in os.listdir(str(logs / run))
    # A newer run killed in its first epoch: an empty run directory.
    os.makedirs(str(logs / "shapes_demo29990101T000000-01"))
    original = h5py.Group.create_dataset

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(h5py.Group, "create_dataset", full)
    capsys.readouterr()
    assert main(common + ["--epochs", "2", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "no space left" in err and "mask_rcnn_shapes_demo_0002.h5" in err, err
    assert "Traceback" not in err
    monkeypatch.setattr(h5py.Group, "create_dataset", original)
    files = os.listdir(str(logs / run))
    assert "mask_rcnn_shapes_demo_0002.h5" not in files
    assert not [f for f in files if f.endswith(".tmp")]
    assert main(common + ["--epochs", "2", "--resume"]) == 0
    assert "mask_rcnn_shapes_demo_0002.h5" in os.listdir(str(logs / run))


def _child_env():
    """The environment of a child `python -m mrcnn`: the mrcnn under test."""
    import mrcnn
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(mrcnn.__file__))),
         os.environ.get("PYTHONPATH", "")]))


def test_train_on_crowd_only_masks_fails_fast_or_trains_with_the_option(tmp_path, capsys):
    """A CVAT "COCO 1.0" mask export (all iscrowd 1): mrcnn train ends within
    seconds with an error naming --crowd-as-instances (it used to wait
    forever for a batch); with the option it trains."""
    import time
    import warnings

    from test_data_coco import _tiny_config, make_cvat_mask_export
    json_path, _, _ = make_cvat_mask_export(str(tmp_path / "export"))
    config = str(tmp_path / "tiny.json")
    _tiny_config(1).save(config)
    command = ["train", "--format", "coco", "--train", json_path, "--config", config,
               "--epochs", "1", "--logs", str(tmp_path / "logs"), "--quiet"]
    start = time.time()
    child = subprocess.run([sys.executable, "-m", "mrcnn"] + command, capture_output=True,
                           text=True, timeout=120, env=_child_env())
    assert child.returncode == 1, child.stderr[-2000:]
    assert time.time() - start < 60
    error = child.stderr.strip().splitlines()[-1]
    assert error.startswith("mrcnn train: error: --train {}: the dataset (CocoFormatDataset) "
                            "has no instance to train on".format(json_path))
    assert "are crowd regions" in error and "--crowd-as-instances" in error
    assert "all 3 annotations are crowd regions" in child.stderr  # the loader's warning

    output = str(tmp_path / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(command + ["--crowd-as-instances", "--output", output]) == 0
    with open(os.path.join(output, "class_names.json")) as f:
        assert json.load(f) == ["BG", "blob"]
    assert main(["train", "--format", "via", "--train", json_path, "--epochs", "1",
                 "--crowd-as-instances"]) == 2
    assert "applies to --format coco only" in capsys.readouterr().err


def test_config_values_of_the_wrong_type_are_named(tmp_path, capsys):
    assert main(["train", "--format", "shapes", "--train", "2", "--epochs", "1",
                 "--set", 'NUM_CLASSES="4"', "--logs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "NUM_CLASSES = '4': must be an integer" in err and "--set NUM_CLASSES=4" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_detect_refuses_pipes_and_link_loops_before_loading_the_model(tmp_path, capsys):
    fifo = str(tmp_path / "camera.jpg")
    os.mkfifo(fifo)
    model = str(tmp_path / "no-model")  # never reached
    assert main(["detect", "--model", model, fifo]) == 1
    assert "camera.jpg is a named pipe (FIFO), not an image file" in capsys.readouterr().err
    loop = str(tmp_path / "loop.jpg")
    os.symlink(loop, loop)
    assert main(["detect", "--model", model, loop]) == 1
    assert "symbolic link loop: {}".format(loop) in capsys.readouterr().err
