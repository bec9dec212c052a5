"GANs on fastai: the gradient penalty, the loss signs, the critic schedule, the frozen network, ACGAN's labels, and the runs."
import json
from pathlib import Path
import pytest, torch
from torch import nn
from fastai.basics import set_seed, Callback
from conftest import cli
from dlcv_course.core import TensorPairs, NoiseImages, make_dls, LossComponents
from dlcv_course.dcgan import (Generator, Critic, gan_learner, dcgan_gen_loss, dcgan_crit_loss, StepLog, generate, noise,
                               load_generator)
from dlcv_course.wgan_gp import (interpolate, gradient_penalty, wgan_gen_loss, wgan_crit_loss, wgan_critic, wgan_gp_learner,
                                 GradientPenalty)
from dlcv_course.acgan import acgan_learner, run_acgan, sample_acgan, fake_face_folder

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:You are shadowing an attribute")

def linear_critic(norm, shape=(3, 8, 8), seed=0):
    "D(x) = w.x + b with ||w|| = norm: its input gradient is w everywhere."
    torch.manual_seed(seed)
    lin = nn.Linear(int(torch.tensor(shape).prod()), 1)
    with torch.no_grad(): w = torch.randn_like(lin.weight); lin.weight.copy_(w/w.norm()*norm)
    return nn.Sequential(nn.Flatten(), lin)

# ---- gradient penalty ---------------------------------------------------------------------------------------------

def test_penalty_zero_for_unit_norm_linear_critic():
    real, fake = torch.randn(8, 3, 8, 8), torch.randn(8, 3, 8, 8)
    assert gradient_penalty(linear_critic(1.), real, fake).item() == pytest.approx(0., abs=1e-10)

def test_penalty_grows_with_the_norm():
    real, fake = torch.randn(8, 3, 8, 8), torch.randn(8, 3, 8, 8)
    gps = [gradient_penalty(linear_critic(n), real, fake).item() for n in (1., 1.5, 2., 3., 5.)]
    assert gps == pytest.approx([0., 0.25, 1., 4., 16.], rel=1e-4, abs=1e-8)  # (||w|| - 1)^2
    assert all(a < b for a, b in zip(gps, gps[1:]))
    assert gradient_penalty(linear_critic(0.5), real, fake).item() == pytest.approx(0.25, rel=1e-4)

def test_penalty_norm_over_all_non_batch_dims():
    "A critic whose gradient is 1/sqrt(C*H*W) per element has norm 1 per sample: a per-channel or per-pixel norm would not be 1."
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    crit = lambda x: x.flatten(1).sum(1)/(3*8*8)**0.5
    assert gradient_penalty(crit, real, fake).item() == pytest.approx(0., abs=1e-10)

def test_epsilon_one_per_sample():
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    x_hat, eps = interpolate(real, fake)
    assert eps.shape == (5, 1, 1, 1)
    ratio = ((x_hat - fake)/(real - fake)).flatten(1)
    assert torch.allclose(ratio, eps.flatten(1).expand_as(ratio), atol=1e-4)
    assert eps.unique().numel() == 5  # different samples, different eps

def test_gradient_penalty_callback_adds_lambda_times_penalty():
    learn = _tiny_wgan(n=16, bs=8)
    seen = []
    class _Check(Callback):
        order = 3
        def after_loss(self):
            if self.gan_trainer.gen_mode: return
            p = self.learn.loss_parts
            seen.append((self.learn.loss_grad.item(), self.learn.loss_func.crit_loss.item(), p['gp'].item()))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, cbs=_Check())
    assert seen
    for total, crit, gp in seen: assert total == pytest.approx(crit + 10*gp, rel=1e-5)

# ---- loss signs ---------------------------------------------------------------------------------------------------

def _gen_step_raises_fake_score(gen_loss):
    torch.manual_seed(0)
    crit = linear_critic(1., (3, 4, 4))
    gen = nn.Sequential(nn.Linear(8, 48), nn.Unflatten(1, (3, 4, 4)))
    z = torch.randn(16, 8)
    before = crit(gen(z)).mean().item()
    opt = torch.optim.SGD(gen.parameters(), lr=0.05)
    gen_loss(crit(gen(z)).view(-1), None, None).backward(); opt.step()
    return crit(gen(z)).mean().item() - before

@pytest.mark.parametrize('gen_loss', [wgan_gen_loss, dcgan_gen_loss])
def test_generator_step_raises_critic_score_of_fakes(gen_loss):
    assert _gen_step_raises_fake_score(gen_loss) > 0

def test_wrong_sign_would_fail():
    "The check above can fail: the opposite sign lowers the score."
    assert _gen_step_raises_fake_score(lambda p, o, t: -wgan_gen_loss(p, o, t)) < 0

def test_critic_step_raises_wasserstein_estimate():
    torch.manual_seed(0)
    crit = linear_critic(1., (3, 4, 4))
    real, fake = torch.randn(16, 3, 4, 4) + 1, torch.randn(16, 3, 4, 4)
    w = lambda: (crit(real).mean() - crit(fake).mean()).item()
    before = w(); opt = torch.optim.SGD(crit.parameters(), lr=0.05)
    wgan_crit_loss(crit(real).view(-1), crit(fake).view(-1)).backward(); opt.step()
    assert w() > before

def test_wgan_critic_has_no_batchnorm_and_no_sigmoid():
    c = wgan_critic(28, 8)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in c.modules())
    assert not any(isinstance(m, nn.Sigmoid) for m in c.modules())
    assert c(torch.randn(4, 3, 28, 28)).shape == (4,)
    with pytest.raises(ValueError, match='BatchNorm'): wgan_critic(28, 8, norm='batch')

# ---- critic schedule and the frozen network -----------------------------------------------------------------------

def _tiny_wgan(n=56, bs=8, n_crit=5):
    set_seed(0)
    ds = TensorPairs(torch.rand(n, 3, 28, 28)*2-1, torch.zeros(n, dtype=torch.long))
    dls = make_dls(NoiseImages(ds, nz=8), NoiseImages(ds, nz=8), bs=bs, device='cpu')
    return wgan_gp_learner(dls, dict(size=28, nz=8, ngf=4, ndf=4, lr=1e-4, n_crit=n_crit))

def test_switcher_gives_n_critic_steps_per_generator_step():
    learn, log = _tiny_wgan(n=56, bs=8), StepLog()   # 7 steps per epoch: not a multiple of 6
    with learn.no_bar(), learn.no_logging(): learn.fit(4, cbs=log)
    s = ''.join(log.steps)
    assert len(s) == 28 and s == ('CCCCCG'*5)[:28]
    assert s.count('G') == 4 and s.count('C') == 24   # 4 blocks of 5 + 1, then 4 critic steps of the next block
    runs = [len(r) for r in s.split('G')[:-1]]
    assert runs == [5]*s.count('G')

def test_frozen_network_does_not_move():
    learn = _tiny_wgan(n=24, bs=8, n_crit=2)
    bad = []
    class _Watch(Callback):
        order = 3
        def before_step(self): self.before = {id(p): p.detach().clone() for p in self.learn.model.parameters()}
        def after_step(self):
            frozen = self.gan_trainer.critic if self.gan_trainer.gen_mode else self.gan_trainer.generator
            bad.extend(1 for p in frozen.parameters() if not torch.equal(p, self.before[id(p)]))
    with learn.no_bar(), learn.no_logging(): learn.fit(2, cbs=_Watch())
    assert not bad

# ---- ACGAN --------------------------------------------------------------------------------------------------------

def _two_class_dls(n=256, size=8, bs=16, seed=0):
    set_seed(seed)
    y = torch.arange(n) % 2
    x = (y.float()*1.6 - 0.8)[:, None, None, None] + 0.05*torch.randn(n, 3, size, size)
    ds = TensorPairs(x.clamp(-1, 1), y)
    return make_dls(NoiseImages(ds, nz=8, labels=True), NoiseImages(ds, nz=8, labels=True), bs=bs, n_inp=2, device='cpu')

def test_acgan_output_class_follows_label():
    "Class 0 = dark, class 1 = bright: after training, the same noise gives dark images for label 0, bright for label 1."
    learn = acgan_learner(_two_class_dls(), dict(size=8, nz=8, ngf=8, ndf=8, lr=3e-3), n_classes=2)
    with learn.no_bar(), learn.no_logging(): learn.fit(10)
    g = learn.model.generator
    z = noise(64, 8, seed=1, device='cpu')
    lab = torch.arange(64) % 2
    x = generate(g, z=z, labels=lab).mean((1, 2, 3))
    flipped = generate(g, z=z, labels=1-lab).mean((1, 2, 3))
    assert (x[lab == 0] < 0).float().mean() > 0.9 and (x[lab == 1] > 0).float().mean() > 0.9
    assert ((flipped - x)*(1 - 2*lab.float()) > 0).float().mean() > 0.9  # flipping the label flips the brightness

def test_acgan_labels_reach_both_losses():
    learn = acgan_learner(_two_class_dls(n=32), dict(size=8, nz=8, ngf=4, ndf=4, lr=1e-3), n_classes=2)
    seen = {'G': [], 'C': []}
    orig_g, orig_c = learn.loss_func.gen_loss_func, learn.loss_func.crit_loss_func
    def g(fake_pred, output, target, label): seen['G'].append(label.clone()); return orig_g(fake_pred, output, target, label)
    def c(real_pred, fake_pred, label): seen['C'].append(label.clone()); return orig_c(real_pred, fake_pred, label)
    learn.loss_func.gen_loss_func, learn.loss_func.crit_loss_func = g, c
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    assert seen['G'] and seen['C'] and all(set(l.tolist()) <= {0, 1} for l in seen['G'] + seen['C'])

# ---- runs and samplers --------------------------------------------------------------------------------------------

def test_cli_quick_acgan_run_writes_keys_and_samples(tmp_path):
    out = tmp_path/'acgan'
    r = cli('run', 'acgan', '--data', 'mnist', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    assert {'fid', 'fid_floor', 'fid_untrained', 'is', 'accuracy'} <= set(m), m
    assert 0 <= m['accuracy'] <= 1 and m['fid_floor'] < m['fid'] and m['is'] >= 1
    assert 'accuracy' in r.stdout
    assert {'samples.png', 'losses.png'} <= {p.name for p in (out/'figures').iterdir()}
    assert len(list((out/'samples').glob('[0-9]_[0-9][0-9][0-9].png'))) == 1000
    cli('sample', 'acgan', '--checkpoint', out, '--n', 50, '--out', tmp_path/'s')
    names = sorted(p.name for p in (tmp_path/'s').iterdir())
    assert len(names) == 50 and names[:2] == ['0_000.png', '0_001.png'] and names[-1] == '9_004.png'

def test_cli_quick_wgan_gp_run_writes_keys(tmp_path):
    out = tmp_path/'wgan'
    cli('run', 'wgan-gp', '--data', 'mnist', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    assert {'fid', 'fid_floor', 'fid_untrained', 'is'} <= set(m) and m['problem'] == 'wgan-gp'
    cli('sample', 'wgan-gp', '--checkpoint', out, '--n', 12, '--out', tmp_path/'s')
    assert sorted(p.name for p in (tmp_path/'s').iterdir())[-1] == '0011.png'

def test_face_attribute_path(tmp_path):
    "The 64 x 64 attribute-conditioned face path on a generated folder in the homework format."
    faces = fake_face_folder(tmp_path/'face', n_train=24, n_val=8)
    m = run_acgan(faces, 'quick', tmp_path/'run', epochs=1)
    assert m['size'] == 64 and (tmp_path/'run'/'figures'/'attribute_pairs.png').exists()
    g = load_generator(tmp_path/'run')
    assert g.n_classes == 2 and g.info['attr'] == 'Smiling'
    res = sample_acgan(tmp_path/'run', n=6, out=tmp_path/'s')
    assert res['classes'] == 'no Smiling Smiling'
    assert (tmp_path/'s'/'labels.csv').read_text().splitlines()[1:] == [f'{i:04d}.png,{i//3}' for i in range(6)]

def test_resume_carries_on(tmp_path):
    "A run resumed from its checkpoint trains only the missing epochs and keeps its curves and grids."
    from dlcv_course.dcgan import run_dcgan
    m1 = run_dcgan('mnist', 'quick', tmp_path/'r', epochs=1)
    ck1 = torch.load(tmp_path/'r'/'checkpoint.pth', weights_only=True)
    m2 = run_dcgan('mnist', 'quick', tmp_path/'r', epochs=2, resume=True)
    ck2 = torch.load(tmp_path/'r'/'checkpoint.pth', weights_only=True)
    assert ck1['epoch'] == 0 and ck2['epoch'] == 1 and m2['resumed_from_epoch'] == 1
    n1 = len(ck1['callbacks']['LossComponents']['batches'])
    assert len(ck2['callbacks']['LossComponents']['batches']) == 2*n1
    assert ck2['callbacks']['SampleGrid']['epochs'] == [0, 1]
