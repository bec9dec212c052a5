import os, sys, subprocess
from pathlib import Path
import pytest

# tests never fetch the Inception weights (a run that needs them falls back to the course classifier)
os.environ.setdefault('DLCV_NO_DOWNLOAD', '1')

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def cli(*args, check=True, timeout=900, **kw):
    "Run `dlcv-course ARGS` in a subprocess; returns the CompletedProcess."
    exe = BIN/'dlcv-course'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-m', 'dlcv_course.cli']
    r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, MPLBACKEND='Agg'), **kw)
    if check and r.returncode != 0: raise AssertionError(f'exit {r.returncode}\n{r.stdout}\n{r.stderr}')
    return r

@pytest.fixture
def run_cli(): return cli
