"""The people tests log in as (the ``make_user`` fixture and its role fixtures create them)."""

# The password of every user ``make_user`` creates: what a login or a re-authentication types.
ROLE_PASSWORD = "correct-horse-battery-staple-42"
