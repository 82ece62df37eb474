"""The README tells the truth about the repository: its layout table names what is there, and
every package of python/facev3 has a row."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def layout_paths() -> list[str]:
    table = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    return [path for cell in cells for path in re.findall(r"`([^`]+)`", cell)]


def test_every_path_in_the_layout_table_exists():
    paths = layout_paths()
    folder = None
    for path in paths:
        # "a/b/c.py, d.py": later names of one cell sit in the folder of the first.
        if "/" in path:
            folder = (ROOT / path).parent if not path.endswith("/") else ROOT / path
            assert (ROOT / path).exists(), path
        else:
            assert (folder / path).exists(), path


def test_every_package_of_facev3_has_a_row():
    listed = set(layout_paths())
    packages = {f"python/facev3/{p.parent.name}/" for p in (ROOT / "python/facev3").glob("*/__init__.py")}
    assert packages <= listed, packages - listed
