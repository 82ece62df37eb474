"""The composition root: settings -> inference backend -> pipeline -> API. The HTTP adapters, the
CLI, the tools and the benchmarks build what they need here and nowhere else."""

from facev3.api.handlers import Api
from facev3.config import Settings, SettingsError
from facev3.core import detection, scoring
from facev3.core.imaging import DecodeLimits
from facev3.core.pipeline import Pipeline, PipelineSettings
from facev3.core.ports import InferenceBackend
from facev3.models import sources


def build_backend(settings: Settings) -> InferenceBackend:
    if settings.detector is not None and settings.detector not in detection.DETECTORS:
        raise SettingsError(f"FACEV3_DETECTOR={settings.detector!r}: expected one of {', '.join(detection.DETECTORS)}")
    if settings.backend == "triton":
        from facev3.backends.triton.backend import TritonBackend

        # One shared-memory slot per request in flight: a request never waits for a slot.
        backend = TritonBackend(
            settings.triton_url,
            shm=settings.triton_shm,
            timeout_s=settings.triton_timeout_s,
            slots=settings.max_inflight,
        )
        if settings.detector not in (None, backend.detector.name):
            backend.close()
            raise SettingsError(
                f"FACEV3_DETECTOR={settings.detector!r}, but the Triton repository at "
                f"{settings.triton_url} runs {backend.detector.name!r}"
            )
        return backend
    from facev3.backends.local import LocalBackend

    return LocalBackend(
        threads=settings.threads, detector=settings.detector or "yunet", embed_batch=settings.max_batch_size
    )


def build_pipeline(settings: Settings, backend: InferenceBackend | None = None) -> Pipeline:
    limits = DecodeLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels)
    return Pipeline(backend or build_backend(settings), PipelineSettings(limits=limits))


def calibration(backend: InferenceBackend) -> scoring.Calibration:
    """The calibration of the embedder that runs."""
    if backend.embedder != sources.SFACE.name:
        raise SettingsError(f"no calibration is known for the embedder {backend.embedder!r}")
    return sources.SFACE_CALIBRATION


def build_api(settings: Settings, backend: InferenceBackend | None = None) -> Api:
    pipeline = build_pipeline(settings, backend)
    return Api(settings, pipeline, calibration(pipeline.backend))
