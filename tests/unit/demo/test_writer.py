"""generate_demo_data: MVTec layout, masks aligned, demo videos, determinism, safe output folder."""

import json

import cv2
import numpy as np
import pytest

from edgekit import __version__
from edgekit.demo import (
    AREA_FRACTION_RANGE,
    DefectKind,
    DemoCategory,
    DemoCounts,
    generate_demo_data,
)
from edgekit.demo import writer as writer_module
from edgekit.errors import ConfigError

SIZE = 64
TINY = DemoCounts(train_good=3, test_good=2, per_defect=2, stream_frames=7, stream_defective=3)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "out"
    return generate_demo_data(root, size=SIZE, seed=5, counts=TINY, progress=False)


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_layout_is_mvtec(demo):
    expected = {"demo.json"}
    for category in DemoCategory:
        c = str(category)
        expected |= {f"{c}/train/good/{i:03d}.png" for i in range(3)}
        expected |= {f"{c}/test/good/{i:03d}.png" for i in range(2)}
        for kind in DefectKind:
            expected |= {f"{c}/test/{kind}/{i:03d}.png" for i in range(2)}
            expected |= {f"{c}/ground_truth/{kind}/{i:03d}_mask.png" for i in range(2)}
        expected |= {f"{c}/stream.avi", f"{c}/stream.json"}
    assert set(_files(demo.root)) == expected


def test_images_are_colour_and_masks_binary_and_aligned(demo):
    low, high = AREA_FRACTION_RANGE
    for category in demo.categories:
        for image_path in sorted(category.root.glob("*/*/*.png")):
            if image_path.parts[-3] == "ground_truth":
                continue
            image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
            assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
            split, kind = image_path.parts[-3], image_path.parts[-2]
            if split == "test" and kind != "good":
                mask_path = category.root / "ground_truth" / kind / f"{image_path.stem}_mask.png"
                mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
                assert mask.shape == (SIZE, SIZE) and mask.dtype == np.uint8
                assert set(np.unique(mask)) == {0, 255}
                assert low <= np.count_nonzero(mask) / mask.size <= high


def test_test_images_are_the_clean_render_plus_the_masked_defect(demo):
    from edgekit.demo.scenes import Scene

    scene = Scene.load(DemoCategory.BRICK, SIZE)
    for kind in DefectKind:
        clean = scene.render(writer_module.item_rng(5, "brick", f"test/{kind}", 1))
        image = cv2.imread(str(demo.root / "brick" / "test" / kind / "001.png"))
        mask = cv2.imread(str(demo.root / "brick" / "ground_truth" / kind / "001_mask.png"), 0)
        assert np.array_equal(mask > 0, (image != clean).any(axis=2))


def test_summary_json_and_stream_sidecar(demo):
    content = json.loads((demo.root / "demo.json").read_text())
    assert content["edgekit_version"] == __version__
    assert (content["size"], content["seed"]) == (SIZE, 5)
    assert [c["name"] for c in content["categories"]] == [str(c) for c in DemoCategory]
    assert content["categories"][0]["test_defects"] == {str(k): 2 for k in DefectKind}
    for category in demo.categories:
        sidecar = json.loads((category.root / "stream.json").read_text())
        assert sidecar["video"] == category.stream.video.name
        assert sidecar["frame_count"] == 7 and sidecar["frame_hw"] == [SIZE, SIZE]
        assert sidecar["fps"] == TINY.stream_fps
        indices = [d["index"] for d in sidecar["defective_frames"]]
        assert len(indices) == 3 and indices == sorted(set(indices))
        assert all(0 <= i < 7 for i in indices)
        assert {d["kind"] for d in sidecar["defective_frames"]} <= {str(k) for k in DefectKind}


def test_video_reads_back_with_right_count_and_size(demo):
    for category in demo.categories:
        capture = cv2.VideoCapture(str(category.stream.video))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        assert len(frames) == 7
        assert all(f.shape == (SIZE, SIZE, 3) for f in frames)


def test_same_seed_same_bytes_other_seed_other_bytes(demo, tmp_path):
    counts = DemoCounts(train_good=3, test_good=2, per_defect=2, stream_frames=7, stream_defective=3)
    again = generate_demo_data(tmp_path / "again", size=SIZE, seed=5, counts=counts, progress=False)
    other = generate_demo_data(tmp_path / "other", size=SIZE, seed=6, counts=counts, progress=False)
    pngs = [p for p in _files(demo.root) if p.endswith(".png")]
    jsons = [p for p in _files(demo.root) if p.endswith(".json")]
    for name in pngs + jsons:
        assert (demo.root / name).read_bytes() == (again.root / name).read_bytes(), name
    differing = [n for n in pngs if (demo.root / n).read_bytes() != (other.root / n).read_bytes()]
    assert len(differing) == len(pngs)


def test_one_category_is_the_same_as_in_a_full_run(demo, tmp_path):
    alone = generate_demo_data(
        tmp_path / "c", size=SIZE, seed=5, counts=TINY, categories=["coffee"], progress=False
    )
    assert [c.name for c in alone.categories] == [DemoCategory.COFFEE]
    for name in _files(alone.root / "coffee"):
        if name.endswith(".png"):
            assert (alone.root / "coffee" / name).read_bytes() == (demo.root / "coffee" / name).read_bytes()


def test_regenerates_an_earlier_demo_but_refuses_a_foreign_folder(tmp_path):
    root = tmp_path / "out"
    counts = DemoCounts(train_good=1, test_good=0, per_defect=1, stream_frames=2, stream_defective=1)
    generate_demo_data(root, size=SIZE, counts=counts, progress=False)
    generate_demo_data(root, size=SIZE, counts=counts, categories=["gravel"], progress=False)
    assert sorted(p.name for p in root.iterdir()) == ["demo.json", "gravel"]

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty") as info:
        generate_demo_data(foreign, size=SIZE, counts=counts, progress=False)
    assert "\n" not in str(info.value)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_interrupted_run_does_not_look_complete_and_can_be_rerun(tmp_path, monkeypatch):
    root = tmp_path / "out"
    counts = DemoCounts(train_good=1, test_good=0, per_defect=1, stream_frames=2, stream_defective=1)
    generate_demo_data(root, size=SIZE, counts=counts, progress=False)

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module, "_write_category", broken)
    with pytest.raises(KeyboardInterrupt):
        generate_demo_data(root, size=SIZE, counts=counts, progress=False)
    assert not (root / "demo.json").exists()
    monkeypatch.undo()
    generate_demo_data(root, size=SIZE, counts=counts, progress=False)
    assert (root / "demo.json").is_file()
    assert not (root / ".edgekit-demo-incomplete").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 32}, "size 32"),
        ({"size": 65}, "even"),
        ({"seed": -1}, "seed -1"),
        ({"categories": ["marble"]}, "marble"),
        ({"categories": []}, "non-empty"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match) as info:
        generate_demo_data(tmp_path / "x", **{"size": SIZE, **kwargs}, counts=TINY, progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "kwargs",
    [{"train_good": 0}, {"per_defect": 0}, {"stream_frames": 0}, {"stream_defective": 9, "stream_frames": 8}],
)
def test_counts_are_validated(kwargs):
    with pytest.raises(ConfigError, match="DemoCounts"):
        DemoCounts(**kwargs)
