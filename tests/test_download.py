"""utils.download_trained_weights, `mrcnn download-weights` and the COCO
weight check, against an HTTP server on 127.0.0.1."""
import hashlib
import http.server
import io
import json
import os
import threading

import numpy as np
import pytest

from mrcnn import utils


def _hdf5_weights():
    """Bytes of a small HDF5 file with a Keras weight layout."""
    import io

    import h5py
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["layer_names"] = [b"conv1"]
        f.create_group("conv1").attrs["weight_names"] = [b"conv1/kernel:0"]
        f["conv1"].create_dataset("conv1/kernel:0", data=np.ones((3, 3, 3, 4), np.float32))
    return buf.getvalue()


REFERENCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _layout_file(backbone="resnet101", num_classes=81):
    """Bytes of an HDF5 file with the layout of matterport's weight file of
    `backbone` (tests/data/matterport_h5_layout_*.json: every layer, weight
    name and shape), the class-specific heads resized to `num_classes`.
    Datasets are left unwritten (HDF5 allocates chunks lazily): a few MB
    instead of 246."""
    import h5py
    with open(os.path.join(REFERENCE_DIR, "matterport_h5_layout_{}.json".format(backbone))) as f:
        layout = json.load(f)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["layer_names"] = [l["layer_name"].encode() for l in layout["layers"]]
        for layer in layout["layers"]:
            g = f.create_group(layer["layer_name"])
            g.attrs["weight_names"] = [w.encode() for w in layer["weight_names"]]
            for name, shape in zip(layer["weight_names"], layer["shapes"]):
                shape = list(shape)
                if layer["layer_name"] in ("mrcnn_class_logits", "mrcnn_mask"):
                    shape[-1] = num_classes
                elif layer["layer_name"] == "mrcnn_bbox_fc":
                    shape[-1] = num_classes * 4
                g.create_dataset(name, shape=tuple(shape), dtype="float32", chunks=True)
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = os.urandom(100_000)
    weights = _hdf5_weights()
    coco = _layout_file()
    files = {"/mask_rcnn_coco.h5": payload, "/weights.h5": weights, "/coco.h5": coco,
             "/resnet50.h5": _layout_file("resnet50"),
             "/coco_3_classes.h5": _layout_file("resnet101", 3)}

    def do_GET(self):
        if self.path == "/truncated.h5":
            # Announces more than it sends, then closes the connection.
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.payload) * 2))
            self.end_headers()
            self.wfile.write(self.payload)
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:{}".format(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_download_writes_file_atomically(server, tmp_path):
    target = tmp_path / "weights" / "mask_rcnn_coco.h5"
    utils.download_trained_weights(str(target), verbose=0, url=server + "/mask_rcnn_coco.h5")
    assert target.read_bytes() == _Handler.payload
    assert os.listdir(target.parent) == ["mask_rcnn_coco.h5"]


def test_failed_download_keeps_existing_file(server, tmp_path):
    target = tmp_path / "mask_rcnn_coco.h5"
    target.write_bytes(b"old weights")
    with pytest.raises(ConnectionError, match="404"):
        utils.download_trained_weights(str(target), verbose=0, url=server + "/missing.h5")
    assert target.read_bytes() == b"old weights"
    assert os.listdir(tmp_path) == ["mask_rcnn_coco.h5"]


def test_checksum_and_truncation_are_checked_and_keep_the_old_file(server, tmp_path):
    import hashlib
    target = tmp_path / "mask_rcnn_coco.h5"
    target.write_bytes(b"old weights")
    with pytest.raises(ValueError, match="SHA-256"):
        utils.download_file(server + "/mask_rcnn_coco.h5", str(target), verbose=0,
                            sha256="0" * 64)
    with pytest.raises(ConnectionError, match="stopped after"):
        utils.download_file(server + "/truncated.h5", str(target), verbose=0)
    assert target.read_bytes() == b"old weights"
    good = hashlib.sha256(_Handler.payload).hexdigest()
    utils.download_file(server + "/mask_rcnn_coco.h5", str(target), verbose=0, sha256=good)
    assert target.read_bytes() == _Handler.payload
    assert os.listdir(tmp_path) == ["mask_rcnn_coco.h5"]


def test_download_weights_command(server, tmp_path, monkeypatch, capsys):
    from mrcnn.cli import main
    from mrcnn.pretrained import coco_weights_path
    monkeypatch.setenv("MRCNN_HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match="download-weights"):
        coco_weights_path()
    # Not an HDF5 weight file: refused, nothing written.
    assert main(["download-weights", "coco", "--quiet", "--url",
                 server + "/mask_rcnn_coco.h5"]) == 1
    assert "HDF5" in capsys.readouterr().err
    assert not os.listdir(tmp_path / "home")
    assert main(["download-weights", "coco", "--url", server + "/coco.h5"]) == 0
    captured = capsys.readouterr()
    path = tmp_path / "home" / "mask_rcnn_coco.h5"
    assert str(path) in captured.out and "SHA-256" in captured.out
    assert path.read_bytes() == _Handler.coco and coco_weights_path() == str(path)
    # Present: not downloaded again; --output picks another place.
    assert main(["download-weights", "coco", "--url", server + "/missing.h5"]) == 0
    out = tmp_path / "elsewhere"
    out.mkdir()
    assert main(["download-weights", "coco", "--quiet", "--output", str(out), "--url",
                 server + "/coco.h5"]) == 0
    assert (out / "mask_rcnn_coco.h5").read_bytes() == _Handler.coco


@pytest.mark.parametrize("url_path, message", [
    ("/weights.h5", "232 of its 233 weighted layers are missing"),
    ("/resnet50.h5", "ResNet-50"),
    ("/coco_3_classes.h5", "mrcnn_class_logits/kernel:0 has shape (1024, 3), expected "
                           "(1024, 81)"),
])
def test_download_weights_refuses_other_weight_files(server, tmp_path, capsys, url_path,
                                                     message):
    """(issue #15, item 11) Any HDF5 with a layer_names attribute was
    installed as mask_rcnn_coco.h5."""
    from mrcnn.cli import main
    target = tmp_path / "w" / "mask_rcnn_coco.h5"
    assert main(["download-weights", "coco", "--quiet", "--output", str(target), "--url",
                 server + url_path]) == 1
    err = capsys.readouterr().err
    assert "not matterport's COCO weight file" in err and message in err, err
    assert not os.path.exists(str(target)) and os.listdir(str(target.parent)) == []
    # A file already there is checked the same way.
    target.write_bytes(_Handler.files[url_path])
    assert main(["download-weights", "coco", "--quiet", "--output", str(target)]) == 1
    assert "--force" in capsys.readouterr().err


def test_download_weights_checks_a_given_sha256(server, tmp_path, capsys):
    from mrcnn.cli import main
    target = tmp_path / "mask_rcnn_coco.h5"
    assert main(["download-weights", "coco", "--quiet", "--output", str(target), "--url",
                 server + "/coco.h5", "--sha256", "ab" * 32]) == 1
    assert "SHA-256" in capsys.readouterr().err and not target.exists()
    assert main(["download-weights", "coco", "--quiet", "--output", str(target), "--url",
                 server + "/coco.h5", "--sha256", "not-hex"]) == 1
    assert "64 hexadecimal digits" in capsys.readouterr().err
    good = hashlib.sha256(_Handler.coco).hexdigest().upper()
    assert main(["download-weights", "coco", "--quiet", "--output", str(target), "--url",
                 server + "/coco.h5", "--sha256", good]) == 0
    assert target.read_bytes() == _Handler.coco


def test_coco_layer_set_is_matterports():
    """The layers the check requires are exactly the weighted layers of the
    recorded layout of matterport's ResNet-101 COCO file, with their weight
    counts and the head shapes."""
    from mrcnn.pretrained import COCO_WEIGHT_SHAPES, coco_weighted_layers
    with open(os.path.join(REFERENCE_DIR, "matterport_h5_layout_resnet101.json")) as f:
        layout = json.load(f)
    weighted = {l["layer_name"]: l for l in layout["layers"] if l["weight_names"]}
    assert coco_weighted_layers() == {n: len(l["weight_names"]) for n, l in weighted.items()}
    for name, shapes in COCO_WEIGHT_SHAPES.items():
        assert [tuple(s) for s in weighted[name]["shapes"]] == shapes, name
