"""summary tables, the complexity chart, and `kerascnn compare` / `kerascnn check` exit codes."""

import os
import struct

import pytest

import kerascnn
from kerascnn import analysis, cli
from kerascnn.registry import register, unregister
from kerascnn.runtime import keras

pytestmark = pytest.mark.tensorflow_only


def _tiny(input_shape=(8, 8, 1), num_classes=None, include_top=True, name="tiny", compile=True, **_):
    x = keras.Input(input_shape)
    y = keras.layers.Conv2D(4, 3, name="conv")(x)  # 3*3*1*4 + 4 = 40 parameters
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    return keras.Model(x, keras.layers.Dense(2, name="out")(y), name=name)  # + 4*2 + 2 = 50


@pytest.fixture
def cards():
    """Two temporary registered models: one whose card is right (50 params), one wrong."""
    common = dict(family="test", description="test model", input_shape=(8, 8, 1), min_input_size=(3, 3),
                  num_classes=2, top1=50.0)
    register("tiny_ok", params=50, trainable_params=50, non_trainable_params=0, **common)(_tiny)
    register("tiny_wrong", params=49, **common)(_tiny)
    yield
    unregister("tiny_ok")
    unregister("tiny_wrong")


def _png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_summary_table_rows_and_csv(tmp_path):
    table = analysis.summary(kerascnn.lenet5(compile=False))
    rows = table.as_dicts()
    c3 = next(r for r in rows if r["layer"] == "c3_conv")
    # C3: 16*(6*25 + 1) parameters, 10*10*16*150 MACs, field 5 + (5 - 1)*2 = 14 at jump 2
    assert (c3["params"], c3["macs"], c3["receptive_field"], c3["jump"]) == (2_416, 240_000, "14", "2")
    assert c3["output_shape"] == "(None, 10, 10, 16)"
    text = str(table)
    assert "c3_conv" in text and "Total params: 61,706" in text and "Total MACs: 416,520" in text
    path = tmp_path / "sub" / "lenet.csv"
    table.to_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "layer,class,output_shape,params,macs,other_ops,receptive_field,jump"
    assert len(lines) == 1 + len(rows) and os.listdir(path.parent) == ["lenet.csv"]


def test_complexity_chart_writes_a_png_atomically(tmp_path, cards):
    path = tmp_path / "chart.png"
    with pytest.warns(UserWarning, match="lenet5"):  # no top-1 on its card: left off, said so
        points = analysis.complexity_chart(["tiny_ok", kerascnn.lenet5(compile=False)], path)
    assert [p["name"] for p in points] == ["tiny_ok"]
    # tiny: conv 6*6*4*9 + dense 2*4 MACs
    assert points[0]["gmacs"] * 1e9 == pytest.approx(6 * 6 * 4 * 9 + 8)
    assert points[0]["params"] == 50 and points[0]["top1"] == 50.0
    width, height = _png_size(path)  # 10.5 x 6 inches at 120 dpi, cropped to what is drawn (legends outside)
    assert 1100 <= width <= 1300 and 600 <= height <= 720, (width, height)
    assert os.listdir(tmp_path) == ["chart.png"]  # no temporary file left behind


def test_complexity_chart_names_do_not_cover_each_other():
    """The zoo's ResNet-101/152 cluster: eight bubbles within a factor 2 of MACs and 3 points of
    top-1. Each name is drawn once, inside the axes, and no two names overlap."""
    from kerascnn.analysis.chart import _draw

    cluster = [("resnet101", 7.6, 76.4, 44.5), ("resnet101v2", 7.2, 77.2, 44.7), ("se_resnet101", 7.6, 77.6, 49.3),
               ("resnet152", 11.3, 76.6, 60.2), ("resnet152v2", 10.9, 78.0, 60.4), ("se_resnet152", 11.3, 78.4, 66.8),
               ("wide_resnet50_2", 11.4, 78.5, 68.9), ("resnext101_32x8d", 16.4, 79.3, 88.8)]
    points = [{"name": name, "family": name.rstrip("0123456789v_"), "gmacs": gmacs, "top1": top1,
               "params": millions * 1e6} for name, gmacs, top1, millions in cluster]
    figure = _draw(points, None)
    axes = figure.axes[0]
    renderer = figure.canvas.get_renderer()
    names = {text.get_text(): text.get_window_extent(renderer) for text in axes.texts}
    assert sorted(names) == sorted(name for name, *_ in cluster)
    frame = axes.get_window_extent(renderer)
    for name, box in names.items():
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, name
    boxes = list(names.items())
    for index, (name, box) in enumerate(boxes):
        for other, other_box in boxes[index + 1:]:
            assert not box.overlaps(other_box), (name, other)


def test_complexity_chart_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"\.png"):
        analysis.complexity_chart(["lenet5"], tmp_path / "chart.jpg")
    with pytest.raises(ValueError, match="Did you mean 'lenet5'"):
        analysis.complexity_chart(["lenet"], tmp_path / "chart.png")
    with pytest.raises(ValueError, match="top-1"), pytest.warns(UserWarning, match="no top-1"):
        analysis.complexity_chart(["lenet5"], tmp_path / "chart.png")
    assert os.listdir(tmp_path) == []


def test_compare_prints_the_table_and_writes_the_chart(tmp_path, capsys, cards):
    chart, table = tmp_path / "c.png", tmp_path / "c.csv"
    assert cli.main(["compare", "tiny_ok", "lenet5", "--out", str(chart), "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert "tiny_ok" in out and "61,706" in out
    assert f"chart: {chart} (left off, no top-1 on their cards: lenet5)" in out
    # LeNet-5's MACs by hand: C1 28*28*6*25 + C3 10*10*16*150 + C5 120*400 + F6 84*120 + output 10*84
    # = 416,520, shown to three significant digits rather than as 0.000 billion
    [lenet] = [line.split() for line in out.splitlines() if line.startswith("lenet5 ")]
    assert lenet[3] == f"{416_520 / 1e9:.3g}" == "0.000417", lenet
    _png_size(chart)
    assert table.read_text().splitlines()[0] == "model,input,params,gmacs,card_gmacs,top1"


def test_check_exit_codes(capsys, cards):
    assert cli.main(["check", "tiny_ok"]) == 0
    assert "tiny_ok" in capsys.readouterr().out
    assert cli.main(["check", "tiny_*"]) == 1
    out = capsys.readouterr().out
    assert "tiny_wrong" in out and "MISMATCH" in out and "card 49, built 50 (+1)" in out
    assert cli.main(["check", "tiny_ok", "lenet5"]) == 0  # several names or patterns at once
    assert "2 of 2 model(s) match" in capsys.readouterr().out
    assert cli.main(["check", "no_such_model*"]) == 2
    assert cli.main(["compare", "lenet5", "--out", "chart.svg"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Unknown model" in err and ".png" in err
