"""Shared artifacts: one DVC remote, set by one setting, so a class can pull a trained run instead of
training it.

    make remote URL=s3://bucket/emokit        # or gs://bucket/emokit, ssh://host/srv/emokit, /mnt/share/emokit
    make push                                 # after `make report` (PROFILE=full on the GPU machine)
    make pull                                 # on every other machine: the outputs of the committed dvc.lock

    python -m emokit.remote set URL [--local] | push | pull | show      # what the make targets run

The setting is the URL: ``make remote URL=...`` writes it to ``.dvc/config`` as the default remote
``emokit`` (commit that file and the class has it; ``--local`` keeps it in the uncommitted
``.dvc/config.local`` instead), and ``EMOKIT_DVC_REMOTE=URL`` in the environment overrides it for one
``push``/``pull`` (written to ``.dvc/config.local``). S3, GCS and SSH need DVC's plugin for the
scheme (``pip install dvc-s3`` / ``dvc-gs`` / ``dvc-ssh``) and the usual credentials of that service
(AWS/GCP environment or profile, an SSH key); a local or mounted folder needs nothing.

What travels: every output recorded in ``dvc.lock`` (the chapters' folders with their models,
tables and figures, the feature and embedding caches, the report); the ``*.metrics.json`` files are in
git. After ``make pull`` on a clone of the same commit, ``dvc status`` reports nothing to do, so
``make report`` rebuilds nothing that was pulled.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

NAME = "emokit"
ENV = "EMOKIT_DVC_REMOTE"
# scheme -> (DVC plugin module, pip package)
PLUGINS = {"s3": ("dvc_s3", "dvc-s3"), "gs": ("dvc_gs", "dvc-gs"), "gcs": ("dvc_gs", "dvc-gs"),
           "ssh": ("dvc_ssh", "dvc-ssh"), "azure": ("dvc_azure", "dvc-azure"),
           "http": ("dvc_http", "dvc-http"), "https": ("dvc_http", "dvc-http"),
           "webdav": ("dvc_webdav", "dvc-webdav"), "hdfs": ("dvc_hdfs", "dvc-hdfs"), "oss": ("dvc_oss", "dvc-oss")}


class RemoteError(RuntimeError):
    pass


def check_url(url: str) -> str:
    """The URL as DVC takes it; a clear error for an empty URL or a scheme whose plugin is missing."""
    url = (url or "").strip()
    if not url:
        raise RemoteError(f"no remote URL: pass URL=... (make remote) or set {ENV}")
    scheme = urlparse(url).scheme.lower()
    if len(scheme) <= 1 or scheme == "file":      # a path (C:\\ has a one-letter "scheme") or file://
        path = Path(url[7:] if scheme == "file" else url).expanduser()
        if not path.is_absolute():
            raise RemoteError(f"remote folder {url!r} must be an absolute path (DVC resolves relative "
                              "ones against .dvc/, which surprises everyone)")
        return str(path)
    if scheme not in PLUGINS:
        raise RemoteError(f"remote URL {url!r}: unknown scheme {scheme!r}; use s3://, gs://, ssh://, "
                          "azure://, https:// or an absolute folder path")
    module, package = PLUGINS[scheme]
    if importlib.util.find_spec(module) is None:
        raise RemoteError(f"remote URL {url!r} needs DVC's {scheme} plugin: pip install {package} "
                          f"(or pip install 'dvc[{scheme if scheme != 'gcs' else 'gs'}]')")
    return url


def _repo(root: Path):
    from dvc.repo import Repo

    return Repo(str(root))


def configure(url: str, root: Path, local: bool = False) -> str:
    """Make ``url`` the default DVC remote ``emokit`` of the project at ``root`` (what
    ``dvc remote add [--local] --default --force emokit URL`` writes)."""
    url = check_url(url)
    with _repo(root) as repo:
        with repo.config.edit("local" if local else "repo") as conf:
            conf["remote"][NAME] = {"url": url}
            conf["core"]["remote"] = NAME
    return url


def _from_env(root: Path) -> None:
    if os.environ.get(ENV):
        configure(os.environ[ENV], root, local=True)


def push(root: Path, targets: list[str] | None = None, jobs: int | None = None) -> int:
    """``dvc push``: every cached output of dvc.lock (or ``targets``) to the default remote; returns
    the number of files sent."""
    _from_env(root)
    with _repo(root) as repo:
        _need_remote(repo, root)
        return int(repo.push(targets=targets or None, jobs=jobs))


def pull(root: Path, targets: list[str] | None = None, jobs: int | None = None) -> dict:
    """``dvc pull``: fetch into the cache and check the outputs out; returns DVC's counts
    (``fetched`` files, ``added``/``modified`` outputs)."""
    _from_env(root)
    with _repo(root) as repo:
        _need_remote(repo, root)
        result = repo.pull(targets=targets or None, jobs=jobs)
    return dict(result.get("stats", result))


def _need_remote(repo, root: Path) -> None:
    if not repo.config["core"].get("remote"):
        raise RemoteError(f"{root}: no default DVC remote; run `make remote URL=...` or set {ENV}")


def main(argv=None) -> int:
    from .config import REPO_ROOT

    ap = argparse.ArgumentParser(prog="python -m emokit.remote", description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=None, help="DVC project folder (default: this repository)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set", help="make URL the default remote 'emokit'")
    s.add_argument("url")
    s.add_argument("--local", action="store_true", help="write .dvc/config.local (not committed)")
    for name in ("push", "pull"):
        p = sub.add_parser(name, help=f"dvc {name} every output of dvc.lock (or the named targets)")
        p.add_argument("targets", nargs="*")
        p.add_argument("--jobs", "-j", type=int, default=None)
    sub.add_parser("show", help="the configured remotes")
    args = ap.parse_args(argv)
    root = Path(args.repo) if args.repo else REPO_ROOT
    try:
        if args.cmd == "set":
            url = configure(args.url, root, local=args.local)
            where = ".dvc/config.local" if args.local else ".dvc/config (commit it to share the setting)"
            print(f"default DVC remote '{NAME}' = {url} in {where}")
        elif args.cmd == "push":
            print(f"{push(root, args.targets, args.jobs)} files pushed")
        elif args.cmd == "pull":
            stats = pull(root, args.targets, args.jobs)
            print(f"{stats.get('fetched', 0)} files fetched, {len(stats.get('added', []))} outputs checked out")
        else:
            with _repo(root) as repo:
                default = repo.config["core"].get("remote")
                for name, conf in repo.config["remote"].items():
                    print(f"{name}\t{conf.get('url')}" + ("\t(default)" if name == default else ""))
    except RemoteError as e:
        print(f"emokit.remote: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # DVC's own errors (unreachable remote, missing credentials): one clear line
        if type(e).__module__.startswith("dvc"):
            print(f"emokit.remote: {args.cmd} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
