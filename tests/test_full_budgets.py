"Every problem's learner at the `full` budget, on stand-in homework folders of the full data's shapes, trains two batches on the CPU."
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
from fastai.basics import Callback, CancelFitException, find_bs
from dlcv_course.registry import PROBLEMS

N = 300  # a homework train.csv: 10% held out for validation leaves two full batches of 128

def _digits(root, n=N, colour=True, seed=0):
    "A homework digits folder (format A: data/*.png, train.csv, val.csv) of `n` 28 px images."
    rng = np.random.default_rng(seed); (root/'data').mkdir(parents=True)
    names, labels = [f'{i:05d}.png' for i in range(n + 20)], rng.integers(0, 10, n + 20)
    for nm in names:
        a = rng.integers(0, 256, (28, 28, 3) if colour else (28, 28), dtype=np.uint8)
        Image.fromarray(a).save(root/'data'/nm)
    pd.DataFrame(dict(image_name=names[:n], label=labels[:n])).to_csv(root/'train.csv', index=False)
    pd.DataFrame(dict(image_name=names[n:], label=labels[n:])).to_csv(root/'val.csv', index=False)
    return root

def _faces(root, n=N, seed=0):
    "A homework face folder (train/, val/ and their attribute csvs) of `n` 64 px images."
    rng = np.random.default_rng(seed)
    for part, k in (('train', n), ('val', 20)):
        (root/part).mkdir(parents=True); names = [f'{i:05d}.png' for i in range(k)]
        for nm in names: Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root/part/nm)
        pd.DataFrame(dict(image_name=names, Smiling=rng.integers(0, 2, k), Male=rng.integers(0, 2, k))).to_csv(root/f'{part}.csv', index=False)
    return root

@pytest.fixture(scope='module')
def hw(tmp_path_factory):
    d = tmp_path_factory.mktemp('hw')
    return dict(mnistm=_digits(d/'mnistm'), usps=_digits(d/'usps', colour=False, seed=1), face=_faces(d/'face'))

class TwoBatches(Callback):
    "Count the training batches and their shapes; stop the fit after the second."
    order = 100
    def before_fit(self): self.shapes = []
    def after_batch(self):
        if not self.training: return
        self.shapes.append((find_bs(self.yb), tuple(self.xb[0].shape), float(self.loss)))
        if len(self.shapes) == 2: raise CancelFitException()

FACES = ('dcgan', 'wgan-gp', 'acgan')  # the problems that also take a face folder, at 64 px
CASES = [(p, 'mnistm') for p in PROBLEMS if not PROBLEMS[p].domains] + [(p, 'face') for p in FACES] + \
        [(p, 'usps->mnistm') for p in PROBLEMS if PROBLEMS[p].domains]

@pytest.mark.parametrize('problem,data', CASES, ids=[f'{p}-{d}' for p, d in CASES])
def test_full_budget_trains_two_batches(problem, data, hw):
    p = PROBLEMS[problem]
    torch.set_num_threads(2)
    if p.domains:
        src, tgt = data.split('->')
        learn = p.load('learner')(source=hw[src], target=hw[tgt], budget='full')
    else: learn = p.load('learner')(data=hw[data], budget='full')
    cfg = learn.cfg
    assert cfg['budget'] == 'full' and learn.dls.train.bs == cfg['bs']
    learn.logger = lambda *a, **k: None
    tb = TwoBatches()
    with learn.no_bar(): getattr(learn, p.fit)(1, cfg['lr'], cbs=tb)
    assert len(tb.shapes) == 2, f'{problem}: {len(tb.shapes)} training batches, expected 2'
    assert all(bs == cfg['bs'] and np.isfinite(loss) for bs, _, loss in tb.shapes), tb.shapes
    size = 64 if data == 'face' else cfg['size'] if problem in FACES else 28  # the GANs' digits: the budget's size
    img = max((t for t in learn.dls.train.one_batch() if t.ndim == 4), key=lambda t: t.shape[-1])  # not a GAN's noise
    assert img.shape[-2:] == (size, size), f'{problem}: images {tuple(img.shape)}, expected {size} px'
