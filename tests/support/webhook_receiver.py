"""A local HTTP receiver for webhooks (apprise's json:// POSTs): every request it gets, in
``requests``; it answers ``status`` (set 500 to play a channel that fails)."""

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.received.append(ReceivedPost(self.path, dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        # Quiet: the test reads what was received, not a log.
        return


class RunningWebhookReceiver:
    """A receiver on 127.0.0.1 in a thread: ``port``, ``requests``, ``status``; ``stop()``."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.received = []
        self._server.status = 200
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def requests(self) -> list[ReceivedPost]:
        return self._server.received

    @property
    def status(self) -> int:
        return self._server.status

    @status.setter
    def status(self, value: int) -> None:
        self._server.status = value

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
