"""``python -m emokit.chat.serve [--port N] [--open]``: the chat app (notebook 06) as a Voila app on
127.0.0.1 only, with the ``emokit`` Voila template (``emokit/chat/jupyter/``): the page asks nothing of any
other host (Voila's stock template loads Font Awesome from a CDN) and the developer notes (cells tagged
``voila-hide``) stay out of it. Plain ``voila notebooks/06_empathic_chat.ipynb`` works too, with the stock
template."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..config import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "06_empathic_chat.ipynb"
JUPYTER_DIR = Path(__file__).resolve().parent / "jupyter"   # holds voila/templates/emokit
TEMPLATE = "emokit"


def voila_command(port: int, notebook: Path = NOTEBOOK, open_browser: bool = False,
                  env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve ``notebook`` with the emokit template on 127.0.0.1."""
    voila = shutil.which("voila", path=str(Path(sys.executable).parent)) or shutil.which("voila")
    if voila is None:
        raise FileNotFoundError("voila is not installed in this environment (pip install voila)")
    env = dict(os.environ if env is None else env)
    env["JUPYTER_PATH"] = os.pathsep.join([str(JUPYTER_DIR), *filter(None, [env.get("JUPYTER_PATH")])])
    cmd = [voila, str(notebook), f"--template={TEMPLATE}", f"--port={port}", "--Voila.ip=127.0.0.1",
           "--ServerApp.ip=127.0.0.1", *([] if open_browser else ["--no-browser"])]
    return cmd, env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emokit.chat.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    ap.add_argument("--open", action="store_true", help="open the page in the default browser")
    args = ap.parse_args(argv)
    try:
        cmd, env = voila_command(args.port, open_browser=args.open)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"emokit chat: http://127.0.0.1:{args.port}/  (Ctrl+C stops it)", file=sys.stderr)
    try:
        return subprocess.call(cmd, env=env, cwd=NOTEBOOK.parent)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
