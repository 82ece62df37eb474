"""The composition root: settings -> models -> inference backend -> pipeline -> API. The HTTP
adapters, the CLI, the tools and the benchmarks build what they need here and nowhere else."""

import logging

from facev3.api.handlers import Api
from facev3.config import Settings, SettingsError
from facev3.core.imaging import DecodeLimits
from facev3.core.models import Calibration, EmbedderSpec
from facev3.core.pipeline import Pipeline, PipelineSettings
from facev3.core.ports import InferenceBackend
from facev3.models import registry
from facev3.models.manifest import Manifest, first_difference


def configure_logging(settings: Settings) -> None:
    """facev3's own log lines (where each model runs, warnings) on stderr at FACEV3_LOG_LEVEL: the
    servers set up only their own loggers (Robyn raises the root logger to WARN)."""
    logger = logging.getLogger("facev3")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
    logger.propagate = False


def build_backend(settings: Settings) -> InferenceBackend:
    """The backend the settings name, with the models they name (ManifestError, SettingsError or
    ModelUnavailable when they cannot run)."""
    if settings.backend == "triton":
        from facev3.backends.triton.backend import TritonBackend
        from facev3.backends.triton.failover import TritonFailover

        urls = [url.strip() for url in settings.triton_url.split(",") if url.strip()]
        # One shared-memory slot per request in flight: a request never waits for a slot.
        options = {"shm": settings.triton_shm, "timeout_s": settings.triton_timeout_s, "slots": settings.max_inflight}
        backend = TritonBackend(urls[0], **options) if len(urls) == 1 else TritonFailover(urls, **options)
        try:
            for role, name in (("detector", settings.detector), ("embedder", settings.embedder)):
                if name is not None:
                    backend.use_manifest(
                        _same_model(name, registry.resolve(name, role), backend.manifest(role), settings)
                    )
        except Exception:
            backend.close()
            raise
        return backend
    from facev3.backends import runtimes
    from facev3.backends.local import LocalBackend

    return LocalBackend(
        registry.resolve(settings.detector, "detector"),
        registry.resolve(settings.embedder, "embedder"),
        threads=settings.threads,
        embed_batch=settings.max_batch_size,
        device=settings.device,
        runtime=settings.runtime,
        precision=settings.embedder_precision,
        # One OpenVINO copy per core a worker has: requests in parallel, as onnxruntime's sessions run them.
        streams=max(1, runtimes.cores() // settings.workers),
        nice=settings.inference_nice,
    )


def _same_model(name: str, ours: Manifest, served: Manifest, settings: Settings) -> Manifest:
    """Our manifest, when it describes the model Triton serves (its calibration may be newer)."""
    field = first_difference(ours, served)
    if field is not None:
        setting = "FACEV3_DETECTOR" if ours.role == "detector" else "FACEV3_EMBEDDER"
        raise SettingsError(
            f"{setting}={name!r} is {ours.tag}, but the Triton repository at {settings.triton_url} runs "
            f"{served.tag}: they differ in {field}"
        )
    return ours


def build_pipeline(settings: Settings, backend: InferenceBackend | None = None) -> Pipeline:
    limits = DecodeLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels)
    pipeline_settings = PipelineSettings(
        limits=limits,
        max_faces_per_image=settings.max_faces_per_image,
        max_faces_per_call=settings.max_faces_per_request,
    )
    return Pipeline(backend or build_backend(settings), pipeline_settings)


def calibration(embedder: EmbedderSpec) -> Calibration:
    """The embedder's calibration; a model without one cannot decide matches."""
    if embedder.calibration is None:
        raise SettingsError(
            f"the embedder {embedder.tag} has no calibration: fit one on labelled photos with "
            f"`facev3 calibrate DIR --write MANIFEST`"
        )
    return embedder.calibration


def build_api(settings: Settings, backend: InferenceBackend | None = None) -> Api:
    pipeline = build_pipeline(settings, backend)
    try:
        return Api(settings, pipeline, calibration(pipeline.backend.embedder), open_gallery(settings, pipeline))
    except Exception:
        pipeline.backend.close()
        raise


def open_gallery(settings: Settings, pipeline: Pipeline):
    """The Milvus gallery FACEV3_GALLERY names (it must exist and hold the embedder's vectors)."""
    if settings.gallery is None:
        return None
    from facev3.gallery.store import GalleryStore

    embedder = pipeline.backend.embedder
    return GalleryStore.open(
        settings.gallery, embedder.tag, embedder.embedding_size, settings.gallery_collection, create=False
    )
