"""The four classic transfer-learning situations as named strategies.

How much labelled data there is and how close its images are to ImageNet decide how much of
a pretrained backbone to retrain and how fast (Yosinski et al. 2014, "How transferable are
features in deep neural networks?"; the CS231n notes on transfer learning). Each
:class:`Scenario` is a freeze plan and learning rates that :func:`kerascnn.transfer.fine_tune`
takes with ``scenario="little_data_similar_domain"`` (explicit arguments still win).

================================  ====================  ==========  ==========  =========  ==========
scenario                          fine-tune phase       head lr     fine lr     lr_mult    BatchNorm
================================  ====================  ==========  ==========  =========  ==========
little_data_similar_domain        none (head only)      1e-3        -           -          frozen
little_data_different_domain      top 30% of layers     1e-3        1e-4        0.5        frozen
much_data_similar_domain          all layers            1e-3        1e-5        1.0        frozen
much_data_different_domain        all layers            1e-3        1e-4        1.0        trained
================================  ====================  ==========  ==========  =========  ==========

Examples:
    >>> scenario("little_data_similar_domain").freeze     # the backbone stays frozen: no fine-tuning
    'all'
    >>> scenario("much_data_similar_domain").freeze       # nothing stays frozen
    'none'
    >>> choose_scenario(images_per_class=50, similar_domain=False).name
    'little_data_different_domain'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kerascnn.errors import check_int, unknown_name_error


@dataclass(frozen=True)
class Scenario:
    """A transfer-learning strategy: what to retrain after the head, and how fast."""

    name: str
    data: str                 # "little" or "much"
    domain: str               # "similar" or "different" (to ImageNet)
    freeze: str               # layers kept frozen while fine-tuning (a plan); "all": no fine-tuning phase
    head_epochs: int
    epochs: int               # epochs of the fine-tuning phase
    lr: float                 # head phase
    fine_tune_lr: float | None
    lr_mult: float            # backbone rate / head rate during fine-tuning
    batchnorm: bool           # train BatchNorm layers during fine-tuning
    reasoning: str

    def fine_tune_kwargs(self) -> dict:
        """The keyword arguments of :func:`kerascnn.transfer.fine_tune` this scenario stands for."""
        return {"head_epochs": self.head_epochs, "epochs": self.epochs if self.freeze != "all" else 0,
                "freeze": self.freeze, "lr": self.lr,
                "fine_tune_lr": self.fine_tune_lr, "lr_mult": self.lr_mult, "batchnorm": self.batchnorm}

    def as_dict(self) -> dict:
        return asdict(self)


SCENARIOS = {s.name: s for s in (
    Scenario("little_data_similar_domain", "little", "similar", "all", 20, 0, 1e-3, None, 1.0, False,
             "The pretrained features already describe such images; with few examples, retraining the "
             "backbone overfits, so only the new head is trained (feature extraction)."),
    Scenario("little_data_different_domain", "little", "different", "fraction:0.7", 10, 20, 1e-3, 1e-4, 0.5, False,
             "Early layers (edges, textures) transfer to any images, the top ones are ImageNet-specific; "
             "too little data to retrain everything, so the head first, then the top 30% of the backbone "
             "slowly, the backbone at half the head's rate."),
    Scenario("much_data_similar_domain", "much", "similar", "none", 5, 20, 1e-3, 1e-5, 1.0, False,
             "Enough data to adapt every layer without overfitting, and little to change: a short head phase "
             "(so random head gradients do not wreck the backbone), then everything at a rate 100x lower."),
    Scenario("much_data_different_domain", "much", "different", "none", 3, 30, 1e-3, 1e-4, 1.0, True,
             "The pretrained weights are a good initialisation, not a solution: retrain everything at a "
             "moderate rate, BatchNorm included, since its statistics come from ImageNet and there is enough "
             "data to re-estimate them."),
)}

ALIASES = {
    "small_similar": "little_data_similar_domain", "small_different": "little_data_different_domain",
    "large_similar": "much_data_similar_domain", "large_different": "much_data_different_domain",
    "feature_extraction": "little_data_similar_domain",
}


def scenario(name) -> Scenario:
    """The :class:`Scenario` of a name (or an alias such as ``"small_similar"``); passes Scenarios through."""
    if isinstance(name, Scenario):
        return name
    key = ALIASES.get(name, name) if isinstance(name, str) else name
    if key not in SCENARIOS:
        raise unknown_name_error("scenario", name, list(SCENARIOS) + list(ALIASES))
    return SCENARIOS[key]


def choose_scenario(images_per_class: int, similar_domain: bool, threshold: int = 1000) -> Scenario:
    """The scenario for a data set: "much" data from ``threshold`` images per class on.

    The threshold is a rule of thumb (a few hundred to a few thousand images per class is
    where fine-tuning everything starts to pay); adjust it to your problem.
    """
    count = check_int("images_per_class", images_per_class, minimum=1)
    if not isinstance(similar_domain, bool):
        raise TypeError(f"similar_domain must be True or False, got {similar_domain!r}.")
    data = "much" if count >= check_int("threshold", threshold, minimum=1) else "little"
    return SCENARIOS[f"{data}_data_{'similar' if similar_domain else 'different'}_domain"]
