"""The seeded weight generator of shufflenet-gen (Sources/ShuffleNetKit/Graph/SeededWeights.swift),
reproduced bit for bit in numpy so PyTorch can run the very weights the Swift tests use."""
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
DEFAULT_SEED = 2024


def fnv1a64(s: str) -> np.uint64:
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x00000100000001B3) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


def uniforms(name: str, count: int, seed: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        key = fnv1a64(name) ^ (np.uint64(seed) * GOLDEN)
        z = key + np.arange(1, count + 1, dtype=np.uint64) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(40)).astype(np.float64) / 16777216.0


def tensor(name: str, shape, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Same role rules as the Swift generator, keyed on the state_dict name."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = uniforms(name, count, seed)
    leaf = name.rsplit(".", 1)[-1]
    if len(shape) >= 2:  # conv or linear weight
        fan_in = int(np.prod(shape[1:]))
        v = (u * 2 - 1) * np.sqrt(6.0 / fan_in)
    elif leaf in ("running_var",) or (leaf == "weight"):
        v = u + 0.5  # BN gamma and running variance
    elif leaf in ("running_mean",) or (leaf == "bias" and not is_linear_or_conv_bias(name)):
        v = (u * 2 - 1) * 0.2  # BN beta and running mean
    else:
        v = (u * 2 - 1) * 0.1  # fc bias
    return v.astype(np.float32).reshape(shape)


def is_linear_or_conv_bias(name: str) -> bool:
    # The only non-BN biases in the reference networks are the classifiers'.
    return name in ("fc.bias", "classifier.0.bias")


def state_dict(model, seed: int = DEFAULT_SEED):
    """Seeded values for every float tensor of a PyTorch model's state_dict."""
    import torch
    out = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            out[name] = t
        else:
            out[name] = torch.from_numpy(tensor(name, tuple(t.shape), seed))
    return out


def input_image(size: int = 224, seed: int = DEFAULT_SEED) -> np.ndarray:
    u = uniforms("input", 3 * size * size, seed)
    return (u * 2 - 1).astype(np.float32).reshape(1, 3, size, size)
