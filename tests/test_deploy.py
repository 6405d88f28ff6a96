"""kerascnn.deploy: the precision decision on made-up machines, optimize(), and accuracy on real digits.

The accuracy test trains LeNet-5 on the embedded digits (sklearn's 8x8 scans, 450 test
images) and compares the optimized model with the float32 one image by image: the
optimized model is a computation in bfloat16 (8 significant bits), so the figures asked
are top-1 agreement >= 99% and a maximum probability difference < 0.02 (bfloat16 rounds
each product to about 0.4%; through 5 layers a softmax probability moves by a few percent
at most; measured 0.003).
"""

import numpy as np
import pytest

import kerascnn
from kerascnn.data import load_data, prepare_images
from kerascnn.deploy import Hardware, choose_precision, detect, optimize, resolve, training_precision
from kerascnn.deploy.hardware import parse_cpu_flags
from kerascnn.runtime import BACKEND, keras
from kerascnn.surgery import randomize_batchnorm

pytestmark = pytest.mark.every_runtime

AMD_AVX2 = "fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi2 sha_ni"  # an EPYC of the earlier machines
XEON_AMX = AMD_AVX2 + " avx512f avx512bw avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8"
COOPER_LAKE = AMD_AVX2 + " avx512f avx512bw avx512_vnni avx512_bf16"  # AVX-512 BF16, no AMX
SKYLAKE = AMD_AVX2 + " avx512f avx512bw avx512_vnni"  # AVX-512 without BF16


def cpu(flags: str, backend: str = "tensorflow") -> Hardware:
    return Hardware("cpu", "test CPU", cpu_flags=parse_cpu_flags(f"processor : 0\nflags : {flags}\n"),
                    backend=backend)


@pytest.mark.parametrize("hardware, expected", [
    (cpu(AMD_AVX2), "float32"),
    (cpu(SKYLAKE), "float32"),
    (cpu(COOPER_LAKE), "bfloat16"),
    (cpu(XEON_AMX), "bfloat16"),
    (cpu(XEON_AMX, backend="jax"), "float32"),
    (cpu(""), "float32"),  # flags unreadable (not Linux): never guess a lower precision
    (Hardware("gpu", "H100", compute_capability=(9, 0)), "bfloat16"),
    (Hardware("gpu", "A100", compute_capability=(8, 0)), "bfloat16"),
    (Hardware("gpu", "T4", compute_capability=(7, 5)), "float16"),
    (Hardware("gpu", "V100", compute_capability=(7, 0)), "float16"),
    (Hardware("gpu", "P100", compute_capability=(6, 0)), "float32"),
])
def test_precision_follows_the_hardware(hardware, expected):
    choice = choose_precision(hardware)
    assert choice.precision == expected
    assert choice.reason  # every decision says why


@pytest.mark.parametrize("gmacs, expected", [(None, "bfloat16"), (4.1, "bfloat16"), (0.0004, "float32")])
def test_small_models_stay_float32(gmacs, expected):
    assert choose_precision(cpu(XEON_AMX), gmacs=gmacs).precision == expected
    assert choose_precision(cpu(AMD_AVX2), gmacs=gmacs).precision == "float32"


def test_training_rule_scales_the_published_cost_to_the_input():
    assert training_precision("resnet50", hardware=cpu(XEON_AMX)).precision == "bfloat16"  # 4.1 GMACs
    assert training_precision("resnet50", (32, 32, 3), hardware=cpu(XEON_AMX)).precision == "bfloat16"  # 0.08
    assert training_precision("resnet18", (8, 8, 3), hardware=cpu(XEON_AMX)).precision == "float32"  # 0.002
    assert training_precision("lenet5", hardware=cpu(XEON_AMX)).precision == "float32"
    assert training_precision("resnet50", hardware=cpu(AMD_AVX2)).precision == "float32"


def test_this_machine_is_read_from_proc_cpuinfo():
    hardware = detect()
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        flags = parse_cpu_flags(handle.read())
    if hardware.device == "cpu":
        assert hardware.cpu_flags == flags and "avx2" in flags  # every machine of the project has AVX2
        fast = BACKEND != "jax" and bool({"amx_bf16", "avx512_bf16"} & flags)
        assert resolve("auto").precision == ("bfloat16" if fast else "float32")


def test_bad_precision_names_the_choices():
    with pytest.raises(ValueError, match="precision must be one of 'auto', 'float32'.*got 'fp8'"):
        optimize(kerascnn.lenet5(), precision="fp8")


@pytest.fixture(scope="module")
def resnet():
    model = kerascnn.build("resnet18", input_shape=(32, 32, 3), num_classes=10, compile=False)
    randomize_batchnorm(model, seed=3)
    return model


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_optimize_folds_and_casts_and_keeps_float32_outputs(resnet, precision):
    images = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    fast = optimize(resnet, precision=precision)
    info = fast.deploy_info
    assert info.precision == precision and info.policy == {"float32": "float32", "bfloat16": "mixed_bfloat16"}[precision]
    assert len(info.folded) == sum("BatchNormalization" in type(layer).__name__ for layer in resnet.layers) > 0
    assert not any("BatchNormalization" in type(layer).__name__ for layer in fast.layers)
    policies = {layer.name: layer.dtype_policy.name for layer in fast.layers[1:]}
    assert policies[fast.layers[-1].name] == "float32"
    assert set(policies.values()) == ({"float32"} if precision == "float32" else {"float32", "mixed_bfloat16"})
    expected, got = resnet.predict(images, verbose=0), fast.predict(images, verbose=0)
    assert got.dtype == np.float32
    # fp32: folding is exact up to rounding; bf16: 8-bit mantissas through 18 layers
    np.testing.assert_allclose(got, expected, atol=1e-5 if precision == "float32" else 0.05)
    assert resnet.get_layer(info.folded[0].split(" -> ")[0])  # the original still has its BatchNorm


def test_optimize_without_batchnorm_says_so():
    fast = optimize(kerascnn.lenet5(), precision="float32")
    assert fast.deploy_info.folded == [] and "no BatchNormalization" in fast.deploy_info.fold_note
    assert "no BatchNorm folded" in fast.deploy_info.describe()


@pytest.fixture(scope="module")
def digits_model():
    """LeNet-5 trained for 8 epochs on the embedded digits (about 97% test accuracy), and the test split."""
    data = load_data("digits", (32, 32, 1), validation_split=0.0)
    keras.utils.set_random_seed(0)
    model = kerascnn.build("lenet5", num_classes=10)
    train_x = prepare_images(data.train.x, (32, 32, 1), data.scale).numpy()
    model.fit(train_x, data.train.y, epochs=8, batch_size=32, verbose=0)
    test_x = prepare_images(data.test.x, (32, 32, 1), data.scale).numpy()
    return model, test_x, data.test.y


@pytest.mark.slow  # trains LeNet-5 for 8 epochs first; test_optimize_folds_and_casts... checks the casts fast
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_optimized_model_agrees_with_float32_on_the_digits(digits_model, precision):
    model, images, labels = digits_model
    assert len(labels) == 450
    reference = model.predict(images, verbose=0)
    assert np.mean(reference.argmax(1) == labels) > 0.9  # a trained model, or agreement proves little
    optimized = optimize(model, precision=precision).predict(images, verbose=0)
    agreement = np.mean(optimized.argmax(1) == reference.argmax(1))
    max_difference = float(np.abs(optimized - reference).max())
    print(f"{precision}: top-1 agreement {agreement:.4f}, max probability difference {max_difference:.4f}, "
          f"accuracy fp32 {np.mean(reference.argmax(1) == labels):.4f}, "
          f"optimized {np.mean(optimized.argmax(1) == labels):.4f}")
    assert agreement >= 0.99
    assert max_difference < 0.02
