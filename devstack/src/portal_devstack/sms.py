"""SMS sink: an HTTP gateway stand-in. POST JSON ``{"to": "+36…", "text": "…"}`` -> ``var/sms/<time>-<id>.json``.

``python -m portal_devstack.sms`` — answers 202 like a real gateway; a missing ``to``/``text`` gets 400, and so does
a number ending in ``0000``: like a real gateway refusing an unknown subscriber, it lets a developer try the
"the SMS could not be sent" journey (the demo customer Demó Dénes has such a number).
"""
from __future__ import annotations

import argparse
import json
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from portal_common import config


REFUSED_SUFFIX = "0000"


def make_handler(folder: Path):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            length = int(self.headers.get("Content-Length") or 0)
            try:
                message = json.loads(self.rfile.read(length) or b"{}")
                assert isinstance(message.get("to"), str) and isinstance(message.get("text"), str)
            except (ValueError, AssertionError):
                return self._answer(400, {"error": "expected JSON {\"to\": \"+36...\", \"text\": \"...\"}"})
            if message["to"].endswith(REFUSED_SUFFIX):
                return self._answer(400, {"error": "unknown subscriber", "to": message["to"]})
            message_id = uuid.uuid4().hex[:8]
            record = {"id": message_id, "received_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **message}
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{message_id}.json"
            (folder / name).write_text(json.dumps(record, ensure_ascii=False, indent=2))
            return self._answer(202, {"id": message_id, "status": "accepted"})

        def _answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9025)
    args = parser.parse_args()
    folder = config.var_dir() / "sms"
    folder.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(folder))
    print(f"sms sink on http://127.0.0.1:{args.port}/sms, writing to {folder}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
