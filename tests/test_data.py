"""The data and the settings: names.txt is the data set, word lists read, Config's rules. Every bad input is
refused with its type and the fact that matters (the line and character, the field, the file)."""

import dataclasses
import math

import pytest
import torch
from conftest import WORDS

from helpers import Config, DataError, build_dataset, itos, load_splits, load_words, make_generator, stoi
from helpers.config import ROOT, RULES, home
from helpers.names import NAMES_SHA256, sha256_file


def test_the_repository_holds_the_data_set_byte_for_byte():
    """names.txt is makemore's file, committed as it is: no set-up step fetches it, no checkout converts its lines."""
    assert sha256_file(ROOT / "names.txt") == NAMES_SHA256
    assert "names.txt -text" in (ROOT / ".gitattributes").read_text().splitlines()


def test_the_real_data_set(names):
    words = load_words()
    data = load_splits(Config())
    assert len(words) == 32_033 and sum(map(len, data.words)) == 32_033
    assert [len(X) for X in (data.Xtr, data.Xdev, data.Xte)] == [182_625, 22_655, 22_866]  # the lecture's sizes
    assert len(itos) == 27 and stoi["."] == 0 and "".join(itos[i] for i in range(1, 27)) == "abcdefghijklmnopqrstuvwxyz"
    X, Y = build_dataset(["emma"], 3)
    assert ["".join(itos[i] for i in x) + ">" + itos[y] for x, y in zip(X.tolist(), Y.tolist(), strict=True)] == [
        "...>e", "..e>m", ".em>m", "emm>a", "mma>."
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text, fact",
    [
        ("emma\nzoé\n", "line 2, character 3"),
        ("emma\n  anne-marie\n", "line 2, character 7"),
        ("emma\nst.john\n", "FULL STOP"),
        ("ann\tmarie\n", r"U\+0009"),
        (b"emma\nzo\xe9\n", "line 2: byte 0xe9"),
        ("emma\n".encode("utf-16"), "line 1: byte 0xff is not UTF-8"),
        ("\n  \n", "holds no words"),
    ],
)
def test_a_bad_word_list_names_the_line_and_character(home, text, fact):
    (home / "w.txt").write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(DataError, match=fact):
        load_words("w.txt")


def test_harmless_differences_are_normalised(home):
    (home / "w.txt").write_bytes(b"\xef\xbb\xbfEmma\r\n\r\n  OLIVIA \rava")
    assert load_words("w.txt") == ["emma", "olivia", "ava"]


def test_paths_count_from_the_top_of_the_repository(home):
    with pytest.raises(DataError, match="git checkout names.txt"):
        load_words()
    with pytest.raises(DataError, match=r"\.\./my_names\.txt counts from the top of the repository"):
        load_splits(Config(names="../my_names.txt"))
    assert Config(names="/data/words.txt").names_path.as_posix() == "/data/words.txt"


def test_every_seed_config_takes_seeds_every_generator_of_the_lessons():
    """Lesson 06 draws with seed + 10 and seed + 11: the largest seed Config takes must work there too."""
    seed = Config(seed=2**63 - 1).seed
    assert [torch.Generator().manual_seed(seed + k).initial_seed() for k in (0, 10, 11)] == [seed, seed + 10, seed + 11]


def test_ninja_home_may_start_with_a_tilde(tmp_path, monkeypatch):
    """A quoted NINJA_HOME="~/ninja" reaches Python unexpanded: it means the learner's home, not a folder named ~."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NINJA_HOME", "~/ninja")
    assert home() == tmp_path / "ninja" and Config(names="words.txt").names_path == tmp_path / "ninja/words.txt"


def test_too_few_words_are_refused_before_training(home):
    (home / "seven.txt").write_text("\n".join(WORDS[:7]))
    with pytest.raises(DataError, match=r"batch_size=32.*the training split has \d+ and the dev split has \d+"):
        load_splits(Config(names="seven.txt"))
    with pytest.raises(DataError, match="list of words"):
        build_dataset("emma")
    with pytest.raises(DataError, match="'st.john'"):
        build_dataset(["emma", "st.john"])


@pytest.mark.parametrize(
    "field, value",
    [("batch_size", 1), ("batch_size", 32.0), ("batch_size", True), ("n_hidden", "200"), ("steps", -1)]
    + [("lr", math.nan), ("lr", -0.1), ("lr_final", math.inf), ("seed", -1), ("seed", 2**64 - 1), ("device", "gpu")]
    + [("names", "")],
)
def test_config_refuses_a_bad_field_by_name(field, value):
    with pytest.raises(ValueError, match=rf"Config\.{field}=.* is not allowed") as e:
        Config(**{field: value})
    assert RULES[field][1] in str(e.value)


def test_config_is_checked_when_changed_and_cannot_change_in_place(monkeypatch):
    with pytest.raises(ValueError, match="Config.batch_size=1"):
        dataclasses.replace(Config(), batch_size=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().lr = 1.0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="Config.device='cuda'"):
        Config(device="cuda")
    assert Config(lr=0.2).changes() == {"lr": 0.2} and make_generator(Config()).initial_seed() == Config().seed
