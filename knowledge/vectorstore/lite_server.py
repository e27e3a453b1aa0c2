"""Share one Milvus Lite file between processes: serve it on a loopback port.

    python -m knowledge.vectorstore.lite_server --data-dir data/milvus.db --port 19530

Milvus Lite 2.5 ships the server binary but no command for this; it runs until SIGTERM or
SIGINT, which stop the binary and release the file.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from milvus_lite.server import Server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the Milvus Lite .db file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    args = parser.parse_args()
    args.data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = Server(str(args.data_dir), address=f"{args.host}:{args.port}")
    if not server.init() or not server.start():
        raise SystemExit(f"Milvus Lite could not serve {args.data_dir} (is it open elsewhere?)")
    process = server._p  # Server keeps its binary's process private
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.is_set():
            # Milvus Lite's binary exits on its own when it fails; so do we.
            if process is not None and process.poll() is not None:
                raise SystemExit(f"Milvus Lite exited with status {process.returncode}")
            stop.wait(1)
    finally:
        # In address mode the binary does not watch the file lock: ask it to stop first.
        if process is not None and process.poll() is None:
            process.terminate()
        server.stop()


if __name__ == "__main__":
    main()
