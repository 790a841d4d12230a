"""
Seeded prose for export records: sentences from a Zipf-like word model, with some non-ASCII words and emoji.

Records take their text as slices of one pool of sentences per seed, cut at sentence and word boundaries:
slicing is far cheaper than composing text per record, and a pool much larger than deflate's 32 KiB window
compresses like fresh prose wherever it is cut (common words repeat, sentences do not).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random

#: Words in the pool (about 6 characters each with their separator).
POOL_WORDS = 320_000

_COMMON = (
    "the to and a of in for is on that we this it with be as at by from our will are can have you not "
    "or all but so if they an was do up about out new more next get need make sure also should just "
    "please when what which there their them one two three first last week today tomorrow monday friday "
    "team project task plan review update launch release design budget customer client meeting call "
    "deadline draft final version feedback notes doc spec roadmap sprint milestone goal status report "
    "data email list issue bug fix test build deploy migration audit campaign content copy page site app "
    "mobile web server api account invoice contract vendor legal finance hiring candidate interview "
    "onboarding training survey results metrics dashboard q1 q2 q3 q4 okr priority owner lead manager "
    "marketing sales support engineering product ops research analysis proposal approval sign off "
    "agenda slides deck brief timeline scope risk blocker dependency handoff follow check confirm send "
    "share add move schedule book prepare write edit finish start done waiting pending blocked ready "
    "asap eod eow thanks thank hi hey team's don't it's we're let's can't i'll you're that's "
    "again before after by end of month quarter year annual weekly daily internal external partner "
    "event conference offsite workshop demo prototype mockup wireframe feature request ticket"
).split()
#: Non-ASCII words, sprinkled among the common ones.
_UNICODE = (
    "café", "naïve", "résumé", "déjà", "Zürich", "São", "Paulo", "Straße", "Ærø", "façade", "jalapeño",
    "Kraków", "Łódź", "Ångström", "piñata", "coöperate", "über", "fiancée", "smörgåsbord", "crème", "brûlée",
    "東京", "会議", "資料", "프로젝트", "회의", "привет", "отчёт", "задача", "Θεσσαλονίκη", "مرحبا", "שלום",
    "नमस्ते", "ありがとう", "进度", "—", "…", "→", "✓", "€", "£", "¥", "°C", "½", "“quoted”", "«guillemets»",
    "🎉", "✅", "🚀", "👍", "🔥", "❤️", "🙏", "😅", "📎", "🗓️", "⚠️", "💡", "👀", "🐛", "☕", "♥",
)  # fmt: skip
_SYLLABLES = (
    "ka", "ro", "mi", "ten", "lo", "sa", "ver", "di", "pro", "na", "tel", "qui", "zan", "bo", "re", "ex",
    "lum", "tri", "gen", "cor", "vi", "da", "mon", "fle", "sta", "ri", "pan", "ol", "gra", "ul", "ne", "ti",
)  # fmt: skip
_TAIL_WORDS = 12_000
ID_LIKE = 1_150_000_000_000_000
_ZIPF_SHIFT = 2.7
_ZIPF_EXPONENT = 1.3
_ENDINGS = (".", ".", ".", ".", ".", "?", "!", ":")
_BREAKS = (" ", " ", " ", " ", " ", "\n", "\n\n", "\n- ")


class Prose:
    """
    A pool of seeded sentences and cheap ways to cut text from it.

    Every method takes the random numbers it needs as arguments, so that callers draw them from their own
    generator in a fixed order.

    :param seed: The seed of the word model and of the pool.
    """

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"prose-{seed}")
        words = _vocabulary(rng)
        weights = ((rank + _ZIPF_SHIFT) ** -_ZIPF_EXPONENT for rank in range(len(words)))
        cum_weights = list(itertools.accumulate(weights))
        drawn = rng.choices(words, cum_weights=cum_weights, k=POOL_WORDS)
        parts: list[str] = []
        self._starts: list[int] = []
        self._ends: list[int] = []
        position = 0
        index = 0
        rnd = rng.random
        while index < POOL_WORDS - 40:
            length = 3 + int(rnd() * rnd() * 26)
            sentence = drawn[index : index + length]
            index += length
            if rnd() < 0.03:
                link = f"https://app.asana.com/0/{ID_LIKE + int(rnd() * 1e12)}/list"
                sentence.insert(int(rnd() * length), link)
            if rnd() < 0.15:
                sentence[int(rnd() * (length - 1))] += ","
            text = " ".join(sentence)
            text = text[:1].upper() + text[1:] + _ENDINGS[int(rnd() * len(_ENDINGS))]
            self._starts.append(position)
            position += len(text)
            self._ends.append(position)
            separator = _BREAKS[int(rnd() * len(_BREAKS))]
            parts += (text, separator)
            position += len(separator)
        self.text = "".join(parts)
        self.sentences = len(self._starts)

    def passage(self, where: float, length: int) -> str:
        """
        Whole sentences from a point of the pool: at least ``length`` characters unless the pool ends.

        :param where: In ``[0, 1)``: where in the pool to start.
        """
        first = int(where * self.sentences)
        start = self._starts[first]
        last = bisect.bisect_left(self._ends, start + length, first, self.sentences - 1)
        return self.text[start : self._ends[last]]

    def phrase(self, where: float, words: int) -> str:
        """Cut the first ``words`` words of a sentence (at most all of it), without closing punctuation."""
        sentence = int(where * self.sentences)
        start = end = self._starts[sentence]
        stop = self._ends[sentence]
        text = self.text
        for _ in range(words):
            end = text.find(" ", end + 1, stop)
            if end < 0:
                end = stop
                break
        return text[start:end].rstrip(",.?!:")


def _vocabulary(rng: random.Random) -> list[str]:
    """List common words first (they get the high Zipf ranks), then invented ones, non-ASCII among them."""
    tail = []
    for _ in range(_TAIL_WORDS):
        tail.append("".join(rng.choice(_SYLLABLES) for _ in range(1 + int(rng.random() * 3))))
    words = list(_COMMON) + tail
    for word in _UNICODE:
        words.insert(40 + int(rng.random() * 4_000), word)
    return words


@functools.lru_cache(maxsize=4)
def prose(seed: int) -> Prose:
    """Return the :class:`Prose` of ``seed``, built once per process."""
    return Prose(seed)
