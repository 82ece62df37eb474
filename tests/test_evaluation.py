"""Evaluation on labelled photos: the three labelled-set forms, the verification metrics against
brute-force oracles, and the self-contained HTML report."""

import base64
import html
import itertools
import json
import math
import re
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

from facev3.evaluation.labelled import LabelledPhoto, LabelledSetError, load_labelled
from facev3.evaluation.metrics import (
    FAR_TARGETS,
    FailedPhoto,
    equal_error_rate,
    evaluate,
    operating_point,
    roc_auc,
    roc_curve,
    score_stats,
    tar_at_far,
)
from facev3.evaluation.report import write_html
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


def test_the_shared_manifest_gives_its_labelled_single_person_photos_and_every_pair():
    assert (SHARED_FACES / "MANIFEST.json").is_file(), f"the shared photo set is missing: {SHARED_FACES}"
    pair_set = load_labelled(SHARED_FACES)
    assert pair_set.form == "manifest" and pair_set.source == SHARED_FACES / "MANIFEST.json"
    assert len(pair_set.photos) == 23 and pair_set.identities == 11
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


# --- metrics ---------------------------------------------------------------------------------------


def scored_pairs(seed: int, n_same: int, n_different: int, decimals: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping same/different cosines, rounded so that ties happen (within and across kinds)."""
    rng = np.random.default_rng(seed)
    cosines = np.concatenate([rng.normal(0.5, 0.15, n_same), rng.normal(0.2, 0.15, n_different)]).round(decimals)
    same = np.arange(n_same + n_different) < n_same
    order = rng.permutation(same.size)
    return cosines[order], same[order]


def rates(cosines, same, threshold) -> tuple[float, float]:
    """(FAR, TAR) of accepting cosine >= threshold, counted one pair at a time."""
    accepted_different = sum(c >= threshold for c, s in zip(cosines, same, strict=True) if not s)
    accepted_same = sum(c >= threshold for c, s in zip(cosines, same, strict=True) if s)
    return accepted_different / sum(not s for s in same), accepted_same / sum(same)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_roc_has_a_point_per_distinct_score_counted_pair_by_pair(seed):
    cosines, same = scored_pairs(seed, 40, 70)
    roc = roc_curve(cosines, same)
    distinct = sorted(set(cosines.tolist()), reverse=True)
    assert roc.thresholds.tolist() == [math.inf, *distinct]
    assert (roc.far[0], roc.tar[0], roc.far[-1], roc.tar[-1]) == (0, 0, 1, 1)
    for threshold, far, tar in zip(roc.thresholds[1:], roc.far[1:], roc.tar[1:], strict=True):
        assert (far, tar) == pytest.approx(rates(cosines, same, threshold))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_roc_auc_is_the_mann_whitney_statistic_counted_over_every_same_different_couple(seed):
    cosines, same = scored_pairs(seed, 50, 80, decimals=1)  # coarse rounding: many ties
    wins = sum(
        1.0 if s > d else 0.5 if s == d else 0.0
        for s, d in itertools.product(cosines[same].tolist(), cosines[~same].tolist())
    )
    assert roc_auc(roc_curve(cosines, same)) == pytest.approx(wins / (same.sum() * (~same).sum()), abs=1e-12)


def test_separated_scores_have_auc_one_and_eer_zero_and_reversed_ones_auc_zero():
    cosines = np.array([0.9, 0.8, 0.3, 0.2])
    same = np.array([True, True, False, False])
    assert roc_auc(roc_curve(cosines, same)) == 1 and equal_error_rate(roc_curve(cosines, same))[0] == 0
    assert roc_auc(roc_curve(cosines, ~same)) == 0 and equal_error_rate(roc_curve(cosines, ~same))[0] == 1


def test_eer_of_mirrored_uniform_scores_is_the_overlap_share_at_the_midpoint():
    # different: 600 evenly spaced cosines over (0, 0.6); same: the same shifted by 0.4. Mirrored
    # about 0.5, so FAR = FRR there: 100 of 600 different pairs lie above it, 100 same below.
    steps = (np.arange(600) + 0.5) / 600
    cosines = np.concatenate([0.6 * steps, 0.4 + 0.6 * steps])
    same = np.arange(1200) >= 600
    eer, threshold = equal_error_rate(roc_curve(cosines, same))
    assert eer == pytest.approx(1 / 6, abs=1e-12) and 0.4995 <= threshold <= 0.5005


def test_eer_of_two_equal_width_gaussians_is_the_normal_tail_at_the_midpoint():
    # same ~ N(0.6, 0.1), different ~ N(0.2, 0.1): FAR = FRR at 0.4, two standard deviations from each.
    rng = np.random.default_rng(7)
    cosines = np.concatenate([rng.normal(0.6, 0.1, 200_000), rng.normal(0.2, 0.1, 200_000)])
    same = np.arange(cosines.size) < 200_000
    eer, threshold = equal_error_rate(roc_curve(cosines, same))
    assert eer == pytest.approx(0.5 * math.erfc(2 / math.sqrt(2)), abs=1.5e-3)
    assert threshold == pytest.approx(0.4, abs=3e-3)


def test_eer_between_two_roc_points_is_interpolated_on_both_rate_and_threshold():
    # At 0.8: FAR 1/2, FRR 2/3; at 0.7: FAR 1/2, FRR 1/3. FAR - FRR goes -1/6 -> +1/6: halfway.
    cosines = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    same = np.array([True, False, True, True, False])
    eer, threshold = equal_error_rate(roc_curve(cosines, same))
    assert eer == pytest.approx(0.5) and threshold == pytest.approx(0.75)


@pytest.mark.parametrize("seed", range(6))
def test_eer_lies_between_the_best_min_and_the_best_max_of_far_and_frr_over_thresholds(seed):
    cosines, same = scored_pairs(seed, 15 + 7 * seed, 40 - 3 * seed, decimals=1)
    bounds = [rates(cosines, same, t) for t in [math.inf, *set(cosines.tolist())]]
    eer, threshold = equal_error_rate(roc_curve(cosines, same))
    assert max(min(far, 1 - tar) for far, tar in bounds) - 1e-12 <= eer
    assert eer <= min(max(far, 1 - tar) for far, tar in bounds) + 1e-12
    assert cosines.min() <= threshold <= cosines.max()


@pytest.mark.parametrize(("seed", "target"), [(0, 1e-2), (1, 1e-2), (2, 2e-2), (3, 5e-2), (4, 1e-1)])
def test_tar_at_far_is_the_best_tar_of_any_threshold_within_the_target(seed, target):
    cosines, same = scored_pairs(seed, 60, 100 + 50 * seed)
    candidates = [rates(cosines, same, t) for t in [math.inf, *set(cosines.tolist())]]
    best = max(tar for far, tar in candidates if far <= target)
    point = tar_at_far(cosines, same, target)
    assert point.measurable and point.reason is None and point.far_target == target
    assert point.tar == pytest.approx(best) and point.far <= target
    assert (point.far, point.tar) == pytest.approx(rates(cosines, same, point.threshold))


def test_tar_at_far_on_a_hand_checked_set():
    # 100 different pairs, FAR 1e-2 lets one be accepted: 0.95 is, 0.85 is not. Same pairs above
    # 0.85: 0.99, 0.9 and the 0.85 tie is not (so 2 of 4).
    cosines = np.array([0.99, 0.9, 0.85, 0.5, 0.95, 0.85, *np.linspace(0.0, 0.8, 98)])
    same = np.array([True] * 4 + [False] * 100)
    point = tar_at_far(cosines, same, 1e-2)
    assert (point.tar, point.far) == (0.5, 0.01) and 0.85 < point.threshold < 0.850001


@pytest.mark.parametrize("target", FAR_TARGETS)
def test_a_far_target_is_measurable_only_with_at_least_its_inverse_in_different_pairs(target):
    needed = round(1 / target)
    for n_different, measurable in ((needed - 1, False), (needed, True)):
        cosines = np.linspace(-0.3, 0.5, n_different + 3)
        same = np.arange(cosines.size) >= n_different  # the 3 highest are same pairs
        point = tar_at_far(cosines, same, target)
        assert point.measurable is measurable
        if measurable:
            assert point.tar == 1 and point.far == pytest.approx(1 / n_different)
        else:
            assert (point.tar, point.far, point.threshold) == (None, None, None)
            assert point.reason == f"needs >= {needed} different pairs, has {n_different}"


def test_the_operating_point_counts_decisions_pair_by_pair():
    cosines, same = scored_pairs(11, 30, 90)
    point = operating_point(cosines, same, 0.35)
    right = sum((c >= 0.35) == s for c, s in zip(cosines, same, strict=True))
    assert point.accuracy == pytest.approx(right / cosines.size)
    assert (point.far, point.tar) == pytest.approx(rates(cosines, same, 0.35)) and point.threshold == 0.35


def test_score_statistics_agree_with_the_statistics_module():
    values = np.random.default_rng(3).normal(0.3, 0.2, 501)
    stats = score_stats(values)
    quantiles = statistics.quantiles(values.tolist(), n=100, method="inclusive")
    assert stats.count == 501 and (stats.min, stats.max) == (values.min(), values.max())
    assert stats.mean == pytest.approx(statistics.fmean(values.tolist()), abs=1e-12)
    assert stats.std == pytest.approx(statistics.pstdev(values.tolist()), abs=1e-12)
    assert (stats.p1, stats.p50, stats.p99) == pytest.approx((quantiles[0], quantiles[49], quantiles[98]), abs=1e-12)


def test_evaluate_gathers_every_metric_and_its_dict_is_strict_json(tmp_path):
    cosines, same = scored_pairs(4, 200, 1500)
    failed = [(tmp_path / "a.jpg", "no face")]
    evaluation = evaluate(cosines.astype(np.float32), same, 0.35, 0.9, failed, pairs_skipped=7)
    roc = roc_curve(cosines.astype(np.float32), same)
    assert evaluation.roc_auc == roc_auc(roc) and (evaluation.eer, evaluation.eer_threshold) == equal_error_rate(roc)
    assert evaluation.failed == (FailedPhoto(str(tmp_path / "a.jpg"), "no face"),)
    assert [point.measurable for point in evaluation.tar_at_far] == [True, True, False]
    document = json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))
    assert document["pairs"] == {"same": 200, "different": 1500, "skipped": 7}
    assert document["tar_at_far"][2]["reason"] == "needs >= 10000 different pairs, has 1500"
    assert document["failed"] == [{"path": str(tmp_path / "a.jpg"), "reason": "no face"}]
    assert document["at_threshold"]["threshold"] == 0.35 and document["coverage"] == 0.9
    assert list(document["same_scores"]) == ["count", "mean", "std", "min", "max", "p1", "p50", "p99"]
    assert document["same_scores"]["count"] == 200 and document["different_scores"]["count"] == 1500


@pytest.mark.parametrize(
    ("cosines", "same", "error", "message"),
    [
        ([0.1, 0.9], [0, 1], TypeError, "same must be a bool array"),
        ([1, 9], [False, True], TypeError, "cosines must be a float array"),
        ([0.1, 0.9], [True, True], ValueError, "needs both same and different pairs"),
        ([0.1, math.nan], [False, True], ValueError, "cosines must be finite"),
        ([0.1, 0.9, 0.5], [False, True], ValueError, "must be 1-D of one length"),
    ],
)
def test_unusable_scores_are_refused_with_what_to_fix(cosines, same, error, message):
    with pytest.raises(error, match=message):
        evaluate(np.array(cosines), np.array(same), 0.5, 1.0, [])


# --- HTML report -----------------------------------------------------------------------------------


def test_the_html_report_is_one_offline_page_with_both_plots_the_numbers_and_the_failed_photos(tmp_path):
    cosines, same = scored_pairs(9, 300, 2000, decimals=4)
    failed = [(tmp_path / "people" / "x<y>.jpg", "no face"), ("people/broken.png", "corrupt_image")]
    evaluation = evaluate(cosines, same, 0.36, 0.95, failed, pairs_skipped=12)
    page_path = tmp_path / "report.html"
    write_html(evaluation, page_path, "SFace on <my> photos")
    page = page_path.read_text(encoding="utf-8")

    images = re.findall(r'<img alt="[^"]+" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    assert len(images) == 2 and page.count("<img") == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert not re.search(r"https?://", page, re.IGNORECASE) and "<script" not in page
    assert "<title>SFace on &lt;my&gt; photos</title>" in page and "<my>" not in page

    point = evaluation.at_threshold
    for number in (
        f"{evaluation.roc_auc:.4f}",
        f"{100 * evaluation.eer:.2f} % at cosine {evaluation.eer_threshold:.4f}",
        f"{100 * point.accuracy:.2f} %",
        f"{100 * point.tar:.2f} %",
        f"{100 * point.far:.2f} %",
        f"{evaluation.same_scores.p50:.4f}",
        f"{evaluation.different_scores.p99:.4f}",
    ):
        assert number in page
    for target in evaluation.tar_at_far:
        row = f"<tr><td class=n>{target.far_target:g}</td>"
        assert row + (f"<td class=n>{100 * target.tar:.2f} %</td>" if target.measurable else "") in page
    assert "needs &gt;= 10000 different pairs, has 2000" in page and page.count("not measurable") == 1
    assert html.escape(str(tmp_path / "people" / "x<y>.jpg")) in page and "corrupt_image" in page
    assert "300 same and 2000 different pairs (12 left out" in page


def test_a_report_without_failures_says_every_photo_gave_a_face(tmp_path):
    cosines, same = scored_pairs(10, 20, 30)
    write_html(evaluate(cosines, same, 0.3, 1.0, []), tmp_path / "report.html", "small")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Photos without a face (0)" in page and "every photo gave a face" in page
    assert page.count("not measurable") == 3 and "needs &gt;= 100 different pairs, has 30" in page


def test_without_matplotlib_the_report_names_the_extra_to_install(tmp_path, monkeypatch):
    for module in ("matplotlib", "matplotlib.backends.backend_agg", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, module, None)
    cosines, same = scored_pairs(10, 20, 30)
    with pytest.raises(ImportError, match=r"pip install 'facev3\[eval\]'"):
        write_html(evaluate(cosines, same, 0.3, 1.0, []), tmp_path / "report.html", "small")
    assert not (tmp_path / "report.html").exists()
