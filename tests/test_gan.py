"GANs end to end: the quick runs from the command line, the samplers, the face path and resuming (unit properties are tested in the notebooks)."
import json
from pathlib import Path
import pytest, torch
from conftest import cli
from dlcv_course.gan import load_generator
from dlcv_course.dcgan import run_dcgan
from dlcv_course.acgan import run_acgan, sample_acgan, fake_face_folder

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:You are shadowing an attribute")

# ---- runs and samplers --------------------------------------------------------------------------------------------

def test_cli_quick_acgan_run_writes_keys_and_samples(tmp_path):
    out = tmp_path/'acgan'
    r = cli('run', 'acgan', '--data', 'mnist', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    assert {'fid', 'fid_floor', 'fid_untrained', 'is', 'accuracy', 'fid_raw', 'accuracy_raw', 'ema'} <= set(m), m
    assert 0 <= m['accuracy'] <= 1 and m['fid_floor'] < m['fid'] and m['is'] >= 1 and 0 <= m['accuracy_raw'] <= 1
    assert (out/'generator_raw.pth').exists() and (out/'figures'/'raw_vs_ema.png').exists()
    assert 'accuracy' in r.stdout
    assert {'samples.png', 'losses.png'} <= {p.name for p in (out/'figures').iterdir()}
    assert len(list((out/'samples').glob('[0-9]_[0-9][0-9][0-9].png'))) == 1000
    cli('sample', 'acgan', '--checkpoint', out, '--n', 50, '--out', tmp_path/'s')
    names = sorted(p.name for p in (tmp_path/'s').iterdir())
    assert len(names) == 50 and names[:2] == ['0_000.png', '0_001.png'] and names[-1] == '9_004.png'

def test_acgan_budget_overrides_reach_the_networks_and_a_wrong_name_is_refused(tmp_path):
    "`run_acgan(..., depth=0, lambda_fake=1.)` (the ablation of 13_acgan) builds the paper's ACGAN; a misspelt setting is named before anything is written."
    from dlcv_course.gan import gan_problem_learner
    from dlcv_course.acgan import build_acgan, BUDGETS
    convs = lambda l: sum(isinstance(m, torch.nn.Conv2d) for m in l.model.critic.modules())
    cpu, paper = (gan_problem_learner(build_acgan, BUDGETS, 'mnist', 'quick', **kw) for kw in ({}, dict(depth=0, lambda_fake=1.)))
    assert (convs(cpu), convs(paper)) == (6, 4)
    assert (cpu.loss_func.crit_loss_func.keywords, paper.loss_func.crit_loss_func.keywords) == ({'lambda_fake': 0.}, {'lambda_fake': 1.})
    with pytest.raises(ValueError, match="no budget setting 'lambda_fakes'"): run_acgan('mnist', 'quick', tmp_path/'r', lambda_fakes=0.)
    assert not (tmp_path/'r').exists()

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
    m1 = run_dcgan('mnist', 'quick', tmp_path/'r', epochs=1)
    ck1 = torch.load(tmp_path/'r'/'checkpoint.pth', weights_only=True)
    m2 = run_dcgan('mnist', 'quick', tmp_path/'r', epochs=2, resume=True)
    ck2 = torch.load(tmp_path/'r'/'checkpoint.pth', weights_only=True)
    assert ck1['epoch'] == 0 and ck2['epoch'] == 1 and m2['resumed_from_epoch'] == 1
    n1 = len(ck1['callbacks']['LossComponents']['batches'])
    assert len(ck2['callbacks']['LossComponents']['batches']) == 2*n1
    assert ck2['callbacks']['SampleGrid']['epochs'] == [0, 1]
    # the generator's moving average goes on from the checkpoint: one update per generator step of both epochs
    n_ema = ck1['callbacks']['GeneratorEMA']['n']
    assert n_ema > 0 and ck2['callbacks']['GeneratorEMA']['n'] == 2*n_ema

def test_sampled_generator_is_the_average(tmp_path):
    "generator.pth holds the averaged weights, generator_raw.pth the trained ones; `ema` 0 turns the average off."
    run_dcgan('mnist', 'quick', tmp_path/'r', epochs=1)
    ck = torch.load(tmp_path/'r'/'checkpoint.pth', weights_only=True)
    ema, raw = load_generator(tmp_path/'r'), load_generator(tmp_path/'r'/'generator_raw.pth')
    for k, v in ema.state_dict().items():
        assert torch.equal(v, ck['callbacks']['GeneratorEMA']['ema'][k])
    assert any(not torch.equal(a, b) for a, b in zip(ema.parameters(), raw.parameters()))
    from dlcv_course import dcgan
    from dlcv_course.gan import run_gan
    table = {b: dict(r, ema=0) for b, r in dcgan.BUDGETS.items()}
    m, _ = run_gan('dcgan', dcgan.build_dcgan, table, 'mnist', 'quick', tmp_path/'plain')
    assert 'fid_raw' not in m and not (tmp_path/'plain'/'generator_raw.pth').exists()
