"""Face galleries in Milvus: enrol faces (store), search them with the calibrated re-rank, group
them into people (cluster) and show the groups (report). pymilvus is an optional extra
(`pip install 'facev3[milvus]'`): nothing here imports it until a store is opened."""

from facev3.gallery.errors import (
    CollectionMissing,
    GalleryError,
    MilvusMissing,
    MilvusUnavailable,
    ModelMismatch,
    NotAGallery,
)

__all__ = ["CollectionMissing", "GalleryError", "MilvusMissing", "MilvusUnavailable", "ModelMismatch", "NotAGallery"]
