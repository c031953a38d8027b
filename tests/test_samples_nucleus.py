"""samples/nucleus/nucleus.py (matterport's 2018 Data Science Bowl sample) on
a tiny dataset generated in Kaggle's layout: the loader, the run-length
submission format, the ground truth the training pipeline builds in crop
mode with the sample's augmentation, and the command line (with the network
replaced by a stand-in, as in test_samples.py)."""
import csv
import os

import numpy as np
import pytest
from PIL import Image

from test_samples import FakeModel, fake_model, import_sample  # noqa: F401


@pytest.fixture(scope="module")
def nucleus():
    return import_sample("nucleus")


def make_nucleus_dataset(root, val_ids, train_ids=("aaa1", "bbb2", "ccc3"), test_ids=("t1",),
                         seed=0):
    """Kaggle's folders: stage1_train/<id>/images/<id>.png (RGBA, dark) with
    masks/<n>.png (0/255, one nucleus each), stage1_test without masks.
    Returns {image id: bool masks [H, W, N]} of the training images."""
    rng = np.random.RandomState(seed)
    truth = {}
    for stage, ids in (("stage1_train", list(val_ids) + list(train_ids)),
                       ("stage1_test", list(test_ids))):
        for k, image_id in enumerate(ids):
            h, w = 40 + 8 * k, 56
            folder = os.path.join(root, stage, image_id)
            os.makedirs(os.path.join(folder, "images"))
            rgba = np.zeros((h, w, 4), np.uint8)
            rgba[..., :3] = rng.randint(0, 30, (h, w, 3))
            rgba[..., 3] = 255
            masks = []
            for n in range(2 + k % 2):
                m = np.zeros((h, w), bool)
                cy, cx = rng.randint(8, h - 8), rng.randint(8, w - 8)
                yy, xx = np.mgrid[:h, :w]
                m[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = True
                rgba[m, :3] = 200
                masks.append(m)
            Image.fromarray(rgba, "RGBA").save(os.path.join(folder, "images", image_id + ".png"))
            if stage == "stage1_train":
                os.makedirs(os.path.join(folder, "masks"))
                for n, m in enumerate(masks):
                    Image.fromarray(m.astype(np.uint8) * 255, "L").save(
                        os.path.join(folder, "masks", "m{}.png".format(n)))
                truth[image_id] = np.stack(masks, axis=-1)
    return truth


@pytest.fixture
def dataset_dir(nucleus, tmp_path):
    truth = make_nucleus_dataset(str(tmp_path / "data"), nucleus.VAL_IMAGE_IDS[:2])
    return str(tmp_path / "data"), truth


def test_config_is_matterports(nucleus):
    config = nucleus.NucleusConfig()
    assert config.NAME == "nucleus" and config.NUM_CLASSES == 2
    assert config.IMAGE_RESIZE_MODE == "crop" and tuple(config.IMAGE_SHAPE) == (512, 512, 3)
    assert config.STEPS_PER_EPOCH == (657 - 25) // 6 and config.VALIDATION_STEPS == 4
    assert config.BATCH_SIZE == 6 and config.DETECTION_MAX_INSTANCES == 400
    inference = nucleus.NucleusInferenceConfig()
    assert inference.BATCH_SIZE == 1 and inference.IMAGE_RESIZE_MODE == "pad64"
    assert inference.RPN_NMS_THRESHOLD == 0.7
    assert len(nucleus.VAL_IMAGE_IDS) == 25


def test_load_nucleus_subsets_and_masks(nucleus, dataset_dir):
    root, truth = dataset_dir
    val_ids = nucleus.VAL_IMAGE_IDS[:2]
    subsets = {}
    for subset in ("train", "val", "stage1_train", "stage1_test"):
        dataset = nucleus.NucleusDataset()
        if subset == "val":
            with pytest.warns(UserWarning, match="23 of the 25 validation images"):
                dataset.load_nucleus(root, subset)
        else:
            dataset.load_nucleus(root, subset)
        dataset.prepare()
        subsets[subset] = dataset
        assert dataset.class_names == ["BG", "nucleus"]
    ids = {k: [d.image_reference(i) for i in d.image_ids] for k, d in subsets.items()}
    assert ids["train"] == ["aaa1", "bbb2", "ccc3"]
    assert ids["val"] == list(val_ids)
    assert sorted(ids["stage1_train"]) == sorted(list(val_ids) + ids["train"])
    assert ids["stage1_test"] == ["t1"]

    dataset = subsets["stage1_train"]
    for i in dataset.image_ids:
        name = dataset.image_reference(i)
        image = dataset.load_image(i)
        masks, class_ids = dataset.load_mask(i)
        assert image.dtype == np.uint8 and image.shape == truth[name].shape[:2] + (3,)
        assert masks.dtype == bool and np.array_equal(masks, truth[name])
        assert class_ids.dtype == np.int32 and list(class_ids) == [1] * masks.shape[-1]
        assert (image[masks.any(-1)] == 200).all()  # alpha dropped, colours kept
    test = subsets["stage1_test"]
    masks, class_ids = test.load_mask(0)
    assert masks.shape == test.load_image(0).shape[:2] + (0,) and class_ids.shape == (0,)


def test_load_nucleus_errors(nucleus, tmp_path):
    make_nucleus_dataset(str(tmp_path), val_ids=[])
    with pytest.raises(ValueError, match="subset must be one of"):
        nucleus.NucleusDataset().load_nucleus(str(tmp_path), "stage3")
    with pytest.raises(FileNotFoundError, match="none of the 25 validation images"):
        nucleus.NucleusDataset().load_nucleus(str(tmp_path), "val")
    with pytest.raises(FileNotFoundError, match="stage2_test"):
        nucleus.NucleusDataset().load_nucleus(str(tmp_path), "stage2_test")


def test_rle_encode_kaggle_convention(nucleus):
    # Pixels are numbered down the columns, 1-based: (row 0, col 1) is pixel 4.
    mask = np.array([[0, 1, 1],
                     [0, 1, 0],
                     [1, 0, 0]], bool)
    # column 0: pixel 3; column 1: pixels 4, 5; column 2: pixel 7
    assert nucleus.rle_encode(mask) == "3 3 7 1"
    assert nucleus.rle_encode(np.zeros((2, 2), bool)) == ""
    assert nucleus.rle_encode(np.ones((2, 3), np.uint8)) == "1 6"
    with pytest.raises(ValueError, match="height, width"):
        nucleus.rle_encode(np.zeros((2, 2, 1)))


def test_rle_round_trip(nucleus):
    rng = np.random.RandomState(3)
    for shape in ((1, 1), (5, 7), (33, 20)):
        mask = rng.rand(*shape) > 0.6
        rle = nucleus.rle_encode(mask)
        decoded = nucleus.rle_decode(rle, shape)
        assert decoded.dtype == bool and np.array_equal(decoded, mask), shape
    with pytest.raises(ValueError, match="outside"):
        nucleus.rle_decode("5 3", (2, 3))


def test_mask_to_rle_resolves_overlaps_by_score(nucleus):
    masks = np.zeros((4, 4, 3), bool)
    masks[0:2, 0:2, 0] = True     # score 0.2, half covered by instance 1
    masks[1:3, 0:2, 1] = True     # score 0.9
    masks[3, 3, 2] = False        # empty: skipped
    text = nucleus.mask_to_rle("img", masks, np.array([0.2, 0.9, 0.5]))
    lines = text.split("\n")
    assert lines == ["img, 2 2 6 2", "img, 1 1 5 1"]
    # Together the lines cover the union, each pixel once.
    union = np.zeros((4, 4), int)
    for line in lines:
        union += nucleus.rle_decode(line.split(", ")[1], (4, 4))
    assert np.array_equal(union, masks.any(-1).astype(int))
    assert nucleus.mask_to_rle("empty", np.zeros((4, 4, 0), bool), np.zeros(0)) == "empty,"


def test_training_ground_truth_in_crop_mode_with_augmentation(nucleus, dataset_dir):
    """What model.train feeds the network: random 512x512 crops of images
    scaled 2x or more, augmented, with the instances that remain."""
    import mrcnn.model as modellib

    root, truth = dataset_dir
    config = nucleus.NucleusConfig()
    dataset = nucleus.NucleusDataset()
    dataset.load_nucleus(root, "train")
    dataset.prepare()
    np.random.seed(0)
    augmentation = nucleus.augmentation()
    for i in dataset.image_ids:
        image, meta, class_ids, boxes, masks = modellib.load_image_gt(
            dataset, config, i, augmentation=augmentation, use_mini_mask=config.USE_MINI_MASK)
        assert image.shape == (512, 512, 3)
        assert 1 <= len(class_ids) <= truth[dataset.image_reference(i)].shape[-1]
        assert (class_ids == 1).all() and masks.shape == (56, 56, len(class_ids))
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        parsed = modellib.parse_image_meta(meta[None])
        assert parsed["scale"][0] >= 2.0


@pytest.mark.filterwarnings("ignore:load_nucleus")
def test_command_line_train(nucleus, dataset_dir, fake_model, tmp_path, monkeypatch):
    root, _ = dataset_dir
    coco_weights = tmp_path / "mask_rcnn_coco.h5"
    coco_weights.write_bytes(b"")  # present: nothing is downloaded
    monkeypatch.setattr(nucleus, "COCO_WEIGHTS_PATH", str(coco_weights))
    model = nucleus.main(["train", "--dataset", root, "--weights", "coco",
                          "--logs", str(tmp_path / "logs")])
    assert isinstance(model, FakeModel) and model.mode == "training"
    assert model.config.NAME == "nucleus" and model.model_dir == str(tmp_path / "logs")
    assert model.calls[0] == ("load_weights", str(coco_weights), True,
                              nucleus.CLASS_SPECIFIC_LAYERS)
    trains = [c for c in model.calls if c[0] == "train"]
    assert [(c[4], c[5]) for c in trains] == [(20, "heads"), (40, "all")]
    train_set, val_set = trains[0][1], trains[0][2]
    assert len(train_set.image_ids) == 3 and len(val_set.image_ids) == 2
    assert trains[0][3] == model.config.LEARNING_RATE and trains[0][6] is not None


@pytest.mark.filterwarnings("ignore:load_nucleus")
def test_command_line_detect_writes_a_submission(nucleus, dataset_dir, fake_model, tmp_path,
                                                 monkeypatch):
    root, truth = dataset_dir
    gt = nucleus.NucleusDataset()
    gt.load_nucleus(root, "stage1_train")
    gt.prepare()
    FakeModel.truth = gt  # detect() answers the ground truth, image by image
    monkeypatch.setattr(FakeModel, "find_last", lambda self: str(tmp_path / "last.h5"))
    results = tmp_path / "results"
    nucleus.main(["detect", "--dataset", root, "--subset", "stage1_train", "--weights", "last",
                  "--results", str(results)])
    (submit_dir,) = os.listdir(results)
    files = sorted(os.listdir(results / submit_dir))
    assert files == sorted(["submit.csv"] + [n + ".png" for n in truth])
    with open(results / submit_dir / "submit.csv") as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    assert rows[0] == ["ImageId", "EncodedPixels"]
    for name, masks in truth.items():
        runs = [r[1] for r in rows[1:] if r[0] == name]
        decoded = [nucleus.rle_decode(rle, masks.shape[:2]) for rle in runs]
        assert len(decoded) == masks.shape[-1]
        assert np.array_equal(np.sum(decoded, axis=0) > 0, masks.any(-1))
    picture = np.asarray(Image.open(results / submit_dir / (next(iter(truth)) + ".png")))
    assert picture.std() > 5


def test_command_line_usage_errors(nucleus, fake_model, capsys):
    with pytest.raises(SystemExit):
        nucleus.main(["detect", "--dataset", "x", "--weights", "last"])
    assert "detect needs --subset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        nucleus.main(["train", "--weights", "last"])
    assert "train needs --dataset" in capsys.readouterr().err
