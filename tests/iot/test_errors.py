"""IotError: its text, its predicates, and that it survives pickling."""

import pickle

import pytest

from certadmin.iot.errors import (
    IotBusinessError,
    IotError,
    IotGatewayError,
    IotResponseError,
    IotThrottledError,
    IotTransportError,
    RateLimitTimeout,
)


def test_str_names_code_message_and_request_id():
    error = IotBusinessError(
        "iot.device.NotExistedDevice", "The device does not exist.", request_id="R-1"
    )
    assert str(error) == "iot.device.NotExistedDevice: The device does not exist. (RequestId: R-1)"
    assert "R-1" in repr(error)


def test_str_without_request_id_has_no_empty_parenthesis():
    error = IotTransportError("Transport.Timeout", "127.0.0.1:8001: timed out")
    assert str(error) == "Transport.Timeout: 127.0.0.1:8001: timed out"
    assert error.request_id == ""
    assert error.http_status is None


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (IotThrottledError("Throttling.User", "flow control", http_status=400), True),
        (IotTransportError("Transport.Unreachable", "refused"), True),
        (IotGatewayError("SignatureDoesNotMatch", "bad", http_status=400), False),
        (IotGatewayError("ServiceUnavailable", "later", http_status=503, retryable=True), True),
        (IotBusinessError("iot.system.SystemException", "boom"), False),
        (IotResponseError("Response.Malformed", "not JSON"), False),
        (RateLimitTimeout(), True),
    ],
)
def test_retryable_defaults(error, retryable):
    assert error.retryable is retryable


def test_predicates_let_a_view_choose_its_message():
    assert IotBusinessError("iot.device.NotExistedDevice", "").is_not_found
    assert IotBusinessError("iot.prod.NotExistedProduct", "").is_not_found
    assert not IotBusinessError("iot.system.InstanceNotFound", "").is_not_found
    assert IotBusinessError("iot.system.InstanceNotFound", "").is_instance_error
    assert IotThrottledError("Throttling.User", "").is_throttled
    assert RateLimitTimeout().is_throttled
    assert RateLimitTimeout().code == "Throttling.Local"
    assert isinstance(RateLimitTimeout(), IotThrottledError)
    assert IotGatewayError("SignatureDoesNotMatch", "").is_credentials_error
    assert IotGatewayError("InvalidAccessKeyId.NotFound", "").is_credentials_error
    assert IotGatewayError("Forbidden.RAM", "").is_credentials_error
    assert not IotGatewayError("InvalidParameter", "").is_credentials_error


def test_hierarchy():
    assert issubclass(IotThrottledError, IotGatewayError)
    for cls in (IotGatewayError, IotBusinessError, IotTransportError, IotResponseError):
        assert issubclass(cls, IotError)


@pytest.mark.parametrize(
    "error",
    [
        IotGatewayError(
            "Throttling.User", "m", request_id="r", http_status=400, host_id="h", recommend="x"
        ),
        IotThrottledError("Throttling.User", "m", request_id="r", http_status=400),
        RateLimitTimeout(),
        IotBusinessError("iot.device.NotExistedDevice", "m", request_id="r", http_status=200),
        IotTransportError("Transport.Timeout", "m"),
    ],
)
def test_errors_survive_pickling(error):
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)
