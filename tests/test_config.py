"""Settings from the environment and .env: defaults, parsing, and errors that name the setting."""

import pytest

from facev3.config import Settings, SettingsError, load_settings


def test_defaults_without_environment(tmp_path):
    assert load_settings({}, tmp_path / "none.env") == Settings()


def test_an_optional_setting_left_empty_takes_its_default(tmp_path):
    assert load_settings({"MAX_BATCH_SIZE": ""}, tmp_path / "none.env").max_batch_size is None
    assert load_settings({"MAX_BATCH_SIZE": " 6 "}, tmp_path / "none.env").max_batch_size == 6


def test_environment_wins_over_the_dotenv_file(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("RERANK_THRESHOLD=0.7\nMAX_BATCH_SIZE=4\nRETURN_ALIGNED=true\n")
    settings = load_settings({"RERANK_THRESHOLD": "0.6", "FACEV3_API_KEYS": "a, b"}, dotenv)
    assert settings.rerank_threshold == 0.6
    assert settings.max_batch_size == 4 and settings.return_aligned is True
    assert settings.api_keys == ("a", "b")


@pytest.mark.parametrize(
    "environ,named",
    [
        ({"FACEV3_BACKEND": "gpu"}, "FACEV3_BACKEND"),
        ({"TRITON_SHM": "shared"}, "TRITON_SHM"),
        ({"RERANK_THRESHOLD": "high"}, "RERANK_THRESHOLD"),
        ({"RERANK_THRESHOLD": "1.5"}, "RERANK_THRESHOLD"),
        ({"MAX_BATCH_SIZE": "0"}, "MAX_BATCH_SIZE"),
        ({"MAX_BATCH_SIZE": "eight"}, "MAX_BATCH_SIZE"),
        ({"RETURN_ALIGNED": "maybe"}, "RETURN_ALIGNED"),
        ({"FACEV3_MAX_INFLIGHT": "-2"}, "FACEV3_MAX_INFLIGHT"),
        ({"FACEV3_EMBEDDER_PRECISION": "fp16"}, "FACEV3_EMBEDDER_PRECISION"),
        ({"FACEV3_EMBEDDER_PRECISION": "bf16", "FACEV3_BACKEND": "triton"}, "FACEV3_EMBEDDER_PRECISION"),
    ],
)
def test_invalid_settings_fail_naming_the_setting(tmp_path, environ, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(environ, tmp_path / "none.env")
