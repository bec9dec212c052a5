"Domain adaptation, end to end: training on tiny problems, the command line and its --resume, and the self-training stopping rule. (The reversal layer, the ramp, its callback and the toolkit are tested in nbs/20_dann.ipynb.)"
import json
import pytest, torch
from fastai.basics import set_seed
from dlcv_course.dann import DANNNet, dann_learner, bound_learner, accuracy_on, load_model, load_scenario
from dlcv_course.data import get_dataset, ImageSet
from dlcv_course.core import RunDir
from conftest import cli

torch.set_num_threads(1)

def _digits(name, split, n, seed=0): return get_dataset(name, split).subset(n, seed=seed)

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

@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    "A quick `dlcv-course run dann` into a fresh folder."
    out = tmp_path_factory.mktemp('dann')/'quick'
    cli('run', 'dann', '--source', 'mnist', '--target', 'mnistm', '--budget', 'quick', '--out', out)
    return out

def test_cli_quick_run_writes_the_three_accuracies(quick_run):
    m = json.loads((quick_run/'metrics.json').read_text())
    for k in ('source_only', 'dann', 'target_only'): assert 0 <= m[k] <= 1, (k, m[k])
    assert m['scenario'] == 'mnist->mnistm' and m['budget'] == 'quick'
    assert 0 <= m['stages']['dann']['valid_domain_accuracy'] <= 1
    assert (quick_run/'figures'/'tsne.png').exists() and (quick_run/'predictions.csv').exists()
    assert load_model(quick_run/'dann.pth')(torch.zeros(2, 3, 28, 28)).shape == (2, 10)

def test_resume_of_a_finished_run_gives_the_same_accuracies(quick_run):
    "--resume on a run whose checkpoints are all at their last epoch fits nothing and reports the same numbers."
    before = json.loads((quick_run/'metrics.json').read_text())
    r = cli('run', 'dann', '--source', 'mnist', '--target', 'mnistm', '--budget', 'quick', '--out', quick_run, '--resume')
    assert r.stdout.count('resuming from') == 3, r.stdout
    after = json.loads((quick_run/'metrics.json').read_text())
    for k in ('source_only', 'dann', 'target_only'): assert after[k] == before[k], (k, before[k], after[k])
    for stage, res in before['stages'].items():
        for k in ('target_test', 'source_test', 'source_valid', 'epochs'): assert after['stages'][stage][k] == res[k], (stage, k)
    assert after['stages']['dann']['valid_domain_accuracy'] == before['stages']['dann']['valid_domain_accuracy']
    assert sorted(p.name for p in (quick_run/'figures').iterdir()) == ['dann_loss_components.png', 'grl_lambda.png', 'tsne.png']

@pytest.mark.parametrize('tol,n_rounds', [(0.01, 3), (0., 5)])
def test_self_training_stops_when_the_target_predictions_settle(monkeypatch, tmp_path, tol, n_rounds):
    "With training stubbed out the predictions never change: the rule stops after the scheduled rounds, unless tol is 0."
    import dlcv_course.uda as uda
    monkeypatch.setattr(uda, 'fit_resumable', lambda *a, **k: 0)
    data = load_scenario('mnist', 'mnistm', n_train=64, n_test=64)
    cfg = dict(bs=32, rounds=(0.5, 0.7, 0.9), epochs_round=1, lr_round=1e-3, max_rounds=5, tol=tol, bf16=False, ema=0.995)
    set_seed(0)
    _, info, _ = uda.self_train(DANNNet().eval(), data, cfg, RunDir(tmp_path/'run'))
    assert len(info) == n_rounds
    assert [r['q'] for r in info[:3]] == [0.5, 0.7, 0.9] and all(r['q'] == 0.9 for r in info[3:])
    assert all(r['changed'] == 0 for r in info)

def test_uda_on_homework_folders_end_to_end(tmp_path):
    "Homework-format source and target folders through `run uda` at the quick budget; the predictions CSV grades as the run did."
    for name in ('mnist', 'mnistm'): cli('data', 'export', name, '--out', tmp_path/name, '--layout', 'homework')
    out = tmp_path/'run'
    cli('run', 'uda', '--source', tmp_path/'mnist', '--target', tmp_path/'mnistm', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    assert m['scenario'] == 'mnist->mnistm' and m['method'] and 0 <= m['improved'] <= 1
    for k in ('source_only', 'dann', 'dann_self_training', 'vada', 'dirt_t', 'vada_self_training', 'target_only'): assert 0 <= m[k] <= 1, k
    r = cli('eval', 'predictions', out/'predictions.csv', '--labels', tmp_path/'mnistm'/'val.csv', '--json')
    g = json.loads(r.stdout)
    n_val = len((tmp_path/'mnistm'/'val.csv').read_text().splitlines()) - 1
    assert g['n'] == n_val and g['extra'] == 0 and g['missing'] == n_val - m['n_target_test']   # the quick budget grades a cut
    assert abs(g['n_correct']/m['n_target_test'] - m['improved']) < 1e-6, (g, m['improved'])

def test_the_learners_train_in_channels_last():
    "The bounds', DANN's, VADA's, DIRT-T's and the course classifier's learners put their convolution weights in channels-last layout when they fit."
    from fastai.callback.channelslast import ChannelsLast
    from dlcv_course.uda import vada_learner, dirtt_learner, BUDGETS
    from dlcv_course.classifier import classifier_learner
    from dlcv_course.core import pick_budget
    cfg = pick_budget(BUDGETS, 'quick')
    d = dict(train=_digits('mnist', 'train', 64), valid=_digits('mnist', 'valid', 32))
    learners = dict(bound=bound_learner(d['train'], d['valid'], bs=32), dann=dann_learner(d, d, bs=32),
                    vada=vada_learner(d, d, cfg), dirt_t=dirtt_learner(DANNNet(), d, cfg), classifier=classifier_learner('mnist', 'quick'))
    for name, learn in learners.items():
        assert any(isinstance(cb, ChannelsLast) for cb in learn.cbs), name
        conv = next(m for m in learn.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(), name   # the default layout until a fit starts
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4, cbs=[])
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous(), name
