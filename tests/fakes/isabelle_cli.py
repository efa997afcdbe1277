"""A stand-in for the ``isabelle`` command, shaped like the real process tree (tests only).

``isabelle server`` here, as in a real installation, is a wrapper that *forks* (does not
exec) a long-lived "JVM" process, and the JVM starts a "Poly/ML" process in a session of
its own (``setsid``), as Isabelle does for each ML process. The JVM serves the
protocol-level fake server (``fake_isabelle.py``), which replays scripted replies and never
judges a proof. Nothing here can be selected by a user setting.

``FAKE_ISABELLE_BUILD=hang``: its ``session_build`` never ends, and the server does not shut
down on request while it runs (a long heap build). Also answers ``isabelle version`` (``$FAKE_ISABELLE_VERSION``, default ``Isabelle2020``)
and ``isabelle getenv [-b] NAME...`` (from the JSON object in ``$FAKE_ISABELLE_ENV``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    tool, args = (argv[0], argv[1:]) if argv else ("", [])
    if tool == "version":
        print(os.environ.get("FAKE_ISABELLE_VERSION", "Isabelle2020"))
        return 0
    if tool == "getenv":
        env = json.loads(os.environ.get("FAKE_ISABELLE_ENV", "{}"))
        bare = "-b" in args
        for name in (a for a in args if a != "-b"):
            value = str(env.get(name, ""))
            print(value if bare else f"{name}={value}")
        return 0
    if tool == "server":
        # the wrapper: fork the JVM and wait for it (a shell script that does not exec)
        jvm = subprocess.Popen([sys.executable, __file__, "_jvm", *args])
        return jvm.wait()
    if tool == "_jvm":
        return jvm_main()
    print(f"fake isabelle: unknown tool {tool!r}", file=sys.stderr)
    return 2


def jvm_main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.fakes import replies
    from tests.fakes.fake_isabelle import FakeIsabelleServer, Script

    poly = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(60)"],
                            start_new_session=True)
    script = Script(default=replies.verified(), session_build_hangs=os.environ.get("FAKE_ISABELLE_BUILD") == "hang")
    fake = FakeIsabelleServer(script).start()
    print(fake.banner, flush=True)

    def stop(*_: object) -> None:
        poly.terminate()
        fake.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    while not fake.state.shutdown_requested.wait(0.2):
        pass
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
