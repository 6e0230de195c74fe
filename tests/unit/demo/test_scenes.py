"""Scenes: bundled photos load offline, frames are colour, aligned scenes barely move."""

import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from edgekit.demo.scenes import _SOURCES, DemoCategory, Scene, SceneKind, load_photo


@pytest.mark.parametrize("category", list(DemoCategory))
def test_photo_ships_with_scikit_image_and_loads_without_pooch(monkeypatch, category):
    # Photos fetched with pooch need the network; the bundled ones sit next to skimage.data.
    photo = _SOURCES[category].photo
    assert list(Path(skimage.data.__file__).parent.glob(f"{photo}.*"))
    monkeypatch.setitem(sys.modules, "pooch", None)  # any attempt to import pooch now fails
    image = load_photo(category)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= 300


@pytest.mark.parametrize("category", list(DemoCategory))
def test_render_gives_bgr_frames_of_the_requested_size(category):
    scene = Scene.load(category, 96)
    a = scene.render(np.random.default_rng(0))
    b = scene.render(np.random.default_rng(0))
    c = scene.render(np.random.default_rng(1))
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_aligned_scene_jitters_a_few_pixels_while_textures_move():
    coffee = Scene.load(DemoCategory.COFFEE, 128)
    gravel = Scene.load(DemoCategory.GRAVEL, 128)
    assert coffee.kind is SceneKind.ALIGNED and gravel.kind is SceneKind.TEXTURE

    def correlation(scene):
        a = scene.render(np.random.default_rng(0)).astype(float).ravel()
        b = scene.render(np.random.default_rng(1)).astype(float).ravel()
        return np.corrcoef(a, b)[0, 1]

    # The same view, shifted by a pixel or two and relit, versus another crop of the texture.
    assert correlation(coffee) > 0.9
    assert correlation(gravel) < 0.5


def test_grey_photos_become_three_channels():
    brick = load_photo(DemoCategory.BRICK)
    assert brick.shape[2] == 3
    assert not np.array_equal(brick[..., 0], brick[..., 2]), "grey photos get a surface tint"
