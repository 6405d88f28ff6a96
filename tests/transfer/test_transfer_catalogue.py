"""The backbone catalogue, read without importing kecam (docs/references.md, kecam 1.4.3)."""

import sys

import pytest

from kerascnn import transfer
from kerascnn.transfer import catalogue
from kerascnn.transfer.backbones import kecam_weights_files


def test_names_resolve_across_providers_without_importing_kecam():
    # DaViT is native in the zoo (every runtime); kecam's own model needs its prefix
    assert catalogue.provider_of("DaViT_T") == ("kerascnn", "davit_t")
    assert catalogue.provider_of("davit_t") == ("kerascnn", "davit_t")
    assert catalogue.provider_of("kecam:davit_t") == ("kecam", "DaViT_T")
    assert catalogue.provider_of("ResNet50") == ("keras", "ResNet50")
    assert catalogue.provider_of("lenet5") == ("kerascnn", "lenet5")
    assert catalogue.provider_of("kecam:EfficientNetV2B0") == ("kecam", "EfficientNetV2B0")
    assert catalogue.provider_of("EfficientNetV2B0") == ("keras", "EfficientNetV2B0")  # keras first
    assert [transfer.needs_legacy(n) for n in ("kecam:DaViT_S", "DaViT_S", "keras:ConvNeXtTiny", "lenet5")] == [
        True, False, False, False]
    assert catalogue.provider_of("no_such_net") is None


def test_davit_entries_match_kecam_source():
    infos = {b.name: b for b in transfer.list_backbones("davit_?", provider="kecam")}
    assert {"DaViT_T", "DaViT_S", "DaViT_B"} <= set(infos)
    tiny = infos["DaViT_T"]
    assert (tiny.provider, tiny.preprocessing, tiny.input_shape, tiny.needs_legacy) == ("kecam", "torch", (224, 224, 3), True)
    assert tiny.pretrained == ("imagenet",) and "multiples of 32" in tiny.size_rule
    # kecam's download: <releases>/davit/davit_t_imagenet.h5, md5 from davit.PRETRAINED_DICT
    [(file_name, url, md5)] = kecam_weights_files(tiny, "imagenet", (280, 280, 3))
    assert file_name == "davit_t_imagenet.h5"
    assert url == "https://github.com/leondgarse/keras_cv_attention_models/releases/download/davit/davit_t_imagenet.h5"
    assert md5 == "040a215cbcf1c0ce06db665cdcf6f9ac"


def test_resolution_tables_pick_the_nearest_file():
    info = transfer.backbone_info("kecam:ConvNeXtTiny")
    [(file_name, _, _)] = kecam_weights_files(info, "imagenet21k-ft1k", (400, 400, 3))
    assert file_name == "convnext_tiny_384_imagenet21k-ft1k.h5"


def test_keras_applications_rules():
    info = transfer.backbone_info("ResNet50V2")
    assert (info.name, info.provider, info.preprocessing) == ("ResNet50V2", "keras", "tf")
    # the lower-case name is the zoo's own resnet50v2 (exact names win, the zoo first)
    assert transfer.backbone_info("resnet50v2").provider == "kerascnn"
    assert transfer.backbone_info("VGG16").preprocessing == "caffe"
    assert transfer.backbone_info("InceptionV3").min_size == 75


def test_unknown_names_suggest():
    with pytest.raises(ValueError, match="davit_t"):  # the native DaViT is the nearest name
        transfer.backbone_info("DaVit_TT")
    with pytest.raises(TypeError):
        transfer.backbone_info(3)


def test_listing_does_not_import_kecam_in_keras3():
    transfer.list_backbones("*")
    from kerascnn import runtime

    if runtime.IS_KERAS3:
        assert "keras_cv_attention_models" not in sys.modules
