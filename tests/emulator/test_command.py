"""``manage.py iot_emulator`` as a real process: prints its URL, serves, stops on a signal."""

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.emulator.signer import call_v1

ROOT = Path(settings.BASE_DIR)

pytestmark = pytest.mark.skipif(
    "certadmin.emulator" not in settings.INSTALLED_APPS,
    reason="certadmin.emulator is not in INSTALLED_APPS, so manage.py cannot find iot_emulator",
)


class EmulatorProcess:
    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "iot_emulator", "--port", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 20) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith(prefix):
                return line

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def run_command():
    started: list[EmulatorProcess] = []

    def start(*args: str) -> EmulatorProcess:
        started.append(EmulatorProcess(*args))
        return started[-1]

    yield start
    for process in started:
        process.stop(signal.SIGKILL)


def demo_call(url: str, **kwargs):
    return call_v1(
        url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        params={"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"},
        **kwargs,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_command_prints_its_url_serves_and_stops_cleanly(run_command, tmp_path, sig):
    ca_path = tmp_path / "nested" / "emulator-ca.pem"
    process = run_command("--write-ca", str(ca_path))
    url = process.wait_for("IoT emulator listening on ").rsplit(" ", 1)[1]
    assert url.startswith("http://127.0.0.1:")
    assert not url.endswith(":0")

    response = demo_call(url)
    assert response.status_code == 200
    certificate = x509.load_pem_x509_certificate(
        response.json()["DeviceCertInfo"]["Certificate"].encode()
    )
    ca_pem = ca_path.read_text()
    assert "PRIVATE KEY" not in ca_pem
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    certificate.verify_directly_issued_by(ca)

    assert process.stop(sig) == 0
    process.wait_for("IoT emulator stopped.", timeout=5)


def test_command_fault_option(run_command):
    process = run_command("--fault", "5xx", "--fault-rate", "1")
    url = process.wait_for("IoT emulator listening on ").rsplit(" ", 1)[1]
    assert demo_call(url).status_code == 503


def test_command_devices_file(run_command, tmp_path):
    path = tmp_path / "devices.json"
    path.write_text(
        '{"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "from-file",'
        ' "certificate": "verbatim", "private_key": "key"}]}'
    )
    process = run_command("--devices", str(path))
    url = process.wait_for("IoT emulator listening on ").rsplit(" ", 1)[1]
    response = call_v1(
        url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        params={"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "from-file"},
    )
    assert response.json()["DeviceCertInfo"]["Certificate"] == "verbatim"


def test_command_other_access_key_pair(run_command):
    process = run_command("--access-key-id", "LTAIcustom0000001", "--access-key-secret", "s3cret")
    url = process.wait_for("IoT emulator listening on ").rsplit(" ", 1)[1]
    response = call_v1(
        url,
        access_key_id="LTAIcustom0000001",
        secret="s3cret",
        params={"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"},
    )
    assert response.status_code == 200
    assert demo_call(url).status_code == 404


@pytest.mark.parametrize(
    ("content", "message"),
    [("{broken", "not valid JSON"), ('{"devices": [{"device_name": "abcd"}]}', "product_key")],
)
def test_command_refuses_an_invalid_devices_file_with_exit_code_2(tmp_path, content, message):
    path = tmp_path / "devices.json"
    path.write_text(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "iot_emulator", "--port", "0", "--devices", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_command_needs_the_secret_of_another_access_key():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "iot_emulator", "--access-key-id", "LTAIother"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--access-key-secret" in result.stderr
