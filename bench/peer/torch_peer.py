"""The PyTorch side of `npm run bench:peer`: pxl's PixelCNN architecture written for PyTorch,
trained and sampled on command from the driver (bench/peer/peer.ts), one JSON line per answer.

Written for this benchmark from the architecture's description, not from pxl's code:
  input:  7x7 mask-A conv, channels -> 2h, batch norm
  blocks: [relu, 1x1 2h->h, bn, relu, kxk mask-B h->h, bn, relu, 1x1 h->2h, bn] + residual
  head:   relu, (1x1 conv, relu) x head_convs, 1x1 conv -> channels * levels logits
With "block_type": "gated", the Gated PixelCNN of van den Oord et al. 2016b (arXiv 1606.05328),
written from the paper's figure 2 and pxl's schema description, not from pxl's code:
  input:  vertical stack conv, a (k//2+1) x k kernel over the rows above and the row itself;
          horizontal stack conv with mask A, a 1 x k//2 kernel over the pixels to the left;
          channels -> h each, batch norm, no gate
  blocks: v = bn(vconv(v)) (2h), h' = bn(hconv(h)) + link(v one row down) (2h),
          both gated tanh(first half) * sigmoid(second half); h = h + bn(out(gated h')),
          skip = skip(gated h') summed into the head's input with the last h
  convs over the k//2 + 1 taps left of and at the pixel (mask B), `dilation` apart
Each stack conv is an ordinary nn.Conv2d over explicitly padded input (F.pad), no mask.
Masked convs multiply the weight by a 0/1 mask in forward. Batch norm is nn.BatchNorm2d
(momentum 0.1, eps 1e-5). Loss: mean cross-entropy over a softmax of `levels` classes per
sub-pixel. Optimiser: torch.optim.Adam. Every conv has a bias, like pxl's.

Protocol: one JSON command per line on stdin, one JSON answer per line on stdout.
  {"cmd": "info"}
  {"cmd": "build", "blocks": 15, "hidden": 128, "kernel": 3, "input_kernel": 7,
   "head_convs": 2, "levels": 256, "batch_norm": true, "block_type": "residual" | "gated", "dilations": [...], "skip": false, "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
   "seed": 0, "images": "<path to train-images-idx3-ubyte>"}           -> {"params": n}
  {"cmd": "load", "file": "<float32 file>", "tensors": [{"name", "shape", "offset"}]}
                                                   -> pxl's weights (pxl names, HWIO kernels) into this model
  {"cmd": "step", "indices": [...]}                -> {"wall_ms", "cpu_ms", "loss"}
  {"cmd": "grads", "indices": [...], "dtype": "float64", "file": "<path>"}
                                                   -> the loss; the gradients written to file as float64, in
                                                      the order and layout of the last load (pxl's)
  {"cmd": "sample", "count": 64, "positions": 4}   -> per-position wall and CPU ms of naive sampling
  {"cmd": "matmul", "n": 2048, "reps": 5}          -> GFLOP/s of an n x n float32 matmul
"""
import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def causal_mask(k, kind):
    """1 above the centre row and left of the centre in its row; mask B keeps the centre too."""
    m = torch.zeros(k, k)
    c = k // 2
    m[:c, :] = 1
    m[c, :c] = 1
    if kind == "B":
        m[c, c] = 1
    return m


class MaskedConv(nn.Conv2d):
    def __init__(self, cin, cout, k, kind):
        super().__init__(cin, cout, k, padding=k // 2, bias=True)
        self.register_buffer("mask", causal_mask(k, kind)[None, None])

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class Block(nn.Module):
    def __init__(self, h, k, bn):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.c1, self.n1 = nn.Conv2d(2 * h, h, 1), norm(h)
        self.c2, self.n2 = MaskedConv(h, h, k, "B"), norm(h)
        self.c3, self.n3 = nn.Conv2d(h, 2 * h, 1), norm(2 * h)

    def forward(self, x):
        y = self.n1(self.c1(F.relu(x)))
        y = self.n2(self.c2(F.relu(y)))
        y = self.n3(self.c3(F.relu(y)))
        return x + y


class PixelCNN(nn.Module):
    def __init__(self, channels, levels, h, blocks, k, input_k, head_convs, bn):
        super().__init__()
        self.channels, self.levels = channels, levels
        self.inp = MaskedConv(channels, 2 * h, input_k, "A")
        self.inp_norm = nn.BatchNorm2d(2 * h) if bn else nn.Identity()
        self.blocks = nn.Sequential(*[Block(h, k, bn) for _ in range(blocks)])
        head = []
        for i in range(head_convs):
            head.append(nn.Conv2d(2 * h if i == 0 else h, h, 1))  # a 1x1 mask-B conv masks nothing
        self.head = nn.ModuleList(head)
        self.out = nn.Conv2d(h if head_convs else 2 * h, channels * levels, 1)

    def forward(self, x):
        h = self.blocks(self.inp_norm(self.inp(x)))
        h = F.relu(h)
        for c in self.head:
            h = F.relu(c(h))
        return self.out(h)  # [N, channels * levels, H, W]

    def loss(self, x, targets):
        logits = self.forward(x)
        n, _, hh, ww = logits.shape
        logits = logits.view(n, self.channels, self.levels, hh, ww).permute(0, 1, 3, 4, 2).reshape(-1, self.levels)
        return F.cross_entropy(logits, targets.reshape(-1))


class StackConv(nn.Module):
    """An nn.Conv2d whose window covers only what a position may see, placed by zero padding:
    `up` rows above and `left` columns to the left of the output position, `right` to its right."""

    def __init__(self, cin, cout, rows, cols, up, left, dilation=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, (rows, cols), dilation=dilation)
        d = dilation
        # F.pad takes (left, right, top, bottom); negative values crop.
        self.pad = (d * left, d * (cols - 1 - left), d * up, d * (rows - 1 - up))

    def forward(self, x):
        return self.conv(F.pad(x, self.pad))


def vertical(cin, cout, k, d=1):
    return StackConv(cin, cout, k // 2 + 1, k, k // 2, k // 2, d)


def horizontal(cin, cout, k, mask, d=1):
    c = k // 2
    # Mask A: the c pixels to the left only; B: those and the pixel itself.
    return StackConv(cin, cout, 1, c if mask == "A" else c + 1, 0, c, d)


def down_one_row(x):
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


def gated(x):
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedBlock(nn.Module):
    def __init__(self, h, k, d, bn, skip):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.v, self.vn = vertical(h, 2 * h, k, d), norm(2 * h)
        self.h, self.hn = horizontal(h, 2 * h, k, "B", d), norm(2 * h)
        self.link = nn.Conv2d(2 * h, 2 * h, 1)
        self.out, self.on = nn.Conv2d(h, h, 1), norm(h)
        self.skip = nn.Conv2d(h, h, 1) if skip else None

    def forward(self, v, h):
        vf = self.vn(self.v(v))
        hf = self.hn(self.h(h)) + self.link(down_one_row(vf))
        g = gated(hf)
        return gated(vf), h + self.on(self.out(g)), (self.skip(g) if self.skip is not None else None)


class GatedPixelCNN(nn.Module):
    def __init__(self, channels, levels, h, dilations, k, input_k, head_convs, bn, skip):
        super().__init__()
        self.channels, self.levels = channels, levels
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.inp_v, self.inp_vn = vertical(channels, h, input_k), norm(h)
        self.inp_h, self.inp_hn = horizontal(channels, h, input_k, "A"), norm(h)
        self.blocks = nn.ModuleList([GatedBlock(h, k, d, bn, skip) for d in dilations])
        self.head = nn.ModuleList([nn.Conv2d(h, h, 1) for _ in range(head_convs)])
        self.out = nn.Conv2d(h, channels * levels, 1)

    def forward(self, x):
        v, h = self.inp_vn(self.inp_v(x)), self.inp_hn(self.inp_h(x))
        total = None
        for b in self.blocks:
            v, h, s = b(v, h)
            if s is not None:
                total = s if total is None else total + s
        y = F.relu(h if total is None else h + total)
        for c in self.head:
            y = F.relu(c(y))
        return self.out(y)

    loss = PixelCNN.loss


def read_idx_images(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, count, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    assert magic == 0x803, f"{path}: not an IDX image file"
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(count, 1, rows, cols)


class Peer:
    def __init__(self):
        self.model = None

    def info(self, _):
        return {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "config": torch.__config__.parallel_info().splitlines()[:6],
        }

    def build(self, c):
        torch.manual_seed(c["seed"])
        self.levels = c["levels"]
        if c.get("block_type", "residual") == "gated":
            dilations = c.get("dilations") or [1] * c["blocks"]
            self.model = GatedPixelCNN(1, c["levels"], c["hidden"], dilations, c["kernel"], c["input_kernel"], c["head_convs"], c["batch_norm"], c.get("skip", False))
        else:
            self.model = PixelCNN(1, c["levels"], c["hidden"], c["blocks"], c["kernel"], c["input_kernel"], c["head_convs"], c["batch_norm"])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=c["lr"], betas=tuple(c["betas"]), eps=c["eps"])
        self.images = read_idx_images(c["images"])
        params = sum(p.numel() for p in self.model.parameters())
        return {"params": params}

    def torch_name(self, name):
        """pxl's variable names (input.conv/weight, blocks.3.bn2/gamma, head.conv1/bias, head.out/weight) to this model's."""
        layer, kind = name.split("/")
        kind = {"gamma": "weight", "beta": "bias"}.get(kind, kind)
        parts = layer.split(".")
        if isinstance(self.model, GatedPixelCNN):
            return self.gated_name(parts, kind)
        if parts[0] == "input":
            return f"{'inp' if parts[1] == 'conv' else 'inp_norm'}.{kind}"
        if parts[0] == "blocks":
            return f"blocks.{parts[1]}.{parts[2].replace('conv', 'c').replace('bn', 'n')}.{kind}"
        if parts[1] == "out":
            return f"out.{kind}"
        return f"head.{int(parts[1][len('conv'):]) - 1}.{kind}"

    def gated_name(self, parts, kind):
        """pxl's gated names (input.vertical, input.hbn, blocks.2.link, blocks.2.obn, ...) to GatedPixelCNN's."""
        convs = {"vertical": "v", "horizontal": "h", "link": "link", "out": "out", "skip": "skip"}
        norms = {"vbn": "vn", "hbn": "hn", "obn": "on"}
        if parts[0] == "input":
            return f"inp_{convs.get(parts[1], norms.get(parts[1]))}" + (".conv" if parts[1] in convs else "") + f".{kind}"
        if parts[0] == "blocks":
            name = convs.get(parts[2]) or norms[parts[2]]
            inner = ".conv" if parts[2] in ("vertical", "horizontal") else ""
            return f"blocks.{parts[1]}.{name}{inner}.{kind}"
        if parts[1] == "out":
            return f"out.{kind}"
        return f"head.{int(parts[1][len('conv'):]) - 1}.{kind}"

    def load(self, c):
        data = np.fromfile(c["file"], dtype=np.float32)
        params = dict(self.model.named_parameters())
        seen = set()
        with torch.no_grad():
            for t in c["tensors"]:
                n = int(np.prod(t["shape"]))
                value = torch.from_numpy(data[t["offset"] : t["offset"] + n].reshape(t["shape"]).copy())
                if value.dim() == 4:
                    value = value.permute(3, 2, 0, 1)  # [k, k, in, out] -> [out, in, k, k]
                name = self.torch_name(t["name"])
                params[name].copy_(value.to(params[name].dtype))
                seen.add(name)
        missing = sorted(set(params) - seen)
        if missing:
            raise ValueError(f"no pxl tensor for {missing[:4]}")
        self.pxl_tensors = c["tensors"]
        return {"loaded": len(seen)}

    def grads(self, c):
        """Loss and gradients of one batch in training mode, at the precision asked for."""
        dtype = getattr(torch, c.get("dtype", "float32"))
        self.model.to(dtype)
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        x, t = self.batch(c["indices"])
        loss = self.model.loss(x.to(dtype), t)
        loss.backward()
        params = dict(self.model.named_parameters())
        out = []
        for t in self.pxl_tensors:
            g = params[self.torch_name(t["name"])].grad.detach()
            if g.dim() == 4:
                g = g.permute(2, 3, 1, 0)  # [out, in, k, k] -> [k, k, in, out]
            out.append(g.reshape(-1).to(torch.float64).numpy())
        np.concatenate(out).tofile(c["file"])
        self.model.to(torch.float32)
        return {"loss": loss.item()}

    def batch(self, indices):
        raw = torch.from_numpy(self.images[np.asarray(indices)].astype(np.int64))
        classes = raw * self.levels // 256
        return classes.float() / (self.levels - 1), classes

    def step(self, c):
        x, t = self.batch(c["indices"])
        self.model.train()
        t0, c0 = time.perf_counter(), cpu_seconds()
        self.opt.zero_grad(set_to_none=True)
        loss = self.model.loss(x, t)
        loss.backward()
        self.opt.step()
        value = loss.item()
        return {"wall_ms": 1000 * (time.perf_counter() - t0), "cpu_ms": 1000 * (cpu_seconds() - c0), "loss": value}

    @torch.no_grad()
    def sample(self, c):
        """Naive sampling: one full forward pass over the whole batch per pixel position; stops after `positions`."""
        self.model.eval()
        n, levels = c["count"], self.levels
        x = torch.zeros(n, 1, 28, 28)
        gen = torch.Generator().manual_seed(0)
        steps = []
        for p in range(c["positions"]):
            i, j = divmod(p, 28)
            t0, c0 = time.perf_counter(), cpu_seconds()
            logits = self.model(x)[:, :, i, j]  # [n, levels]
            probs = torch.softmax(logits, dim=1)
            x[:, 0, i, j] = torch.multinomial(probs, 1, generator=gen)[:, 0].float() / (levels - 1)
            steps.append({"wall_ms": 1000 * (time.perf_counter() - t0), "cpu_ms": 1000 * (cpu_seconds() - c0)})
        return {"steps": steps}

    def matmul(self, c):
        n, reps = c["n"], c["reps"]
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        return {"gflops": 2 * n**3 / best / 1e9}


def main():
    if len(sys.argv) > 1 and sys.argv[1].isdigit():
        torch.set_num_threads(int(sys.argv[1]))
    peer = Peer()
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line)
        try:
            answer = getattr(peer, c["cmd"])(c)
        except Exception as e:  # noqa: BLE001 - reported to the driver, which stops
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
