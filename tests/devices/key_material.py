"""How tests look for a leaked private key in an output."""


def key_fragments(key_text: str) -> list[str]:
    """The key text and each base64 line of it: any of them in an output is a leak."""
    lines = [line.strip() for line in key_text.splitlines()]
    return [key_text, *(line for line in lines if len(line) >= 16 and "-----" not in line)]
