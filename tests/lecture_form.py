"""Notebooks in the form of the lecture's own (makemore_part4_backprop.ipynb), made from the lessons' code, for the
tests of tools/lecture.py. The cells are laid out as the lecture lays them out (no copy of its notebook is kept
here); the answers are the lessons' solution cells and the forward passes the lessons' own. `lecture()` is the solved
notebook, `lecture(**HANDED_OUT)` the one the lecture hands out (its Colab): the answers empty, the cmp lines of
exercises 1 and 2 commented out, exercise 4's loop still training with autograd and breaking after step 100."""

import inspect
import re
import textwrap

import nbformat

from helpers.config import ROOT
from helpers.model import forward

L02, L03 = ({c.id: c.source for c in nbformat.read(ROOT / "notebooks" / f, as_version=4).cells} for f in (
    "02_gradient_verification.ipynb", "03_manual_backprop_training.ipynb"))  # fmt: skip
YOURS = "# -----------------\n# YOUR CODE HERE :)\n"
GRADS = "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]"
NONES = "dC, dW1, db1, dW2, db2, dbngain, dbnbias = None, None, None, None, None, None, None"
# exercise 1: lesson 02's answers, then its checks as the lecture writes them, one cmp(...) a line
ANSWERS = "\n".join(L02[f"cell-{i:02d}"] for i in (7, 10, 13, 16))
CHECKS = "\n".join(line.removeprefix("_ = ") for i in (8, 11, 14, 17) for line in L02[f"cell-{i:02d}"].splitlines())
AUTOGRAD = "for p in parameters:\n    p.grad = None\nloss.backward()"
BREAK = "if i >= 100:  # TODO: delete early breaking when you're ready to train the full net\n    break"


def _loop_code(handed_out: bool) -> str:
    """A step of exercise 4's loop: helpers.model.forward (the lecture's, in training), lesson 03's backward inline,
    its gradients collected in the lecture's list (as handed out: autograd's, and a break after step 100)."""
    fwd = textwrap.dedent(inspect.getsource(forward).split('"""')[2])
    fwd = re.sub(
        r"(?m) if bn is None else .*|^ *#.*\n| *#.*", "", fwd[fwd.index("emb =") : fwd.index("cache =")]
    ).strip()
    body = textwrap.dedent(L03["cell-03"].split("\n", 1)[1]).splitlines()
    mine = "\n".join(s for s in body if not s.startswith(("C, W1", "return", "n =")) and "cache[" not in s)
    backward = f"{YOURS}{NONES}" if handed_out else mine
    update = "p.grad  # TODO: -lr * grad, once your gradients are right" if handed_out else "grad"
    step = f"""ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
{fwd.replace("C[X]", "C[Xb]")}
loss = F.cross_entropy(logits, Yb)
{AUTOGRAD * handed_out}
{backward}
{GRADS}
lr = 0.1 if i < 100000 else 0.01  # step learning rate decay
for p, grad in zip(parameters, grads):
    p.data += -lr * {update}
lossi.append(loss.log10().item())
{BREAK * handed_out}"""
    return textwrap.indent(step, " " * 8)


def init(hidden: int) -> str:
    return f"""n_embd, n_hidden = 10, {hidden}
g = torch.Generator().manual_seed(2147483647)  # for reproducibility
C = torch.randn((vocab_size, n_embd), generator=g)
W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5)
b1 = torch.randn(n_hidden, generator=g) * 0.1
W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
b2 = torch.randn(vocab_size, generator=g) * 0.1
bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0  # the lecture draws these two from the global generator
bnbias = torch.randn((1, n_hidden)) * 0.1
parameters = [C, W1, b1, W2, b2, bngain, bnbias]
for p in parameters:
    p.requires_grad = True"""


def loop(hidden: int = 200, handed_out: bool = False) -> str:
    """Exercise 4's cell: the initialisation and the training loop, solved or as handed out."""
    head = "if True:  # with torch.no_grad(): once your backward works" if handed_out else "with torch.no_grad():"
    return f"""# Exercise 4: putting it all together!
{init(hidden)}
max_steps, batch_size, lossi = 200000, 32, []
n = batch_size
{head}
    for i in range(max_steps):
{_loop_code(handed_out)}"""


SETUP = [
    "import random\nimport matplotlib.pyplot as plt\nimport torch\nimport torch.nn.functional as F\n%matplotlib inline",
    "# download the names.txt file from github\n!wget https://raw.githubusercontent.com/karpathy/makemore/master/names.txt",
    """words = open('names.txt', 'r').read().splitlines()
stoi = {s: i + 1 for i, s in enumerate(sorted(set(''.join(words))))} | {'.': 0}
vocab_size, block_size, X, Y = len(stoi), 3, [], []
random.seed(42)
random.shuffle(words)
for w in words[: int(0.8 * len(words))]:
    context = [0] * block_size
    for ch in w + '.':
        X.append(context)
        Y.append(stoi[ch])
        context = context[1:] + [stoi[ch]]
Xtr, Ytr = torch.tensor(X), torch.tensor(Y)""",
    "def cmp(s, dt, t):\n    ex = torch.all(dt == t.grad).item()\n    app = torch.allclose(dt, t.grad)\n"
    "    print(f'{s:15s} | exact: {str(ex):5s} | approximate: {str(app):5s}')",
]


def lecture(hidden=(64, 200), **edits) -> nbformat.NotebookNode:
    """The lecture's notebook, solved with the lessons' answers; `edits`: a cell's text changed (a function of it),
    by its key below. As the lecture's file: nbformat 4.4, cells without ids."""
    fwd = L02["cell-05"]
    cells = {
        **{f"setup{i}": s for i, s in enumerate(SETUP)},
        "init": init(hidden[0]) + "\nbatch_size = n = 32\nix = torch.randint(0, Xtr.shape[0], (n,), generator=g)\n"
        "Xb, Yb = Xtr[ix], Ytr[ix]",
        "forward": fwd[: fwd.index("loss.backward()")] + "loss.backward()\nloss",
        "1": f"# Exercise 1: backprop through the whole thing manually, one by one\n\n{ANSWERS}\n\n{CHECKS}",
        "2-forward": "# Exercise 2: backprop through cross_entropy but all in one go\n\nF.cross_entropy(logits, Yb)",
        "2": f"# backward pass\n\n{L02['cell-20']}\n\ncmp('logits', dlogits, logits)",
        "3-forward": "# Exercise 3: backprop through batchnorm in one go\n\n" + L02["cell-25"].split("print")[0],
        "3": f"# backward pass\n\n{L02['cell-26']}\n\ncmp('hprebn', dhprebn, hprebn)",
        "4": loop(hidden[1]),
        "after": "with torch.no_grad():  # the training loss\n    print(F.cross_entropy(h @ W2 + b2, Yb).item())",
    }
    cells |= {key: edit(cells[key]) for key, edit in edits.items()}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## makemore: becoming a backprop ninja")])
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells.values()]
    return colab(nb)


def colab(nb):
    """`nb` as Colab (or a Jupyter older than 2021) saves it: nbformat 4.4, cells without ids."""
    nb.nbformat_minor = 4
    for c in nb.cells:
        c.pop("id")
    return nb


HANDED_OUT = {
    "1": lambda s: s.split("\n\n")[0] + f"\n\n{YOURS}# -----------------\n\n" + re.sub(r"(?m)^cmp", "# cmp", CHECKS),
    "2": lambda s: f"# backward pass\n\n{YOURS}dlogits = None  # TODO. my solution is 3 lines\n\n# cmp('logits', ...)",
    "3": lambda s: (
        f"# backward pass\n\n{YOURS}dhprebn = None  # TODO. my solution is 1 (long) line\n\n"
        "cmp('hprebn', dhprebn, hprebn)"
    ),
    "4": lambda s: loop(handed_out=True),
}
