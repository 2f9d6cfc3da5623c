"""The two kinds of refusal the IoT endpoint answers with.

Gateway errors come from Alibaba Cloud's API gateway (authentication, throttling, malformed
calls): a non-2xx status and ``{"RequestId","HostId","Code","Message","Recommend"}``.
Business errors come from the IoT service itself: HTTP 200 with ``Success: false``.
"""


class GatewayError(Exception):
    """A refusal by the API gateway: non-2xx HTTP status, ``Code`` and ``Message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class BusinessError(Exception):
    """A refusal by the IoT service: HTTP 200, ``Success: false``, ``Code``, ``ErrorMessage``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def missing_parameter(name: str) -> GatewayError:
    """The gateway's answer to a call that lacks a mandatory parameter."""
    return GatewayError(400, "MissingParameter", f"{name} is mandatory for this action.")


def invalid_parameter(name: str, detail: str) -> GatewayError:
    """The gateway's answer to a parameter whose value it cannot accept."""
    return GatewayError(400, "InvalidParameter", f"The specified parameter {name} {detail}")
