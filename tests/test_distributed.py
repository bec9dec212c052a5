"Data-parallel training under `accelerate launch`: two CPU processes shard each epoch and end with the same weights."
import json, os, subprocess, sys
from pathlib import Path
import pytest

N_TRAIN, BS = 1024, 32  # the classifier's quick budget: 1024 training digits, batches of 32 (last one dropped)
ARGS = ['--budget', 'quick', '--epochs', '2', '--width', '8', '--seed', '0']

def _env(home):
    "The environment of a child: one thread each, and no launcher variables or Accelerate config of the user's."
    drop = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
    env = {k: v for k, v in os.environ.items() if not k.startswith('ACCELERATE_') and k not in drop}
    return dict(env, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', HF_HOME=str(home), XDG_CACHE_HOME=str(home),
                MPLBACKEND='Agg')

def _run(cmd, home, timeout=180):  # ~15 s of CPU in all; the timeout only catches a hang
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=_env(home))
    assert r.returncode == 0, f'exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r

def _records(out, n): return [json.loads((out/f'rank{i}.json').read_text()) for i in range(n)]

def test_two_cpu_processes_shard_the_data_and_agree_on_the_weights(tmp_path):
    home = tmp_path/'hf'; home.mkdir()
    _run([sys.executable, '-m', 'dlcv_course.distributed', '--out', tmp_path/'one', *ARGS], home)
    (one,) = _records(tmp_path/'one', 1)
    # explicit launcher arguments, so no `accelerate config` file is needed; on CPU, `--multi_gpu` is what
    # starts several processes (`--cpu` alone would start one)
    _run([sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2',
          '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', '0',
          '-m', 'dlcv_course.distributed', '--out', tmp_path/'two', *ARGS], home)
    r0, r1 = _records(tmp_path/'two', 2)

    # one process: every batch of every epoch
    assert (one['rank'], one['world_size']) == (0, 1)
    assert one['batches'] == [N_TRAIN // BS] * 2 and one['items'] == [N_TRAIN] * 2
    # two processes, both ran, each saw half of each epoch's batches...
    assert {r0['rank'], r1['rank']} == {0, 1} and r0['world_size'] == r1['world_size'] == 2
    for r in (r0, r1):
        assert r['single_process_batches'] == N_TRAIN // BS
        assert r['batches'] == [N_TRAIN // BS // 2] * 2 and r['items'] == [N_TRAIN // 2] * 2
    # ... and different halves, which together are the whole training set of the single-process run
    s0, s1 = set(r0['fingerprints']), set(r1['fingerprints'])
    assert len(s0) == len(s1) == N_TRAIN // 2 and not s0 & s1
    assert s0 | s1 == set(one['fingerprints']) and len(s0 | s1) == N_TRAIN
    # the gradients were averaged: the same weights (and batch-norm buffers) on both ranks, bit for bit,
    # although each rank stepped on its own shard
    assert r0['weights_sha256'] == r1['weights_sha256']
    # it learned: the probe loss fell on both ranks (the same numbers, as the weights are the same)
    for r in (r0, r1): assert r['loss_after'] < 0.95 * r['loss_before'], r
    assert r0['loss_after'] == r1['loss_after']

LAUNCH = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
          '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', '0']

@pytest.fixture(scope='module')
def home(tmp_path_factory):
    "An empty HF_HOME, and the quick course classifier (the GANs' and the DDPM's grader) trained before any launch."
    from dlcv_course.metrics import course_classifier
    for d in ('mnist', 'mnistm'): course_classifier(d, 'quick')
    return tmp_path_factory.mktemp('hf')

@pytest.mark.parametrize('problem', ['dcgan', 'ddpm'])
def test_gan_and_ddpm_shard_the_data_and_agree_on_the_weights(problem, tmp_path, home):
    _run(LAUNCH + ['-m', 'dlcv_course.distributed', '--problem', problem, '--budget', 'quick', '--epochs', '1',
                   '--out', tmp_path], home, timeout=300)
    r0, r1 = _records(tmp_path, 2)
    assert (r0['rank'], r1['rank'], r0['world_size']) == (0, 1, 2)
    half = r0['single_process_batches'] // 2
    assert r0['batches'] == r1['batches'] == [half] and r0['items'] == [half * r0['bs']]
    s0, s1 = set(r0['fingerprints']), set(r1['fingerprints'])
    assert len(s0) == len(s1) == half * r0['bs'] and not s0 & s1  # disjoint halves of the epoch
    assert r0['weights_sha256'] == r1['weights_sha256']
    if problem == 'ddpm': assert r0['ema_sha256'] is not None and r0['ema_sha256'] == r1['ema_sha256']

def _launched_run(problem, out, home, extra=(), timeout=600):
    "`dlcv-course run PROBLEM` on two CPU processes under `accelerate launch`; returns its metrics."
    _run(LAUNCH + ['-m', 'dlcv_course.cli', 'run', problem, '--budget', 'quick', '--epochs', '1', '--out', out, *extra], home, timeout)
    assert [p.name for p in out.rglob('metrics.json')] == ['metrics.json']
    assert not list(out.rglob('*.tmp')), 'a rank left a half-written file'
    m = json.loads((out/'metrics.json').read_text())
    assert m['processes'] == 2 and m['problem'] == problem
    return m

@pytest.mark.parametrize('problem', ['classifier', 'dcgan', 'ddpm', 'dann'])
def test_cli_run_under_accelerate_launch(problem, tmp_path, home):
    _launched_run(problem, tmp_path/'run', home)

@pytest.mark.slow
@pytest.mark.parametrize('problem', ['classifier', 'vae', 'dcgan', 'wgan-gp', 'acgan', 'ddpm', 'dann', 'uda'])
def test_every_problem_under_accelerate_launch(problem, tmp_path, home):
    _launched_run(problem, tmp_path/'run', home, timeout=900)

@pytest.mark.slow
def test_torchrun_and_resume_under_the_launcher(tmp_path, home):
    "`torchrun` starts the same run; a launched run resumes from the checkpoint of the unwrapped model."
    out = tmp_path/'run'
    _run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'dlcv_course.cli',
          'run', 'classifier', '--budget', 'quick', '--epochs', '1', '--out', out], home)
    m = json.loads((out/'metrics.json').read_text())
    assert m['processes'] == 2
    import torch
    assert not any(k.startswith('module.') for k in torch.load(out/'checkpoint.pth', weights_only=True)['model'])
    m2 = _launched_run('classifier', out, home, extra=['--resume', '--epochs', '2'])
    assert m2['resumed_from_epoch'] == 1

def test_first_use_of_the_course_classifier_under_a_launcher(tmp_path, home):
    "With an empty classifier cache, rank 0 trains the grader alone while rank 1 waits on the lock: the run ends, no hang."
    out = tmp_path/'run'
    r = subprocess.run([str(c) for c in LAUNCH + ['-m', 'dlcv_course.cli', 'run', 'dcgan', '--budget', 'quick', '--epochs', '1',
                                                  '--out', out]],
                       capture_output=True, text=True, timeout=600, env=dict(_env(home), DLCV_CACHE=str(tmp_path/'cache')))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count('training the course classifier') == 1
    assert json.loads((out/'metrics.json').read_text())['processes'] == 2
