"""facev3 gallery on real parts: milvus-lite files in tmp_path, the real pipeline on the shared
labelled photos, the CLI run in-process (and once in a subprocess without pymilvus)."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

pytest.importorskip("pymilvus", reason="the gallery tests need the milvus extra (requirements/test.txt pins it)")

from facev3.cli import main
from facev3.gallery import ModelMismatch
from facev3.gallery import cluster as clustering
from facev3.gallery.store import FaceRecord, GalleryStore, choose_index, collection_name
from facev3.tritonserver.launcher import free_ports
from tests.support.photos import photo_path

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = ROOT.parent / "shared" / "data" / "faces"
COLLECTION = collection_name("sface@2021dec")


def shared_photos() -> tuple[list[tuple[str, Path]], list[Path]]:
    """(identity, path) of every single-person labelled photo of the shared set, and the paths of
    the others (several people, or no label)."""
    assert (SHARED_FACES / "MANIFEST.json").is_file(), f"the shared photo set is missing: {SHARED_FACES}"
    entries = json.loads((SHARED_FACES / "MANIFEST.json").read_text())["images"]
    labelled = [(e["identity"], SHARED_FACES / e["file"]) for e in entries if e.get("identity")]
    others = [SHARED_FACES / e["file"] for e in entries if not e.get("identity")]
    return labelled, others


def run_cli(capsys, *args: str) -> tuple[int, list[dict], str]:
    status = main(["gallery", *args])
    captured = capsys.readouterr()
    return status, [orjson.loads(line) for line in captured.out.splitlines() if line.strip()], captured.err


@pytest.fixture(scope="module")
def labelled_gallery(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A milvus-lite file with the largest face of every single-person labelled photo (no labels
    stored: the labels are the truth the tests check against). Returns the file and photo -> identity."""
    labelled, _ = shared_photos()
    db = tmp_path_factory.mktemp("gallery") / "faces.db"
    assert main(["gallery", "add", "--milvus", str(db), "--largest", *[str(p) for _, p in labelled]]) == 0
    return db, {str(path): identity for identity, path in labelled}


def identities_of_ids(db: Path, collection: str = COLLECTION) -> dict[int, str]:
    with GalleryStore.open_existing(str(db), collection) as gallery:
        columns = gallery.columns(["photo"])
    return dict(zip(columns["id"], columns["photo"], strict=True))


def test_enrolment_keeps_every_labelled_photo_once_with_its_model_and_crop(labelled_gallery, capsys):
    db, truth = labelled_gallery
    status, (stats,), _ = run_cli(capsys, "stats", "--milvus", str(db))
    assert status == 0
    assert stats["collection"] == COLLECTION and stats["model"] == "sface@2021dec" and stats["dim"] == 128
    assert stats["faces"] == stats["photos"] == len(truth) == 25
    assert stats["index"]["type"] == "FLAT" and stats["index_policy"] == "auto"
    assert stats["quality"]["unknown"] == 0 and 0 < stats["quality"]["min"] <= 1
    with GalleryStore.open_existing(str(db), COLLECTION) as gallery:
        rows = list(gallery.rows(["photo", "model", "crop", "box", "landmarks", "det_score"]))
    assert {r["photo"] for r in rows} == set(truth) and {r["model"] for r in rows} == {"sface@2021dec"}
    assert all(r["crop"].startswith("iVBOR") and len(r["box"]) == 4 and len(r["landmarks"]) == 10 for r in rows)
    assert all(r["det_score"] >= 0.7 for r in rows)
    # adding the same photos again adds nothing: they are known by content
    status, _, err = run_cli(capsys, "add", "--milvus", str(db), "--largest", next(iter(truth)))
    assert status == 0 and "0 faces" in err and "1 photos already enrolled" in err


def test_search_puts_the_right_person_first_for_every_photo_with_another_of_them(labelled_gallery, capsys):
    db, truth = labelled_gallery
    counts = {identity: list(truth.values()).count(identity) for identity in truth.values()}
    status, records, _ = run_cli(capsys, "search", "--milvus", str(db), "--exclude-self", "--show", "3", *truth)
    assert status == 0 and len(records) == len(truth)
    for record in records:
        identity, best = truth[record["photo"]], record["results"][0]
        assert record["calibration"] == "sface_2021dec/v1" and record["method"] == "cosine"
        assert best["photo"] != record["photo"]  # --exclude-self
        scores = [r["score"] for r in record["results"]]
        assert scores == sorted(scores, reverse=True)
        if counts[identity] > 1:
            assert truth[best["photo"]] == identity and best["match"], record
        else:  # seen once: nobody else in the gallery may match
            assert not best["match"], record


def test_search_methods_share_the_rerank_of_the_api(labelled_gallery, capsys):
    """The CLI's scores are scoring.rerank's on Milvus' candidates: recompute them here."""
    from facev3.core.models import Calibration
    from facev3.core.scoring import rerank

    db, truth = labelled_gallery
    photo = next(p for p, identity in truth.items() if identity == "barack_obama")
    for method in ("cosine", "kreciprocal", "qe"):
        status, (record,), _ = run_cli(capsys, "search", "--milvus", str(db), "--method", method, "--show", "25", photo)
        assert status == 0 and record["method"] == method and record["candidates"] == 25
        assert record["results"][0]["photo"] == photo and record["results"][0]["cosine"] == pytest.approx(1, abs=1e-4)
    with GalleryStore.open_existing(str(db), COLLECTION) as gallery:
        rows = gallery.get([r["id"] for r in record["results"]], ["vector"])
    vectors = np.array([rows[r["id"]]["vector"] for r in record["results"]], np.float32)
    expected = rerank(vectors[0], vectors, Calibration("sface_2021dec/v1", 0.4803, 13.516), method="qe")
    assert expected.order.tolist() == list(range(25))  # the CLI's order, from the same candidates
    np.testing.assert_allclose(expected.score, [r["score"] for r in record["results"]], atol=1e-5)
    assert expected.match.tolist() == [r["match"] for r in record["results"]]


def purity_and_completeness(people: list[dict], photo_of: dict[int, str], truth: dict[str, str]) -> tuple[float, float]:
    assignment, identities = [], []
    for number, person in enumerate(people):
        for face in person["ids"]:
            assignment.append(number)
            identities.append(truth.get(photo_of[face]))
    return clustering.agreement(assignment, identities)


def test_clustering_groups_the_labelled_photos_into_their_people(labelled_gallery, capsys, tmp_path):
    db, truth = labelled_gallery
    status, (result,), err = run_cli(capsys, "cluster", "--milvus", str(db), "--out", str(tmp_path / "sheets"))
    assert status == 0 and result["faces"] == 25
    purity, completeness = purity_and_completeness(result["persons"], identities_of_ids(db), truth)
    with capsys.disabled():
        print(
            f"\nshared labelled photos: {result['faces']} faces, {len(set(truth.values()))} identities -> "
            f"{result['people']} people; purity {purity:.3f}, completeness {completeness:.3f}"
        )
    assert purity >= 0.95 and completeness >= 0.95
    # the same graph from Milvus range searches gives the same people
    status, (from_milvus,), _ = run_cli(capsys, "cluster", "--milvus", str(db), "--graph", "milvus")
    assert status == 0
    assert sorted(map(sorted, (p["ids"] for p in from_milvus["persons"]))) == sorted(
        map(sorted, (p["ids"] for p in result["persons"]))
    )
    # contact sheets: an index and one self-contained page per person, every crop inlined
    pages = sorted((tmp_path / "sheets").glob("*.html"))
    assert len(pages) == result["people"] + 1 and (tmp_path / "sheets" / "index.html") in pages
    person_pages = [p for p in pages if p.name != "index.html"]
    crops = sum(p.read_text().count('src="data:image/png;base64,iVBOR') for p in person_pages)
    assert crops == 25
    assert not any(re.search(r"(src|href)=\"(https?:|//)", p.read_text()) for p in pages)
    assert "contact sheets in" in err


def test_clustering_keeps_people_apart_among_crowds_and_group_photos(tmp_path, capsys):
    """Every face of the other shared photos (group photos, crowds of small blurred faces) joins the
    labelled ones; purity and completeness are measured on the labelled faces."""
    labelled, others = shared_photos()
    db = str(tmp_path / "crowded.db")
    assert main(["gallery", "add", "--milvus", db, "--largest", *[str(p) for _, p in labelled]]) == 0
    assert main(["gallery", "add", "--milvus", db, *[str(p) for p in others]]) == 0
    capsys.readouterr()
    status, (result,), _ = run_cli(capsys, "cluster", "--milvus", db)
    assert status == 0 and result["faces"] > 100
    truth = {str(path): identity for identity, path in labelled}
    purity, completeness = purity_and_completeness(result["persons"], identities_of_ids(Path(db)), truth)
    with capsys.disabled():
        print(
            f"\nwith {result['faces'] - 25} unlabelled faces: {result['people']} people; "
            f"purity {purity:.3f}, completeness {completeness:.3f}"
        )
    assert purity >= 0.95 and completeness >= 0.95


@pytest.fixture()
def small_gallery(tmp_path, capsys) -> tuple[str, dict[str, int]]:
    """Rob Lowe twice and Obama once (the project's own test photos); returns the file and
    photo name -> face id."""
    db = str(tmp_path / "small.db")
    names = ("Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg")
    assert main(["gallery", "add", "--milvus", db, "--largest", *[str(photo_path(n)) for n in names]]) == 0
    capsys.readouterr()
    photos = identities_of_ids(Path(db))
    return db, {Path(photo).name: face for face, photo in photos.items()}


def people_of(capsys, db: str) -> dict[str, set[str]]:
    status, (result,), _ = run_cli(capsys, "cluster", "--milvus", db)
    assert status == 0
    photos = identities_of_ids(Path(db))
    return {p["name"]: {Path(photos[i]).name for i in p["ids"]} for p in result["persons"]}


def test_labels_merge_and_split_people(small_gallery, capsys):
    db, ids = small_gallery
    rob = {"Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg"}
    assert sorted(people_of(capsys, db).values(), key=len) == [{"obama_small.jpg"}, rob]
    # split: two labels inside one group make two people
    assert run_cli(capsys, "label", "--milvus", db, str(ids["Rob_Lowe_0001.jpg"]), "--label", "rob")[0] == 0
    assert run_cli(capsys, "label", "--milvus", db, str(ids["Rob_Lowe_0002.jpg"]), "--label", "not rob")[0] == 0
    people = people_of(capsys, db)
    assert people["rob"] == {"Rob_Lowe_0001.jpg"} and people["not rob"] == {"Rob_Lowe_0002.jpg"}
    # merge: one label across two groups makes one person; the ids stay what they were
    assert run_cli(capsys, "label", "--milvus", db, str(ids["obama_small.jpg"]), "--label", "rob")[0] == 0
    people = people_of(capsys, db)
    assert people["rob"] == {"Rob_Lowe_0001.jpg", "obama_small.jpg"} and len(people) == 2
    assert set(identities_of_ids(Path(db))) == set(ids.values())


def test_remove_by_photo_and_id_then_drop(small_gallery, capsys):
    db, ids = small_gallery
    status, _, err = run_cli(capsys, "remove", "--milvus", db, "--photo", str(photo_path("obama_small.jpg")))
    assert status == 0 and "1 faces removed" in err
    status, _, err = run_cli(capsys, "remove", "--milvus", db, "--id", str(ids["Rob_Lowe_0001.jpg"]))
    assert status == 0 and "1 faces removed" in err
    assert run_cli(capsys, "stats", "--milvus", db)[1][0]["faces"] == 1
    status, _, err = run_cli(capsys, "remove", "--milvus", db)
    assert status == 2 and "say what to remove" in err
    status, _, err = run_cli(capsys, "remove", "--milvus", db, "--drop")
    assert status == 0 and "dropped" in err
    status, _, err = run_cli(capsys, "stats", "--milvus", db)
    assert status == 1 and "no gallery" in err


def test_an_explicit_hnsw_index_rebuilds_and_still_finds_the_person(small_gallery, capsys):
    db, _ = small_gallery
    status, _, err = run_cli(capsys, "add", "--milvus", db, "--index", "HNSW", str(photo_path("t1.jpg")))
    assert status == 0 and "the vector index is now HNSW M=16, efConstruction=200, ef=128" in err
    (stats,) = run_cli(capsys, "stats", "--milvus", db)[1]
    assert stats["index"] == {"type": "HNSW", "M": 16, "efConstruction": 200, "ef": 128}
    assert stats["index_policy"] == "HNSW" and stats["faces"] == 9
    _, (record,), _ = run_cli(capsys, "search", "--milvus", db, "--exclude-self", str(photo_path("Rob_Lowe_0001.jpg")))
    assert Path(record["results"][0]["photo"]).name == "Rob_Lowe_0002.jpg" and record["results"][0]["match"]


def test_index_choice_by_size():
    assert choose_index("auto", 99_999).kind == "FLAT"
    assert choose_index("auto", 100_000).describe() == "HNSW M=16, efConstruction=200, ef=128"
    assert choose_index("IVF_FLAT", 1_000_000).build == {"nlist": 4096}
    assert choose_index("IVF_FLAT", 10).build == {"nlist": 128}


def sface_copy(folder: Path, version: str) -> Path:
    """The built-in SFace manifest under another version: the same weights, another model tag."""
    import facev3.models

    text = (Path(facev3.models.__file__).parent / "builtin" / "sface.toml").read_text()
    path = folder / f"sface-{version}.toml"
    path.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', text))
    return path


def test_a_collection_refuses_vectors_of_another_model(small_gallery, capsys, tmp_path):
    db, _ = small_gallery
    other = sface_copy(tmp_path, "2021dec-copy")
    args = ("--milvus", db, "--collection", COLLECTION, "--embedder", str(other))
    status, _, err = run_cli(capsys, "add", *args, str(photo_path("t1.jpg")))
    assert status == 2
    assert "holds vectors of sface@2021dec, not sface@2021dec-copy" in err and len(err.strip().splitlines()) == 1
    status, _, err = run_cli(capsys, "search", *args, str(photo_path("t1.jpg")))
    assert status == 2 and "sface@2021dec-copy" in err
    # the other model gets its own collection by default
    status, _, err = run_cli(capsys, "add", "--milvus", db, "--embedder", str(other), str(photo_path("t1.jpg")))
    assert status == 0 and "faces_sface_2021dec_copy" in err
    # and the store itself checks every insert and search
    with GalleryStore.open(db, "sface@2021dec", 128) as gallery:
        record = FaceRecord(
            np.ones(128, np.float32) / np.sqrt(128), "x.jpg", "0" * 64, [0, 0, 1, 1], [0] * 10, 0.9, None
        )
        with pytest.raises(ModelMismatch, match=r"sface@2021dec.*other@1"):
            gallery.insert([record], "other@1")
        with pytest.raises(ModelMismatch):
            gallery.search(record.vector[None], "other@1", 5)
    with pytest.raises(ModelMismatch):
        GalleryStore.open(db, "other@1", 128, collection=COLLECTION)


def hidden_module_run(module: str, *args: str) -> subprocess.CompletedProcess:
    """The real CLI in a fresh interpreter in which `module` cannot be imported."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"  # an import of it now raises ImportError
        "from facev3.cli import main\n"
        f"sys.exit(main({['gallery', *args]!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=os.environ.copy()
    )


def test_without_pymilvus_the_command_says_how_to_install_the_extra(tmp_path):
    result = hidden_module_run("pymilvus", "stats", "--milvus", str(tmp_path / "g.db"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "facev3 gallery stats: galleries need pymilvus, which is not installed: pip install 'facev3[milvus]'"
    ]
    result = hidden_module_run("milvus_lite", "stats", "--milvus", str(tmp_path / "g.db"))
    assert result.returncode == 2 and "needs milvus-lite" in result.stderr and "facev3[milvus]" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_web_backend_example_enrols_searches_milvus_and_reranks_through_a_real_server(tmp_path):
    """examples/web_backend.py against `facev3 serve` (Granian) and its own milvus-lite file."""
    from tests.support.servers import Server

    server = Server("granian", {}, workers=1)
    try:
        command = [
            sys.executable,
            str(ROOT / "examples" / "web_backend.py"),
            "--api",
            f"http://127.0.0.1:{server.port}",
            "--milvus",
            str(tmp_path / "web.db"),
            "--enrol",
            f"rob={photo_path('Rob_Lowe_0001.jpg')}",
            "--enrol",
            f"obama={photo_path('obama_small.jpg')}",
            "--query",
            str(photo_path("Rob_Lowe_0002.jpg")),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    ranked = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["person"] for r in ranked] == ["rob", "obama"]
    assert ranked[0]["match"] and ranked[0]["score"] > 0.5 > ranked[1]["score"] and not ranked[1]["match"]


def test_the_compose_profile_adds_milvus_standalone_from_its_official_images():
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    milvus = {name: services[name] for name in ("etcd", "minio", "milvus")}
    assert all(s["profiles"] == ["milvus"] for s in milvus.values())  # `docker compose up` alone is unchanged
    assert "profiles" not in services["api"] and "profiles" not in services["triton"]
    images = {name: s["image"].split(":")[0] for name, s in milvus.items()}
    assert images == {"etcd": "quay.io/coreos/etcd", "minio": "minio/minio", "milvus": "milvusdb/milvus"}
    assert milvus["milvus"]["command"] == ["milvus", "run", "standalone"]
    assert {k: v["condition"] for k, v in milvus["milvus"]["depends_on"].items()} == {
        "etcd": "service_healthy",
        "minio": "service_healthy",
    }
    assert milvus["milvus"]["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
    assert milvus["milvus"]["ports"] == ["127.0.0.1:19530:19530"] and "ports" not in milvus["minio"]
    assert all("healthcheck" in s for s in milvus.values())


@pytest.fixture
def milvus_server(tmp_path):
    """A Milvus gRPC server on loopback: milvus-lite's own `milvus-lite server`, which speaks the
    protocol of a Milvus standalone, so `--milvus http://...` takes the server path as in the
    compose profile (no Docker engine here for the official images)."""
    port = free_ports(1)[0]
    command = [str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir", str(tmp_path / "milvus")]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "milvus-lite server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "milvus-lite server did not listen within 60 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_gallery_on_a_milvus_server_enrols_searches_and_removes(milvus_server, capsys):
    photos = [str(photo_path(n)) for n in ("Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg")]
    status, _, err = run_cli(capsys, "add", "--milvus", milvus_server, "--largest", *photos)
    assert status == 0 and f"at {milvus_server}" in err, err
    query = str(photo_path("Rob_Lowe_0001.jpg"))
    _, (record,), _ = run_cli(capsys, "search", "--milvus", milvus_server, "--exclude-self", query)
    best = record["results"][0]
    assert Path(best["photo"]).name == "Rob_Lowe_0002.jpg" and best["match"]
    assert not [r for r in record["results"][1:] if r["match"]]
    status, _, err = run_cli(capsys, "remove", "--milvus", milvus_server, "--photo", str(photo_path("obama_small.jpg")))
    assert status == 0 and "1 faces removed" in err
    assert run_cli(capsys, "stats", "--milvus", milvus_server)[1][0]["faces"] == 2


def test_a_milvus_server_that_does_not_answer_is_one_line(capsys):
    uri = f"http://127.0.0.1:{free_ports(1)[0]}"
    status, _, err = run_cli(capsys, "stats", "--milvus", uri)
    assert status == 2 and f"cannot reach Milvus at {uri}" in err and "Traceback" not in err, err


def test_a_missing_gallery_is_named_and_not_created(tmp_path, capsys):
    db = tmp_path / "none.db"
    for args in (("search", str(photo_path("Rob_Lowe_0001.jpg"))), ("stats",), ("cluster",)):
        status, _, err = run_cli(capsys, *args, "--milvus", str(db))
        assert status == 2 and f"no gallery at {db}" in err, err
    assert not db.exists()
