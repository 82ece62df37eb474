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


def raised_codes() -> set[str]:
    """The error codes the service's code can send: ApiError's, the typed core errors', and the
    decode errors named in formats.py."""
    source = "\n".join(
        path.read_text()
        for folder in ("api", "core", "http")
        for path in (ROOT / "python/facev3" / folder).glob("*.py")
    )
    codes = set(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'\bcode = "([a-z_]+)"', source)) - {"face_error", "call_error"}
    codes |= set(re.findall(r'"(malformed_[a-z]+)"', source))
    return codes


def test_every_error_code_the_service_sends_is_in_the_readme_error_table():
    table = README.split("### Errors", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    assert raised_codes() - documented == set()
    assert {"empty", "model_mismatch", "too_many_faces", "deadline_exceeded"} <= documented
