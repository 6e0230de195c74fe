"""generate_wide_data: MVTec layout the loader accepts, held-out validation, defects.json, determinism."""

import json

import cv2
import numpy as np
import pytest

from edgekit import __version__
from edgekit.data.mvtec import scan_dataset
from edgekit.demo import DemoCounts, generate_demo_data
from edgekit.demo.wide import SPECS, WIDE_AREA_RANGE, WideCategory, WideCounts, generate_wide_data, kind_area_range
from edgekit.errors import ConfigError

SIZE = 128
TINY = WideCounts(train_good=2, validation_good=1, validation_per_defect=1, test_good=2, per_defect=1)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    root = tmp_path_factory.mktemp("wide") / "out"
    return generate_wide_data(root, size=SIZE, seed=5, counts=TINY, progress=False)


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_layout_is_mvtec_with_a_held_out_validation_split(wide):
    expected = {"wide.json"}
    for category in WideCategory:
        c, kinds = str(category), SPECS[category].defect_kinds
        expected |= {f"{c}/train/good/{i:03d}.png" for i in range(2)}
        expected |= {f"{c}/test/good/{i:03d}.png" for i in range(2)}
        expected |= {f"{c}/test/{k}/000.png" for k in kinds} | {f"{c}/ground_truth/{k}/000_mask.png" for k in kinds}
        expected |= {f"{c}/defects.json", f"validation/{c}/test/good/000.png"}
        expected |= {f"validation/{c}/test/{k}/000.png" for k in kinds}
        expected |= {f"validation/{c}/ground_truth/{k}/000_mask.png" for k in kinds}
    assert set(_files(wide.root)) == expected


@pytest.mark.parametrize("category", list(WideCategory))
def test_the_loader_accepts_every_category_and_its_validation_split(wide, category):
    kinds = {str(k) for k in SPECS[category].defect_kinds}
    dataset = scan_dataset(wide.root / category, need_test=True)
    assert len(dataset.train) == 2
    assert {s.kind for s in dataset.test} == kinds | {"good"}
    assert dataset.n_test_anomalous == len(kinds)
    # the validation split is read the way a test split is: a category folder without train images
    validation = wide.root / "validation" / category
    held_out = sorted(p.relative_to(validation).as_posix() for p in validation.glob("test/*/*.png"))
    assert held_out == sorted(["test/good/000.png", *(f"test/{k}/000.png" for k in kinds)])
    for path in held_out:
        if not path.startswith("test/good"):
            kind = path.split("/")[1]
            assert (validation / "ground_truth" / kind / "000_mask.png").is_file()


def test_defects_json_matches_the_masks_on_disk(wide):
    for summary in wide.categories:
        content = json.loads((summary.root / "defects.json").read_text())
        spec = SPECS[summary.name]
        assert content["category"] == str(summary.name) and content["scene"] == str(spec.kind)
        assert content["size_class"] == str(spec.size_class)
        assert content["area_fraction_range"] == list(spec.area_range)
        assert content["validation_root"] == f"../validation/{summary.name}"
        for key, root in (("images", summary.root), ("validation_images", summary.validation_root)):
            entries = content[key]
            assert {e["kind"] for e in entries.values()} == {str(k) for k in spec.defect_kinds}
            for image, entry in entries.items():
                mask = cv2.imread(str(root / entry["mask"]), cv2.IMREAD_GRAYSCALE)
                assert mask.shape == (SIZE, SIZE) and set(np.unique(mask)) == {0, 255}
                assert entry["area_fraction"] == np.count_nonzero(mask) / mask.size
                low, high = kind_area_range(spec, entry["kind"])
                assert low <= entry["area_fraction"] <= high
                assert WIDE_AREA_RANGE[0] <= entry["area_fraction"] <= WIDE_AREA_RANGE[1]
                assert image == f"test/{entry['kind']}/000.png"
                x0, y0, x1, y1 = entry["box_xyxy"]
                ys, xs = np.nonzero(mask)
                assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        fractions = [e["area_fraction"] for e in content["images"].values()]
        assert content["test_area_fraction"]["min"] == min(fractions)
        assert content["test_area_fraction"]["max"] == max(fractions)


def test_summary_json(wide):
    content = json.loads((wide.root / "wide.json").read_text())
    assert content["set"] == "wide" and content["edgekit_version"] == __version__
    assert (content["size"], content["seed"], content["layout"]) == (SIZE, 5, "mvtec")
    assert [c["name"] for c in content["categories"]] == [str(c) for c in WideCategory]
    coins = next(c for c in content["categories"] if c["name"] == "coins")
    assert coins["scene"] == "objects" and coins["validation"] == "validation/coins"
    assert coins["test_defects"] == {str(k): 1 for k in SPECS[WideCategory.COINS].defect_kinds}


def test_validation_images_are_not_training_or_test_images(wide):
    for category in (WideCategory.CAT, WideCategory.COINS):
        folder = wide.root / category
        seen = {p.read_bytes() for p in folder.glob("t*/*/*.png")}
        held_out = list((wide.root / "validation" / category).glob("test/*/*.png"))
        assert held_out and not seen & {p.read_bytes() for p in held_out}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    counts = WideCounts(train_good=2, validation_good=1, validation_per_defect=1, test_good=1, per_defect=1)
    categories = ["tissue", "rocket", "tray"]
    runs = [
        generate_wide_data(tmp_path / name, size=SIZE, seed=seed, counts=counts, categories=categories, progress=False)
        for name, seed in (("a", 1), ("b", 1), ("c", 2))
    ]
    names = _files(runs[0].root)
    assert names == _files(runs[1].root) == _files(runs[2].root)
    for name in names:
        assert (runs[0].root / name).read_bytes() == (runs[1].root / name).read_bytes(), name
    images = [n for n in names if n.endswith(".png") and "ground_truth" not in n]
    assert all((runs[0].root / n).read_bytes() != (runs[2].root / n).read_bytes() for n in images)


def test_one_category_is_the_same_as_in_a_full_run(wide, tmp_path):
    alone = generate_wide_data(tmp_path / "c", size=SIZE, seed=5, counts=TINY, categories=["coins"], progress=False)
    assert [c.name for c in alone.categories] == [WideCategory.COINS]
    for sub in ("coins", "validation/coins"):
        for name in _files(alone.root / sub):
            assert (alone.root / sub / name).read_bytes() == (wide.root / sub / name).read_bytes(), name


def test_regenerates_an_earlier_wide_set_but_refuses_a_foreign_or_demo_folder(tmp_path):
    root = tmp_path / "out"
    counts = WideCounts(train_good=1, validation_good=0, validation_per_defect=0, test_good=0, per_defect=1)
    generate_wide_data(root, size=SIZE, counts=counts, categories=["grass", "coins"], progress=False)
    generate_wide_data(root, size=SIZE, counts=counts, categories=["logo"], progress=False)
    assert sorted(p.name for p in root.iterdir()) == ["logo", "wide.json"]

    demo = tmp_path / "demo"
    demo_counts = DemoCounts(train_good=1, test_good=0, per_defect=1, stream_frames=2, stream_defective=1)
    generate_demo_data(demo, size=64, counts=demo_counts, categories=["coffee"], progress=False)
    with pytest.raises(ConfigError, match="not empty") as info:
        generate_wide_data(demo, size=SIZE, counts=counts, categories=["logo"], progress=False)
    assert "\n" not in str(info.value)
    assert (demo / "demo.json").is_file() and (demo / "coffee").is_dir()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 64}, "size 64"),
        ({"seed": -1}, "seed -1"),
        ({"categories": ["marble"]}, r"unknown wide categories \['marble'\]; accepted: \['grass'"),
        ({"categories": ["gravel"]}, "gravel"),
        ({"categories": []}, "non-empty"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match) as info:
        generate_wide_data(tmp_path / "x", **{"size": SIZE, **kwargs}, counts=TINY, progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kwargs", [{"train_good": 0}, {"per_defect": 0}, {"test_good": -1}, {"validation_good": 1.5}])
def test_counts_are_validated(kwargs):
    with pytest.raises(ConfigError, match="WideCounts"):
        WideCounts(**kwargs)


def test_default_counts_fit_the_benchmark():
    counts = WideCounts()
    assert 60 <= counts.train_good <= 80 and 20 <= counts.test_good <= 30
    for category in WideCategory:
        kinds = len(SPECS[category].defect_kinds)
        assert 20 <= counts.per_defect * kinds <= 40
        assert counts.validation_good > 0 and counts.validation_per_defect * kinds > 0
