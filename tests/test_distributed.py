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
