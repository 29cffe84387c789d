"""A syllable tokenizer for Vietnamese as people type it: with or without diacritics.

A third of the messages come without diacritics ("khong duoc xu ly") and many in teen-code
("ko dc"). Each token is folded (lower case, no tone or vowel marks, đ → d) and common
abbreviations are spelled out, so "không", "khong" and "ko" are one feature for the
featurizers that follow. Offsets stay those of the original text: folding keeps one character
per character of NFC text.

An English message (foreign-invested firms; the rule of components/language.py, a copy of the
platform's) keeps its words apart: their letters are written in another alphabet (fullwidth
Latin), so no word or character n-gram of English is one of Vietnamese. English examples then
teach the classifier English without moving what it knows of Vietnamese: trained side by side
in one feature space, they cost the Vietnamese held-out set a point of macro-F1.
"""

from __future__ import annotations

import unicodedata

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from components.folding import ABBREVIATIONS, fold
from components.language import ENGLISH, detect_language

# a-z → ａ-ｚ: the same words, in letters Vietnamese never uses.
ENGLISH_LETTERS = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz", "".join(chr(0xFF41 + i) for i in range(26))
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class VietnameseTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        text = message.get(attribute)
        if isinstance(text, str):
            message.set(attribute, unicodedata.normalize("NFC", text))
        tokens = super().tokenize(message, attribute)
        english = attribute == TEXT and isinstance(text, str) and detect_language(text) == ENGLISH
        folded = []
        for token in tokens:
            word = fold(token.text)
            word = word.translate(ENGLISH_LETTERS) if english else ABBREVIATIONS.get(word, word)
            folded.append(Token(word, token.start, token.end, token.data, lemma=word))
        return folded
