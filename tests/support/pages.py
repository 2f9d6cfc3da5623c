"""Reading the dashboard's answers, and asking as htmx does."""

# What htmx adds to each of its requests: views answer with the partial instead of the page.
HTMX_HEADERS = {"HX-Request": "true"}


def page_text(response) -> str:
    """The body of a test client's (not streaming) response, as text."""
    return response.content.decode()
