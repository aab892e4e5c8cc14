"""The recipe probes behind the ranking-fidelity protocol: what makes time mixing learnable?

An in-memory standalone trainer (no checkpoints, 2000 training clips, 500 validation clips) for
MLP-3D-nano on 32-frame synthetic-temporal clips, with the knobs the study varied: 2D init,
head dropout, label smoothing, learning rate and the time-mixing (GTM) lr multiplier. Every run
made, with its flags and outcome, is in experiments/results/ranking_fidelity/probes/probes.csv
(logs beside it). Example (the recipe that was kept):

    python experiments/ranking_fidelity_probe.py --lr 1e-4 --drop 0 --ls 0 --gtm-mult 10 --seed 1 \
        --ckpt2d runs/ranking_fidelity/2d/model.pt
"""
import argparse, math, sys, time
from pathlib import Path

import torch, torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)
from nas.data import DataConfig, build_dataset
from supernet.registry import build_model
from supernet.models.mlp3d import load_2d_state
from supernet.models.mlp3d import center_inflate_state

p = argparse.ArgumentParser()
p.add_argument('--arch', default='sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr4')
p.add_argument('--lr', type=float, default=1e-4)
p.add_argument('--gtm-mult', type=float, default=1.0)
p.add_argument('--head-mult', type=float, default=1.0)
p.add_argument('--steps', type=int, default=600)
p.add_argument('--bs', type=int, default=32)
p.add_argument('--drop', type=float, default=0.5)
p.add_argument('--ls', type=float, default=0.1)
p.add_argument('--init', default='center')
p.add_argument('--frames', type=int, default=32)
p.add_argument('--size', type=int, default=32)
p.add_argument('--classes', type=int, default=10)
p.add_argument('--noise', type=float, default=0.03)
p.add_argument('--beats', type=int, default=4)
p.add_argument('--wd', type=float, default=0.05)
p.add_argument('--warm', type=int, default=60)
p.add_argument('--seed', type=int, default=0)
p.add_argument('--dt-init', type=float, default=0.0)
p.add_argument('--ckpt2d', default=str(ROOT / 'runs' / 'cyclemlp_nano_2d' / 'model.pt'))
a = p.parse_args()
cfg = DataConfig(dataset='synthetic-temporal', size=a.size, num_frames=a.frames, num_classes=a.classes,
                 train_clips_per_class=200, val_clips_per_class=50, noise=a.noise, beats=a.beats)
def load(split):
    ds = build_dataset(cfg, split)
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    return torch.stack(xs), torch.tensor(ys)
Xtr, Ytr = load('train'); Xva, Yva = load('val')
torch.manual_seed(a.seed)
m = build_model('mlp3d-nano', (a.frames, a.size, a.size), a.classes, arch=a.arch, head_dropout=a.drop)
if a.init == 'center':
    m.load_state_dict(center_inflate_state(m, load_2d_state(a.ckpt2d), load_head=False))
    if a.dt_init:
        with torch.no_grad():
            for n, p_ in m.named_parameters():
                if n.endswith('fc_t.weight') and p_.dim() == 3:
                    c = p_.shape[0] // 2
                    noise = torch.randn_like(p_) * a.dt_init
                    noise[c] = 0
                    p_.add_(noise)
gtm = [p_ for n, p_ in m.named_parameters() if 'fc_t' in n]
head = [p_ for n, p_ in m.named_parameters() if n.startswith('head.')]
ids = {id(q) for q in gtm + head}
rest = [p_ for p_ in m.parameters() if id(p_) not in ids]
def groups(ps, mult):
    return [{'params': [q for q in ps if q.ndim > 1], 'weight_decay': a.wd, 'lr': a.lr * mult},
            {'params': [q for q in ps if q.ndim <= 1], 'weight_decay': 0.0, 'lr': a.lr * mult}]
opt = torch.optim.AdamW(groups(rest, 1) + groups(gtm, a.gtm_mult) + groups(head, a.head_mult))
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / a.warm) * 0.5 * (1 + math.cos(math.pi * min(s / a.steps, 1))))
g = torch.Generator().manual_seed(a.seed)
t0 = time.time(); step = 0; hist = []
def val():
    m.eval(); c = 0
    with torch.no_grad():
        for i in range(0, len(Xva), 100):
            c += (m(Xva[i:i+100]).argmax(1) == Yva[i:i+100]).sum().item()
    m.train(); return c / len(Xva)
run_l = run_a = 0
while step < a.steps:
    perm = torch.randperm(len(Xtr), generator=g)
    for b in range(len(Xtr) // a.bs):
        idx = perm[b*a.bs:(b+1)*a.bs]
        out = m(Xtr[idx]); loss = F.cross_entropy(out, Ytr[idx], label_smoothing=a.ls)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); sched.step()
        step += 1; run_l += loss.item(); run_a += (out.argmax(1) == Ytr[idx]).float().mean().item()
        if step % 50 == 0:
            v = val() if step % 100 == 0 else float('nan')
            print(f"step {step} loss {run_l/50:.3f} acc {run_a/50:.3f} val {v:.3f} t {time.time()-t0:.0f}s", flush=True)
            run_l = run_a = 0
        if step >= a.steps: break
print("final val", val(), flush=True)
