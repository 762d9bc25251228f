"""Parler-TTS as a voice: loading its weights (GPU when there is one), streaming it, and a tiny random-weight model."""

import os
import string
from collections.abc import Iterator

import httpx
import numpy as np
import torch
from huggingface_hub import constants, try_to_load_from_cache
from transformers import AutoTokenizer, PreTrainedTokenizerFast, set_seed

import parler_compat
from streamer import ParlerTTSStreamer


class ParlerVoice:
    """Parler-TTS, streamed: a short first chunk, then steady chunks."""

    def __init__(
        self,
        model,
        tokenizer,
        description: str,
        first_chunk_s: float = 0.25,
        chunk_s: float = 2.0,
        max_speech_s: float = 20.0,
        name: str = "parler",
        **generate_kwargs,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.description = description
        self.name = name
        self.sampling_rate = model.audio_encoder.config.sampling_rate
        frame_rate = model.audio_encoder.config.frame_rate
        self.first_play_steps = max(1, round(first_chunk_s * frame_rate))
        self.play_steps = max(1, round(chunk_s * frame_rate))
        self.max_new_tokens = round(max_speech_s * frame_rate) + model.decoder.num_codebooks
        self.generate_kwargs = generate_kwargs
        self.last_streamer: ParlerTTSStreamer | None = None

    def speak(self, text: str) -> Iterator[np.ndarray]:
        streamer = ParlerTTSStreamer(
            self.model, play_steps=self.play_steps, first_play_steps=self.first_play_steps, timeout=300
        )
        self.last_streamer = streamer
        set_seed(42)
        thread = streamer.start(
            self.model,
            **parler_inputs(self.tokenizer, self.description, text, self.model.device),
            do_sample=True,
            temperature=1.0,
            min_new_tokens=10,
            max_new_tokens=self.max_new_tokens,
            **self.generate_kwargs,
        )
        try:
            yield from streamer
        finally:
            streamer.cancel()
            thread.join(timeout=10)


def parler_inputs(tokenizer, description: str, text: str, device="cpu") -> dict:
    """The voice description and the text to speak, tokenized as Parler-TTS's `generate` takes them."""
    described = tokenizer(description, return_tensors="pt").to(device)
    prompt = tokenizer(text, return_tensors="pt").to(device)
    return dict(
        input_ids=described.input_ids,
        attention_mask=described.attention_mask,
        prompt_input_ids=prompt.input_ids,
        prompt_attention_mask=prompt.attention_mask,
    )


def gpu_present() -> bool:
    """Whether Parler-TTS has a GPU: CUDA, or a ZeroGPU Space (env SPACES_ZERO_GPU, as the spaces package reads it)."""
    return torch.cuda.is_available() or os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def parler_cached(model_id: str) -> bool:
    """Whether the Parler-TTS weights are in the local hub cache (checked without importing parler_tts)."""
    return isinstance(try_to_load_from_cache(model_id, "config.json"), str)


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers within `timeout_s`; never when HF_HUB_OFFLINE is set."""
    if constants.HF_HUB_OFFLINE:
        return False
    try:
        httpx.head(constants.ENDPOINT, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return True


def parler_tts():
    """The parler_tts package, adapted to the installed transformers (parler_compat.py)."""
    if problem := parler_compat.version_mismatch():
        raise RuntimeError(problem)
    parler_compat.adapt()
    import parler_tts

    return parler_tts


def load_parler(model_id: str, tokenizer_id: str, local_files_only: bool = False, **voice_kwargs) -> ParlerVoice:
    """Load Parler-TTS weights from the hub (or only its cache) onto the GPU when there is one."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = parler_tts().ParlerTTSForConditionalGeneration.from_pretrained(
        model_id, torch_dtype=dtype, local_files_only=local_files_only
    )
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_id, local_files_only=local_files_only)
    return ParlerVoice(model.to(device).eval(), tokenizer, **voice_kwargs)


def char_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer built in memory, for the tiny model (the real one needs a download)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(["<pad>", "</s>", "<unk>", *string.printable])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


# The end of speech and the special codec ids: random weights would sample them mid-answer, and how soon depends on how
# transformers draws its random numbers. Without them the tiny voice speaks until `max_speech_s`.
TINY_SUPPRESSED_IDS = list(range(1024, 1088))


def tiny_parler_model(seed: int = 0):
    """A Parler-TTS with random weights: a tiny T5 and decoder, and the full-size DAC codec.

    It speaks noise. It exists so the whole chain runs without downloads, with real model code.
    """
    from transformers import T5Config

    parler = parler_tts()

    text_encoder = T5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    decoder = parler.ParlerTTSDecoderConfig(
        vocab_size=1088,
        num_codebooks=9,
        hidden_size=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        pad_token_id=1024,
        bos_token_id=1025,
        eos_token_id=1024,
        max_position_embeddings=4096,
    )
    config = parler.ParlerTTSConfig(
        text_encoder=text_encoder.to_dict(),
        audio_encoder=parler.dac_wrapper.DACConfig().to_dict(),
        decoder=decoder.to_dict(),
        vocab_size=128,
        pad_token_id=1024,
        decoder_start_token_id=1025,
    )
    torch.manual_seed(seed)
    return parler.ParlerTTSForConditionalGeneration(config).eval()


def tiny_random_voice(**voice_kwargs) -> ParlerVoice:
    """The tiny random-weight Parler-TTS as a voice: every frame decodes, and it speaks for `max_speech_s`."""
    return ParlerVoice(
        tiny_parler_model(),
        char_tokenizer(),
        name="tiny-random",
        suppress_tokens=TINY_SUPPRESSED_IDS,
        **voice_kwargs,
    )
