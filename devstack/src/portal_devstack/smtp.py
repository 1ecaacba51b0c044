"""SMTP sink: accepts every message and writes it to ``var/mail/<time>-<id>.eml``. ``python -m portal_devstack.smtp``"""
from __future__ import annotations

import argparse
import signal
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller

from portal_common import config


class SaveToFolder:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        header = f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        (self.folder / name).write_bytes(header + envelope.original_content)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args()
    folder = config.var_dir() / "mail"
    controller = Controller(SaveToFolder(folder), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"smtp sink on 127.0.0.1:{args.port}, writing to {folder}", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    controller.stop()


if __name__ == "__main__":
    main()
