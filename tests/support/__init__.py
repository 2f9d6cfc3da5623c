"""Helpers that tests in more than one package share; fixtures live in the conftests.

Import them from this one root, ``from tests.support.<module> import ...``:

- ``pages``: ``page_text(response)`` and ``HTMX_HEADERS`` (a request as htmx sends it).
- ``emulator``: ``api_calls(emulator)``, the calls the test emulator answered.
- ``people``: ``ROLE_PASSWORD``, the password of every user the ``make_user`` fixture creates.
- ``iot_accounts``: ``account_on(settings, ...)``, an API account changed or added for one test.
- ``key_material``: the emulator's real answer for a device, a leak detector, ``reauth_now`` and
  the audit events of a test.
- ``certificates``: keys and certificates built at run time (``make_ca``, ``make_leaf``).
- ``audit_events``: audit events written through the real service, and tampering with them.
- ``canned_api``: a scripted HTTP server for the IoT client's own tests.
- ``databases``: ``database_url_for_processes()``, the test database for a worker process.
"""
