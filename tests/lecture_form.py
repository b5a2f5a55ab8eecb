"""Notebooks in the form of the lecture's own (makemore_part4_backprop.ipynb), made from the lessons' code, for the
tests of tools/lecture.py. The cells are laid out as the lecture lays them out (no copy of its notebook is kept
here); the answers are the lessons' solution cells and the forward passes the lessons' own. `lecture()` is the solved
notebook, `lecture(**HANDED_OUT)` the one the lecture hands out (its Colab): the answers empty, the cmp lines of
exercises 1 and 2 commented out, exercise 4's loop still training with autograd and breaking at step 100."""

import inspect
import textwrap

import nbformat

from helpers.config import ROOT
from helpers.model import forward


def _cells(name: str) -> dict[str, str]:
    return {c.id: c.source for c in nbformat.read(ROOT / "notebooks" / name, as_version=4).cells}


L02, L03 = _cells("02_gradient_verification.ipynb"), _cells("03_manual_backprop_training.ipynb")
ANSWERS, CHECKS = ("cell-07", "cell-10", "cell-13", "cell-16"), ("cell-08", "cell-11", "cell-14", "cell-17")
YOURS = "# -----------------\n# YOUR CODE HERE :)\n"
GRADS = "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]"
NONES = "dC, dW1, db1, dW2, db2, dbngain, dbnbias = None, None, None, None, None, None, None"


def _cmp_lines(cell: str) -> str:  # lesson 02's check cells, as the lecture writes them: one cmp(...) a line
    return "\n".join(line.removeprefix("_ = ").split("  #")[0] for line in L02[cell].splitlines())


def _loop_forward() -> str:  # helpers.forward is the lecture's exercise-4 forward pass, word for word
    body = inspect.getsource(forward).split('"""')[2].splitlines()
    return textwrap.dedent("\n".join(s for s in body if s.strip() and not ("params[k]" in s or "cache" in s)))


def _loop_backward() -> str:  # lesson 03's solution, inline, its gradients collected in the lecture's list
    body = textwrap.dedent(L03["cell-03"].split("\n", 1)[1]).splitlines()
    mine = [s for s in body if not s.startswith(("C, W1", "return", "n =")) and "cache[" not in s]
    return "\n".join(mine) + "\n" + GRADS


def init(hidden: int) -> str:
    return f"""n_embd = 10  # the dimensionality of the character embedding vectors
n_hidden = {hidden}  # the number of neurons in the hidden layer of the MLP

g = torch.Generator().manual_seed(2147483647)  # for reproducibility
C = torch.randn((vocab_size, n_embd), generator=g)
W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5)
b1 = torch.randn(n_hidden, generator=g) * 0.1
W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
b2 = torch.randn(vocab_size, generator=g) * 0.1
bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0  # the lecture draws these two from the global generator
bnbias = torch.randn((1, n_hidden)) * 0.1

parameters = [C, W1, b1, W2, b2, bngain, bnbias]
print(sum(p.nelement() for p in parameters))  # number of parameters in total
for p in parameters:
    p.requires_grad = True"""


def loop(hidden: int = 200, handed_out: bool = False) -> str:
    """Exercise 4's cell: the initialisation and the training loop, solved or as handed out."""
    backward = f"{YOURS}{NONES}\n{GRADS}" if handed_out else _loop_backward()
    autograd = "for p in parameters:\n    p.grad = None\nloss.backward()\n\n" if handed_out else ""
    step = f"""ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
{_loop_forward()}

{autograd}# manual backprop! #swole_doge_meme
{backward}

lr = 0.1 if i < 100000 else 0.01  # step learning rate decay
for p, grad in zip(parameters, grads):
    p.data += -lr * {"p.grad  # TODO: -lr * grad, once your gradients are right" if handed_out else "grad"}

if i % 10000 == 0:
    print(f'{{i:7d}}/{{max_steps:7d}}: {{loss.item():.4f}}')
lossi.append(loss.log10().item())
{"" if handed_out else "# "}if i >= 100:  # TODO: delete early breaking when you're ready to train the full net
{"" if handed_out else "# "}    break"""
    head = "if True:  # with torch.no_grad(): once your backward works" if handed_out else "with torch.no_grad():"
    return f"""# Exercise 4: putting it all together!
# Train the MLP neural net with your own backward pass

{init(hidden)}

max_steps = 200000
batch_size = 32
n = batch_size
lossi = []

{head}
    for i in range(max_steps):
{textwrap.indent(step, " " * 8)}"""


SETUP = [
    "import random\n\nimport matplotlib.pyplot as plt\nimport torch\nimport torch.nn.functional as F\n\n"
    "%matplotlib inline",
    "# download the names.txt file from github\n"
    "!wget https://raw.githubusercontent.com/karpathy/makemore/master/names.txt",
    "words = open('names.txt', 'r').read().splitlines()\nprint(len(words))",
    "chars = sorted(list(set(''.join(words))))\nstoi = {s: i + 1 for i, s in enumerate(chars)}\nstoi['.'] = 0\n"
    "itos = {i: s for s, i in stoi.items()}\nvocab_size = len(itos)",
    """block_size = 3


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + '.':
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


random.seed(42)
random.shuffle(words)
n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
Xtr, Ytr = build_dataset(words[:n1])
Xdev, Ydev = build_dataset(words[n1:n2])
Xte, Yte = build_dataset(words[n2:])""",
    """def cmp(s, dt, t):
    ex = torch.all(dt == t.grad).item()
    app = torch.allclose(dt, t.grad)
    maxdiff = (dt - t.grad).abs().max().item()
    print(f'{s:15s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: {maxdiff}')""",
]
AFTER = """with torch.no_grad():  # calibrate the batch norm at the end of training, then the training loss
    hpreact = C[Xtr].view(Xtr.shape[0], -1) @ W1 + b1
    bnmean, bnvar = hpreact.mean(0, keepdim=True), hpreact.var(0, keepdim=True, unbiased=True)
    h = torch.tanh(bngain * (hpreact - bnmean) * (bnvar + 1e-5) ** -0.5 + bnbias)
    print('train', F.cross_entropy(h @ W2 + b2, Ytr).item())"""


def lecture(hidden=(64, 200), **edits) -> nbformat.NotebookNode:
    """The lecture's notebook, solved with the lessons' answers; `edits`: a cell's text changed (a function of it),
    by its key below."""
    fwd = L02["cell-05"]
    cells = {
        **{f"setup{i}": s for i, s in enumerate(SETUP)},
        "init": init(hidden[0]),
        "batch": "batch_size = 32\nn = batch_size\nix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)\n"
        "Xb, Yb = Xtr[ix], Ytr[ix]",
        "forward": fwd[: fwd.index("loss.backward()")] + "loss.backward()\nloss",
        "1": "# Exercise 1: backprop through the whole thing manually, one by one\n\n"
        + "\n".join(L02[a] for a in ANSWERS)
        + "\n\n"
        + "\n".join(map(_cmp_lines, CHECKS)),
        "2-forward": "# Exercise 2: backprop through cross_entropy but all in one go\n\n"
        "loss_fast = F.cross_entropy(logits, Yb)\nprint(loss_fast.item(), 'diff:', (loss_fast - loss).item())",
        "2": f"# backward pass\n\n{L02['cell-20']}\n\ncmp('logits', dlogits, logits)",
        "3-forward": "# Exercise 3: backprop through batchnorm in one go\n\n" + L02["cell-25"].split("print")[0],
        "3": f"# backward pass\n\n{L02['cell-26']}\n\ncmp('hprebn', dhprebn, hprebn)",
        "4": loop(hidden[1]),
        "4-check": "# useful for checking your gradients\n# for p,g in zip(parameters, grads):\n"
        "#   cmp(str(tuple(p.shape)), g, p)",
        "after": AFTER,
    }
    for key, edit in edits.items():
        cells[key] = edit(cells[key])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## makemore: becoming a backprop ninja")])
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells.values()]
    nb.nbformat_minor = 4  # as the lecture's file: nbformat 4.4, cells without ids
    for c in nb.cells:
        c.pop("id")
    return nb


def _blank_1(cell: str) -> str:
    head, checks = cell.split("\n\n")[0], cell.rsplit("\n\n", 1)[1]
    return f"{head}\n\n{YOURS}# -----------------\n\n" + "\n".join("# " + line for line in checks.splitlines())


HANDED_OUT = {
    "1": _blank_1,
    "2": lambda s: (
        f"# backward pass\n\n{YOURS}dlogits = None  # TODO. my solution is 3 lines\n# -----------------\n\n"
        "# cmp('logits', dlogits, logits)"
    ),
    "3": lambda s: (
        f"# backward pass\n\n{YOURS}dhprebn = None  # TODO. my solution is 1 (long) line\n"
        "# -----------------\n\ncmp('hprebn', dhprebn, hprebn)"
    ),
    "4": lambda s: loop(handed_out=True),
}
