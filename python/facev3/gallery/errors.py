"""Typed errors of the gallery: a stable `code` and a message that says what to do."""

from facev3.core.errors import CodedError

INSTALL_HINT = "pip install 'facev3[milvus]'"


class GalleryError(CodedError):
    code = "gallery_error"


class MilvusMissing(GalleryError):
    """pymilvus (or milvus-lite, for a file URI) is not installed."""

    code = "milvus_missing"


class ModelMismatch(GalleryError):
    """Vectors of one model offered to a collection that holds another model's vectors."""

    code = "model_mismatch"

    def __init__(self, collection: str, collection_tag: str, model_tag: str) -> None:
        super().__init__(
            f"collection {collection!r} holds vectors of {collection_tag}, not {model_tag}: cosines between "
            f"two models' vectors mean nothing, so they are never mixed (use the collection of {model_tag}, "
            f"or another --collection)"
        )
        self.collection = collection
        self.collection_tag = collection_tag
        self.model_tag = model_tag


class NotAGallery(GalleryError):
    """A collection that facev3 did not create (no model tag recorded)."""

    code = "not_a_gallery"


class CollectionMissing(GalleryError):
    code = "collection_missing"


class MilvusUnavailable(GalleryError):
    """The Milvus at the URI cannot be reached or refused the call."""

    code = "milvus_unavailable"
