"Interactive explorers: setting a control redraws the picture, the same values give the same picture, and run folders load."
from pathlib import Path
import numpy as np, pytest, torch
from torch import nn
from dlcv_course.core import torch_save, image_grid
from dlcv_course.data import ImageSet
from dlcv_course.gan import Generator, CondGenerator, save_generator, noise
from dlcv_course.vae import ConvVAE
from dlcv_course.ddpm import UNet, NoiseSchedule
from dlcv_course.dann import DANNNet, save_model
from dlcv_course.explore import (Explorer, png_bytes, slerp, interpolate_latents, load_decoder, latent_explorer,
                                 guidance_explorer, features_explorer, disagreements)

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:You are shadowing an attribute")

def changes(ex, name, value):
    "Set control `name` to `value`; return (picture before, png before, picture after, png after)."
    a, pa = ex.current.copy(), ex.image.value
    getattr(ex, name).value = value
    return a, pa, ex.current.copy(), ex.image.value

def assert_redraws(ex, name, value):
    "Setting `name` to `value` changes the picture and the displayed PNG; setting it back restores both."
    old = getattr(ex, name).value
    a, pa, b, pb = changes(ex, name, value)
    assert not np.array_equal(a, b) and pa != pb
    getattr(ex, name).value = old
    assert np.array_equal(ex.current, a) and ex.image.value == pa

# ---- the frame -----------------------------------------------------------------------------------------------------

def test_png_bytes_scale_and_palette():
    from PIL import Image
    import io
    a = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    im = Image.open(io.BytesIO(png_bytes(a, 3)))
    assert im.size == (21, 15)
    assert np.array_equal(np.asarray(im.convert('RGB'))[::3, ::3], a)  # nearest neighbour: the pixels themselves
    assert Image.open(io.BytesIO(png_bytes(a, 1, colors=4))).mode == 'P'

def test_explorer_observes_and_caches():
    import ipywidgets as w
    calls = []
    def draw(v): calls.append(v); return np.full((4, 4, 3), v, np.uint8)
    ex = Explorer(dict(v=w.IntSlider(10, 0, 255)), draw)
    assert_redraws(ex, 'v', 20)
    assert calls == [10, 20]          # moving back came from the cache
    assert ex.describe() == 'v=10' and 'v=10' in ex.status.value
    with pytest.raises(ValueError, match='no control named'): ex.render(u=1)
    with pytest.raises(ValueError, match="'layout'"): Explorer(dict(layout=w.IntSlider()), draw)
    ex.close()

def test_slerp_endpoints_and_norm():
    a, b = noise(4, 64, 0, 'cpu'), noise(4, 64, 1, 'cpu')
    assert torch.allclose(slerp(a, b, 0.), a.flatten(1), atol=1e-5) and torch.allclose(slerp(a, b, 1.), b.flatten(1), atol=1e-5)
    mid_s, mid_l = slerp(a, b, .5).norm(dim=1), interpolate_latents(a, b, .5, 'linear').norm(dim=1)
    ends = torch.minimum(a.flatten(1).norm(dim=1), b.flatten(1).norm(dim=1))
    assert (mid_s > 0.95*ends).all() and (mid_l < 0.85*mid_s).all()
    with pytest.raises(ValueError, match='slerp'): interpolate_latents(a, b, .5, 'spline')

# ---- latent interpolation ------------------------------------------------------------------------------------------

@pytest.fixture
def gen():
    "A small untrained generator with weights large enough that its images depend visibly on the latent."
    torch.manual_seed(0); g = Generator(28, nz=8, ngf=8)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, nn.ConvTranspose2d): m.weight.normal_(0, 0.3)
    return g

def test_latent_explorer_gan(gen):
    ex = latent_explorer(gen, n=4)
    assert ex.current.shape == (32, 4*30+2, 3)
    for name, value in (('t', 0.9), ('seed_a', 3), ('seed_b', 4), ('path', 'linear')): assert_redraws(ex, name, value)
    ex2 = latent_explorer(gen, n=4)                     # the same values, the same picture (seeded noise, eval mode)
    assert np.array_equal(ex2.current, ex.current)
    assert np.array_equal(ex.render(t=0.), image_grid(gen.eval()(noise(4, 8, 0, 'cpu')), 4))
    assert not hasattr(ex, 'label')
    ex.close(); ex2.close()

def test_latent_explorer_conditional(tmp_path):
    torch.manual_seed(0); g = CondGenerator(10, 28, nz=8, ngf=8)
    save_generator(g, tmp_path/'generator.pth', kind='acgan', classes=[str(i) for i in range(10)])
    ex = latent_explorer(tmp_path, n=3)                 # from the run folder
    assert ex.label.value == -1 and ex.current.shape[0] == 10*30+2
    assert_redraws(ex, 'label', 4)
    ex.label.value = 4
    assert ex.current.shape[0] == 32
    assert np.abs(ex.current.astype(int) - ex.render(label=-1)[4*30:5*30+2]).max() <= 1
    assert_redraws(ex, 't', 0.)
    ex.close()

def test_latent_explorer_vae_folder(tmp_path):
    torch.manual_seed(0); vae = ConvVAE(nz=4, ch=(4, 8, 8))
    torch_save(dict(state_dict=vae.state_dict(), config=vae.config), tmp_path/'vae.pth')
    assert isinstance(load_decoder(tmp_path), ConvVAE)
    ex = latent_explorer(tmp_path, n=2)
    assert_redraws(ex, 't', 0.1)
    with torch.no_grad(): a0 = image_grid(vae.eval().decode(noise(2, 4, 0, 'cpu').flatten(1)), 2)
    assert np.array_equal(ex.render(t=0.), a0)
    ex.close()

def test_latent_explorer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='no generator.pth'): latent_explorer(tmp_path)
    torch_save(dict(a=1), tmp_path/'generator.pth')
    with pytest.raises(ValueError, match='not a generator'): latent_explorer(tmp_path)
    with pytest.raises(ValueError, match='give `nz`'): latent_explorer(lambda z: z)
    with pytest.raises(TypeError, match='not int'): latent_explorer(3)

# ---- guidance ------------------------------------------------------------------------------------------------------

def unet(in_ch=3):
    "An untrained UNet whose output layer is not zero (else eps = 0 and guidance would change nothing)."
    torch.manual_seed(0); m = UNet(n_classes=10, channels=(8, 16), in_ch=in_ch)
    nn.init.normal_(m.conv_out.weight, 0, 0.05)
    return m

@pytest.mark.parametrize('in_ch', [3, 1])
def test_guidance_explorer(in_ch):
    m, sched = unet(in_ch), NoiseSchedule(50)
    ex = guidance_explorer(m, sched, n=10, steps=4)
    assert ex.current.shape == (32, 10*30+2, 3)
    for name, value in (('w', 5.), ('steps', 2), ('digit', 3), ('seed', 1)): assert_redraws(ex, name, value)
    ex2 = guidance_explorer(m, sched, n=10, steps=4)
    assert np.array_equal(ex2.current, ex.current)
    ex.sampler.value = 'ddpm'
    assert ex.steps.disabled and not np.array_equal(ex.current, ex2.current)
    ex.sampler.value = ex2.sampler.value   # back to the default sampler (the cpu budget's): the same samples again
    assert not ex.steps.disabled and np.array_equal(ex.current, ex2.current)
    ex.sampler.value = 'ddim' if ex2.sampler.value != 'ddim' else 'dpmpp'   # the other few-step solver: other samples
    assert not ex.steps.disabled and not np.array_equal(ex.current, ex2.current)
    with pytest.raises(ValueError, match='give `sched`'): guidance_explorer(m)
    ex.close(); ex2.close()

def test_guidance_explorer_run_folder(tmp_path):
    m = unet()
    torch_save(dict(state_dict=m.state_dict(), config=m.config, T=50, size=28, data='mnist'), tmp_path/'ddpm.pth')
    ex = guidance_explorer(tmp_path, n=10, steps=3)
    ref = guidance_explorer(m, NoiseSchedule(50), n=10, steps=3)
    assert np.array_equal(ex.current, ref.current)
    ex.close(); ref.close()

# ---- features ------------------------------------------------------------------------------------------------------

def domains(n=60):
    "Two tiny labelled domains: bright digits-like blobs on black, and the same inverted on colour."
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, 28, 28, generator=g)*255).to(torch.uint8)
    y = torch.arange(n) % 10
    return ImageSet(x, y, name='src'), ImageSet(255 - x, y, name='tgt')

def test_features_explorer(tmp_path):
    s, t = domains()
    torch.manual_seed(0); m1 = DANNNet(width=4, hidden=8); torch.manual_seed(1); m2 = DANNNet(width=4, hidden=8)
    ex = features_explorer({'source only': m1, 'DANN': m2}, s, t, n=60, point=0)
    E = ex.embedding
    assert list(E['emb']) == ['source only', 'DANN'] and E['emb']['DANN'].shape == (60, 2) and E['domain'].sum() == 30
    assert_redraws(ex, 'colour', 'class')
    assert_redraws(ex, 'colour', 'correct')
    assert_redraws(ex, 'point', 45)
    d = disagreements(E)
    assert all(E['domain'][i] == 1 and E['pred']['source only'][i] != E['labels'][i] == E['pred']['DANN'][i] for i in d)
    # a run folder: the same models, the same pictures
    save_model(m1, tmp_path/'source_only.pth'); save_model(m2, tmp_path/'dann.pth')
    ex2 = features_explorer(tmp_path, s, t, n=60, point=0)
    assert np.array_equal(ex2.current, ex.current)
    with pytest.raises(FileNotFoundError, match='not a dlcv-course run dann'): features_explorer(tmp_path/'nothing')
    with pytest.raises(TypeError, match='dict name'): features_explorer([m1], s, t)
    ex.close(); ex2.close()

# ---- static views --------------------------------------------------------------------------------------------------

def test_snapshot_strip_show(gen, capsys):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ex = latent_explorer(gen, n=4)
    fig = ex.snapshot()
    assert np.array_equal(fig.axes[0].images[0].get_array(), ex.current) and 't=0.5' in fig.axes[0].get_title()
    plt.close(fig)
    fig = ex.strip('t', [0., 0.5, 1.])
    assert len(fig.axes) == 3 and [a.get_title(loc='left') for a in fig.axes] == ['t=0', 't=0.5', 't=1']
    assert np.array_equal(fig.axes[1].images[0].get_array(), ex.current)   # the strip leaves the display alone
    assert np.array_equal(fig.axes[0].images[0].get_array(), ex.render(t=0.))
    plt.close(fig)
    with pytest.raises(ValueError, match='no control named'): ex.strip('w', [1, 2])
    ex.show('t', [0., 1.]); ex.show()
    assert plt.get_fignums() == []                                          # show closes its figures
    ex.close()
