"Domain adaptation: the gradient reversal layer, the lambda ramp and its callback, the bounds, DANN, and the CLI."
import json, math
import numpy as np, pytest, torch
from fastai.basics import set_seed
from dlcv_course.dann import (grad_reverse, lambda_p, GRLSchedule, DANNNet, dann_learner, bound_learner,
                              accuracy_on, load_model, predict_csv)
from dlcv_course.data import get_dataset, ImageSet
from conftest import cli

torch.set_num_threads(1)

@pytest.mark.parametrize('lam', [0., 0.25, 1., 3.7])
def test_grad_reverse_is_identity_forward_and_minus_lambda_backward(lam):
    x = torch.randn(3, 7, requires_grad=True); g = torch.randn(3, 7)
    y = grad_reverse(x, lam)
    assert torch.equal(y, x)
    y.backward(g)
    assert torch.equal(x.grad, -lam*g)

def test_grad_reverse_flips_the_sign_of_a_real_loss_gradient():
    w = torch.randn(5, requires_grad=True); x = torch.randn(5)
    (grad_reverse(w, 0.5)*x).sum().backward()
    assert torch.allclose(w.grad, -0.5*x)

def test_lambda_ramp_values():
    assert lambda_p(0) == 0
    assert abs(lambda_p(0.5) - 0.9866) < 1e-4
    assert abs(lambda_p(1) - 0.99991) < 1e-5
    ps = np.linspace(0, 1, 11)
    assert all(np.diff([lambda_p(p) for p in ps]) > 0)  # increasing

def _digits(name, split, n, seed=0): return get_dataset(name, split).subset(n, seed=seed)

def test_grl_schedule_follows_the_learners_progress():
    s = dict(train=_digits('mnist', 'train', 96), valid=_digits('mnist', 'valid', 32))
    t = dict(train=_digits('mnistm', 'train', 96), valid=_digits('mnistm', 'valid', 32))
    learn = dann_learner(s, t, bs=32)
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3)
    h = learn.grl_schedule.history
    assert len(h) == 3*3
    ps = [p for p, _ in h]
    assert np.allclose(ps, np.arange(9)/9, atol=1e-6)          # pct_train of each batch, from 0 upwards
    assert np.allclose([l for _, l in h], [lambda_p(p) for p in ps], atol=1e-7)
    assert learn.model.lambda_ == pytest.approx(lambda_p(8/9))

def test_source_only_training_on_a_tiny_problem_learns():
    train, valid = _digits('mnist', 'train', 600), _digits('mnist', 'valid', 300)
    learn = bound_learner(train, valid, bs=32)
    before = accuracy_on(learn.model, valid)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 3e-3)
    after = accuracy_on(learn.model, valid)
    assert before < 0.3 and after > 0.8, (before, after)

def _marked(ds):
    "The same digits at 60 % brightness: an easy second domain, told apart by intensity alone."
    im = (ds.images.float()*0.6).round().to(torch.uint8)
    return ImageSet(im, ds.labels, ds.names, ds.classes, 'dimmed digits')

def _domain_acc(model, s, t):
    with torch.no_grad():
        model.eval(); f = model.embed(torch.cat([s.images, t.images]).float()/127.5-1)
        d = model.domain(f).argmax(1)
    return float(torch.cat([d[:len(s)] == 0, d[len(s):] == 1]).float().mean())

def test_dann_domain_accuracy_heads_towards_chance_on_an_easy_pair():
    "Without reversal the domain head separates the dimmed digits; with DANN (same seed, same steps) it falls towards 0.5."
    src = dict(train=_digits('mnist', 'train', 512), valid=_digits('mnist', 'valid', 64))
    tgt = dict(train=_marked(_digits('mnist', 'train', 512, seed=1)), valid=_marked(_digits('mnist', 'valid', 64, seed=1)))
    s_te, t_te = _digits('mnist', 'test', 300), _marked(_digits('mnist', 'test', 300, seed=1))
    accs = {}
    for name, max_lambda in (('no_reversal', 0.), ('dann', 1.)):
        set_seed(0)
        learn = dann_learner(src, tgt, bs=64, max_lambda=max_lambda, norm=None)  # no input normalisation: colour shows
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(4, 3e-3)
        accs[name] = _domain_acc(learn.model, s_te, t_te)
    assert accs['no_reversal'] > 0.95, accs
    assert accs['dann'] < 0.75, accs

def test_cli_quick_run_writes_the_three_accuracies(tmp_path):
    out = tmp_path/'d'
    cli('run', 'dann', '--source', 'mnist', '--target', 'mnistm', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    for k in ('source_only', 'dann', 'target_only'): assert 0 <= m[k] <= 1, (k, m[k])
    assert m['scenario'] == 'mnist->mnistm' and m['budget'] == 'quick'
    assert (out/'figures'/'tsne.png').exists() and (out/'predictions.csv').exists()
    assert load_model(out/'dann.pth')(torch.zeros(2, 3, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize('tol,n_rounds', [(0.01, 3), (0., 5)])
def test_self_training_stops_when_the_target_predictions_settle(monkeypatch, tmp_path, tol, n_rounds):
    "With training stubbed out the predictions never change: the rule stops after the scheduled rounds, unless tol is 0."
    import dlcv_course.uda as uda
    from dlcv_course.core import RunDir
    from dlcv_course.dann import load_scenario
    monkeypatch.setattr(uda, 'fit_resumable', lambda *a, **k: 0)
    data = load_scenario('mnist', 'mnistm', n_train=64, n_test=64)
    cfg = dict(bs=32, rounds=(0.5, 0.7, 0.9), epochs_round=1, lr_round=1e-3, max_rounds=5, tol=tol)
    set_seed(0)
    _, info, _ = uda.self_train(DANNNet().eval(), data, cfg, RunDir(tmp_path/'run'))
    assert len(info) == n_rounds
    assert [r['q'] for r in info[:3]] == [0.5, 0.7, 0.9] and all(r['q'] == 0.9 for r in info[3:])
    assert all(r['changed'] == 0 for r in info)
