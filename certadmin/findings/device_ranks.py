"""How much a device's findings matter beyond their severity (``Finding.device_rank``): what
the device is and whether it was online. Higher first on the fleet page, in the exports and in
notifications."""

# The platform's NodeType of a gateway: its sub-devices fall off the platform with it.
GATEWAY = 1
ONLINE = "ONLINE"
RANK_ONLINE_GATEWAY = 3
RANK_ONLINE_DEVICE = 2
RANK_GATEWAY = 1
RANK_OTHER = 0


def device_rank(device_status: str, node_type: int | None = None) -> int:
    """An online gateway (3), an online device (2), a gateway that is not online (1), any
    other device (0)."""
    gateway = node_type == GATEWAY
    if device_status == ONLINE:
        return RANK_ONLINE_GATEWAY if gateway else RANK_ONLINE_DEVICE
    return RANK_GATEWAY if gateway else RANK_OTHER


def device_rank_online(rank: int) -> bool:
    """Whether a finding's ``device_rank`` says its device was online."""
    return rank >= RANK_ONLINE_DEVICE


def device_rank_gateway(rank: int) -> bool:
    """Whether a finding's ``device_rank`` says its device is a gateway."""
    return rank in (RANK_ONLINE_GATEWAY, RANK_GATEWAY)
