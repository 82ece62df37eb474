"""The degradation protocol of bench/quality.py (docs/quality.md), short: four kinds on YuNet, run
on the shared labelled photos; its structure and the facts that must hold whatever the machine."""

import numpy as np
import pytest

from bench import quality as protocol


@pytest.fixture(scope="module")
def document():
    shared = protocol.SHARED_FACES
    assert (shared / "MANIFEST.json").is_file(), f"the shared photos are missing: {shared}"
    kinds = [k for k in protocol.KINDS if k.name in protocol.QUICK_KINDS]
    return protocol.run_protocol(kinds=kinds, configs=[protocol.Config("yunet")])


def test_the_quick_run_reports_every_kind_with_both_rotation_modes_for_the_rotated(document):
    runs = document["configs"]["yunet"]["runs"]
    assert list(runs) == ["clean", "small 16px", "blur 4%", "rot 180", "rot 180 [auto]"]
    photos = len(document["protocol"]["identities"])
    assert document["protocol"]["labelled"] == 23 and photos > 23 + 20  # the impostor crops
    for run in runs.values():
        s = run["summary"]
        assert len(run["faces"]) == photos and 0 <= s["detection_rate"] <= 1
        gallery, both = s["clean-gallery"]["all"], s["both-degraded"]["all"]
        assert (gallery["same_pairs"], gallery["different_pairs"]) == (48, photos * (photos - 1) - 48)
        assert (both["same_pairs"], both["different_pairs"]) == (24, photos * (photos - 1) // 2 - 24)
        assert gallery["far_measurable"] and both["far_measurable"]  # over 100 different pairs
    assert set(document["configs"]["yunet"]["quality_vs_failure"]) == set(protocol.DESIGNS)


def test_clean_photos_are_all_found_and_decided_right(document):
    clean = document["configs"]["yunet"]["runs"]["clean"]["summary"]
    assert clean["detection_rate"] == 1.0
    assert clean["clean-gallery"]["all"]["tar"] == 1.0 and clean["clean-gallery"]["all"]["far"] == 0.0


def test_degraded_faces_score_lower_and_low_quality_predicts_the_failed_pairs(document):
    runs = document["configs"]["yunet"]["runs"]
    assert runs["small 16px"]["summary"]["quality_median"] < runs["clean"]["summary"]["quality_median"] / 4
    for design in protocol.DESIGNS:
        assert document["configs"]["yunet"]["quality_vs_failure"][design]["auc_quality_predicts_failure"] > 0.6


def test_filtering_by_quality_never_raises_false_accepts(document):
    for run in document["configs"]["yunet"]["runs"].values():
        for design in protocol.DESIGNS:
            entry = run["summary"][design]
            assert entry["filtered"]["false_accepts"] <= entry["all"]["false_accepts"]


def test_upside_down_faces_are_found_upright_by_fallback_and_auto(document):
    runs = document["configs"]["yunet"]["runs"]
    assert runs["rot 180 [auto]"]["summary"]["clean-gallery"]["all"]["tar"] >= 0.9
    assert runs["rot 180"]["summary"]["clean-gallery"]["all"]["tar"] >= 0.9


def test_degradations_are_deterministic_and_sized_to_the_face():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (400, 300, 3), dtype=np.uint8)
    kind = next(k for k in protocol.KINDS if k.name == "dark x0.25 + noise 25")
    first = protocol.degrade(kind, image, 100.0, protocol.kind_rng(kind, 3))
    assert first == protocol.degrade(kind, image, 100.0, protocol.kind_rng(kind, 3))
    assert first != protocol.degrade(kind, image, 100.0, protocol.kind_rng(kind, 4))
    small, side = protocol.small(16)(image, 100.0, rng)
    assert side == pytest.approx(16) and small.shape == (protocol.CANVAS, protocol.CANVAS, 3)


def test_pairs_of_the_two_designs():
    assert protocol.design_pairs(4, "clean-gallery").shape == (12, 2)
    assert protocol.design_pairs(4, "both-degraded").tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert protocol._auc(np.array([0.1, 0.2]), np.array([0.3, 0.2])) == pytest.approx(0.875)
