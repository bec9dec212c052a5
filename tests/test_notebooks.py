"The notebooks as a student opens them: a kernel, no empty cells, lessons rather than lab notes, no warnings in saved outputs."
import json, re
from pathlib import Path
import pytest

NBS = sorted((Path(__file__).resolve().parents[1]/'nbs').glob('*.ipynb'))
HISTORY = re.compile(r"(this session|earlier (run|version)|first version|previous (run|version)|we tried|shared machine(?!ry)|"
                     r"other jobs|was renamed|(?<![\w.])/(tmp|home|root|work)/)", re.I)

def cells(nb): return json.loads(nb.read_text())['cells']

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_opens_without_a_kernel_dialog(nb):
    ks = json.loads(nb.read_text())['metadata'].get('kernelspec', {})
    assert ks.get('name') == 'python3' and ks.get('language') == 'python', ks

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_no_empty_cells(nb):
    assert not [i for i, c in enumerate(cells(nb)) if not ''.join(c['source']).strip()]

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_a_lesson_not_lab_notes(nb):
    "No text narrates the project's history or names a machine path (history goes in commit messages)."
    hits = [(i, m.group(0)) for i, c in enumerate(cells(nb)) for m in HISTORY.finditer(''.join(c['source']))]
    assert not hits, hits

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_no_warnings_or_raw_recorder_lists_in_outputs(nb):
    bad = []
    for i, c in enumerate(cells(nb)):
        for o in c.get('outputs', []):
            text = ''.join(o.get('text', '')) if o.get('output_type') == 'stream' else ''
            if o.get('name') == 'stderr' and re.search(r'Warning\b', text): bad.append((i, text[:120]))
            if re.search(r'^\[\d+, [\d.]+, [\d.]+', text, re.M): bad.append((i, text[:120]))  # fastai's recorder printed raw
    assert not bad, bad

def test_the_checks_can_fail():
    assert HISTORY.search('An earlier version of this budget') and HISTORY.search('written to /tmp/runs/x')
    assert not HISTORY.search('the machinery of fastai') and not HISTORY.search('runs/ddpm-mnist')
