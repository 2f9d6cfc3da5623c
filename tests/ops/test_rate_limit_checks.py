"""``manage.py check`` says when the API quotas cannot be shared by every process."""

from certadmin.ops.checks import rate_limit_sharing_check


def _ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_production_without_redis_is_warned_that_quotas_are_shared_on_one_host_only(
    settings, tmp_path
):
    settings.DEMO_MODE = False
    settings.REDIS_URL = ""
    settings.IOT_RATE_LIMIT_DIR = tmp_path / "ratelimit"
    messages = rate_limit_sharing_check()
    assert _ids(messages) == ["certadmin.W021"]
    assert "REDIS_URL" in messages[0].msg
    assert "host" in messages[0].msg


def test_redis_or_the_one_host_demo_needs_no_warning(settings, tmp_path):
    settings.IOT_RATE_LIMIT_DIR = tmp_path / "ratelimit"
    settings.DEMO_MODE, settings.REDIS_URL = True, ""
    assert rate_limit_sharing_check() == []
    settings.DEMO_MODE, settings.REDIS_URL = False, "redis://127.0.0.1:6390/15"
    assert rate_limit_sharing_check() == []


def test_a_rate_limit_directory_that_cannot_be_written_is_warned_about(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.DEMO_MODE, settings.REDIS_URL = True, ""
    settings.IOT_RATE_LIMIT_DIR = blocker / "ratelimit"
    messages = rate_limit_sharing_check()
    assert _ids(messages) == ["certadmin.W022"]
    assert "CERTADMIN_RATE_LIMIT_DIR" in messages[0].msg
