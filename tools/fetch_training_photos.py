"""Fetch the sharp photographs the default model is trained on (`make default-model-data`).

Debian wallpaper packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`
(nothing is installed); only the photographs on the allow-list below are kept, plus
scikit-image's colour photos. Everything lands flat in one folder (default `data/photos/`,
git-ignored) with a MANIFEST.csv: file, package, version, source, licence and copyright (from
the package's machine-readable /usr/share/doc/<package>/copyright), the per-image licence and
author where the package's metadata gives one, width, height, sha256.

Idempotent and resumable: the .deb files are kept in the cache folder (default `data/cache/`),
so a rerun needs no network; a photo already in the manifest with the same sha256 is not
redone. scikit-learn's `china.jpg` and `flower.jpg` are the held-out evaluation set and are
never taken. This tool is not part of the installed package. Usage:
    python tools/fetch_training_photos.py [--out data/photos] [--cache data/cache] [--long-side 1600]
"""

from __future__ import annotations

import argparse
import configparser
import csv
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

# Photographs only, chosen by looking at every image of each package; the comment after a
# package says what was left out and why. Paths are inside the package (bookworm versions).
LOMIRI_16 = "usr/share/backgrounds/"
MATE = "usr/share/backgrounds/mate/nature/"
PALAPELI = "usr/share/palapeli/collection/"
PLASMA = "usr/share/wallpapers/{}/contents/images/2560x1600.jpg"  # largest size of each

ALLOW_LIST: dict[str, list[str]] = {
    # Left out: analogpattern (an abstract texture), umang (drawn stripes).
    "lomiri-wallpapers-16.04": [
        LOMIRI_16 + name
        for name in (
            "Bridge_by_Sander_Klootwijk.jpg",
            "Dragonfly_by_Bolly.jpg",
            "Picture_0B_by_freespace.jpg",
            "Picture_1A_by_freespace.jpg",
            "Wine_by_Jakkub_Mede.jpg",
            "aitzgorri_by_Aitzol_Berasategi.jpg",
            "free_by_Peter_Nerlich.jpg",
            "friends_by_Aitzol_Berasategi.jpg",
            "greentock_by_Peter_Nerlich.jpg",
            "life_by_Aitzol_Berasategi.jpg",
            "picosdeeuropa_by_Aitzol_Berasategi.jpg",
            "seeding_by_Clements_Engelhardt.jpg",
            "sunset_by_Aitzol_Berasategi.jpg",
        )
    ],
    # Left out: Fossa, Painting-Colors (drawn), Infinite-Sea (a rendered composite).
    "lomiri-wallpapers-20.04": ["usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"],
    # nature/ only (abstract/ and desktop/ are drawn). Left out: Storm (shot from a moving car:
    # motion-blurred, so no sharp target), FreshFlower (out of focus, 79 KB at 1600x1203).
    "mate-backgrounds": [
        MATE + name
        for name in (
            "Aqua.jpg",
            "Blinds.jpg",
            "Dune.jpg",
            "Garden.jpg",
            "GreenMeadow.jpg",
            "LadyBird.jpg",
            "RainDrops.jpg",
            "TwoWings.jpg",
            "Wood.jpg",
            "YellowFlower.jpg",
        )
    ],
    # The puzzle collection is photographs; backgrounds/ holds drawn textures.
    "palapeli-data": [
        PALAPELI + name
        for name in (
            "castle-maintenon.jpg",
            "cincinnati-bridge.jpg",
            "citrus-fruits.jpg",
            "european-honey-bee.jpg",
            "panther-chameleon-female.jpg",
        )
    ],
    # Most Plasma wallpapers are rendered. Photographs left out for lack of detail:
    # BytheWater (mostly defocused), DarkestHour (fog), Kite and summer_1am (plain sky).
    "plasma-workspace-wallpapers": [
        PLASMA.format(name)
        for name in (
            "ColdRipple",
            "ColorfulCups",
            "EveningGlow",
            "FallenLeaf",
            "Grey",
            "OneStandsOut",
            "Path",
        )
    ],
}

# scikit-image's colour photographs: (output stem, skimage.data call, licence, copyright),
# licences as stated in each function's docstring.
SKIMAGE_PHOTOS = [
    ("astronaut", "astronaut", "public-domain", "NASA (Great Images database)"),
    ("chelsea", "chelsea", "CC0-1.0", "Stefan van der Walt"),
    ("coffee", "coffee", "CC0-1.0", "Rachel Michetti, courtesy of Pikolo Espresso Bar"),
    ("rocket", "rocket", "public-domain", "SpaceX"),
    (
        "motorcycle_left",
        "stereo_motorcycle[0]",
        "none stated (Middlebury 2014 stereo benchmark, as shipped by scikit-image)",
        "Scharstein et al., Middlebury College",
    ),
    (
        "motorcycle_right",
        "stereo_motorcycle[1]",
        "none stated (Middlebury 2014 stereo benchmark, as shipped by scikit-image)",
        "Scharstein et al., Middlebury College",
    ),
]

# The held-out evaluation set (benchmarks/data/heldout/): never a training photo.
HELD_OUT_NAMES = frozenset({"china.jpg", "flower.jpg"})


@dataclass(frozen=True)
class Row:
    file: str
    package: str
    version: str
    source: str
    licence: str
    copyright: str
    metadata_licence: str
    metadata_author: str
    width: int
    height: int
    sha256: str


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    debs = args.cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    done = read_manifest(out / "MANIFEST.csv")
    rows: list[Row] = []
    missing: list[str] = []
    for package, members in ALLOW_LIST.items():
        deb = fetch_deb(package, debs, offline=args.offline)
        new_rows, lost = photos_from_deb(package, deb, members, out, args.long_side, done)
        rows += new_rows
        missing += lost
    rows += skimage_photos(out, args.long_side, done)
    write_manifest(out / "MANIFEST.csv", rows)
    remove_strays(out, rows)
    summarise(rows, missing, out)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/photos"), help="photo folder")
    parser.add_argument("--cache", type=Path, default=Path("data/cache"), help="kept .deb files")
    parser.add_argument(
        "--long-side", type=int, default=1600, help="downscale larger photos to this long side"
    )
    parser.add_argument(
        "--offline", action="store_true", help="never call apt-get: use the cached .deb files"
    )
    args = parser.parse_args(argv)
    if args.long_side < 64:
        parser.error("--long-side must be at least 64")
    return args


# --- fetching and unpacking -----------------------------------------------------------------


def fetch_deb(package: str, debs: Path, *, offline: bool) -> Path:
    """The package's .deb in the cache folder, downloaded (with an `apt-get update` first when
    apt does not know the package) unless already there."""
    cached = sorted(debs.glob(f"{package}_*.deb"))
    if cached:
        return cached[-1]
    if offline:
        sys.exit(f"error: {package}: no cached .deb in {debs} and --offline was given")
    if shutil.which("apt-get") is None:
        sys.exit(f"error: apt-get not found; fetch {package}'s .deb by hand into {debs}")
    if not apt_knows(package):
        status(f"apt does not know {package}: running apt-get update")
        run(["apt-get", "update"], hint="apt-get update needs root (sudo)")
        if not apt_knows(package):
            sys.exit(f"error: no package {package} in this system's apt sources")
    status(f"downloading {package}")
    run(["apt-get", "download", package], cwd=debs)
    cached = sorted(debs.glob(f"{package}_*.deb"))
    if not cached:
        sys.exit(f"error: apt-get download {package} wrote no .deb in {debs}")
    return cached[-1]


def apt_knows(package: str) -> bool:
    result = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True
    )
    return result.returncode == 0 and "Version:" in result.stdout


def run(cmd: list[str], *, cwd: Path | None = None, hint: str = "") -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        sys.exit(f"error: {' '.join(cmd)} failed: {detail[0]}" + (f" ({hint})" if hint else ""))
    return result.stdout


def photos_from_deb(
    package: str,
    deb: Path,
    members: list[str],
    out: Path,
    long_side: int,
    done: dict[str, Row],
) -> tuple[list[Row], list[str]]:
    """Unpack `deb` (only when a photo is missing or changed) and keep the allow-listed members;
    returns the manifest rows and the members the package did not have."""
    version = run(["dpkg-deb", "--field", str(deb), "Version"]).strip()
    names = {member: output_name(package, member) for member in members}
    kept = [
        done[name]
        for name in names.values()
        if name in done and done[name].version == version and is_intact(out / name, done[name])
    ]
    if len(kept) == len(members):
        status(f"{package} {version}: {len(kept)} photos already there")
        return kept, []
    status(f"{package} {version}: unpacking")
    with tempfile.TemporaryDirectory(dir=deb.parent) as tmp:
        root = Path(tmp)
        run(["dpkg-deb", "-x", str(deb), str(root)])
        stanzas = read_copyright(root / "usr/share/doc" / package / "copyright")
        rows, missing = [], []
        for member, name in names.items():
            source = root / member
            if PurePosixPath(member).name in HELD_OUT_NAMES:
                sys.exit(f"error: {member} is a held-out evaluation photo, not a training one")
            if not source.is_file():
                missing.append(f"{package}:{member}")
                continue
            licence, holder = licence_of(stanzas, member)
            meta_licence, meta_author = image_metadata(root, member)
            width, height, digest = store_photo(source, out / name, long_side)
            rows.append(
                Row(
                    file=name,
                    package=package,
                    version=version,
                    source=member,
                    licence=licence,
                    copyright=holder,
                    metadata_licence=meta_licence,
                    metadata_author=meta_author,
                    width=width,
                    height=height,
                    sha256=digest,
                )
            )
    return rows, missing


def output_name(package: str, member: str) -> str:
    """A flat, unique file name: the package, then the wallpaper's own name (Plasma's images
    are all called by their size, so its folder name). Always PNG: downscaled photos must not
    gain a second round of JPEG artefacts, and one format keeps the names predictable."""
    path = PurePosixPath(member)
    stem = path.parts[3] if package == "plasma-workspace-wallpapers" else path.stem
    return f"{package}__{stem}.png"


# --- licences -------------------------------------------------------------------------------


def read_copyright(path: Path) -> list[dict[str, str]]:
    """The stanzas of a machine-readable debian/copyright file (DEP-5) as field dicts."""
    if not path.is_file():
        return []
    stanzas, fields_, key = [], {}, None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            if fields_:
                stanzas.append(fields_)
            fields_, key = {}, None
        elif line[0] in " \t" and key is not None:
            fields_[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields_[key] = value.strip()
    if fields_:
        stanzas.append(fields_)
    return stanzas


def licence_of(stanzas: list[dict[str, str]], member: str) -> tuple[str, str]:
    """(licence, copyright) of the last Files stanza that matches (DEP-5 precedence).

    Stanza patterns are relative to the upstream source, not to the installed path, so a
    pattern matches when it globs a tail of the installed path, or when its file name (free of
    wildcards) is the member's file name.
    """
    found = ("", "")
    for stanza in stanzas:
        if "Files" not in stanza or "License" not in stanza:
            continue
        for pattern in stanza["Files"].split():
            name = PurePosixPath(pattern).name
            tail_match = fnmatch.fnmatchcase(member, pattern) or fnmatch.fnmatchcase(
                member, "*/" + pattern
            )
            name_match = not any(c in name for c in "*?[") and name == PurePosixPath(member).name
            if tail_match or name_match:
                licence = stanza["License"].splitlines()[0].strip()
                holder = "; ".join(s.strip() for s in stanza.get("Copyright", "").splitlines())
                found = (licence, holder)
    return found


def image_metadata(root: Path, member: str) -> tuple[str, str]:
    """(licence, author) that a wallpaper's own metadata states: Plasma's metadata.json,
    Palapeli's .desktop file; empty where there is none."""
    path = root / member
    plasma = path.parent.parent.parent / "metadata.json"
    if member.startswith("usr/share/wallpapers/") and plasma.is_file():
        plugin = json.loads(plasma.read_text(encoding="utf-8")).get("KPlugin", {})
        authors = plugin.get("Authors") or [{}]
        return plugin.get("License", ""), authors[0].get("Name", "")
    desktop = path.with_suffix(".desktop")
    if desktop.is_file():
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # keep the keys' case
        parser.read(desktop, encoding="utf-8")
        for section in parser.sections():
            entry = parser[section]
            if "X-KDE-PluginInfo-License" in entry:
                return entry["X-KDE-PluginInfo-License"], entry.get("X-KDE-PluginInfo-Author", "")
    return "", ""


# --- storing photos -------------------------------------------------------------------------


def store_photo(source: Path, dest: Path, long_side: int) -> tuple[int, int, str]:
    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"error: cannot decode {source}")
    return store_array(image, dest, long_side)


def store_array(bgr: np.ndarray, dest: Path, long_side: int) -> tuple[int, int, str]:
    """Downscale (area interpolation) so the long side is at most `long_side`, write a PNG
    atomically; returns (width, height, sha256 of the file)."""
    height, width = bgr.shape[:2]
    scale = long_side / max(height, width)
    if scale < 1.0:
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        sys.exit(f"error: cannot encode {dest.name}")
    data = encoded.tobytes()
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return width, height, hashlib.sha256(data).hexdigest()


def skimage_photos(out: Path, long_side: int, done: dict[str, Row]) -> list[Row]:
    import skimage
    from skimage import data

    rows = []
    for stem, call, licence, holder in SKIMAGE_PHOTOS:
        name = f"scikit-image__{stem}.png"
        previous = done.get(name)
        if previous and previous.version == skimage.__version__ and is_intact(out / name, previous):
            rows.append(previous)
            continue
        function, _, index = call.partition("[")
        rgb = getattr(data, function)()
        if index:
            rgb = rgb[int(index.rstrip("]"))]
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, 2::-1])
        width, height, digest = store_array(bgr, out / name, long_side)
        source = f"skimage.data.{function}()" + (f"[{index}" if index else "")
        rows.append(
            Row(
                file=name,
                package="scikit-image",
                version=skimage.__version__,
                source=source,
                licence=licence,
                copyright=holder,
                metadata_licence="",
                metadata_author="",
                width=width,
                height=height,
                sha256=digest,
            )
        )
    return rows


# --- manifest -------------------------------------------------------------------------------


def is_intact(path: Path, row: Row) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256


def read_manifest(path: Path) -> dict[str, Row]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    try:
        rows = [Row(**{**r, "width": int(r["width"]), "height": int(r["height"])}) for r in records]
    except (TypeError, ValueError, KeyError):
        status(f"{path}: unreadable, starting a new one")
        return {}
    return {row.file: row for row in rows}


def write_manifest(path: Path, rows: list[Row]) -> None:
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Row)])
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r.file):
            writer.writerow(asdict(row))
    os.replace(tmp, path)


def remove_strays(out: Path, rows: list[Row]) -> None:
    """Drop photos of ours that a previous run left and the allow-list no longer names, and
    unfinished .part files; anything else in the folder is left alone (and warned about,
    since training reads every image under it)."""
    keep = {row.file for row in rows} | {"MANIFEST.csv"}
    for path in out.iterdir():
        if path.name in keep:
            continue
        if path.is_file() and (path.name.endswith(".part") or "__" in path.name):
            status(f"removing {path.name} (not on the allow-list)")
            path.unlink()
        else:
            status(f"warning: {path} is not from this tool; training will read it too")


def summarise(rows: list[Row], missing: list[str], out: Path) -> None:
    by_package: dict[str, int] = {}
    by_licence: dict[str, int] = {}
    for row in rows:
        by_package[row.package] = by_package.get(row.package, 0) + 1
        by_licence[row.licence] = by_licence.get(row.licence, 0) + 1
    lines = [f"{len(rows)} photos in {out} (manifest: {out / 'MANIFEST.csv'})"]
    lines += [f"  {count:3d}  {package}" for package, count in sorted(by_package.items())]
    lines.append("licences (package copyright files; scikit-image docstrings):")
    lines += [f"  {count:3d}  {licence}" for licence, count in sorted(by_licence.items())]
    sys.stdout.write("\n".join(lines) + "\n")
    for item in missing:
        status(f"warning: not in the package (allow-list out of date?): {item}")


def status(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
