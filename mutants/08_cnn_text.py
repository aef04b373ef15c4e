"""Plausible wrong answers to exercise 08_cnn_text, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function or class; every test cell named in ``caught_by`` must then fail. This file lives
under ``tests/`` because every file in ``solutions/08_cnn_text/`` is released to students.
"""

_TEXTCNN = '''
class TextCNN(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_classes, kernel_sizes=(3, 4, 5), num_filters=100, dropout=0.5):
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(num_filters * len(self.kernel_sizes), num_classes)

    def forward(self, ids, lengths):
        width = max(self.kernel_sizes)
        if ids.size(1) < width:
            ids = nn.functional.pad(ids, (0, width - ids.size(1)))
        x = self.embedding(ids).transpose(1, 2)
        pooled = [{pool} for conv, k in zip(self.convs, self.kernel_sizes)]
        return self.output(self.dropout(torch.cat(pooled, dim=1)))
'''

_CORRECT_POOL = "max_over_time(torch.relu(conv(x)), lengths, k)"

MUTANTS = [
    {
        "name": "kernel flipped (a true convolution instead of cross-correlation)",
        "code": (
            "def conv1d_text(X, W, b):\n"
            "    k = W.size(-1); n = X.size(1) - k + 1\n"
            "    windows = torch.stack([X[:, j:j + n] for j in range(k)], dim=-1)\n"
            "    return torch.einsum('btej,cej->bct', windows, W.flip(-1)) + b[None, :, None]\n"
        ),
        "caught_by": ["test_conv1d_text"],
    },
    {
        "name": "convolution without its bias",
        "code": (
            "def conv1d_text(X, W, b):\n"
            "    k = W.size(-1); n = X.size(1) - k + 1\n"
            "    windows = torch.stack([X[:, j:j + n] for j in range(k)], dim=-1)\n"
            "    return torch.einsum('btej,cej->bct', windows, W)\n"
        ),
        "caught_by": ["test_conv1d_text"],
    },
    {
        "name": "convolution output as (B, T', C), time before channels",
        "code": (
            "def conv1d_text(X, W, b):\n"
            "    k = W.size(-1); n = X.size(1) - k + 1\n"
            "    windows = torch.stack([X[:, j:j + n] for j in range(k)], dim=-1)\n"
            "    return torch.einsum('btej,cej->btc', windows, W) + b\n"
        ),
        "caught_by": ["test_conv1d_text"],
    },
    {
        "name": "one window too few (T - k positions)",
        "code": (
            "def conv1d_text(X, W, b):\n"
            "    k = W.size(-1); n = X.size(1) - k\n"
            "    windows = torch.stack([X[:, j:j + n] for j in range(k)], dim=-1)\n"
            "    return torch.einsum('btej,cej->bct', windows, W) + b[None, :, None]\n"
        ),
        "caught_by": ["test_conv1d_text"],
    },
    {
        "name": "convolution through F.conv1d (a forbidden shortcut)",
        "code": (
            "import torch.nn.functional as F\n"
            "def conv1d_text(X, W, b):\n"
            "    return F.conv1d(X.transpose(1, 2), W, b)\n"
        ),
        "caught_by": ["test_conv1d_text"],
    },
    {
        "name": "convolution through Tensor.unfold (a forbidden shortcut)",
        "code": (
            "def conv1d_text(X, W, b):\n"
            "    windows = X.unfold(1, W.size(-1), 1)\n"
            "    return torch.einsum('btej,cej->bct', windows, W) + b[None, :, None]\n"
        ),
        "caught_by": ["test_conv1d_text"],
    },
    {
        "name": "max over padded positions too",
        "code": "def max_over_time(feature_maps, lengths, k):\n    return feature_maps.amax(dim=-1)\n",
        "caught_by": ["test_max_over_time", "test_textcnn_forward"],
    },
    {
        "name": "valid windows off by one (t < L - k)",
        "code": (
            "def max_over_time(feature_maps, lengths, k):\n"
            "    n_valid = (lengths - k).clamp(min=1)\n"
            "    valid = torch.arange(feature_maps.size(-1))[None, :] < n_valid[:, None]\n"
            "    return feature_maps.masked_fill(~valid[:, None, :], float('-inf')).amax(dim=-1)\n"
        ),
        "caught_by": ["test_max_over_time"],
    },
    {
        "name": "padding filled with 0 instead of -inf (wrong when every valid score is negative)",
        "code": (
            "def max_over_time(feature_maps, lengths, k):\n"
            "    n_valid = (lengths - k + 1).clamp(min=1)\n"
            "    valid = torch.arange(feature_maps.size(-1))[None, :] < n_valid[:, None]\n"
            "    return (feature_maps * valid[:, None, :]).amax(dim=-1)\n"
        ),
        "caught_by": ["test_max_over_time"],
    },
    {
        "name": "a sentence shorter than the kernel gets -inf (no window kept)",
        "code": (
            "def max_over_time(feature_maps, lengths, k):\n"
            "    valid = torch.arange(feature_maps.size(-1))[None, :] < (lengths - k + 1)[:, None]\n"
            "    return feature_maps.masked_fill(~valid[:, None, :], float('-inf')).amax(dim=-1)\n"
        ),
        "caught_by": ["test_max_over_time", "test_textcnn_forward"],
    },
    {
        "name": "max over the filters instead of over time",
        "code": (
            "def max_over_time(feature_maps, lengths, k):\n"
            "    return feature_maps.amax(dim=1)\n"
        ),
        "caught_by": ["test_max_over_time", "test_textcnn_forward"],
    },
    {
        "name": "TextCNN with one linear input per kernel width (num_filters instead of num_filters * widths)",
        "code": _TEXTCNN.format(pool=_CORRECT_POOL).replace(
            "nn.Linear(num_filters * len(self.kernel_sizes), num_classes)", "nn.Linear(num_filters, num_classes)"),
        "caught_by": ["test_textcnn_layers", "test_textcnn_forward"],
    },
    {
        "name": "TextCNN whose embedding has no padding index",
        "code": _TEXTCNN.format(pool=_CORRECT_POOL).replace(", padding_idx=0)", ")"),
        "caught_by": ["test_textcnn_layers"],
    },
    {
        "name": "TextCNN with its layers under other names",
        "code": _TEXTCNN.format(pool=_CORRECT_POOL).replace("self.output", "self.fc"),
        "caught_by": ["test_textcnn_layers", "test_textcnn_forward"],
    },
    {
        "name": "TextCNN without the ReLU",
        "code": _TEXTCNN.format(pool="max_over_time(conv(x), lengths, k)"),
        "caught_by": ["test_textcnn_forward"],
    },
    {
        "name": "TextCNN pooling over all positions, padding included",
        "code": _TEXTCNN.format(pool="torch.relu(conv(x)).amax(dim=-1)"),
        "caught_by": ["test_textcnn_forward"],
    },
    {
        "name": "TextCNN that does not pad sentences shorter than the widest kernel",
        "code": _TEXTCNN.format(pool=_CORRECT_POOL).replace("ids.size(1) < width", "False"),
        "caught_by": ["test_textcnn_forward"],
    },
    {
        "name": "TextCNN that subclasses the course's reference",
        "code": "from course_utils.models import textcnn as _ref\nclass TextCNN(_ref.TextCNN):\n    pass\n",
        "caught_by": ["test_textcnn_layers", "test_textcnn_forward"],
    },
]
