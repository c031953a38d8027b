"""utils.download_trained_weights against an HTTP server on 127.0.0.1."""
import http.server
import os
import threading

import pytest

from mrcnn import utils


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = os.urandom(100_000)

    def do_GET(self):
        if self.path != "/mask_rcnn_coco.h5":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

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
