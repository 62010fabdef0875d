"""Who can reach the chat page: the server options shared by `python app.py` and `qa serve`
(one definition, so the two cannot drift), and the warning printed when the page is reachable
from more than this machine. No Gradio here: `qa --help` must stay instant."""

from __future__ import annotations

import argparse

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_server_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--host", default=None,
                        help="address to bind (default QA_HOST or 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=None, help="port (default QA_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    return parser


def exposure_warning(host: str, share: bool) -> str | None:
    """One line saying who can reach the app, when that is more than this machine."""
    if share:
        return ("Warning: --share opens a public gradio.live link: anyone with the link can use this app "
                "(there is no login).")
    if host not in LOOPBACK:
        return (f"Warning: listening on {host}: anyone who can reach this machine on that network can use "
                "this app (there is no login). Use --host 127.0.0.1 to keep it local.")
    return None
