"`dlcv-course bench`: the JSON it prints and writes, and the fairness of its Learner-vs-plain-loop comparison."
import copy, json, math
import pytest, torch
from fastai.basics import set_seed
from conftest import cli
from dlcv_course import bench as B
from dlcv_course.classifier import DigitNet

def _positive(v): return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0

def test_quick_bench_json_equals_file(tmp_path):
    out = tmp_path/'sub'/'bench.json'
    r = cli('bench', '--json', '--quick', '--out', out)
    res = json.loads(r.stdout)
    assert json.loads(out.read_text()) == res and out.read_text() == r.stdout
    for k in ('learner_overhead', 'learner_overhead_cpu', 'sample_seconds_1000_ddim', 'sample_seconds_1000_ddpm'): assert _positive(res[k]), (k, res[k])
    d = res['learner_overhead_detail']
    assert all(_positive(d[k]) for k in ('learner_seconds', 'plain_seconds', 'learner_cpu_seconds', 'plain_cpu_seconds'))
    assert d['steps'] > 0 and len(d['ratios']) == len(d['cpu_ratios']) == d['repeats']
    from dlcv_course.registry import PROBLEMS
    rates = res['train_images_per_second']
    assert set(rates) == set(PROBLEMS)
    assert all(_positive(v) for v in rates.values()), rates
    s = res['sampling']
    assert s['ddim']['n'] > 0 and s['ddpm']['n'] > 0 and s['ddpm']['steps'] > s['ddim']['steps']
    assert res['quick'] is True and res['threads'] >= 1 and res['torch'] == torch.__version__
    assert res['cpu'] and res['machine'] and res['date']
    assert not list(tmp_path.glob('sub/.*.tmp'))  # written atomically: no temporary file left

def test_bench_bad_checkpoint_is_one_clear_line(tmp_path):
    r = cli('bench', '--quick', '--checkpoint', tmp_path/'no-such-run', '--out', tmp_path/'b.json', check=False)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert 'no-such-run' in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path/'b.json').exists()

@pytest.fixture(scope='module')
def trained():
    torch.manual_seed(0); set_seed(0)
    model, batches = DigitNet(), B.digit_batches(5, bs=16, seed=1)
    return model, batches, *B.same_training(model, batches, lr=2e-3)

def test_plain_loop_and_learner_reach_the_same_weights(trained):
    "In float64 (see the notebook: float32 rounding can grow under Adam) the two loops agree to rounding."
    model, batches, plain, learner = trained
    assert plain.body[0][0].weight.dtype == learner.body[0][0].weight.dtype == torch.float64
    assert B.max_weight_diff(plain, learner) < 1e-9
    assert B.max_weight_diff(B.as_float64(model, [])[0], learner) > 1e-3  # and they did train

@pytest.mark.parametrize('change', ['batches', 'lr', 'wd', 'wd_bn_bias', 'eps'])
def test_weight_check_fails_when_the_runs_differ(trained, change):
    model, batches, _, learner = trained
    m, batches = B.as_float64(model, batches); kw = dict(lr=2e-3)
    if change == 'batches': batches = batches[:-1] + batches[:1]
    if change == 'lr': kw['lr'] = 2.02e-3
    if change == 'wd': kw['wd'] = 0.
    if change == 'wd_bn_bias': kw['wd_bn_bias'] = True
    if change == 'eps': kw['eps'] = 1e-8  # torch's default
    torch.manual_seed(0); B.plain_fit(m, B.torch_adam_like_fastai(m, **kw), batches)
    assert B.max_weight_diff(m, learner) > 1e-5

def test_time_batches_counts_images_and_stops():
    learn = B.PROBLEMS['classifier'].load('learner')(budget='quick'); lr = learn.cfg['lr']
    tb = B.TimeBatches(3, warmup=1)
    with learn.no_bar(): learn.fit(1, lr, cbs=tb)
    assert tb.images == 3*learn.dls.train.bs and tb.count == 4 and tb.seconds > 0
    assert learn.recorder.values == []  # stopped before the epoch ended: no validation
