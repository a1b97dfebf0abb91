#!/usr/bin/env python3
"""Oracle for lib/text/punkt: NLTK's sent_tokenize(text) (English) on RULER-like haystacks and on
hand-made hard cases, as sentence spans (UTF-8 byte offsets) in tests/fixtures/ruler/punkt.json.

  ~/.venv-oracle/bin/python scripts/oracle/punkt.py [PARAMS_DIR [ESSAYS_DIR [OUT]]]

PARAMS_DIR: NLTK's punkt_tab/english files (default datasets/ruler/punkt_tab/english, which
`make ruler-data` fills); they are copied into a private nltk_data tree that NLTK is pointed at.
ESSAYS_DIR: the Paul Graham essays (default ../shared/datasets/paul-graham-essays). Haystacks are
made as RULER's niah.py makes them: the essays in file-name order, concatenated, whitespace runs
made one space (re.sub(r'\\s+', ' ')), split at spaces, the first N words joined with spaces,
stripped. The texts are third-party, so only their sha256 is stored and the test rebuilds them.
Hand-made cases store their text. Random cases are strings of 1 to max_pieces pieces drawn with
Python's random from the fixture's own lists of pieces (words, abbreviations, numbers,
punctuation, whitespace; single characters), which the test draws again with lib/core/pyrandom. A sentence list is stored
as [gap, length] pairs of bytes: sentence i is text[start_i:start_i + length_i] with start_i =
end_{i-1} + gap_i (end_{-1} = 0). Needs nltk (3.10, with its regex dependency).
"""
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile

import nltk
from nltk.tokenize import sent_tokenize

HAYSTACK_WORDS = [50, 700, 6000, 40000, 10**9]  # the last: every word of the essays

HARD = [
    "", "   ", "Hello.", "Hello world", "Hello world.  ",
    "Mr. Smith went to Washington. He arrived at 5 p.m. on Jan. 3. Dr. J. Bach said so.",
    "The U.S. economy grew. The U.S.A. is big. I met J. S. Bach. It was e.g. fine, i.e. good.",
    "Wait... What? Really?! Yes!!! I promise. Very bad acting!!! I promise.",
    "He said \"Hi.\" Then he left. (Sent1.) Sent2. [Note.] More. {Curly.} Done.",
    "She wrote \u201cHello.\u201d Then \u2018bye.\u2019 And \u00abciao.\u00bb End.",
    "It costs 5. Then 10. In 1999. The end. No. 5 is good. 3.14 is pi. Call 555-1234. OK.",
    "See sec. 4. Fig. 2 shows it. Vol. 3, no. 2. Inc. However, it works. Corp. The firm.",
    "First line.\nSecond line.\n\nNew paragraph. Still here.\r\nWindows line. Tab\there.\tEnd.",
    "An ellipsis . . . in text. Another. . . here. Dashes-- and \"quotes.\"--like so. End.",
    "ex-Gov. Smith won. The Gov. said no. Sen. Jones agreed. Rep. Brown too. Col. Mustard.",
    "Numbers: 1. First. 2. Second. 10. Tenth. -5. Negative. .5. Half. 1,000. Thousand.",
    "\u00c9bola spread. \u00c9l dijo. \u0391\u0398\u0397\u039d\u0391\u03a3. \u039f \u03ba\u03cc\u03c3\u03bc\u03bf\u03c2. "
    "\u0130stanbul is big. \u00dcber alles. \u0394. \u03b4. Z\u00fcrich.",
    "Spaces\u00a0here. And\u2003there. And\u001cthere. Line\u2028sep. Odd\x85next. End.",
    "What?\" she asked. \"No!\" he said. 'Yes.' OK.) Fine.] Done.} Over.",
    "a.m. The meeting. p.m. Tomorrow. etc., and so on. etc. The rest.",
    "Trailing quote.\"", "Only punctuation ... !!! ??? .", "...", ". . .", "!", "?!?",
    "A. B. C. D. E. F. G. He is here. I. J. K. L.", "Prof. Dr. Mueller spoke. St. Louis is far.",
    "The vote was 12-3. The bill passed. It is Jan. 5, 1999. Feb. 6 was fine. Aug. The month.",
    "Is it U.N.? Yes. U.K.! Sure. Ph.D. Students came. M.B.A. Holders too.",
    "He left.\u2019 She stayed. \u201cWhy?\u201d she asked.\u201d Nobody knew.",
]

# pieces of the random cases: words, abbreviations, initials, numbers, punctuation, whitespace
PIECES = [
    "the", "The", "word", "Word", "He", "she", "It", "However", "But", "and", "Smith", "Bach",
    "Mr.", "Dr.", "etc.", "e.g.", "U.S.", "Inc.", "Jan.", "St.", "ex-Gov.", "vs.", "No.",
    "J.", "A.", "s.", "5.", "1999.", "3.14", "-5.", "1,000.", "12-3.", "10",
    ".", "..", "...", ". . .", "?", "!", "?!", ",", ";", ":", "--", "-", "\"", "'", "(", ")",
    "[", "]", "{", "}", "\u201c", "\u201d", "\u2019", "\u00ab", "\u00bb", "*", "@", "&",
    " ", " ", " ", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u2003",
    "\u00c9l", "\u00fcber", "\u03a3", "\u0130",
    "\u00b2", "x\u0301", "\u0663.", "_a.", "\u001c", "\u2028", "\u0085", "\u03c2.", "A\u03a3.",
    "\u01c5.", "\u2160.", "ok.)", "end.\"", "why?)", "(a.", "mid.dle", "a..b", "---", "1.", "Jr.",
    "MR.", "Smith.", "smith.", "Abreast", "abreast", "\u2018",
]
# single characters, for the corners of Punkt's regexes (". . ." runs, closing punctuation)
CHARS = list(". . . ..?!\"')(][}{-,;:\n\n \t AaBbZz19_\u201d\u2019\u00a0\u03a3") + [
    "Mr.", "J.", "e.g.", "5.", "Jan.", "The", "the", "However"]


def spans(text):
    """sent_tokenize(text) as byte spans, checked to be substrings in order"""
    out, pos = [], 0
    sents = sent_tokenize(text)
    tok = nltk.tokenize._get_punkt_tokenizer("english")
    cps = list(tok.span_tokenize(text))
    assert [text[a:b] for a, b in cps] == sents, "span_tokenize and sent_tokenize disagree"
    for a, b in cps:
        ba = len(text[:a].encode("utf-8"))
        bb = ba + len(text[a:b].encode("utf-8"))
        out.append([ba - pos, bb - ba])
        pos = bb
    return out


def haystack_words(essays_dir):
    essay = ""
    for name in sorted(os.listdir(essays_dir)):
        if name.endswith(".txt"):
            with open(os.path.join(essays_dir, name), encoding="utf-8") as f:
                essay += f.read()
    return re.sub(r"\s+", " ", essay).split(" ")


def random_cases(seed, pieces, max_pieces, n_cases):
    r = random.Random(seed)
    cases = []
    for _ in range(n_cases):
        k = r.randint(1, max_pieces)
        text = "".join(pieces[r.choice(range(len(pieces)))] for _ in range(k))
        cases.append(spans(text))
    return {"seed": seed, "pieces": pieces, "max_pieces": max_pieces, "cases": cases}


def main():
    params = sys.argv[1] if len(sys.argv) > 1 else "datasets/ruler/punkt_tab/english"
    essays = sys.argv[2] if len(sys.argv) > 2 else "../shared/datasets/paul-graham-essays"
    out = sys.argv[3] if len(sys.argv) > 3 else "tests/fixtures/ruler/punkt.json"
    tmp = tempfile.mkdtemp()
    try:
        shutil.copytree(params, os.path.join(tmp, "tokenizers", "punkt_tab", "english"))
        nltk.data.path.insert(0, tmp)
        words = haystack_words(essays)
        hay = []
        for n in HAYSTACK_WORDS:
            text = " ".join(words[:n]).strip()
            hay.append({"words": min(n, len(words)),
                        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                        "spans": spans(text)})
        hard = [{"text": t, "spans": spans(t)} for t in HARD]
        doc = {
            "how": f"scripts/oracle/punkt.py: nltk {nltk.__version__} sent_tokenize (english, "
                   f"punkt_tab from {params})",
            "haystacks": hay,
            "hard": hard,
            "random": [random_cases(19, PIECES, 40, 400), random_cases(23, CHARS, 60, 300)],
        }
    finally:
        shutil.rmtree(tmp)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"), ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
