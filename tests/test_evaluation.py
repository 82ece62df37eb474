"""Evaluation on labelled photos: the three labelled-set forms, the verification metrics against
brute-force oracles, and the self-contained HTML report."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from facev3.core.calibration import labelled_photos
from facev3.evaluation.labelled import LabelledPhoto, LabelledSetError, load_labelled
from tests.support.photos import photo_path

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


def link(target: Path, link_path: Path) -> Path:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(target)
    return link_path


@pytest.fixture
def identity_folders(tmp_path) -> Path:
    """rob_lowe/ with two photos, barack_obama/ with one, plus files the reader must ignore."""
    root = tmp_path / "people"
    link(photo_path("Rob_Lowe_0002.jpg"), root / "rob_lowe" / "b.JPG")
    link(photo_path("Rob_Lowe_0001.jpg"), root / "rob_lowe" / "a.jpg")
    link(photo_path("obama_small.jpg"), root / "barack_obama" / "obama.Png")
    (root / "rob_lowe" / "notes.txt").write_text("not a photo")
    (root / "rob_lowe" / ".hidden.jpg").write_bytes(b"")
    (root / ".cache").mkdir()
    link(photo_path("t1.jpg"), root / ".cache" / "t1.jpg")
    link(photo_path("t1.jpg"), root / "loose.jpg")
    return root


@pytest.fixture
def lfw(tmp_path) -> Path:
    """LFW's layout: DIR/name/name_%04d.jpg, the pairs file written by each test."""
    root = tmp_path / "lfw"
    link(photo_path("Rob_Lowe_0001.jpg"), root / "Rob_Lowe" / "Rob_Lowe_0001.jpg")
    link(photo_path("Rob_Lowe_0002.jpg"), root / "Rob_Lowe" / "Rob_Lowe_0002.jpg")
    link(photo_path("obama_small.jpg"), root / "Barack_Obama" / "Barack_Obama_0001.jpg")
    return root


def all_pairs_oracle(photos: list[LabelledPhoto]) -> tuple[list[tuple[int, int]], list[bool]]:
    pairs = list(itertools.combinations(range(len(photos)), 2))
    return pairs, [photos[i].identity == photos[j].identity for i, j in pairs]


# --- labelled sets -------------------------------------------------------------------------------


def test_identity_folders_give_their_photos_sorted_and_every_pair(identity_folders):
    pair_set = load_labelled(identity_folders)
    assert pair_set.form == "folders" and pair_set.source == identity_folders
    assert pair_set.photos == [
        LabelledPhoto("barack_obama", identity_folders / "barack_obama" / "obama.Png"),
        LabelledPhoto("rob_lowe", identity_folders / "rob_lowe" / "a.jpg"),
        LabelledPhoto("rob_lowe", identity_folders / "rob_lowe" / "b.JPG"),
    ]
    pairs, same = all_pairs_oracle(pair_set.photos)
    assert pair_set.pairs.tolist() == [list(pair) for pair in pairs] and pair_set.pairs.dtype == np.int64
    assert pair_set.same.tolist() == same and pair_set.same.dtype == bool
    assert (pair_set.identities, pair_set.same_pairs, pair_set.different_pairs) == (2, 1, 2)


def test_the_shared_manifest_gives_what_core_calibration_reads_and_every_pair():
    assert (SHARED_FACES / "MANIFEST.json").is_file(), f"the shared photo set is missing: {SHARED_FACES}"
    pair_set = load_labelled(SHARED_FACES)
    assert pair_set.form == "manifest" and pair_set.source == SHARED_FACES / "MANIFEST.json"
    assert [(photo.identity, photo.path) for photo in pair_set.photos] == labelled_photos(SHARED_FACES)
    names = {photo.path.name for photo in pair_set.photos}
    assert "obama.jpg" in names and not names & {"obama-480p.jpg", "obama_small.jpg", "t1.jpg", "two_people.jpg"}
    pairs, same = all_pairs_oracle(pair_set.photos)
    assert pair_set.pairs.tolist() == [list(pair) for pair in pairs] and pair_set.same.tolist() == same


def test_a_manifest_file_leaves_out_unlabelled_photos_and_near_duplicates(tmp_path):
    for name in ("Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg", "t1.jpg"):
        link(photo_path(name), tmp_path / "photos" / name)
    images = [
        {"file": "photos/Rob_Lowe_0001.jpg", "identity": "rob_lowe"},
        {"file": "photos/t1.jpg", "identity": None, "note": "group photo"},
        {"file": "photos/Rob_Lowe_0002.jpg", "identity": "rob_lowe", "note": "a fine photo"},
        {"file": "photos/obama_small.jpg", "identity": "barack_obama"},
        {"file": "photos/missing.jpg", "identity": "rob_lowe", "note": "rescaled copy (near-duplicate)"},
    ]
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"images": images}))
    by_file = load_labelled(tmp_path / "MANIFEST.json")
    assert [(photo.identity, photo.path.name) for photo in by_file.photos] == [
        ("rob_lowe", "Rob_Lowe_0001.jpg"),
        ("rob_lowe", "Rob_Lowe_0002.jpg"),
        ("barack_obama", "obama_small.jpg"),
    ]
    assert by_file.same.tolist() == [True, False, False]
    assert load_labelled(tmp_path).photos == by_file.photos


@pytest.mark.parametrize(
    "text",
    [
        "2\t1\nRob_Lowe\t1\t2\nRob_Lowe\t1\tBarack_Obama\t1\n",
        "10 1\n\nRob_Lowe 1   2\n  Rob_Lowe 1 Barack_Obama 1  \n",
        "name,imagenum1,imagenum2,\nRob_Lowe,1,2,\nRob_Lowe,1,Barack_Obama,1\n",
        "Rob_Lowe\t1\t2\r\nRob_Lowe , 0001 , Barack_Obama , 1\r\n",
    ],
    ids=["tabs with counts", "spaces", "csv with header", "no first line, crlf, padded numbers"],
)
def test_lfw_pairs_give_only_the_listed_pairs_whatever_the_separators(lfw, text):
    (lfw / "pairs.txt").write_text(text)
    pair_set = load_labelled(lfw)
    assert pair_set.form == "lfw" and pair_set.source == lfw / "pairs.txt"
    assert pair_set.photos == [
        LabelledPhoto("Rob_Lowe", lfw / "Rob_Lowe" / "Rob_Lowe_0001.jpg"),
        LabelledPhoto("Rob_Lowe", lfw / "Rob_Lowe" / "Rob_Lowe_0002.jpg"),
        LabelledPhoto("Barack_Obama", lfw / "Barack_Obama" / "Barack_Obama_0001.jpg"),
    ]
    assert pair_set.pairs.tolist() == [[0, 1], [0, 2]] and pair_set.same.tolist() == [True, False]


def test_a_pairs_file_can_be_named_directly_or_live_elsewhere(lfw, tmp_path):
    text = "Rob_Lowe 1 2\nRob_Lowe 2 Barack_Obama 1\n"
    (lfw / "my_pairs.csv").write_text(text)
    (tmp_path / "elsewhere.txt").write_text(text)
    by_file = load_labelled(lfw / "my_pairs.csv")
    elsewhere = load_labelled(lfw, pairs_file=tmp_path / "elsewhere.txt")
    assert by_file.form == elsewhere.form == "lfw" and by_file.photos == elsewhere.photos
    assert by_file.pairs.tolist() == elsewhere.pairs.tolist() == [[0, 1], [1, 2]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Rob_Lowe 1 3", "Rob_Lowe_0003.jpg does not exist"),
        ("Tom_Hanks 1 Rob_Lowe 1", "Tom_Hanks_0001.jpg does not exist"),
        ("Rob_Lowe 1", "expected 'name n1 n2' or 'name1 n1 name2 n2', got 2 fields"),
        ("Rob_Lowe 1 2 Barack_Obama 1", "got 5 fields"),
        ("Rob_Lowe one 2", "image number 'one' is not a positive integer"),
        ("Rob_Lowe 0 2", "image number '0' is not a positive integer"),
        ("Rob_Lowe 1 1", "a photo paired with itself"),
        ("Rob_Lowe 1 Rob_Lowe 2", "names Rob_Lowe twice"),
    ],
)
def test_a_malformed_lfw_line_is_a_typed_error_naming_file_and_line(lfw, line, message):
    (lfw / "pairs.txt").write_text(f"Rob_Lowe 1 2\n{line}\nRob_Lowe 1 Barack_Obama 1\n")
    with pytest.raises(LabelledSetError, match=r"pairs\.txt:2: ") as raised:
        load_labelled(lfw)
    assert message in str(raised.value) and isinstance(raised.value, ValueError)


def test_sets_that_cannot_give_both_kinds_of_pair_are_refused(tmp_path, lfw):
    link(photo_path("Rob_Lowe_0001.jpg"), tmp_path / "one" / "rob_lowe" / "a.jpg")
    link(photo_path("Rob_Lowe_0002.jpg"), tmp_path / "one" / "rob_lowe" / "b.jpg")
    with pytest.raises(LabelledSetError, match=r"one: 2 photos of 1 identities; needs at least 2 identities"):
        load_labelled(tmp_path / "one")
    link(photo_path("Rob_Lowe_0001.jpg"), tmp_path / "single" / "rob_lowe" / "a.jpg")
    link(photo_path("obama_small.jpg"), tmp_path / "single" / "barack_obama" / "a.jpg")
    with pytest.raises(LabelledSetError, match=r"single: no same-identity pair"):
        load_labelled(tmp_path / "single")
    (lfw / "pairs.txt").write_text("Rob_Lowe 1 Barack_Obama 1\n")
    with pytest.raises(LabelledSetError, match=r"pairs.txt: no same-identity pair"):
        load_labelled(lfw)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelledSetError, match=r"empty: 0 photos"):
        load_labelled(tmp_path / "empty")
    with pytest.raises(LabelledSetError, match=r"nowhere: no such file or folder"):
        load_labelled(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"images": [\n  {"file": "a.jpg",}\n]}', r"MANIFEST.json:2: not JSON"),
        ('{"photos": []}', r"MANIFEST.json: expected an object with an 'images' list"),
        ('{"images": [{"identity": "x"}]}', r"MANIFEST.json: images\[0\] has no 'file' string"),
        (
            '{"images": [{"file": "gone.jpg", "identity": "x"}]}',
            r"MANIFEST.json: images\[0\]: .*gone.jpg does not exist",
        ),
    ],
)
def test_a_malformed_manifest_is_a_typed_error_naming_the_file(tmp_path, document, message):
    (tmp_path / "MANIFEST.json").write_text(document)
    with pytest.raises(LabelledSetError, match=message):
        load_labelled(tmp_path)


def test_scored_pairs_are_the_dot_products_of_pairs_whose_photos_both_have_a_vector(identity_folders):
    pair_set = load_labelled(identity_folders)
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(3, 8)).astype(np.float32)
    for found in ([True, True, True], [True, False, True], [False, True, True]):
        cosines, same, skipped = pair_set.scored(vectors, np.array(found))
        kept = [k for k, (i, j) in enumerate(pair_set.pairs.tolist()) if found[i] and found[j]]
        expected = [sum(float(a) * float(b) for a, b in zip(*vectors[pair_set.pairs[k]], strict=True)) for k in kept]
        assert cosines == pytest.approx(expected, rel=1e-5) and cosines.dtype == np.float64
        assert same.tolist() == [pair_set.same[k] for k in kept] and skipped == 3 - len(kept)
    with pytest.raises(TypeError, match="found must be a bool array"):
        pair_set.scored(vectors, np.ones(3))
    with pytest.raises(ValueError, match=r"expected vectors \(3, D\) and found \(3,\)"):
        pair_set.scored(vectors[:2], np.ones(2, bool))
