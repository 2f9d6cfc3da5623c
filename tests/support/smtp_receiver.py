"""A minimal SMTP receiver for tests (Python 3.12 has no smtpd, and aiosmtpd is not a
dependency): enough of RFC 5321 for a client that sends plain messages without TLS (EHLO or
HELO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT), as apprise's mailto:// does. Messages it received
are in ``messages``, with the user that logged in."""

import base64
import socketserver
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    data: bytes
    user: str = ""

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


class _Session(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        sender, recipients, user = "", [], ""
        self._reply("220 localhost test SMTP receiver")
        while line := self.rfile.readline(65536):
            command = line.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self._reply("250-localhost")
                self._reply("250-AUTH PLAIN")
                self._reply("250 8BITMIME")
            elif verb == "HELO":
                self._reply("250 localhost")
            elif verb == "AUTH":
                # AUTH PLAIN <base64 of "\0user\0password">: any password is taken.
                credentials = base64.b64decode(command.split()[-1]).split(b"\0")
                user = credentials[1].decode() if len(credentials) == 3 else ""
                self._reply("235 Authentication successful")
            elif verb == "MAIL":
                sender, recipients = command.partition(":")[2].strip().strip("<>"), []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip().strip("<>"))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (chunk := self.rfile.readline(1 << 20)) not in (b".\r\n", b".\n", b""):
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.messages.append(ReceivedMail(sender, recipients, b"".join(lines), user))
                self._reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.messages: list[ReceivedMail] = []


class RunningSmtpReceiver:
    """A receiver on 127.0.0.1 in a thread: ``port``, ``messages``; ``stop()`` ends it."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def messages(self) -> list[ReceivedMail]:
        return self._server.messages

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
