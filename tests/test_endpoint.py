"""How long a pause ends a hands-free turn (`endpoint.TurnEnd`), from the words heard so far and Smart Turn's
probability that the turn sounds complete; and Smart Turn itself, found in the pipecat-ai wheel without importing it."""

import subprocess
import sys

import numpy as np
import pytest
from test_turns import resampled, said

import app
from endpoint import HEARD_SILENCE_S, RATE, load_smart_turn, unfinished
from settings import Settings

ENDING = app.turn_end(Settings())
# Smart Turn v3.2's probabilities for phrases spoken by Piper (joe, noise off) followed by 0.2 s of silence, and the
# words Whisper tiny.en heard. Piper reads an unfinished phrase with a falling tone: Smart Turn hears most of them as
# complete, so the words decide.
FINISHED = [
    ("Will it rain tomorrow?", 0.91),
    ("Is today my lucky day?", 0.98),
    ("Will I pass my exam?", 0.95),
    ("Shall I go to the party tonight?", 0.83),
    ("Am I going to win the game?", 0.58),
    ("Should I take the new job?", 0.90),
]
UNFINISHED = [
    ("Should I", 0.95),
    ("Will my sister", 0.99),
    ("Is it a good idea to", 0.95),
    ("Am I going to", 0.16),
    ("Can you tell me if", 0.96),
    ("Should I get?", 0.57),
    ("Will it?", 0.94),
    ("Is it a good idea too?", 0.97),  # Whisper's "to" before a pause
    ("Well my sister.", 0.99),  # Whisper's "Will" before a pause
]


@pytest.mark.parametrize("words, complete", FINISHED)
def test_a_finished_question_ends_after_the_short_pause(words, complete):
    assert ENDING.pause_for(words, complete) == Settings.turn_pause_s


@pytest.mark.parametrize("words, complete", UNFINISHED)
def test_an_unfinished_phrase_waits_for_the_longest_pause(words, complete):
    assert ENDING.pause_for(words, complete) == Settings.turn_max_pause_s


def test_a_question_that_does_not_sound_finished_waits_a_little_longer():
    assert ENDING.pause_for("Should I get a dog?", 0.20) == Settings.turn_unsure_pause_s
    assert ENDING.pause_for("Will it rain tomorrow?", None) == Settings.turn_unsure_pause_s, "Smart Turn not installed"


def test_without_the_words_the_sound_decides():
    """The Inference API's ears hear a question once, when its turn has ended: no words while the person pauses."""
    assert ENDING.pause_for(None, 0.91) == Settings.turn_pause_s
    assert ENDING.pause_for(None, 0.16) == Settings.turn_unsure_pause_s


@pytest.mark.parametrize(
    "words", ["Should I do it?", "Will I see you?", "Yes or no?", "Is it going to rain?", "Will my sister call me?"]
)
def test_questions_ending_in_a_pronoun_or_a_short_word_read_finished(words):
    assert not unfinished(words)


@pytest.mark.parametrize(
    "words", ["He was more respectable than he was.", "Leave it as it is.", "I'm in New Jersey now though."]
)
def test_a_sentence_ending_in_a_verb_left_out_or_in_though_reads_finished(words):
    """Real recordings (tests/data/human) that waited 2 s when these read unfinished."""
    assert not unfinished(words)


def test_smart_turn_hears_a_finished_question_spoken_by_piper_as_complete(piper_voice):
    smart_turn = load_smart_turn()
    question = resampled(said(piper_voice, "Is today my lucky day?"), piper_voice.sampling_rate)
    silence = np.zeros(int(HEARD_SILENCE_S * RATE), np.float32)
    assert smart_turn.complete(np.concatenate([silence, question, silence])) >= Settings.turn_complete_p


def test_smart_turn_is_found_without_importing_pipecat():
    """Importing pipecat below Python 3.12 replaces asyncio.wait_for for the whole process."""
    code = "import sys, endpoint; assert endpoint.load_smart_turn() is not None; assert 'pipecat' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
