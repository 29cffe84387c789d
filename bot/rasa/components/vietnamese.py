"""A syllable tokenizer for Vietnamese as people type it: with or without diacritics.

A third of the messages come without diacritics ("khong duoc xu ly") and many in teen-code
("ko dc"). Each token is folded (lower case, no tone or vowel marks, đ → d) and common
abbreviations are spelled out, so "không", "khong" and "ko" are one feature for the
featurizers that follow. Offsets stay those of the original text: folding keeps one character
per character of NFC text.
"""

from __future__ import annotations

import unicodedata

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from components.folding import ABBREVIATIONS, fold


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class VietnameseTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        text = message.get(attribute)
        if isinstance(text, str):
            message.set(attribute, unicodedata.normalize("NFC", text))
        tokens = super().tokenize(message, attribute)
        folded = []
        for token in tokens:
            word = fold(token.text)
            word = ABBREVIATIONS.get(word, word)
            folded.append(Token(word, token.start, token.end, token.data, lemma=word))
        return folded
