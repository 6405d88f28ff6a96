"""One record per model: the model list, the backbones, the runtime decision, the bench twins
and the weight loader all read the registry's cards, and agree.

The figures cards cite from the docs page "Reference figures" must be on that page
(docs/references.md), so a reader can follow every source.
"""

import ast
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

import kerascnn
from kerascnn import bench, registry, transfer
from kerascnn.errors import WeightsDownloadError, WeightsError, WeightsMismatchError, WeightsNotAvailable
from kerascnn.models import base
from kerascnn.runtime import keras
from kerascnn.transfer import catalogue

pytestmark = pytest.mark.every_runtime
ROOT = Path(__file__).resolve().parents[1]
NAMES = kerascnn.list_models()


def test_catalogue_reads_the_same_names_as_the_registry_without_keras():
    assert catalogue.zoo_names() == tuple(NAMES)
    for name in NAMES:  # the runtime decision: every zoo name is the zoo's, never keras.applications'
        assert catalogue.provider_of(name) == ("kerascnn", name)
        assert not catalogue.needs_legacy(name)
    assert catalogue.provider_of("resnet50") == ("kerascnn", "resnet50")  # the case
    assert catalogue.provider_of("ResNet50") == ("keras", "ResNet50")


def test_backbones_and_models_package_read_the_records():
    zoo = {info.name: info for info in transfer.list_backbones(provider="kerascnn")}
    assert sorted(zoo) == NAMES
    for name in NAMES:
        card = kerascnn.model_card(name)
        assert zoo[name].pretrained == card.pretrained == tuple(record.tag for record in card.weights)
        expected_mode = card.weights[0].preprocessing if card.weights else "raw01"
        assert zoo[name].preprocessing == expected_mode
    builders = {registry.get_builder(name).__name__ for name in NAMES}
    assert builders <= set(kerascnn.models.__all__)  # exported without a hand-written import


def test_the_build_is_the_zoo_model():
    features = transfer.backbone("resnet18", input_shape=(32, 32, 3), weights=None)
    assert features.backbone_info.provider == "kerascnn"
    assert features.get_layer("conv5_block2_out") is not None  # the zoo's basic blocks, not keras'


def test_bench_twins_are_the_weights_applications():
    twins = {name: records[0].application for name, records in registry.weights_records().items()
             if records[0].application}  # a URL record (DaViT's kecam file) has no keras.applications twin
    assert bench.APPLICATIONS == twins == {
        "resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152", "vgg16": "VGG16",
        "vgg19": "VGG19", "resnet50v2": "ResNet50V2", "resnet101v2": "ResNet101V2", "resnet152v2": "ResNet152V2",
        "densenet121": "DenseNet121", "densenet169": "DenseNet169", "densenet201": "DenseNet201",
        "mobilenet": "MobileNet", "mobilenet_v2": "MobileNetV2", "inception_v3": "InceptionV3",
        "xception": "Xception"}
    for application in twins.values():
        assert callable(getattr(keras.applications, application))


def test_every_weights_record_is_complete():
    for name in NAMES:
        for record in kerascnn.model_card(name).weights:
            assert record.source and record.preprocessing in ("caffe", "tf", "torch", "raw01", "none")
            assert len(record.input_shape) == 3 and record.num_classes >= 1
            assert record.application or (record.url and record.file_hash)


def _page_numbers():
    page = (ROOT / "docs" / "references.md").read_text()
    return page, set(re.findall(r"\d{1,3}(?:,\d{3})+", page))


def test_card_sources_can_be_followed():
    page, numbers = _page_numbers()
    for name in NAMES:
        for key, source in kerascnn.model_card(name).sources.items():
            assert "REFERENCES.md" not in source, f"{name} {key}: cite docs/references.md, not a file outside"
            if "docs/references.md" in source:
                cited = set(re.findall(r"\d{1,3}(?:,\d{3})+", source))
                assert cited <= numbers, f"{name} {key}: {sorted(cited - numbers)} are not on docs/references.md"


def test_every_registration_style_is_read_and_others_refused():
    tree = ast.parse('TABLE = {"a": dict(builder=f), "b": dict(builder=f)}\nregister_family(TABLE)\n'
                     '@register("c", family="x")\ndef f(): pass\n')
    assert sorted(catalogue._registered_names(tree)) == ["a", "b", "c"]
    for source in ('register_family({f"vgg{d}": 1 for d in (11, 13)})', 'register(NAME, family="x")'):
        with pytest.raises(ValueError, match="literal"):
            catalogue._registered_names(ast.parse(source))


def test_weights_errors_are_one_family():
    for error in (WeightsDownloadError, WeightsMismatchError, WeightsNotAvailable):
        assert issubclass(error, WeightsError) and issubclass(error, ValueError)
    assert issubclass(WeightsDownloadError, OSError)
    assert transfer.WeightsError is WeightsError
    with pytest.raises(WeightsNotAvailable, match=r"not available for lenet5.*resnet50 \(imagenet\)"):
        kerascnn.lenet5(weights="imagenet")


# --------------------------------------------------------------------------- a URL record, end to end


def _tiny(input_shape=(8, 8, 1), num_classes=None, include_top=True, **options):
    inputs, head = base.start(input_shape, 3, "tiny_url", num_classes, include_top, options, default_classes=2)
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = base.features_or_top(x, head, options, top_pooling="avg")
    return base.finish(inputs, x, head, options, default_name="tiny_url")


@pytest.fixture
def url_model(tmp_path, monkeypatch):
    """A model registered with a URL weights record whose file lies behind a file:// origin."""
    source = _tiny(compile=False)
    source.set_weights([np.full(w.shape, 0.5, "float32") for w in source.get_weights()])
    path = tmp_path / "origin" / "tiny_url_imagenet.weights.h5"
    path.parent.mkdir()
    source.save_weights(str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setenv("KERASCNN_WEIGHTS_CACHE", str(tmp_path / "cache"))

    def register(file_hash=digest):
        record = registry.Weights(url=path.as_uri(), file_hash=file_hash, input_shape=(8, 8, 1), num_classes=2,
                                  preprocessing="raw01", source="test file")
        registry.register("tiny_url", family="test", description="URL weights record", input_shape=(8, 8, 1),
                          min_input_size=(3, 3), num_classes=2, weights=(record,))(_tiny)

    yield register
    registry.unregister("tiny_url")


def test_url_record_is_fetched_hash_checked_and_loaded(url_model, tmp_path):
    url_model()
    model = kerascnn.build("tiny_url", weights="imagenet", compile=False)
    assert all(np.all(w == 0.5) for w in model.get_weights())
    assert (tmp_path / "cache" / "tiny_url_imagenet.weights.h5").is_file()
    with pytest.raises(WeightsNotAvailable, match="2 input channels"):  # the record says 1 channel
        kerascnn.build("tiny_url", input_shape=(8, 8, 2), weights="imagenet")


def test_url_record_with_a_wrong_hash_raises(url_model):
    url_model(file_hash="0" * 64)
    with pytest.raises(WeightsDownloadError, match="corrupt or not the expected one"):
        kerascnn.build("tiny_url", weights="imagenet", compile=False)


def test_builders_and_backbones_accept_the_same_files(tmp_path):
    features = kerascnn.lenet5(include_top=False, compile=False)
    features.set_weights([np.full(w.shape, 0.25, "float32") for w in features.get_weights()])
    for file_name in ("features.keras", "features.weights.h5"):
        path = str(tmp_path / file_name)
        (features.save if file_name.endswith(".keras") else features.save_weights)(path)
        built = kerascnn.lenet5(include_top=False, weights=path, compile=False)
        backbone = transfer.backbone("lenet5", weights=path)
        for model in (built, backbone):
            assert all(np.all(w == 0.25) for w in model.get_weights()), file_name
    with pytest.raises(WeightsMismatchError, match="must end in .keras, .h5 or .weights.h5"):
        (tmp_path / "w.bin").write_bytes(b"x")
        kerascnn.lenet5(weights=str(tmp_path / "w.bin"))


def test_pretrained_tags_need_their_weights_records():
    with pytest.raises(ValueError, match="give the records only"):
        registry.register("tags_only", family="test", description="old style", input_shape=(8, 8, 1),
                          min_input_size=(1, 1), num_classes=2, pretrained=("imagenet",))(_tiny)
    assert "tags_only" not in registry.list_models()


def test_application_options_are_checked_against_the_record():
    record = kerascnn.model_card("mobilenet").weights_record("imagenet")
    assert record.application_kwargs("mobilenet", (160, 160, 3), True, alpha=0.5, depth_multiplier=1) == {
        "alpha": 0.5, "depth_multiplier": 1, "input_shape": (160, 160, 3)}
    with pytest.raises(WeightsNotAvailable, match=r"\(alpha, input side\) pairs \(0.25, 128\).* depth_multiplier=1"):
        record.application_kwargs("mobilenet", (160, 160, 3), True, alpha=0.5, depth_multiplier=2)
    assert {kerascnn.model_card(name).weights_record("imagenet").match
            for name in ("inception_v3", "xception")} == {"order"}  # Keras names their layers itself
