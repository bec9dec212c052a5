"The VAE: KLD, reparameterisation, the loss's reduction, beta's schedule, and the CLI."
import json
import pytest, torch
from conftest import cli
from dlcv_course.vae import kld, reparameterize, vae_loss, ConvVAE, BetaSchedule

torch.set_num_threads(1)

def test_kld_zero_at_prior_positive_elsewhere():
    z = torch.zeros(4, 16)
    assert torch.equal(kld(z, z), torch.zeros(4))
    torch.manual_seed(0)
    assert (kld(torch.randn(4, 16), z) > 0).all()
    assert (kld(z, torch.randn(4, 16)) > 0).all()
    # closed form: 1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1), summed over dims, one value per image
    mu, lv = torch.tensor([[1., 2.]]), torch.tensor([[0., 1.]])
    torch.testing.assert_close(kld(mu, lv), 0.5*torch.tensor([1. + 4. + (torch.e - 1. - 1.)]))

def test_reparameterize_moments_and_gradient():
    mu = torch.full((20000, 2), 3., requires_grad=True); lv = torch.full((20000, 2), 2*torch.log(torch.tensor(0.5)))
    z = reparameterize(mu, lv)
    assert abs(z.mean() - 3) < 0.02 and abs(z.std() - 0.5) < 0.02
    z.sum().backward(); assert torch.equal(mu.grad, torch.ones_like(mu))

def test_loss_reduction_sum_per_image_mean_over_batch():
    x = torch.zeros(2, 3, 4, 4); r = torch.ones(2, 3, 4, 4)*0.5
    mu, lv = torch.ones(2, 5), torch.zeros(2, 5)
    parts = {}
    l = vae_loss((r, mu, lv), x, beta=2., parts=parts)
    torch.testing.assert_close(l, torch.tensor(48*0.25 + 2*2.5))   # 48 pixels x 0.25, KLD 5 x 1/2
    torch.testing.assert_close(parts['mse'], torch.tensor(0.25)); torch.testing.assert_close(parts['kld'], torch.tensor(2.5))

def test_model_shapes_and_eval_uses_mean():
    m = ConvVAE(nz=8).eval()
    x = torch.randn(3, 3, 28, 28)
    r, mu, lv = m(x)
    assert r.shape == x.shape and mu.shape == lv.shape == (3, 8) and r.abs().max() <= 1
    assert torch.equal(m(x)[0], r)  # deterministic in eval mode
    assert m.sample(4, seed=0).shape == (4, 3, 28, 28)

def test_beta_warmup():
    cb = BetaSchedule(beta=4., warmup=0.5)
    class L: training = True
    cb.learn = L(); cb.before_fit()
    seen = []
    for p in (0., 0.25, 0.5, 0.9):
        cb.learn.pct_train = p; cb.before_batch(); seen.append(cb.learn.beta)
    assert seen == [0., 2., 4., 4.]

def test_cli_quick_run_writes_keys(tmp_path):
    out = tmp_path/'vae'
    cli('run', 'vae', '--data', 'mnist', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    assert 0 < m['test_mse'] < 1 and m['kld'] > 0 and len(m['beta_sweep']) == 3
    assert {'loss.png', 'reconstructions.png', 'samples.png', 'tsne.png', 'beta_sweep.png'} <= {p.name for p in (out/'figures').iterdir()}
