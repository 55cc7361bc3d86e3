"""Emoji sets in Iconify JSON (the npm packages ``@iconify-json/noto``, ``fxemoji``, ...) as
one SVG file per emoji, named by its code points, which :mod:`colorize.data.emojiset` builds.

An Iconify set is one ``icons.json``: every icon is a ``body`` of SVG elements drawn in the
set's (or the icon's own) ``left``/``top``/``width``/``height`` box; ``aliases`` name other
icons (``parent``), possibly flipped or turned. Emoji sets add ``chars.json``, code points
(``1f44b-1f3fd``) to icon names. A set without it is matched by name: emoji icons are named
by their Unicode name in kebab case (``waving-hand-medium-skin-tone``), which the ``emoji``
package knows for every emoji.

    written = extract_emoji(Path("package"), Path("svgs"))   # svgs/1f44b-1f3fd.svg, ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from colorize.fileio import atomic_write_text

__all__ = ["IconifyError", "IconifyReport", "extract_emoji", "iconify_emoji", "icon_svg", "set_info"]

_BOX = {"left": 0, "top": 0, "width": 16, "height": 16}  # Iconify's defaults


class IconifyError(ValueError):
    """A file that is not an Iconify icon set."""


@dataclass
class IconifyReport:
    """What :func:`extract_emoji` wrote and what it could not place."""

    written: int = 0
    matched_by: str = "chars.json"  # or "names"
    unmatched: list[str] = field(default_factory=list)  # icon names that are no emoji


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IconifyError(f"{path}: cannot be read as JSON ({e})") from None
    if not isinstance(data, dict):
        raise IconifyError(f"{path}: not a JSON object")
    return data


def icon_svg(icons: dict, name: str) -> str | None:
    """The standalone SVG of icon (or alias) ``name`` in the set ``icons``; None when the
    name is unknown or an alias loops."""
    flips, turns, seen = [False, False], 0, set()
    while name not in icons.get("icons", {}):
        alias = icons.get("aliases", {}).get(name)
        if not isinstance(alias, dict) or name in seen or "parent" not in alias:
            return None
        seen.add(name)
        flips[0] ^= bool(alias.get("hFlip"))
        flips[1] ^= bool(alias.get("vFlip"))
        turns += int(alias.get("rotate", 0))
        name = alias["parent"]
    icon = icons["icons"][name]
    if not isinstance(icon, dict) or not isinstance(icon.get("body"), str):
        return None
    flips[0] ^= bool(icon.get("hFlip"))
    flips[1] ^= bool(icon.get("vFlip"))
    turns += int(icon.get("rotate", 0))
    box = {k: float(icon.get(k, icons.get(k, default))) for k, default in _BOX.items()}
    body = icon["body"]
    cx, cy = box["left"] + box["width"] / 2, box["top"] + box["height"] / 2
    transforms = []
    if turns % 4:
        transforms.append(f"rotate({90 * (turns % 4)} {cx:g} {cy:g})")
    if any(flips):
        sx, sy = (-1 if flips[0] else 1), (-1 if flips[1] else 1)
        transforms.append(f"translate({cx:g} {cy:g}) scale({sx} {sy}) translate({-cx:g} {-cy:g})")
    if transforms:
        body = f'<g transform="{" ".join(transforms)}">{body}</g>'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{box["left"]:g} {box["top"]:g} {box["width"]:g} {box["height"]:g}" '
            f'width="{box["width"]:g}" height="{box["height"]:g}">{body}</svg>')


def _kebab(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("\u2019", "").replace("'", "")).strip("-")


def _emoji_by_name() -> dict[str, str]:
    """Name -> code points as Iconify writes them (``1f44b-1f3fd``), for every emoji.

    Names are the CLDR name and aliases the ``emoji`` package knows, and for single code
    points the Unicode character name too (Firefox OS emoji names ``blackspadesuit``, the
    character's name, not its CLDR ``spade-suit``). Each is kept in kebab case
    (``waving-hand``) and run together (``wavinghand``).
    """
    import unicodedata

    import emoji

    names: dict[str, str] = {}
    for char, data in emoji.EMOJI_DATA.items():
        key = "-".join(f"{ord(c):x}" for c in char if ord(c) != 0xFE0F)
        spoken = [data.get("en", ""), *data.get("alias", [])]
        bare = char.replace("\ufe0f", "")
        if len(bare) == 1:
            spoken.append(unicodedata.name(bare, ""))
        for name in spoken:
            kebab = _kebab(name.strip(":"))
            if kebab:
                names.setdefault(kebab, key)
                names.setdefault(kebab.replace("-", ""), key)
    return names


_NUMBERED = re.compile(r"^(.*\D)-?\d+$")  # "cloud-1", "clinking-glasses-2": one of a set's versions


def _match_name(name: str, by_name: dict[str, str]) -> str | None:
    """The code points icon ``name`` stands for, or None: by its name, run together, or without
    a version number at its end (Streamline draws ``cloud-1`` and ``cloud-2``)."""
    for candidate in (name, name.replace("-", "")):
        if candidate in by_name:
            return by_name[candidate]
    numbered = _NUMBERED.match(name)
    if numbered and not name[0].isdigit():
        return _match_name(numbered.group(1).rstrip("-"), by_name)
    return None


def iconify_emoji(package: Path, report: IconifyReport | None = None) -> Iterator[tuple[str, str]]:
    """``(code points, svg)`` for every emoji of the Iconify set in ``package`` (a folder with
    ``icons.json``, or that file itself), by ``chars.json`` where the set has one, else by name."""
    package = Path(package)
    path = package if package.suffix == ".json" else package / "icons.json"
    if not path.is_file():
        raise IconifyError(f"{package}: no icons.json here. Pass an Iconify JSON package folder "
                           f"(`npm pack @iconify-json/noto`, then its package/ folder).")
    icons = _load(path)
    if not isinstance(icons.get("icons"), dict):
        raise IconifyError(f"{path}: no 'icons' object, so not an Iconify icon set")
    report = report if report is not None else IconifyReport()
    chars_path = path.with_name("chars.json")
    chars = _load(chars_path) if chars_path.is_file() else {}
    if chars:
        pairs = sorted((str(k).lower(), str(v)) for k, v in chars.items())
    else:  # no chars.json, or an empty one (noto-v1, emojione, fxemoji, streamline-emojis)
        report.matched_by = "names"
        by_name = _emoji_by_name()
        names = sorted(set(icons["icons"]) | set(icons.get("aliases", {})))
        matched = {n: _match_name(n, by_name) for n in names}
        # a name that matches exactly wins over a numbered version of the same emoji
        exact = {n for n in names if n in by_name or n.replace("-", "") in by_name}
        pairs = sorted((code, n not in exact, n) for n, code in matched.items() if code)
        pairs = [(code, n) for code, _, n in pairs]
        report.unmatched = [n for n in names if matched[n] is None]
    for codepoints, name in pairs:
        svg = icon_svg(icons, name)
        if svg is not None:
            yield codepoints, svg


def set_info(package: Path) -> dict:
    """The set's name, author and licence from the package's ``info.json`` (empty if it has none),
    as ``{"set", "author", "license", "license_url", "attribution"}``."""
    package = Path(package)
    path = (package.parent if package.suffix == ".json" else package) / "info.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(info, dict):
        return {}
    author = info.get("author") if isinstance(info.get("author"), dict) else {}
    licence = info.get("license") if isinstance(info.get("license"), dict) else {}
    out = {"set": info.get("name"), "author": author.get("name"), "license": licence.get("spdx") or licence.get("title"),
           "license_url": licence.get("url")}
    out = {k: v for k, v in out.items() if isinstance(v, str) and v}
    if "set" in out:
        out["attribution"] = (f"{out['set']} by {out.get('author', 'its authors')}"
                              + (f", {out['license']}" if "license" in out else "")
                              + (f" ({out['license_url']})" if "license_url" in out else ""))
    return out


def extract_emoji(package: Path, out: Path) -> IconifyReport:
    """Write every emoji of an Iconify set as ``out/<code points>.svg``, and the set's licence as
    ``out/iconify.json`` (:func:`set_info`); existing files are replaced."""
    report = IconifyReport()
    seen = set()
    for codepoints, svg in iconify_emoji(package, report):
        if codepoints in seen:  # two names for one emoji: the first, in code-point order, is kept
            continue
        seen.add(codepoints)
        atomic_write_text(Path(out) / f"{codepoints}.svg", svg)
        report.written += 1
    info = set_info(package)
    if info:
        atomic_write_text(Path(out) / "iconify.json", json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return report
