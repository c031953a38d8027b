"""samples/coco/coco.py and samples/balloon/balloon.py, imported like a
notebook does (their folder on sys.path), on files generated here. The
networks are replaced by stand-ins: these tests check the samples' data
handling and wiring; test_data_coco.py trains the real model once."""
import http.server
import importlib
import json
import os
import shutil
import sys
import threading
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from mrcnn import utils
from test_data_coco import make_coco_export

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_sample(name):
    folder = os.path.join(ROOT, "samples", name)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def coco():
    return import_sample("coco")


@pytest.fixture(scope="module")
def balloon():
    return import_sample("balloon")


############################################################
#  Stand-in for MaskRCNN
############################################################

class FakeModel:
    """Records what the samples ask of MaskRCNN; detect() returns the
    non-crowd ground truth of `FakeModel.truth` in order."""
    instances = []
    truth = None

    def __init__(self, mode, config, model_dir):
        self.mode, self.config, self.model_dir = mode, config, model_dir
        self.calls = []
        self.next_image = 0
        FakeModel.instances.append(self)

    def find_last(self):
        return "last.h5"

    def get_imagenet_weights(self):
        return "imagenet.h5"

    def load_weights(self, path, by_name=False, exclude=None):
        self.calls.append(("load_weights", path, by_name, exclude))

    def train(self, train_dataset, val_dataset, learning_rate, epochs, layers,
              augmentation=None):
        self.calls.append(("train", train_dataset, val_dataset, learning_rate, epochs, layers,
                           augmentation))

    def detect(self, images, verbose=0):
        out = []
        for image in images:
            if FakeModel.truth is None:  # splash: one "balloon" in the middle
                masks = np.zeros(image.shape[:2] + (1,), bool)
                masks[image.shape[0] // 4:image.shape[0] // 2, 5:15, 0] = True
                class_ids = np.array([1], np.int32)
            else:
                masks, class_ids = FakeModel.truth.load_mask(self.next_image)
                self.next_image += 1
                keep = class_ids > 0
                masks, class_ids = masks[..., keep], class_ids[keep]
            out.append({"rois": utils.extract_bboxes(masks), "class_ids": class_ids,
                        "scores": np.ones(len(class_ids)), "masks": masks})
        return out


@pytest.fixture
def fake_model(monkeypatch):
    import mrcnn.model
    FakeModel.instances = []
    FakeModel.truth = None
    monkeypatch.setattr(mrcnn.model, "MaskRCNN", FakeModel)
    return FakeModel


############################################################
#  COCO sample
############################################################

def make_coco_dir(root, subsets_years):
    """matterport's layout: annotations/instances_<subset><year>.json and
    <folder><year>/ images, from the test export (image ids made unique per
    subset)."""
    export_dir = os.path.join(root, "_export")
    json_path, image_dir, data = make_coco_export(export_dir)
    for k, (subset, year) in enumerate(subsets_years):
        folder = "val" if subset in ("minival", "valminusminival") else subset
        images_out = os.path.join(root, "{}{}".format(folder, year))
        os.makedirs(images_out, exist_ok=True)
        d = json.loads(json.dumps(data))
        for image in d["images"]:
            image["id"] += 1000 * k
            image["file_name"] = "{}_{}".format(subset, image["file_name"])
            shutil.copy(os.path.join(image_dir, image["file_name"].split("_", 1)[1]),
                        os.path.join(images_out, image["file_name"]))
        for ann in d["annotations"]:
            ann["image_id"] += 1000 * k
        os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
        with open(os.path.join(root, "annotations",
                               "instances_{}{}.json".format(subset, year)), "w") as f:
            json.dump(d, f)
    shutil.rmtree(export_dir)
    return data


def test_coco_sample_loads_matterport_layout(coco, tmp_path):
    from pycocotools.coco import COCO

    make_coco_dir(str(tmp_path), [("minival", "2014")])
    dataset = coco.CocoDataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cocoapi = dataset.load_coco(str(tmp_path), "minival", return_coco=True)
    dataset.prepare()
    assert isinstance(cocoapi, COCO)
    assert coco.DEFAULT_DATASET_YEAR == "2014"
    assert dataset.class_names == ["BG", "cat", "dog", "bird"]
    # Images without annotations are skipped, as in matterport.
    assert [info["id"] for info in dataset.image_info] == [101, 102]
    assert dataset.image_info[0]["path"] == os.path.join(str(tmp_path), "val2014",
                                                         "minival_a.png")
    assert dataset.image_reference(1) == "http://cocodataset.org/#explore?id=102"
    masks, class_ids = dataset.load_mask(0)
    assert list(class_ids) == [1, 2, -2]
    for k, ann in enumerate(dataset.image_info[0]["annotations"]):
        np.testing.assert_array_equal(masks[..., k], cocoapi.annToMask(ann).astype(bool))
        np.testing.assert_array_equal(dataset.annToMask(ann, 96, 128),
                                      coco.annToMask(ann, 96, 128))
        rle = dataset.annToRLE(ann, 96, 128)
        assert tuple(rle["size"]) == (96, 128)
    # A class subset keeps the images that contain it.
    subset = coco.CocoDataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        subset.load_coco(str(tmp_path), "minival", class_ids=[12])
    subset.prepare()
    assert subset.class_names == ["BG", "bird"] and subset.num_images == 1
    assert coco.CocoConfig().NUM_CLASSES == 81 and coco.CocoConfig().NAME == "coco"


def test_coco_build_results_and_evaluate(coco, tmp_path):
    make_coco_dir(str(tmp_path), [("minival", "2014")])
    dataset = coco.CocoDataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cocoapi = dataset.load_coco(str(tmp_path), "minival", return_coco=True)
    dataset.prepare()
    masks, class_ids = dataset.load_mask(1)
    results = coco.build_coco_results(dataset, [102], utils.extract_bboxes(masks), class_ids,
                                      np.ones(len(class_ids)), masks.astype(np.uint8))
    assert [r["category_id"] for r in results] == [12, 3]
    FakeModel.truth = dataset
    try:
        for eval_type in ("bbox", "segm"):
            model = FakeModel("inference", coco.CocoInferenceConfig(), str(tmp_path))
            stats = coco.evaluate_coco(model, dataset, cocoapi, eval_type, limit=0)
            assert stats["AP"] == pytest.approx(1.0)
    finally:
        FakeModel.truth = None


def test_coco_command_line(coco, tmp_path, fake_model, capsys):
    make_coco_dir(str(tmp_path), [("train", "2014"), ("valminusminival", "2014"),
                                  ("minival", "2014")])
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coco.main(["train", "--dataset", str(tmp_path), "--model", str(weights),
                   "--logs", str(tmp_path / "logs")])
    model = fake_model.instances[-1]
    assert model.mode == "training" and model.config.NAME == "coco"
    assert model.calls[0] == ("load_weights", str(weights), True, None)
    stages = [(c[4], c[5]) for c in model.calls[1:]]
    assert stages == [(40, "heads"), (120, "4+"), (160, "all")]
    train_set, val_set = model.calls[1][1], model.calls[1][2]
    assert train_set.num_images == 4 and val_set.num_images == 2  # train + valminusminival
    assert model.calls[3][3] == pytest.approx(model.config.LEARNING_RATE / 10)

    # evaluate: the stand-in returns the ground truth, so AP is 1.
    truth = coco.CocoDataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        truth.load_coco(str(tmp_path), "minival")
        truth.prepare()
        fake_model.truth = truth
        stats = coco.main(["evaluate", "--dataset", str(tmp_path), "--model", "last",
                           "--limit", "1", "--eval-type", "segm"])
    assert stats["AP"] == pytest.approx(1.0)
    assert fake_model.instances[-1].calls[0][1] == "last.h5"
    assert "Running COCO evaluation on 1 images." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        coco.main(["evaluate", "--dataset", str(tmp_path), "--model", "last",
                   "--download", "maybe"])


class _ZipHandler(http.server.BaseHTTPRequestHandler):
    files = {}
    requested = []

    def do_GET(self):
        self.requested.append(self.path)
        payload = self.files.get(self.path.split("?")[0])
        if payload is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def zip_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ZipHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _ZipHandler.files, _ZipHandler.requested = {}, []
    yield "http://127.0.0.1:{}".format(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def _zip_folder(source_root, names):
    """Zip bytes of the given paths (relative to source_root)."""
    import io
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.write(os.path.join(source_root, name), name)
    return buffer.getvalue()


def test_auto_download_from_a_local_server(coco, tmp_path, zip_server, monkeypatch):
    source = tmp_path / "server"
    make_coco_dir(str(source), [("val", "2017"), ("minival", "2014")])
    val_images = ["val2017/" + n for n in sorted(os.listdir(source / "val2017"))]
    _ZipHandler.files = {
        "/zips/val2017.zip": _zip_folder(str(source), val_images),
        "/annotations/annotations_trainval2017.zip": _zip_folder(
            str(source), ["annotations/instances_val2017.json"]),
        "/zips/val2014.zip": _zip_folder(
            str(source), ["val2014/" + n for n in sorted(os.listdir(source / "val2014"))]),
        "/minival.zip": _zip_folder(str(source / "annotations"),
                                    ["instances_minival2014.json"]),
    }
    monkeypatch.setattr(coco, "COCO_IMAGES_URL", zip_server + "/zips/")
    monkeypatch.setattr(coco, "COCO_ANNOTATIONS_URL", zip_server + "/annotations/")
    monkeypatch.setattr(coco, "SPLIT_ANNOTATION_URLS",
                        {"minival": zip_server + "/minival.zip?dl=0"})
    target = tmp_path / "coco"
    for subset, year in (("val", 2017), ("minival", "2014")):
        dataset = coco.CocoDataset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.load_coco(str(target), subset, year=year, auto_download=True)
        dataset.prepare()
        assert dataset.num_images == 2
        assert dataset.load_image(0).shape == (96, 128, 3)
    assert sorted(os.listdir(target)) == ["annotations", "val2014", "val2017"]
    assert sorted(os.listdir(target / "annotations")) == ["instances_minival2014.json",
                                                          "instances_val2017.json"]
    # Present files are not fetched again.
    count = len(_ZipHandler.requested)
    coco.auto_download(str(target), "val", "2017")
    assert len(_ZipHandler.requested) == count
    monkeypatch.setattr(coco, "COCO_ANNOTATIONS_URL", zip_server + "/missing/")
    with pytest.raises(ConnectionError, match="404"):
        coco.auto_download(str(target), "train", "2017")


def test_auto_download_uses_https_and_refuses_a_corrupt_zip(coco, tmp_path, zip_server,
                                                           monkeypatch):
    """(issue #15, item 11) The COCO zips came over plain http, unchecked.
    COCO publishes no checksums: the size is checked against Content-Length
    and every member's CRC (zipfile.testzip) before anything is unpacked."""
    assert coco.COCO_IMAGES_URL.startswith("https://")
    assert coco.COCO_ANNOTATIONS_URL.startswith("https://")
    assert all(u.startswith("https://") for u in coco.SPLIT_ANNOTATION_URLS.values())
    source = tmp_path / "server" / "val2017"
    source.mkdir(parents=True)
    (source / "000000000001.jpg").write_bytes(b"not really a jpeg " * 200)
    good = _zip_folder(str(tmp_path / "server"), ["val2017/000000000001.jpg"])
    bad = good.replace(b"not really", b"not REALLY", 1)  # the member's CRC no longer fits
    assert bad != good
    _ZipHandler.files = {"/zips/val2017.zip": bad}
    monkeypatch.setattr(coco, "COCO_IMAGES_URL", zip_server + "/zips/")
    target = tmp_path / "coco"
    with pytest.raises(ValueError, match=r"val2017.zip.*corrupt.*val2017/000000000001.jpg"):
        coco.auto_download(str(target), "val", "2017")
    assert os.listdir(str(target)) == []  # nothing unpacked, no zip left
    _ZipHandler.files = {"/zips/val2017.zip": good[:-10]}  # not a zip at all
    with pytest.raises(ValueError, match="val2017.zip"):
        coco.auto_download(str(target), "val", "2017")
    assert os.listdir(str(target)) == []


############################################################
#  Balloon sample
############################################################

def make_balloon_dataset(root, seed=0):
    """root/train and root/val with JPEG images of 1-2 drawn "balloons"
    (ellipses) and matterport-style via_region_data.json polygons; one
    train image has no balloon."""
    rng = np.random.RandomState(seed)
    layout = {"train": [2, 1, 0], "val": [1]}
    for subset, counts in layout.items():
        folder = os.path.join(root, subset)
        os.makedirs(folder, exist_ok=True)
        data = {}
        for i, count in enumerate(counts):
            h, w = 72, 96
            pixels = np.full((h, w, 3), (40, 90, 160), np.uint8)
            yy, xx = np.mgrid[:h, :w]
            regions = {}
            for k in range(count):
                cx, cy = 25 + 45 * k + rng.randint(-3, 4), 36 + rng.randint(-5, 6)
                rx, ry = 14 + rng.randint(0, 4), 18 + rng.randint(0, 4)
                pixels[((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1] = (
                    220, 40, 40)
                t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
                regions[str(k)] = {"shape_attributes": {
                    "name": "polygon",
                    "all_points_x": np.round(cx + rx * np.cos(t)).astype(int).tolist(),
                    "all_points_y": np.round(cy + ry * np.sin(t)).astype(int).tolist()},
                    "region_attributes": {}}
            name = "{}_{}.jpg".format(subset, i)
            Image.fromarray(pixels).save(os.path.join(folder, name), quality=90)
            size = os.path.getsize(os.path.join(folder, name))
            data["{}{}".format(name, size)] = {"filename": name, "size": size,
                                               "regions": regions, "file_attributes": {}}
        with open(os.path.join(folder, "via_region_data.json"), "w") as f:
            json.dump(data, f)
    return root


def test_balloon_dataset_masks_are_the_polygons(balloon, tmp_path):
    from pycocotools import mask as mask_util

    root = make_balloon_dataset(str(tmp_path))
    dataset = balloon.BalloonDataset()
    dataset.load_balloon(root, "train")
    dataset.prepare()
    assert dataset.class_names == ["BG", "balloon"]
    assert dataset.num_images == 2  # the image without balloons is skipped
    with open(os.path.join(root, "train", "via_region_data.json")) as f:
        entries = list(json.load(f).values())
    for image_id, entry in zip(dataset.image_ids, entries):
        info = dataset.image_info[image_id]
        assert info["id"] == entry["filename"] and (info["height"], info["width"]) == (72, 96)
        masks, class_ids = dataset.load_mask(image_id)
        assert masks.shape == (72, 96, len(entry["regions"]))
        assert class_ids.dtype == np.int32 and list(class_ids) == [1] * masks.shape[-1]
        for k, region in enumerate(entry["regions"].values()):
            s = region["shape_attributes"]
            flat = np.stack([s["all_points_x"], s["all_points_y"]], 1).ravel().tolist()
            expected = mask_util.decode(mask_util.frPyObjects([flat], 72, 96)[0]).astype(bool)
            np.testing.assert_array_equal(masks[..., k], expected)
        assert dataset.image_reference(image_id) == os.path.join(root, "train",
                                                                 entry["filename"])
    with pytest.raises(ValueError, match="subset"):
        balloon.BalloonDataset().load_balloon(root, "test")
    config = balloon.BalloonConfig()
    assert (config.NAME, config.NUM_CLASSES, config.DETECTION_MIN_CONFIDENCE) == (
        "balloon", 2, 0.9)


def test_color_splash(balloon):
    image = np.zeros((4, 5, 3), np.uint8)
    image[..., 0] = 200
    mask = np.zeros((4, 5, 2), bool)
    mask[1, 1, 0] = mask[2, 3, 1] = True
    splash = balloon.color_splash(image, mask)
    assert splash.dtype == np.uint8 and splash.shape == image.shape
    np.testing.assert_array_equal(splash[1, 1], [200, 0, 0])
    np.testing.assert_array_equal(splash[2, 3], [200, 0, 0])
    gray = splash[0, 0]
    assert gray[0] == gray[1] == gray[2] and 0 < gray[0] < 200
    np.testing.assert_array_equal(balloon.color_splash(image, np.zeros((4, 5, 0), bool)),
                                  np.broadcast_to(gray, image.shape))


def test_balloon_command_line(balloon, tmp_path, fake_model, monkeypatch):
    root = make_balloon_dataset(str(tmp_path / "data"))
    coco_weights = tmp_path / "mask_rcnn_coco.h5"
    coco_weights.write_bytes(b"")
    monkeypatch.setattr(balloon, "COCO_WEIGHTS_PATH", str(coco_weights))
    balloon.main(["train", "--dataset", root, "--weights", "coco", "--logs",
                  str(tmp_path / "logs")])
    model = fake_model.instances[-1]
    assert model.mode == "training" and model.config.NAME == "balloon"
    assert model.calls[0] == ("load_weights", str(coco_weights), True,
                              balloon.CLASS_SPECIFIC_LAYERS)
    _, train_set, val_set, lr, epochs, layers, _ = model.calls[1]
    assert (train_set.num_images, val_set.num_images, epochs, layers) == (2, 1, 30, "heads")
    assert lr == model.config.LEARNING_RATE

    # splash on an image and on a short video
    image_path = os.path.join(root, "val", "val_0.jpg")
    out = tmp_path / "out"
    balloon.main(["splash", "--weights", "last", "--image", image_path,
                  "--output-dir", str(out)])
    assert fake_model.instances[-1].mode == "inference"
    written = [f for f in os.listdir(out) if f.endswith(".png")]
    assert len(written) == 1
    splash = np.array(Image.open(out / written[0]))
    assert splash.shape == (72, 96, 3)
    assert splash[18, 10, 0] != splash[18, 10, 1]  # in the stand-in's mask: colour kept
    assert splash[60, 60, 0] == splash[60, 60, 1] == splash[60, 60, 2]  # gray elsewhere

    import cv2
    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 72))
    for _ in range(3):
        writer.write(np.full((72, 96, 3), 120, np.uint8))
    writer.release()
    path = balloon.detect_and_color_splash(fake_model("inference", None, None),
                                           video_path=video, output_dir=str(out))
    capture = cv2.VideoCapture(path)
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames == 3
    with pytest.raises(SystemExit):
        balloon.main(["splash", "--weights", "last"])
    with pytest.raises(SystemExit):
        balloon.main(["train", "--weights", "last"])
