"""The project's own test photos (tests/data, sources in SOURCES.md) and the shared labelled set."""

import hashlib
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"

# sha256 of the copied photos, from ../shared/data/faces/MANIFEST.json.
PHOTOS = {
    "t1.jpg": "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
    "Rob_Lowe_0001.jpg": "2570d8a188cb3c08bdb8ed798d338b5868958f0d058d9ba6f6221be285641f50",
    "Rob_Lowe_0002.jpg": "5387ef4185120f47b238cb3d268a34ccb9c72ba2a484107f68fd8147e6c50c20",
    "obama_small.jpg": "a17d127a14c9bd57ef79ce5e89a7b4003b641ef98c2e17be4e1acbb049d6eb24",
}


def photo_path(name: str) -> Path:
    path = DATA / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PHOTOS[name], f"{path} changed"
    return path
