"""The emulator over real HTTP, and the Python API tests use to run one.

    with start_emulator(access_key_id="LTAI...", access_key_secret="...") as emulator:
        requests.get(emulator.url + "/?Action=QueryDeviceCert&...")

``start_emulator`` runs a ThreadingHTTPServer in a daemon thread and returns once the socket
accepts connections; port 0 picks a free port (see ``RunningEmulator.url``).
"""

import contextlib
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from certadmin.emulator.actions import PlatformRules
from certadmin.emulator.ca import EmulatorCA
from certadmin.emulator.errors import GatewayError
from certadmin.emulator.faults import GlobalFaults
from certadmin.emulator.gateway import (
    Gateway,
    RequestLogEntry,
    Response,
    gateway_error_response,
    new_request_id,
    receive,
)
from certadmin.emulator.seed import scale_product, seeded_devices
from certadmin.emulator.store import Device, DeviceStore, device_from_entry, load_devices_file
from certadmin.emulator.throttling import ACTION_QPS

MAX_BODY_BYTES = 1024 * 1024


class _EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], gateway: Gateway, log_requests: bool) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.gateway = gateway
        self.log_requests = log_requests
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-answer (a timeout, a closed keep-alive connection) is
        # ordinary traffic, not a server fault: no traceback for it.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "IoTEmulator/1"
    sys_version = ""
    timeout = 60
    # Headers and body leave in one send (the buffer is flushed once per response) with
    # TCP_NODELAY: written in two sends, a keep-alive client's delayed ACK held every answer
    # back ~40 ms, capping a client at ~20 calls/s.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _EmulatorHTTPServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if sum(map(len, chunks)) > MAX_BODY_BYTES:
                    return None
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY_BYTES:
            return None
        return self.rfile.read(length)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            refusal = GatewayError(413, "RequestEntityTooLarge", "The request body is too large.")
            self._send(gateway_error_response(refusal, new_request_id()))
            return
        request = receive(
            method=self.command, target=self.path, headers=self.headers.items(), body=body
        )
        response = self.server.gateway.handle(request)
        if response.delay:
            time.sleep(response.delay)
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)


class RunningEmulator:
    """An emulator serving in a background thread; a context manager that stops it."""

    def __init__(
        self,
        *,
        server: _EmulatorHTTPServer,
        thread: threading.Thread,
        gateway: Gateway,
        ca: EmulatorCA,
    ) -> None:
        self._server = server
        self._thread = thread
        self._gateway = gateway
        self._ca = ca
        self.ca_certificate_pem: str = ca.certificate_pem
        host, port = server.server_address[:2]
        self.host: str = host
        self.port: int = port
        self.url: str = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """Every request received, as ``(action, access_key_id, signature_version,
        device_name)`` tuples.

        ``signature_version`` is ``"v3"``, ``"v1"`` or None; ``device_name`` the DeviceName
        parameter or None; refused and faulted requests are included. The list is live:
        ``request_log.clear()`` empties it.
        """
        return self._gateway.request_log

    @property
    def throttled(self) -> Counter[str]:
        """How many ``Throttling.User`` refusals the emulator issued, per action.

        Live, like ``request_log``: ``throttled.clear()`` resets it.
        """
        return self._gateway.throttled

    @property
    def security_tokens(self) -> list[str]:
        """The STS tokens of authenticated calls, in order."""
        return self._gateway.security_tokens

    def set_fault(
        self,
        fault: str | None,
        rate: float = 1.0,
        latency: float = 0.0,
        *,
        actions: Iterable[str] | None = None,
    ) -> None:
        """Fault every request from now on: ``"5xx"``, ``"malformed"``, ``"drop"`` or None.

        ``rate`` is the probability a request is faulted; ``latency`` (seconds) delays every
        request, faulted or not; ``actions`` limits both to those actions (None: all).
        """
        self._gateway.faults.set(fault, rate=rate, latency=latency, actions=actions)

    def set_quota(self, action: str, qps: int) -> None:
        """Change an action's quota (calls per second per account) from now on; the deep
        QueryDevice pages' quota is ``"QueryDevice.DeepPage"``. Tests raise them to go at full
        speed; ``reset_quotas`` restores the platform's."""
        self._gateway.limiter.limit_set(action, qps)

    def reset_quotas(self) -> None:
        """The platform's quotas again (see ``throttling.ACTION_QPS``)."""
        for action, qps in ACTION_QPS.items():
            self._gateway.limiter.limit_set(action, qps)

    def set_listing_rules(
        self,
        *,
        window_rows: int = 10_000,
        max_rows: int = 1_000_000,
        cut_after: int | None = None,
        cut_ends: bool = False,
    ) -> None:
        """QueryDevice's paging rules from now on (the defaults are the platform's).

        ``window_rows``: rows reachable without a NextToken (a test scales it down to need
        tokens on a small product); ``cut_after``: a stand-in that loses every row from that
        offset on, with empty pages after it (``cut_ends=False``) or an early end
        (``cut_ends=True``: no NextToken from there)."""
        self._gateway.rules = PlatformRules(window_rows, max_rows, cut_after, cut_ends)

    def add_device(self, entry: Mapping[str, Any]) -> None:
        """Add or replace a device; ``entry`` has the shape of a devices-file entry."""
        self._gateway.store.add(device_from_entry(entry))

    def add_access_key(
        self, access_key_id: str, access_key_secret: str, *, account: str | None = None
    ) -> None:
        """Accept another AccessKey pair.

        Quotas are per account: without ``account`` the key is an account of its own; with
        it, the key shares the quota of every key of that account (the first key's account
        is its own AccessKeyId).
        """
        self._gateway.credentials[access_key_id] = access_key_secret
        if account is not None:
            self._gateway.accounts[access_key_id] = account

    def add_account(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        devices: Iterable[Device] = (),
        extra_devices: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Serve a second account: its own AccessKey pair, its own quota and its own products
        (``devices``, plus ``extra_devices`` entries). The first account's products do not
        exist for it, nor its products for the first. Adding a key already added keeps its
        store (so a shared emulator can be given the account by every test that needs it)."""
        self._gateway.credentials[access_key_id] = access_key_secret
        if access_key_id not in self._gateway.account_stores:
            store = DeviceStore(self._ca, devices)
            for entry in extra_devices:
                store.add(device_from_entry(entry))
            self._gateway.account_stores[access_key_id] = store

    def reset_rate_limits(self) -> None:
        """Forget past calls, so the next test starts with a full quota (the quotas and the
        listing rules themselves are left as they are: see ``reset_quotas``)."""
        self._gateway.limiter.reset()

    def write_ca(self, path: str | Path) -> Path:
        """Write the CA certificate PEM (public data only) to ``path``, creating folders."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.ca_certificate_pem, encoding="ascii")
        return target

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RunningEmulator":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_emulator(
    *,
    access_key_id: str,
    access_key_secret: str,
    host: str = "127.0.0.1",
    port: int = 0,
    devices_file: str | Path | None = None,
    extra_devices: Iterable[Mapping[str, Any]] | None = None,
    latency: float = 0.0,
    fault: str | None = None,
    fault_rate: float = 1.0,
    log_requests: bool = False,
) -> RunningEmulator:
    """Start an emulator with the seeded devices plus ``devices_file`` and ``extra_devices``.

    Raises DevicesFileError (a ValueError) for an unusable devices file or entry, ValueError
    for a bad fault setting and OSError if the address cannot be bound.
    """
    faults = GlobalFaults(fault, rate=fault_rate, latency=latency)
    devices = seeded_devices()
    if devices_file is not None:
        devices += load_devices_file(devices_file)
    devices += [device_from_entry(entry) for entry in extra_devices or ()]
    ca = EmulatorCA()
    store = DeviceStore(ca, devices)
    store.add_generated(scale_product())
    gateway = Gateway(
        credentials={access_key_id: access_key_secret},
        store=store,
        faults=faults,
    )
    server = _EmulatorHTTPServer((host, port), gateway, log_requests)
    thread = threading.Thread(target=server.serve_forever, name="iot-emulator", daemon=True)
    thread.start()
    return RunningEmulator(server=server, thread=thread, gateway=gateway, ca=ca)
