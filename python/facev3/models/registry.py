"""Built-in models and the one way to name a model: a built-in name or a manifest path."""

from pathlib import Path

from facev3.models.manifest import Manifest, ManifestError, Role, load_manifest

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN = {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.toml"))}
DEFAULTS: dict[Role, str] = {"detector": "yunet", "embedder": "sface"}


def load(name_or_path: str) -> Manifest:
    """The manifest of a built-in model by name, or read from a path."""
    path = BUILTIN.get(name_or_path, Path(name_or_path))
    if name_or_path not in BUILTIN and not path.is_file():
        raise ManifestError(f"{name_or_path!r} is neither a built-in model ({', '.join(BUILTIN)}) nor a manifest file")
    return load_manifest(path)


def resolve(name_or_path: str | None, role: Role) -> Manifest:
    """The model to use as `role`: a built-in name or a manifest path; None: the role's default."""
    manifest = load(name_or_path or DEFAULTS[role])
    if manifest.role != role:
        raise ManifestError(f"model manifest {manifest.origin}: role: {manifest.role!r}, but it is used as the {role}")
    return manifest
