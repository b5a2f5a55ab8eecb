"""Every message the docs quote is one the code gives.

A doc quotes a message as a code span in the first column of a table headed `| Message |`, with `…` for the parts
that vary. Here the code gives those messages for real (offline, in this test's own NINJA_HOME), and every quote in
README.md and docs/ must match one of them. The docs need not quote every message, only those a learner is likely
to meet: a new quote needs its trigger here.
"""

import re
from dataclasses import replace

import torch
from conftest import TINY, WORDS, interrupt_at, quiet

import helpers as h
from helpers.reference import expect_close

DOCS = "\n".join(p.read_text("utf-8") for p in [h.config.ROOT / "README.md", *h.config.ROOT.glob("docs/*.md")])
TABLES = re.findall(r"^\| Message \|.*\n((?:\|.*\n)*)", DOCS, re.M)  # the tables headed `| Message |`
QUOTES = [m[1] for t in TABLES for m in re.findall(r"^\| *(`+) ?(.+?) ?\1 *\|", t, re.M)]  # their first column


def test_every_message_the_docs_quote_is_one_the_code_gives(home, words, capsys, recwarn):
    z, runs, heard = home / "z.txt", home / "artifacts/runs", []
    slow = interrupt_at(1, lambda p, c: [h.manual_backward(p, c) for _ in range(20)][0])
    for action in [
        h.load_words, lambda: h.load_words("nope.txt"), lambda: (z.write_text("emma\nzoé"), h.load_words(z)),
        lambda: (z.write_bytes(b"emma\nzo\xe9"), h.load_words(z)), lambda: quiet(backward=lambda p, c: {}),
        lambda: (z.write_text("\n".join(WORDS[:7])), h.load_splits(h.Config(names=str(z)))), lambda: h.Config(lr=0),
        lambda: quiet(replace(TINY, lr=1e30)), lambda: quiet(replace(TINY, lr=50.0, steps=1100)),
        lambda: quiet(backward=lambda p, c: [*h.manual_backward(p, c).values()][::-1]),
        lambda: quiet(backward=lambda p, c: dict(h.manual_backward(p, c), b1=p["b2"])),
        lambda: quiet(replace(TINY, steps=200_000), backward=slow),  # the note on a slow backward, then interrupted
        h.load_run, lambda: (h.save_run(quiet()), h.load_run(calibrated=True)), lambda: h.load_run("run-009"),
        lambda: (torch.save({"format": 1}, runs / "run-002.pt"), h.load_run()),
        lambda: ((runs / "run-003.pt").write_text("not a run"), h.load_run()),
        lambda: (words.write_text("\n".join(WORDS[1:])), h.load_run("run-001")), lambda: expect_close("x", 2, 1, 0.1),
        lambda: h.cmp("dx", torch.zeros(2), torch.zeros(2, requires_grad=True)),
        lambda: h.cmp("dx", torch.zeros(2), torch.zeros(3))]:  # fmt: skip
        try:
            action()
        except Exception as e:  # what it says is what this test is after
            heard.append(str(e))
    heard += capsys.readouterr().out.splitlines() + [str(w.message) for w in recwarn]
    unsaid = [q for q in QUOTES if not any(re.fullmatch(re.escape(q).replace("…", ".*"), s, re.S) for s in heard)]
    assert QUOTES and not unsaid, f"quoted in the docs, said by no code: {unsaid}"
