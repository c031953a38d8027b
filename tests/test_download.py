"""utils.download_trained_weights against an HTTP server on 127.0.0.1."""
import http.server
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


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = os.urandom(100_000)
    weights = _hdf5_weights()

    def do_GET(self):
        if self.path == "/truncated.h5":
            # Announces more than it sends, then closes the connection.
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.payload) * 2))
            self.end_headers()
            self.wfile.write(self.payload)
            return
        body = {"/mask_rcnn_coco.h5": self.payload, "/weights.h5": self.weights}.get(self.path)
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
    assert main(["download-weights", "coco", "--url", server + "/weights.h5"]) == 0
    captured = capsys.readouterr()
    path = tmp_path / "home" / "mask_rcnn_coco.h5"
    assert str(path) in captured.out and "SHA-256" in captured.out
    assert path.read_bytes() == _Handler.weights and coco_weights_path() == str(path)
    # Present: not downloaded again; --output picks another place.
    assert main(["download-weights", "coco", "--url", server + "/missing.h5"]) == 0
    out = tmp_path / "elsewhere"
    out.mkdir()
    assert main(["download-weights", "coco", "--quiet", "--output", str(out), "--url",
                 server + "/weights.h5"]) == 0
    assert (out / "mask_rcnn_coco.h5").read_bytes() == _Handler.weights
