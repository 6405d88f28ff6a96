"""Analysis of any functional Keras model: MACs, receptive fields, output sizes, summaries, charts.

Examples:
    >>> import kerascnn
    >>> from kerascnn import analysis
    >>> model = kerascnn.lenet5()
    >>> analysis.macs(model).total
    416520
"""

from kerascnn.analysis.chart import complexity_chart, complexity_points
from kerascnn.analysis.macs import Cost, LayerCost, flops, macs, register_counter
from kerascnn.analysis.receptive import ReceptiveField, receptive_field
from kerascnn.analysis.sizes import OutputSize, conv_output_size, output_sizes
from kerascnn.analysis.table import ModelSummary, summary

__all__ = [
    "Cost",
    "LayerCost",
    "ModelSummary",
    "OutputSize",
    "ReceptiveField",
    "complexity_chart",
    "complexity_points",
    "conv_output_size",
    "flops",
    "macs",
    "output_sizes",
    "receptive_field",
    "register_counter",
    "summary",
]
