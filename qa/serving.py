"""Who can reach the chat page and the JSON API: the server options shared by `python app.py` and
`qa serve` (one definition, so the two cannot drift), the rule that serving beyond this machine
needs QA_API_TOKEN, and the warning printed when the app is reachable from more than this machine.
No Gradio here: `qa --help` must stay instant."""

from __future__ import annotations

import argparse
from typing import Callable

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Passages a question may ask for, on the page, in the API and in `qa ask --k`: past ten the
# answer only gets noisier.
TOP_K_MAX = 10


def add_server_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--host", default=None,
                        help="address to bind (default QA_HOST or 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=None, help="port, 0 to 65535 (default QA_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    parser.add_argument("--allow-uploads", action="store_true",
                        help="let the page take documents (PDF, HTML, Word, Markdown, text) into corpus/uploads/; "
                             "off by default (also QA_ALLOW_UPLOADS=1)")
    return parser


def whole_number(low: int, high: int, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, anything else refused by argument
    parsing (one line, exit 2) before any model loads. `why` follows the range in the message."""
    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"give a whole number from {low} to {high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"should be from {low} to {high}{why}, got {value}")
        return value

    return read


# --port, checked as QA_PORT is by Settings: otherwise the engine loads first and binding fails
# with a traceback.
port_number = whole_number(0, 65535)


def exposure_problem(host: str, share: bool, token: str | None) -> str | None:
    """Why the server must not start, or None. Beyond this machine (another address, or a share
    link), every call must need the token: without one, anyone who can reach the port could use
    the API and the page."""
    if token or (host in LOOPBACK and not share):
        return None
    where = "open a public gradio.live link (--share)" if share else f"listen on {host} (beyond this machine)"
    return (f"refusing to {where} without a token. Set QA_API_TOKEN to a secret of 16 characters or more "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))'): API clients then send "
            "'Authorization: Bearer <token>', and the page asks for it as its password. Or serve on this "
            "machine only: --host 127.0.0.1.")


def exposure_warning(host: str, share: bool, token: str | None = None) -> str | None:
    """One line saying who can reach the app, when that is more than this machine."""
    if share:
        return (f"Warning: --share opens a public gradio.live link: anyone with the link "
                f"{'and the token ' if token else ''}can use this app.")
    if host not in LOOPBACK:
        return (f"Warning: listening on {host}: anyone who can reach this machine on that network "
                f"{'and has the token ' if token else ''}can use this app. Use --host 127.0.0.1 to keep it local.")
    return None
