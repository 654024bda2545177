"""README.md and docs/: a short front door, links that lead somewhere, figures the plotting
code draws (scripts/make_figures.py), and tables that agree with what is tested and defined.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg", ".gif"}


SCRIPT = ROOT / "scripts" / "make_figures.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _code_free(text: str) -> str:
    """``text`` without fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code (links there are not links)."""
    return re.sub(r"`[^`\n]*`", "", _code_free(text))


def _links(page: Path) -> list[str]:
    text = _prose(page.read_text())
    inline = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    reference = re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", text, flags=re.M)
    html = re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", text)
    return inline + reference + html


def _relative(link: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", link, flags=re.I)  # http:, mailto:, ...


def _slugs(page: Path) -> set[str]:
    """GitHub's anchors for the headings of ``page``."""
    seen: dict[str, int] = {}
    slugs = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _code_free(page.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        slugs.add(slug if n == 0 else f"{slug}-{n}")
    return slugs


def test_readme_is_a_short_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_points_to_an_existing_file(page):
    broken = []
    for link in filter(_relative, _links(page)):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _slugs(path):
            broken.append(f"{link}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert broken == [], f"{page.relative_to(ROOT)}: {broken}"


def _images_shown() -> dict[str, list[str]]:
    """Every image README.md and docs/*.md show, as a path relative to docs/ -> pages."""
    shown: dict[str, list[str]] = {}
    for page in PAGES:
        for link in filter(_relative, _links(page)):
            target = link.partition("#")[0]
            if Path(target).suffix.lower() in IMAGE_SUFFIXES:
                path = (page.parent / target).resolve()
                key = path.relative_to(DOCS).as_posix() if path.is_relative_to(DOCS) else str(path)
                shown.setdefault(key, []).append(page.name)
    return shown


def test_every_figure_shown_is_drawn_by_make_figures(tmp_path):
    script = _load_script()
    written = script.main(["--out", str(tmp_path)])
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert names == set(script.FIGURES)
    for path in written:
        assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shown = _images_shown()
    assert set(shown) == set(script.FIGURES), (
        "every image in README.md and docs/ must be drawn by scripts/make_figures.py (FIGURES), "
        "and every figure it draws must be shown"
    )
    for name in shown:
        assert (DOCS / name).is_file(), f"docs/{name} missing: run scripts/make_figures.py"


def test_the_committed_figures_are_what_the_plotting_code_draws_now(tmp_path):
    from matplotlib.image import imread

    script = _load_script()
    stale = []
    for path in script.make_figures(tmp_path):
        committed = DOCS / path.name
        new, old = imread(path), imread(committed)
        if new.shape != old.shape or not np.array_equal(new, old):
            stale.append(path.name)
    assert stale == [], f"{stale} drawn differently now: run scripts/make_figures.py, commit"


def _table(text: str, header: str) -> list[list[str]]:
    """The rows (cells) of the Markdown table whose header line starts with ``header``."""
    lines = text[text.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_the_bad_input_table_adds_up_and_matches_the_tested_cases():
    text = (DOCS / "reliability.md").read_text()
    rows = _table(text, "| input | what snnjob says | cases |")
    total = sum(int(r[-1]) for r in rows)
    assert f"bad inputs handled {total}/{total}" in text
    # the rows for the config, data, --params and --out are tests/test_bad_input.py's CASES
    tree = ast.parse((ROOT / "tests" / "test_bad_input.py").read_text())
    (cases,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["CASES"]
    ]
    local = sum(int(r[-1]) for r in rows if re.match(r"(config|data|`--params`|`--out`):", r[0]))
    assert local == len(cases.elts)
    faults = _table(text, "| fault | what snnjob does | test |")
    assert f"faults survived {len(faults)}/{len(faults)}" in text


def test_the_config_table_lists_every_config_key():
    from snnjob.config import load_config

    keys = {
        f"{section}.{key}"
        for section, values in load_config("seed").to_dict().items()
        for key in values
    }
    listed = set()
    for row in _table((DOCS / "configs.md").read_text(), "| key | default | meaning |"):
        names = re.findall(r"`([\w.]+)`", row[0])
        section = names[0].split(".")[0]
        listed.update(n if "." in n else f"{section}.{n}" for n in names)
    assert listed == keys
