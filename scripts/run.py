"""`make run`: start the assistant and its local chat page; Ctrl-C stops it."""

from __future__ import annotations

import signal
import sys
import time

from scripts.stack import Stack, load_env_file


def main() -> int:
    load_env_file()
    stack = Stack.from_env()
    print("Starting the action server, Rasa and the chat page (Rasa needs about a minute to load)...", flush=True)
    try:
        stack.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"Could not start: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    print(f"\nReady. Chat page: {stack.webchat_url}\nRasa HTTP API: {stack.rasa_url} (localhost only)\n"
          f"Logs: {stack.log_dir}\nPress Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(1)
        print("A process stopped unexpectedly; see the logs.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
