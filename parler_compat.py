"""parler-tts 0.2.3 on transformers 5: six adaptations at its edges, each answering one change in transformers.

parler-tts 0.2.3 is its last release and pins transformers 4.46.1, which cannot be installed beside gradio 6.18 and
later (huggingface_hub < 1.0). It is installed without that pin (setup.sh); `adapt()` makes it run on the transformers
named in `WRITTEN_FOR`, and `tests/test_parler_checkpoint.py` checks that it says, sample for sample, what it said on
4.46.1. Upstream: none (parler-tts is inactive; no release or fork supports transformers 5).
"""

import copy
import functools
import importlib.metadata

import torch

WRITTEN_FOR = {"parler-tts": "0.2.3", "transformers": "5.23.0"}


def version_mismatch() -> str | None:
    """What to install when parler-tts or transformers is not the version adapted here; None when both are."""
    installed = {name: importlib.metadata.version(name) for name in WRITTEN_FOR}
    wrong = [f"{name} {version}" for name, version in installed.items() if version != WRITTEN_FOR[name]]
    if not wrong:
        return None
    wanted = " ".join(f"{name}=={version}" for name, version in WRITTEN_FOR.items())
    return (
        f"parler_compat.py adapts parler-tts to {' and '.join(f'{n} {v}' for n, v in WRITTEN_FOR.items())}, but "
        f"{' and '.join(wrong)} is installed. Run ./setup.sh (or pip install --no-deps {wanted}), or update "
        "parler_compat.py for the new versions."
    )


@functools.cache
def adapt() -> None:
    """Adapt parler-tts to transformers 5, once; call it before importing parler_tts."""
    from transformers import GenerationMixin, PreTrainedModel, pytorch_utils
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    # 1. transformers 5 removed `pytorch_utils.isin_mps_friendly` (torch.isin works on every device now), which
    #    parler_tts.logits_processors imports.
    pytorch_utils.isin_mps_friendly = torch.isin

    from parler_tts import ParlerTTSDecoderConfig, ParlerTTSForCausalLM, ParlerTTSForConditionalGeneration
    from parler_tts.configuration_parler_tts import ParlerTTSConfig

    # 2. configs no longer inherit these attributes from `PretrainedConfig` (transformers PR #41541); parler-tts
    #    reads them with their old defaults.
    for config in (ParlerTTSDecoderConfig, ParlerTTSConfig):
        for name, default in dict(
            cross_attention_hidden_size=None, is_decoder=False, add_cross_attention=False, tie_encoder_decoder=False
        ).items():
            if not hasattr(config, name):
                setattr(config, name, default)

    # 3. `from_pretrained` calls `tie_weights(missing_keys=..., recompute_mapping=...)` (PR #42270), which is also what
    #    now ties the T5 encoder's embeddings to its shared ones; parler-tts's override takes no arguments.
    tie_weights = ParlerTTSForConditionalGeneration.tie_weights

    def tie_all_weights(self, *args, **kwargs):
        PreTrainedModel.tie_weights(self, *args, **kwargs)
        tie_weights(self)

    ParlerTTSForConditionalGeneration.tie_weights = tie_all_weights

    # 4. models no longer get `generate` and `generation_config` from `PreTrainedModel`: a model must inherit
    #    `GenerationMixin` itself.
    for model in (ParlerTTSForCausalLM, ParlerTTSForConditionalGeneration):
        if not issubclass(model, GenerationMixin):
            model.__bases__ = (*model.__bases__, GenerationMixin)

    # 5. `GenerationConfig`'s fields default to None and `GenerationMixin.generate` fills in the global defaults
    #    (PR #42702); parler-tts's own `generate` never does.
    for model in (ParlerTTSForCausalLM, ParlerTTSForConditionalGeneration):
        model.generate = with_default_generation_params(model.generate)

    # 6. `DynamicCache` keeps its tensors per layer (`layers[i].keys`), without `key_cache`/`value_cache`, and
    #    `from_legacy_cache` is gone; parler-tts reads the former and calls the latter (with None, or tuples).
    DynamicCache.key_cache = property(lambda cache: [layer.keys for layer in cache.layers])
    DynamicCache.value_cache = property(lambda cache: [layer.values for layer in cache.layers])
    DynamicCache.from_legacy_cache = classmethod(lambda cls, past=None: cls(past))  # the constructors take tuples
    EncoderDecoderCache.from_legacy_cache = classmethod(
        lambda cls, past=None: cls(past) if past else cls(DynamicCache(), DynamicCache())
    )


def with_default_generation_params(generate):
    """`generate` with the generation config's unset fields filled in from transformers' global defaults."""

    @functools.wraps(generate)
    def generate_with_defaults(self, *args, generation_config=None, **kwargs):
        config = copy.deepcopy(generation_config if generation_config is not None else self.generation_config)
        config.update(**config._get_default_generation_params(), defaults_only=True)
        return generate(self, *args, generation_config=config, **kwargs)

    return generate_with_defaults
