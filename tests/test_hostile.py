"""Hostile inputs through the command line, as a careful user would try them: wrong labels, homework folders
given to `eval`, two graders racing on an empty cache, a negative seed, a classifier run given to `sample`."""
import json, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from conftest import cli
from dlcv_course import metrics as M
from dlcv_course.data import get_dataset

def _cmd():
    exe = Path(sys.executable).parent/'dlcv-course'
    return [str(exe)] if exe.exists() else [sys.executable, '-m', 'dlcv_course.cli']

@pytest.fixture(scope='module')
def race(tmp_path_factory):
    "Two `dlcv-course eval digits` started at once on an empty classifier cache (quick budget): their outputs and the cache."
    d = tmp_path_factory.mktemp('race')
    t = get_dataset('mnist', 'test').subset(60, seed=0)
    M.write_digits(t.images, t.labels, d/'F')
    env = dict(os.environ, DLCV_CACHE=str(d/'cache'), DLCV_CLASSIFIER_BUDGET='quick', DLCV_NO_DOWNLOAD='1', MPLBACKEND='Agg')
    ps = [subprocess.Popen(_cmd() + ['eval', 'digits', str(d/'F'), '--json'], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=600) + (p.returncode,) for p in ps]
    return dict(outs=outs, cache=d/'cache', folder=d/'F', env=env)

def test_two_graders_on_an_empty_cache_train_once(race):
    outs = race['outs']
    assert [rc for _, _, rc in outs] == [0, 0], outs
    trained = [l for _, err, _ in outs for l in err.splitlines() if l.startswith('training the course classifier')]
    assert len(trained) == 1, [err for _, err, _ in outs]
    res = [json.loads(out) for out, _, _ in outs]
    assert res[0]['accuracy'] == res[1]['accuracy'] and res[0]['n'] == 60
    runs = [p.parent for p in (race['cache']/'classifiers').rglob('classifier.pth')]
    assert len(runs) == 1 and len(list(runs[0].glob('metrics.json'))) == 1

def _eval(race, folder):
    r = subprocess.run(_cmd() + ['eval', 'digits', str(folder), '--json'], env=race['env'], text=True, capture_output=True, timeout=600)
    return r

@pytest.mark.parametrize('bad', [12, -3])
def test_eval_label_outside_the_digits_fails_naming_csv_row_label(race, tmp_path, bad):
    t = get_dataset('mnist', 'test')
    names = M.write_images(t.images[:10], tmp_path/'u')
    lab = t.labels[:10].numpy().copy(); lab[7] = bad
    M.write_predictions_csv(names, lab, tmp_path/'u'/'labels.csv')
    r = _eval(race, tmp_path/'u')
    assert r.returncode == 2 and not r.stdout and 'Traceback' not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('dlcv-course: error:') and str(tmp_path/'u'/'labels.csv') in last
    assert 'line 9 (data row 8)' in last and f'label {bad} ' in last and '0007.png' in last

def test_eval_of_a_homework_folder_grades_its_test_split(race, tmp_path):
    t = get_dataset('mnist', 'test')
    root = tmp_path/'hw'; (root/'data').mkdir(parents=True)
    names = [f'{i:05d}.png' for i in range(30)]
    for n, a in zip(names, t.images[:30, 0].numpy()): Image.fromarray(a).save(root/'data'/n)
    pd.DataFrame({'image_name': names[:20], 'label': t.labels[:20].numpy()}).to_csv(root/'train.csv', index=False)
    pd.DataFrame({'image_name': names[20:], 'label': t.labels[20:30].numpy()}).to_csv(root/'val.csv', index=False)
    r = _eval(race, root)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res['n'] == 10 and res['labels_from'] == str(root/'val.csv')

def test_eval_wrong_header_names_the_csv(race, tmp_path):
    names = M.write_images(get_dataset('mnist', 'test').images[:4], tmp_path/'u')
    (tmp_path/'u'/'preds.csv').write_text('file,digit\n' + ''.join(f'{n},3\n' for n in names))
    r = _eval(race, tmp_path/'u')
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and 'preds.csv' in last and "['file', 'digit']" in last and 'image_name,label' in last, r.stderr

def test_negative_seed_is_one_clear_error(tmp_path):
    r = cli('run', 'classifier', '--seed', '-1', '--budget', 'quick', '--out', tmp_path/'run', check=False, timeout=300)
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    assert 'seed' in last and '-1' in last, last
    assert not (tmp_path/'run'/'checkpoint.pth').exists() and not (tmp_path/'run'/'metrics.json').exists()

def test_sample_from_a_classifier_run_names_the_missing_file_and_command(race, tmp_path):
    run = next((race['cache']/'classifiers').rglob('classifier.pth')).parent   # a real `run classifier` folder
    r = cli('sample', 'dcgan', '--checkpoint', run, '--n', 4, '--out', tmp_path/'s', check=False, timeout=300)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('dlcv-course: error:') and str(run/'generator.pth') in last, last
    assert 'dlcv-course run dcgan' in last, last
    assert not (tmp_path/'s').exists() or not list((tmp_path/'s').iterdir())
