"""Download the openly downloadable datasets from their own homes, and verify them.

``python -m emokit data fetch [--dest DIR]`` fetches what is missing under the data root:

* GoEmotions TSVs, label list and Ekman map (google-research, Apache-2.0),
* MELD's text/label CSVs (declare-lab/MELD, GPL-3.0; transcripts of *Friends*: research only),
* RAVDESS speech (Zenodo record 1188976, CC BY-NC-SA 4.0),
* EmoDB (TU Berlin, free for research).

Every file's SHA-256 is checked against :data:`FILES` when the sum is known. Where the upstream
archive's sum is *not* known here (the RAVDESS and EmoDB zips: the copies in ``../shared/data``
are processed, truncated/resampled copies, not the originals), the table says so and the
extracted files are checked by structure instead (file count, name pattern) — see
:data:`ARCHIVES`. Offline, the command fails fast and says what is missing, where to get it and
where to put it. Nothing is ever downloaded by the demo pipeline or the tests.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

GOEMOTIONS_COMMIT = "2adf640a14f11025ae5a9d0ec493b78530d276d3"   # google-research/google-research
MELD_COMMIT = "2d2011b409d3ca2d7e94460cd007d434b1d0a102"          # declare-lab/MELD
_GE = f"https://raw.githubusercontent.com/google-research/google-research/{GOEMOTIONS_COMMIT}/goemotions/data"
_MELD = f"https://raw.githubusercontent.com/declare-lab/MELD/{MELD_COMMIT}/data/MELD"


@dataclass(frozen=True)
class RemoteFile:
    dataset: str
    dest: str            # path under the data root
    url: str
    sha256: str | None   # None: not known here (see note)
    note: str


# SHA-256 sums were computed on this project's machine from the copies in ../shared/data.
# GoEmotions: those copies come from monologg/GoEmotions-pytorch@b75f9d3; only dev.tsv was compared
# with google-research (same length and first 16,000 characters), so a mismatch on train/test from
# google-research would be reported, not ignored. MELD: byte-identical to declare-lab/MELD@2d2011b.
FILES: tuple[RemoteFile, ...] = (
    RemoteFile("goemotions", "goemotions/original/train.tsv", f"{_GE}/train.tsv",
               "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
               "43,410 rows; sum of the monologg mirror copy"),
    RemoteFile("goemotions", "goemotions/original/dev.tsv", f"{_GE}/dev.tsv",
               "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
               "5,426 rows; sum of the monologg mirror copy (prefix-verified against google-research)"),
    RemoteFile("goemotions", "goemotions/original/test.tsv", f"{_GE}/test.tsv",
               "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
               "5,427 rows; sum of the monologg mirror copy"),
    RemoteFile("goemotions", "goemotions/emotions.txt", f"{_GE}/emotions.txt",
               "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89", "the 28 label names"),
    RemoteFile("goemotions", "goemotions/ekman_mapping.json", f"{_GE}/ekman_mapping.json",
               "e689a1978001db74fc5e2422ab04074109880837ed37fcd295c75cde407393f9", "official Ekman grouping"),
    RemoteFile("meld", "meld/csv/train_sent_emo.csv", f"{_MELD}/train_sent_emo.csv",
               "d2fa2d6529cf03cac2989efec05c9b27d8fd2f4c8fc5974c7ae88aa537fa02db", "9,989 utterances"),
    RemoteFile("meld", "meld/csv/dev_sent_emo.csv", f"{_MELD}/dev_sent_emo.csv",
               "2e89c6f8aa182d6f62f8c6331aece905ac7273ca4999660bfb5213e1d0370c1c", "1,109 utterances"),
    RemoteFile("meld", "meld/csv/test_sent_emo.csv", f"{_MELD}/test_sent_emo.csv",
               "8d37103938f7067600839fe29d5a114a6cd1bcdafb75bec101e06464c5006888", "2,610 utterances"),
)


@dataclass(frozen=True)
class RemoteArchive:
    dataset: str
    dest: str                 # folder under the data root the files end up in
    url: str
    sha256: str | None        # None: upstream sum not known here
    pattern: str              # regex every extracted .wav name must match
    expected_files: int       # how many .wav files the full archive holds
    layout: Callable[[str], str | None]  # archive member -> path under dest (None: skip)
    note: str


def _ravdess_member(name: str) -> str | None:
    m = re.search(r"(Actor_\d\d)/(03-01-[\d-]+\.wav)$", name)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def _emodb_member(name: str) -> str | None:
    m = re.search(r"(?:^|/)wav/([^/]+\.wav)$", name)
    return m.group(1) if m else None


ARCHIVES: tuple[RemoteArchive, ...] = (
    RemoteArchive("ravdess", "ravdess", "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip",
                  None, r"^03-01-0[1-8]-0[12]-0[12]-0[12]-(0[1-9]|1\d|2[0-4])\.wav$", 1440, _ravdess_member,
                  "upstream zip SHA-256 unknown here (../shared/data holds truncated copies, not the "
                  "originals): verified by count (1,440 speech wavs, 24 actors) and name pattern; "
                  "the full set includes calm (02), which the readers drop and count"),
    RemoteArchive("emodb", "emodb/wav", "http://emodb.bilderbar.info/download/download.zip",
                  None, r"^\d\d[a-z]\d\d[WLEAFTN][a-z]\.wav$", 535, _emodb_member,
                  "upstream zip SHA-256 unknown here (../shared/data holds resampled 2-s copies): "
                  "verified by count (535 wavs) and the SSTttEv.wav name pattern"),
)

WHERE_TO_GET = {
    "goemotions": "https://github.com/google-research/google-research/tree/master/goemotions (data/*.tsv)",
    "meld": "https://github.com/declare-lab/MELD (data/MELD/*_sent_emo.csv); clips: https://affective-meld.github.io/",
    "ravdess": "https://zenodo.org/records/1188976 (Audio_Speech_Actors_01-24.zip)",
    "emodb": "http://emodb.bilderbar.info/ (download.zip)",
    "fer2013": "https://www.kaggle.com/datasets/msambare/fer2013 (Kaggle login; not fetched)",
    "m3ed": "https://github.com/AIM3-RUC/RUCM3ED (annotation.json and features on request; not fetched)",
    "cremad": "https://github.com/CheyneyComputerScience/CREMA-D (git-lfs AudioWAV; not fetched)",
    "tess": "https://doi.org/10.5683/SP2/E8H2MF (Borealis; not fetched)",
    "savee": "http://kahlan.eps.surrey.ac.uk/savee/ (registration; not fetched)",
    "jl": "https://www.kaggle.com/datasets/tli725/jl-corpus (not fetched)",
    "esd": "https://github.com/HLTSingapore/Emotional-Speech-Data (licence form; not fetched)",
    "iemocap": "https://sail.usc.edu/iemocap/ (licence form; not fetched)",
}
FETCHABLE = ("goemotions", "meld", "ravdess", "emodb")


class FetchError(RuntimeError):
    """A download that cannot happen (offline) or whose content does not verify."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _host_reachable(url: str, timeout: float) -> bool:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return True
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _download(url: str, to: Path, timeout: float, progress: bool = True, chunk: int = 1 << 16) -> None:
    """Stream ``url`` to ``to`` (through ``to.part``) with a tqdm progress bar on stderr (bytes, total from
    Content-Length when the server sends it)."""
    from tqdm.auto import tqdm

    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = to.with_name(to.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, tmp.open("wb") as out:
            total = resp.headers.get("Content-Length")
            with tqdm(total=int(total) if total and total.isdigit() else None, unit="B", unit_scale=True,
                      unit_divisor=1024, desc=to.name, disable=not progress, leave=True, mininterval=0.5) as bar:
                for block in iter(lambda: resp.read(chunk), b""):
                    out.write(block)
                    bar.update(len(block))
        tmp.replace(to)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FetchError(f"{url}: download failed ({exc})") from None


def file_status(dest: Path, f: RemoteFile) -> str:
    """'ok', 'missing', 'mismatch' or 'unverified' (present, no known sum)."""
    p = dest / f.dest
    if not p.is_file():
        return "missing"
    if f.sha256 is None:
        return "unverified"
    return "ok" if sha256_of(p) == f.sha256 else "mismatch"


def archive_status(dest: Path, a: RemoteArchive) -> tuple[str, int]:
    """('ok' | 'missing' | 'partial' | 'malformed', number of matching wavs) for an extracted archive."""
    base = dest / a.dest
    if not base.is_dir():
        return "missing", 0
    names = [p.name for p in base.rglob("*.wav")]
    bad = [n for n in names if not re.match(a.pattern, n)]
    if bad:
        return "malformed", len(names) - len(bad)
    if not names:
        return "missing", 0
    return ("ok" if len(names) >= a.expected_files else "partial"), len(names)


def _missing_message(dest: Path, todo: list[str]) -> str:
    lines = [f"cannot download (offline or the host does not answer). Missing under {dest}:"]
    lines += [f"  - {t}" for t in todo]
    lines.append("Get them from:")
    for ds in sorted({t.split(":", 1)[0] for t in todo}):
        lines.append(f"  {ds}: {WHERE_TO_GET[ds]}")
    lines.append("and put them at the paths above (or point EMOKIT_DATA_ROOT / params/profile.yaml:data_root "
                 "at a folder that holds them); then run `python -m emokit data check`.")
    return "\n".join(lines)


def fetch(dest: Path, datasets: Iterable[str] = FETCHABLE, timeout: float = 10.0,
          log: Callable[[str], None] = print, files: tuple[RemoteFile, ...] = FILES,
          archives: tuple[RemoteArchive, ...] = ARCHIVES, progress: bool = True) -> dict[str, str]:
    """Fetch what is missing of ``datasets`` into ``dest``; returns {path: status}.

    Present files with a known sum are verified (a mismatch raises: raw data is never overwritten).
    Offline, raises :class:`FetchError` at once, listing what is missing and where to get it.
    """
    dest = Path(dest)
    datasets = list(datasets)
    unknown = set(datasets) - set(FETCHABLE)
    if unknown:
        raise FetchError(f"not downloadable by this command: {sorted(unknown)}; "
                         + "; ".join(f"{d}: {WHERE_TO_GET.get(d, '?')}" for d in sorted(unknown)))
    result: dict[str, str] = {}
    todo_files, todo_archives = [], []
    for f in files:
        if f.dataset not in datasets:
            continue
        st = file_status(dest, f)
        if st == "mismatch":
            raise FetchError(f"{dest / f.dest}: SHA-256 {sha256_of(dest / f.dest)} does not match the recorded "
                             f"{f.sha256}; the file differs from the known copy. Move it away and fetch again.")
        result[f.dest] = st
        if st == "missing":
            todo_files.append(f)
    for a in archives:
        if a.dataset not in datasets:
            continue
        st, n = archive_status(dest, a)
        if st == "malformed":
            raise FetchError(f"{dest / a.dest}: holds .wav files whose names do not match {a.pattern}")
        result[a.dest] = f"{st} ({n} wavs)"
        if st == "missing":
            todo_archives.append(a)
    if not todo_files and not todo_archives:
        log(f"nothing to fetch: {', '.join(datasets)} present under {dest}")
        return result
    todo = [f"{f.dataset}: {f.dest}" for f in todo_files] + [f"{a.dataset}: {a.dest}/ ({a.expected_files} wavs)"
                                                            for a in todo_archives]
    if os.environ.get("EMOKIT_OFFLINE") == "1" or not all(
            _host_reachable(u, timeout=min(timeout, 5.0)) for u in {x.url for x in [*todo_files, *todo_archives]}):
        raise FetchError(_missing_message(dest, todo))
    for f in todo_files:
        log(f"downloading {f.url}")
        target = dest / f.dest
        _download(f.url, target, timeout, progress=progress)
        if f.sha256 is not None:
            got = sha256_of(target)
            if got != f.sha256:
                bad = target.with_name(target.name + ".sha256-mismatch")
                target.replace(bad)
                raise FetchError(f"{f.url}: SHA-256 {got} does not match the recorded {f.sha256}; "
                                 f"kept the download as {bad} for inspection")
        result[f.dest] = "fetched"
    for a in todo_archives:
        log(f"downloading {a.url} (upstream SHA-256 not recorded: {a.note})")
        with tempfile.TemporaryDirectory() as tmp:
            z = Path(tmp) / "archive.zip"
            _download(a.url, z, timeout=max(timeout, 60.0), progress=progress)
            log(f"  archive SHA-256 {sha256_of(z)} (record it in emokit/data/fetch.py ARCHIVES)")
            _extract(z, dest / a.dest, a)
        st, n = archive_status(dest, a)
        if st != "ok":
            raise FetchError(f"{dest / a.dest}: after extraction {n} wavs matching {a.pattern}, "
                             f"expected {a.expected_files} ({st})")
        result[a.dest] = f"fetched ({n} wavs)"
    return result


def _extract(zip_path: Path, out: Path, a: RemoteArchive) -> None:
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise FetchError(f"{a.url}: not a zip archive") from None
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            rel = a.layout(info.filename)
            if rel is None:
                continue
            target = out / rel
            if ".." in Path(rel).parts:
                raise FetchError(f"{a.url}: unsafe member name {info.filename!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
