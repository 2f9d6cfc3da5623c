"""What the test emulator saw."""


def api_calls(emulator, action: str = "QueryDeviceCert") -> int:
    """How many ``action`` calls the emulator has answered since its request log was emptied
    (the ``emulator`` fixture empties it before each test)."""
    return sum(1 for entry in emulator.request_log if entry.action == action)
