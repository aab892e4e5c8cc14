"""Search spaces: what can be chosen per block, architecture encodings and sampling.

No training code lives here; `supernet` builds networks from these spaces.
"""
from .base import (Arch, Choice, SearchSpace, arch_text, arch_texts, as_rng, build_space, choice_table, known_spaces,
                   parse_arch_arg, parse_arch_args, register_space, shorten)
from .conv_split import ConvSplitChoice, ConvSplitSpace
from .gtm import GTM_TYPES, GTMChoice, GTMSpace
from .morph import MorphChoice, MorphSpace

__all__ = [
    "Arch", "Choice", "SearchSpace", "as_rng", "build_space", "choice_table", "known_spaces",
    "register_space", "shorten", "arch_text", "arch_texts", "parse_arch_arg", "parse_arch_args", "GTM_TYPES", "GTMChoice", "GTMSpace", "MorphChoice", "MorphSpace",
    "ConvSplitChoice", "ConvSplitSpace",
]
