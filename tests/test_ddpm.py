"Conditional diffusion: the noise schedule, q_sample, the UNet, guidance and the samplers, and the CLI."
import json
import pytest, torch
from conftest import cli
from dlcv_course.ddpm import (NoiseSchedule, q_sample, UNet, guided_eps, ddim_sample, p_sample_loop, ddim_steps,
                              DDPMNoise, sample_digits, dpmpp_sample)

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def x0():
    from dlcv_course.data import get_dataset
    ds = get_dataset('mnist', 'valid')
    return torch.stack([ds[i][0] for i in range(256)])

@pytest.mark.parametrize('T', [50, 400, 1000])
def test_alpha_bar_decreases_and_ends_at_noise(T):
    s = NoiseSchedule(T)
    assert (s.betas[1:] > s.betas[:-1]).all()              # linear, increasing
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all()
    assert 0.99 < s.alpha_bar[0] < 1 and s.alpha_bar[-1] < 1e-3

def test_q_sample_endpoints(x0):
    s = NoiseSchedule(400)
    t0 = torch.zeros(len(x0), dtype=torch.long)
    assert (q_sample(s, x0, t0) - x0).abs().mean() < 0.02          # t = 0: almost the input
    xT = q_sample(s, x0, t0 + s.T - 1)                              # t = T: almost pure noise
    assert abs(xT.mean()) < 0.02 and abs(xT.std() - 1) < 0.02
    assert abs(torch.corrcoef(torch.stack([xT.flatten(), x0.flatten()]))[0, 1]) < 0.02
    eps = torch.randn_like(x0); t = torch.randint(0, 400, (len(x0),))
    ab = s.alpha_bar[t].float().view(-1, 1, 1, 1)
    torch.testing.assert_close(q_sample(s, x0, t, eps), ab.sqrt()*x0 + (1-ab).sqrt()*eps)

def test_unet_output_shape_equals_input():
    for ch, size in [((16, 32, 64), 28), ((16, 32), 32)]:
        m = UNet(channels=ch)
        x = torch.randn(3, 3, size, size)
        assert m(x, torch.tensor([0, 5, 99]), torch.tensor([0, 9, 10])).shape == x.shape

def test_training_batch_drops_class_and_targets_noise(x0):
    s = NoiseSchedule(100); cb = DDPMNoise(s, 10, p_uncond=0.1)
    class L: pass
    cb.learn = L(); cb.learn.xb, cb.learn.yb = (x0,), (torch.arange(len(x0)) % 10,)
    cb.before_batch()
    xt, t, c = cb.learn.xb
    assert 0.03 < (c == 10).float().mean() < 0.2
    torch.testing.assert_close(xt, q_sample(s, x0, t, cb.learn.yb[0]))

class Known(torch.nn.Module):
    n_classes = 10
    def forward(self, x, t, c): return torch.where((c == 10)[:, None, None, None], -1., 2.)*torch.ones_like(x)

def test_guidance_formula():
    x = torch.zeros(2, 3, 4, 4); t = torch.zeros(2, dtype=torch.long); c = torch.tensor([1, 2])
    torch.testing.assert_close(guided_eps(Known(), x, t, c, w=3.), torch.full_like(x, 4*2 - 3*(-1)))
    torch.testing.assert_close(guided_eps(Known(), x, t, c, w=0.), torch.full_like(x, 2.))

@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0); m = UNet(channels=(16, 32))
    torch.nn.init.normal_(m.conv_out.weight, std=0.05)
    return m.eval()

def test_w0_guided_equals_conditional(model):
    s = NoiseSchedule(30); lb = torch.arange(5)
    full = ddim_sample(model, s, lb, w=0., seed=1, steps=6, skip_uncond=False)   # (1+0) eps(c) - 0 eps(null)
    cond = ddim_sample(model, s, lb, w=0., seed=1, steps=6)                      # eps(c) only
    # equal up to float rounding (a doubled batch may use other convolution kernels) ...
    torch.testing.assert_close(full, cond, atol=2e-3, rtol=0)
    # ... which is far below what guidance changes
    assert (ddim_sample(model, s, lb, w=2., seed=1, steps=6) - cond).abs().max() > 0.05
    x = torch.randn(5, 3, 28, 28); t = torch.full((5,), 10)
    torch.testing.assert_close(guided_eps(model, x, t, lb, w=0., skip_uncond=False), model(x, t, lb), atol=1e-4, rtol=0)

@pytest.mark.parametrize('sampler', ['ddim', 'ddpm'])
def test_fixed_seed_reproducible(model, sampler):
    s = NoiseSchedule(25); lb = torch.arange(6) % 10
    a = sample_digits(model, s, lb, sampler, w=1., seed=7, steps=5, bs=4)   # batched in 4 + 2
    torch.manual_seed(123)  # the global random state does not matter
    b = sample_digits(model, s, lb, sampler, w=1., seed=7, steps=5, bs=4)
    assert torch.equal(a, b) and a.shape == (6, 3, 28, 28)
    assert not torch.equal(a, sample_digits(model, s, lb, sampler, w=1., seed=8, steps=5, bs=4))

@pytest.mark.parametrize('sampler', ['ddim', 'dpmpp', 'ddpm'])
def test_batches_on_worker_threads_equal_one_after_the_other(model, sampler):
    "`workers=2` samples two batches at once, each on one thread: the same images, and the intra-op thread count restored."
    s = NoiseSchedule(25); lb = torch.arange(10) % 10; nt = torch.get_num_threads()
    a = sample_digits(model, s, lb, sampler, w=1., seed=7, steps=5, bs=3, workers=2)   # batches of 3, 3, 3, 1
    torch.testing.assert_close(a, sample_digits(model, s, lb, sampler, w=1., seed=7, steps=5, bs=3, workers=1), atol=1e-4, rtol=0)
    assert torch.get_num_threads() == nt

def test_guidance_interval_upper_end(model):
    "`guide_max_t` below the first step leaves it unguided; below every step it is conditional sampling; at T-1 or above, the default."
    s = NoiseSchedule(30); lb = torch.arange(5)
    full = ddim_sample(model, s, lb, w=3., seed=1, steps=5)
    torch.testing.assert_close(ddim_sample(model, s, lb, w=3., seed=1, steps=5, guide_max_t=s.T-1), full, atol=0, rtol=0)
    torch.testing.assert_close(ddim_sample(model, s, lb, w=3., seed=1, steps=5, guide_max_t=-1), ddim_sample(model, s, lb, w=0., seed=1, steps=5), atol=1e-5, rtol=0)
    top = ddim_sample(model, s, lb, w=3., seed=1, steps=5, guide_max_t=s.T-2)   # all but the first step (t = T-1) guided
    assert 0 < (top - full).abs().max() and not torch.equal(top, ddim_sample(model, s, lb, w=0., seed=1, steps=5))

def test_ddim_steps_cover_the_chain():
    st = ddim_steps(400, 20)
    assert len(st) == 20 and st[0] == 399 and st[-1] == 0 and st == sorted(st, reverse=True)

def test_trailing_steps_end_one_stride_above_zero():
    "`spacing='trailing'` (Lin et al. 2024): S steps T-1, T-1-T/S, ..., T/S-1, no call at t = 0; an unknown spacing names the choices."
    assert ddim_steps(400, 4, 'trailing') == [399, 299, 199, 99] and ddim_steps(1000, 10, 'trailing')[-1] == 99
    for T, S in ((50, 7), (400, 5), (1000, 50)):
        st = ddim_steps(T, S, 'trailing')
        assert len(st) == S and st[0] == T-1 and st == sorted(st, reverse=True) and min(st) > 0
    with pytest.raises(ValueError, match='linspace'): ddim_steps(400, 4, 'uniform')

def test_cli_quick_run_and_sample(tmp_path):
    out = tmp_path/'ddpm'
    cli('run', 'ddpm', '--data', 'mnist', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    for k in ('accuracy', 'sample_seconds_1000', 'accuracy_ddpm', 'sample_seconds_1000_ddpm'):
        assert k in m and m[k] >= 0
    assert 0 <= m['accuracy'] <= 1 and m['budget'] == 'quick'
    assert {'grid.png', 'loss.png', 'accuracy_vs_w.png'} <= {p.name for p in (out/'figures').iterdir()}
    cli('sample', 'ddpm', '--checkpoint', out, '--n', 20, '--out', tmp_path/'s', '--steps', 4, '--guidance', 1)
    names = sorted(p.name for p in (tmp_path/'s').iterdir())
    assert len(names) == 20 and names[:2] == ['0_000.png', '0_001.png'] and names[-1] == '9_001.png'
    assert m['sampler'] == 'dpmpp' and m['steps'] == 8                     # the quick budget grades with DPM-Solver++


def test_cli_sample_with_each_sampler(tmp_path):
    "`dlcv-course sample ddpm --sampler dpmpp|ddim|ddpm`; the run's sampler by default; an unknown name lists the choices."
    out = tmp_path/'ddpm'
    cli('run', 'ddpm', '--data', 'mnist', '--budget', 'quick', '--out', out)
    def table(r): return dict(l.split(None, 1) for l in r.stdout.splitlines() if len(l.split(None, 1)) == 2 and not l.startswith('wrote'))
    for sampler, steps in (('dpmpp', '4'), ('ddim', '4'), ('ddpm', '50')):    # the ancestral chain takes all T = 50 steps
        r = cli('sample', 'ddpm', '--checkpoint', out, '--n', 10, '--out', tmp_path/f's_{sampler}', '--sampler', sampler, '--steps', 4)
        assert (table(r)['sampler'], table(r)['steps']) == (sampler, steps) and len(list((tmp_path/f's_{sampler}').iterdir())) == 10
    r = cli('sample', 'ddpm', '--checkpoint', out, '--n', 10, '--out', tmp_path/'default')
    assert (table(r)['sampler'], table(r)['steps'], table(r)['guide_min_t']) == ('dpmpp', '8', '0')      # the run's, saved in ddpm.pth
    r = cli('sample', 'ddpm', '--checkpoint', out, '--n', 10, '--out', tmp_path/'interval', '--guide-min-t', 1, '--guide-max-t', 30)
    assert (table(r)['guide_min_t'], table(r)['guide_max_t']) == ('1', '30')
    assert table(r)['spacing'] == 'linspace'                                 # the quick budget's grid, saved in ddpm.pth
    r = cli('sample', 'ddpm', '--checkpoint', out, '--n', 10, '--out', tmp_path/'trailing', '--spacing', 'trailing', '--steps', 4)
    assert (table(r)['spacing'], table(r)['steps']) == ('trailing', '4') and len(list((tmp_path/'trailing').iterdir())) == 10
    r = cli('sample', 'ddpm', '--checkpoint', out, '--n', 10, '--out', tmp_path/'bad', '--sampler', 'euler', check=False)
    assert r.returncode != 0 and all(k in r.stderr for k in ('euler', 'ddpm', 'ddim', 'dpmpp'))

def test_samplers_recover_the_data_with_a_perfect_noise_predictor():
    "With the exact noise of a one-image-per-class data set, both samplers must return those images."
    s = NoiseSchedule(200); xs = torch.rand(10, 3, 28, 28)*2 - 1
    class Oracle(torch.nn.Module):
        n_classes = 10
        def __init__(self): super().__init__(); self.p = torch.nn.Parameter(torch.zeros(1))
        def forward(self, x, t, c):
            ab = s.at('alpha_bar', t, x); return (x - ab.sqrt()*xs[c.clamp(max=9)])/(1 - ab).sqrt()
    lb = torch.arange(10)
    torch.testing.assert_close(ddim_sample(Oracle(), s, lb, steps=10), xs, atol=1e-4, rtol=0)
    for fn in (ddim_sample, dpmpp_sample):   # the trailing grid's last update (t = 49 -> 0 noise) lands on x_0
        torch.testing.assert_close(fn(Oracle(), s, lb, steps=4, spacing='trailing'), xs, atol=1e-4, rtol=0)
    torch.testing.assert_close(p_sample_loop(Oracle(), s, lb), xs, atol=1e-4, rtol=0)


def test_grayscale_data_trains_one_channel_and_samples_rgb():
    from dlcv_course.ddpm import ddpm_learner, sample_digits, is_grayscale
    from dlcv_course.data import get_dataset
    assert is_grayscale(get_dataset('mnist', 'valid')) and not is_grayscale(get_dataset('mnistm', 'valid'))
    learn = ddpm_learner('mnist', 'quick')
    assert learn.model.config['in_ch'] == 1
    assert ddpm_learner('mnistm', 'quick').model.config['in_ch'] == 3
    torch.manual_seed(0); m = UNet(channels=(16, 32), in_ch=1)
    torch.nn.init.normal_(m.conv_out.weight, std=0.05)
    x = sample_digits(m, NoiseSchedule(25), torch.arange(4), 'ddim', w=1., steps=4)
    assert x.shape == (4, 3, 28, 28)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])   # one channel, repeated
    xb, yb = learn.dls.train.one_batch()
    learn.ddpm_noise.learn = learn; learn.xb, learn.yb = (xb,), (yb,)
    learn.ddpm_noise.before_batch()
    assert learn.xb[0].shape[1] == 1 and learn.yb[0].shape[1] == 1


def test_min_snr_weights_cap_the_clean_steps():
    from dlcv_course.ddpm import min_snr_weight
    s = NoiseSchedule(400); t = torch.arange(400)
    w = min_snr_weight(s, t, 5.)
    snr = (s.alpha_bar/(1 - s.alpha_bar)).float()
    torch.testing.assert_close(w, torch.where(snr > 5, 5/snr, torch.ones_like(snr)))
    assert (w[1:] >= w[:-1]).all() and w[-1] == 1 and w[0] < 0.01       # rises with the noise, capped at 1
    assert torch.equal(min_snr_weight(s, t, None), torch.ones(400))


def test_eps_loss_weights_each_sample_and_its_gradient():
    from dlcv_course.ddpm import EpsLoss, min_snr_weight
    s = NoiseSchedule(400); t = torch.tensor([0, 100, 399])
    pred = torch.zeros(3, 1, 4, 4, requires_grad=True); eps = torch.randn(3, 1, 4, 4)
    loss = EpsLoss(s, 5.)(pred, eps, t); loss.backward()
    w = min_snr_weight(s, t, 5.)
    mse = eps.pow(2).flatten(1).mean(1)
    torch.testing.assert_close(loss, (w*mse).mean())
    # d/dpred of mean_i w_i mean_j (pred-eps)^2 = w_i * 2 (pred-eps) / (n * 16)
    torch.testing.assert_close(pred.grad, w.view(-1, 1, 1, 1)*2*(0 - eps)/(3*16))


def test_bf16_learner_and_sampler():
    "With `bf16=True` the UNet runs in bfloat16 (weights stay float32); bfloat16 samples are close to float32 ones."
    from dlcv_course.ddpm import ddpm_learner, sample_digits
    from dlcv_course.core import BF16Autocast
    learn = ddpm_learner('mnistm', 'quick', bf16=True, n_train=128)
    assert learn.cfg['bf16'] and any(isinstance(cb, BF16Autocast) for cb in learn.cbs)
    from fastai.basics import Callback
    class Seen(Callback):
        order = 50
        def after_loss(self): self.seen = (self.pred.dtype, float(self.loss.detach()))
    seen = Seen()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=seen)
    assert seen.seen[0] == torch.bfloat16 and next(learn.model.parameters()).dtype == torch.float32
    assert 0 < seen.seen[1] < 10 and not torch.is_autocast_enabled('cpu')
    assert not ddpm_learner('mnistm', 'quick', bf16=False).cfg['bf16']
    torch.manual_seed(0); m = UNet(channels=(16, 32)).eval()
    torch.nn.init.normal_(m.conv_out.weight, std=0.05)
    a = sample_digits(m, NoiseSchedule(50), torch.arange(6), 'ddim', w=2., steps=5)
    b = sample_digits(m, NoiseSchedule(50), torch.arange(6), 'ddim', w=2., steps=5, bf16=True)
    assert b.dtype == torch.float32 and not torch.equal(a, b)          # it really ran in bfloat16
    assert (a - b).abs().mean() < 0.05

def test_cpu_budget_without_bf16_trains_and_stores_the_fp32_setting(monkeypatch, tmp_path):
    "On a CPU that PyTorch may not use AVX512-BF16 on, the cpu budget's `fp32` entries decide the UNet, the epochs and the guidance."
    from dlcv_course.core import bf16_supported
    from dlcv_course.ddpm import ddpm_learner, save_ddpm, load_ddpm, BUDGETS
    monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', 'AVX2'); monkeypatch.setenv('ATEN_CPU_CAPABILITY', 'avx2')
    assert not bf16_supported('cpu')
    learn = ddpm_learner('mnist', 'cpu')
    fp32 = BUDGETS['cpu']['fp32']
    assert learn.cfg['bf16'] is False and learn.model.config['channels'] == tuple(fp32['channels'])
    assert (learn.cfg['epochs'], learn.cfg['w']) == (fp32['epochs'], fp32['w']) != (BUDGETS['cpu']['epochs'], BUDGETS['cpu']['w'])
    save_ddpm(learn, tmp_path/'ddpm.pth')
    _, _, info = load_ddpm(tmp_path/'ddpm.pth')
    assert (info['guidance'], info['guide_min_t'], info['guide_max_t'], info['bf16']) == (fp32['w'], fp32['guide_min_t'], fp32.get('guide_max_t'), False)   # what `sample ddpm` and the explorers use
    assert (info['steps'], info['spacing']) == (4, 'trailing')   # the row's grid, 399, 299, 199, 99: no call at t = 0
    assert ddpm_learner('mnist', 'cpu', epochs=3).cfg['epochs'] == 3   # an explicit setting wins

def test_every_fp32_entry_reaches_the_learner():
    "The `fp32` entries replace the row's before the batches are made, so an entry like `bs` changes the batches too."
    from dlcv_course.ddpm import ddpm_learner
    learn = ddpm_learner('mnist', 'quick', bf16=False, fp32=dict(bs=16, channels=(8, 16)), n_train=64)
    assert (learn.dls.bs, learn.cfg['bs'], learn.model.config['channels']) == (16, 16, (8, 16))
    assert ddpm_learner('mnist', 'quick', bf16=True, fp32=dict(bs=16), n_train=64).dls.bs == 64   # bfloat16: the row as written

def test_the_unet_trains_in_channels_last_and_saves_in_any_layout(tmp_path):
    "fastai's `ChannelsLast` puts the UNet's weights in channels-last layout for the fit; the saved model loads into a plain one with the same outputs."
    from fastai.callback.channelslast import ChannelsLast
    from dlcv_course.ddpm import ddpm_learner, save_ddpm, load_ddpm, sampling_model
    learn = ddpm_learner('mnistm', 'quick', n_train=64)
    assert any(isinstance(cb, ChannelsLast) for cb in learn.cbs)
    conv = learn.model.conv_in
    assert conv.weight.is_contiguous()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    save_ddpm(learn, tmp_path/'ddpm.pth')
    model, sched, _ = load_ddpm(tmp_path/'ddpm.pth')
    assert model.conv_in.weight.is_contiguous()
    x, t, c = torch.randn(4, 3, 28, 28), torch.tensor([1, 10, 20, 40]), torch.tensor([0, 1, 2, 10])
    ema = sampling_model(learn).eval()
    with torch.no_grad(): torch.testing.assert_close(model.eval()(x, t, c), ema(x, t, c), atol=1e-5, rtol=1e-4)

def test_cpu_budget_uses_bf16_only_where_it_is_fast(monkeypatch):
    "AVX512-BF16 without AMX (a Zen 4) trains the bfloat16 row no faster than float32: the cpu budget takes its `fp32` entries there, the bfloat16 row with AMX."
    from dlcv_course.ddpm import ddpm_learner, BUDGETS
    for k in ('ONEDNN_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY'): monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: True)
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: False)
    learn = ddpm_learner('mnist', 'cpu', n_train=64)
    assert learn.cfg['bf16'] is False and learn.model.config['channels'] == tuple(BUDGETS['cpu']['fp32']['channels'])
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: True)
    learn = ddpm_learner('mnist', 'cpu', n_train=64)
    assert learn.cfg['bf16'] is True and learn.model.config['channels'] == tuple(BUDGETS['cpu']['channels'])
