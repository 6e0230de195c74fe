"""An OpenVINO Model Server repository for a bundle: ``DIR/<name>/1/`` with the IR, and ``DIR/config.json``.

Layout and keys as OVMS documents them (docs/models_repository_classic.md, docs/starting_server.md,
the ``model_config`` JSON schema in src/schema.cpp): a numbered version folder holding the
``.xml``/``.bin`` pair, and ``{"model_config_list": [{"config": {...}}]}``. ``base_path`` is
relative: OVMS resolves it against the folder of config.json (``FileSystem::setPath`` with the
config's root directory), so the repository can be moved or mounted anywhere. The stored IR has
a static batch of 1 and carries ``rt_info['model_info']``, which OVMS publishes in the KServe REST
model metadata (what Model API's ``OVMSAdapter`` reads).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgekit.artifacts.files import atomic_dir, write_json
from edgekit.artifacts.manifest import EnsembleManifest

CONFIG_NAME = "config.json"
VERSION = 1


def ovms_config(name: str, manifest: EnsembleManifest) -> dict[str, Any]:
    """The ``config.json`` for one model served from ``<name>/<version>/``.

    Args:
        name: The model's name in the server (URL ``/v2/models/<name>``).
        manifest: The bundle's manifest (precision hint, input shape).

    Returns:
        The JSON object.
    """
    shape = manifest.input["shape"]
    plugin_config = {"PERFORMANCE_HINT": "THROUGHPUT"}
    precision = manifest.quantization.get("inference_precision")
    if precision:
        # the bundle's CPU precision (f32: this CPU family defaults to bf16, which costs the heads ~1 %)
        plugin_config["INFERENCE_PRECISION_HINT"] = precision
    return {
        "model_config_list": [
            {
                "config": {
                    "name": name,
                    "base_path": name,
                    "target_device": "CPU",
                    "shape": "(" + ",".join(str(int(v)) for v in shape) + ")",
                    "nireq": 2,
                    "plugin_config": plugin_config,
                }
            }
        ]
    }


def write_ovms_repository(bundle: Path, repo: Path, name: str, manifest: EnsembleManifest) -> Path:
    """Copy the bundle's IR into an OVMS model repository (written atomically).

    Args:
        bundle: The bundle folder (its files already verified by the export).
        repo: The repository folder to write (replaced if it exists).
        name: The model's name.
        manifest: The bundle's manifest.

    Returns:
        The repository folder.
    """
    with atomic_dir(Path(repo)) as tmp:
        version = tmp / name / str(VERSION)
        version.mkdir(parents=True)
        for entry in manifest.files:
            shutil.copy2(bundle / entry.path, version / Path(entry.path).name)
        write_json(tmp / CONFIG_NAME, ovms_config(name, manifest))
    return Path(repo)
