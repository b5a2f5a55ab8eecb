"""Vocabulary, split and dataset sizes of the real names.txt, and the examples of one word by hand."""

import torch

from helpers import Config, build_dataset, itos, load_splits, load_words, split_words, stoi


def test_vocabulary():
    assert len(itos) == 27 == Config().vocab_size
    assert itos[0] == "." and itos[1] == "a" and itos[26] == "z"
    assert all(stoi[ch] == i for i, ch in itos.items())


def test_split_and_dataset_sizes(names_path):
    words = load_words(names_path)
    assert len(words) == 32033
    tr, va, te = split_words(words, 42)
    assert (len(tr), len(va), len(te)) == (25626, 3203, 3204)
    assert sorted(tr + va + te) == sorted(words)
    d = load_splits(Config(names=str(names_path)))
    assert (d.Xtr.shape, d.Xdev.shape, d.Xte.shape) == ((182625, 3), (22655, 3), (22866, 3))
    assert d.Ytr.shape == (182625,) and d.Ydev.shape == (22655,) and d.Yte.shape == (22866,)


def test_split_is_seeded_and_leaves_input_alone():
    words = [f"w{i}" for i in range(20)]
    copy = list(words)
    assert split_words(words, 42) == split_words(words, 42)
    assert split_words(words, 42) != split_words(words, 1)
    assert words == copy


def test_build_dataset_by_hand():
    X, Y = build_dataset(["emma"], block_size=3)
    contexts = ["".join(itos[i] for i in row) for row in X.tolist()]
    assert contexts == ["...", "..e", ".em", "emm", "mma"]
    assert "".join(itos[i] for i in Y.tolist()) == "emma."
    assert X.dtype == Y.dtype == torch.long


def test_build_dataset_other_block_size():
    X, Y = build_dataset(["ab", "c"], block_size=1)
    assert X.view(-1).tolist() == [0, 1, 2, 0, 3]
    assert Y.tolist() == [1, 2, 0, 3, 0]
    X0, Y0 = build_dataset([], block_size=4)
    assert X0.shape == (0, 4) and Y0.shape == (0,)
