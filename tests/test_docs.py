"""One source for messages: every message the docs quote is one the code gives, and this test checks that.

docs/troubleshooting.md quotes each message in the first column of a table headed `| Message |`, as a code span,
exactly as the code gives it, with `…` for the parts that vary (file names, numbers, values). Here each of those
errors is raised for real (`triggers`: in this test's own NINJA_HOME, offline); every quote must match a message
that some trigger gave, and every trigger must give a message that the docs quote. The README quotes no message (it
points to docs/troubleshooting.md); should it ever quote one in such a table, the same rule holds for it.
"""

import contextlib
import dataclasses
import io
import re
import signal
import warnings

import torch
from conftest import TINY, WORDS

import helpers as h
from helpers.reference import expect_close


def quoted(doc: str) -> list[str]:
    """The messages a doc quotes: the code spans in the first column of its tables headed `| Message |`."""
    tables = re.findall(r"^\| Message \|.*\n((?:\|.*\n)*)", (h.config.ROOT / doc).read_text(encoding="utf-8"), re.M)
    return [m[1] for table in tables for m in re.findall(r"^\| *(`+) ?(.+?) ?\1 *\|", table, re.M)]


def said(action) -> list[str]:
    """What `action` says: the exception it raises, the warnings it gives and the lines it prints."""
    out = io.StringIO()
    with warnings.catch_warnings(record=True, action="always") as caught, contextlib.redirect_stdout(out):
        try:
            action()
        except Exception as e:  # what it says is what this test is after
            print(e)
    return [str(w.message) for w in caught] + out.getvalue().splitlines()


def triggers(home, words, monkeypatch) -> list:
    """One action per documented message, in an order that makes what the next ones need (the saved runs)."""
    files = {"zoe": "emma\nzoé\n".encode(), "latin1": b"emma\nzo\xe9\n", "utf16": "emma\n".encode("utf-16")}
    files |= {"blank": b"\n \n", "seven": "\n".join(WORDS[:7]).encode(), "mine": words.read_bytes()}
    [(home / f"{name}.txt").write_bytes(data) for name, data in files.items()]

    def quiet(backward=h.manual_backward, **changes):
        return h.train(dataclasses.replace(TINY, **changes), backward=backward, progress=False, log_every=0)

    def slow(params, cache, calls=[]):  # noqa: B006 - 20 times the torch calls of one; interrupted once counted
        calls.append(1) if len(calls) < 1 else signal.raise_signal(signal.SIGINT)
        return [h.manual_backward(params, cache) for _ in range(20)][0]

    def run(n: int, make=lambda path: None):  # load run-00n, after `make` made (or broke) its file
        return make(home / f"artifacts/runs/run-00{n}.pt"), h.load_run(f"run-00{n}")

    return [
        h.load_words, lambda: h.load_words("nope.txt"), lambda: h.load_words("."), lambda: h.split_words("emma"),
        *(lambda f=f: h.load_words(f"{f}.txt") for f in ("zoe", "latin1", "utf16", "blank")),
        lambda: h.build_dataset(["emma", "st.john"]), lambda: h.load_splits(h.Config(names="seven.txt")),
        lambda: h.save_calibration(quiet()),
        *(lambda kw=kw: h.Config(**dict([kw])) for kw in dict(n_hidden=0, steps=-1, lr=0, names="").items()),
        *(lambda kw=kw: h.Config(**dict([kw])) for kw in dict(batch_size=1, vocab_size=1, seed=-1, device="?").items()),
        lambda: quiet(lr=1e30), lambda: quiet(lr=50.0, steps=1100), lambda: quiet(lambda p, c: {}),
        lambda: quiet(lambda p, c: dict(h.manual_backward(p, c), b1=p["b2"])), lambda: quiet(slow, steps=200_000),
        lambda: quiet(lambda p, c: [*h.manual_backward(p, c).values()][::-1]),
        h.load_run, lambda: h.save_run(vars(quiet())), lambda: (h.save_run(quiet()), run(9)),
        lambda: (h.save_run(quiet(names="mine.txt")), h.load_run(calibrated=True)),
        lambda: run(2, lambda path: (home / "mine.txt").write_text("\n".join(WORDS[1:]))),
        lambda: run(3, lambda path: path.write_text("not a run")), lambda: run(4, lambda path: torch.save([1], path)),
        *(lambda n=n: run(n, lambda path: torch.save(torch.load(path.with_stem("run-001")) | {"format": n}, path))
          for n in (5, 2)),
        lambda: (monkeypatch.setattr("helpers.config.os.fsync", lambda fd: open(home)), h.save_run(quiet())),
        lambda: h.logits_calibrated({}, None, torch.zeros(1, 3)), lambda: h.cmp("dx", torch.zeros(2), torch.zeros(3)),
        lambda: h.cmp("dx", torch.zeros(2), torch.zeros(2, requires_grad=True)),
        lambda: expect_close("the val loss", 2.2, 2.1119, 2e-3),
        *(lambda v=v: (monkeypatch.setenv("NINJA_HOME", v), h.config.home()) for v in (str(words), " ")),
    ]  # fmt: skip


def test_every_message_the_docs_quote_is_one_the_code_gives(home, words, monkeypatch):
    quotes = quoted("docs/troubleshooting.md") + quoted("README.md")
    docs = {q: re.compile(".*".join(map(re.escape, q.split("…"))), re.S) for q in quotes}  # `…`: any text
    heard = [said(action) for action in triggers(home, words, monkeypatch)]
    assert [q for q, p in docs.items() if not any(p.fullmatch(s) for x in heard for s in x)] == []  # quoted, not said
    assert [x for x in heard if not any(p.fullmatch(s) for p in docs.values() for s in x)] == []  # said, not quoted
