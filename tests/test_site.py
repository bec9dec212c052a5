"The site tools: tools/build_site.py builds pages from two fixture notebooks; tools/check_site.py finds what is broken in chromium."
import importlib.util, json, os, re, subprocess, sys
from pathlib import Path
import nbformat
from nbformat.v4 import new_notebook, new_markdown_cell, new_code_cell, new_output
import pytest

ROOT = Path(__file__).resolve().parents[1]
PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII='  # 1 x 1 px

def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT/'tools'/f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def _run(tool, *args, env=None):
    return subprocess.run([sys.executable, str(ROOT/'tools'/f'{tool}.py'), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=None if env is None else {**os.environ, **env})

def make_nbs(d:Path, broken=False, sidebar_extra='') -> Path:
    "Two small notebooks as saved with outputs, a sidebar with a section, an image file; `broken` adds a bad anchor, a dead link and a JS error."
    nbs = d/'nbs'; nbs.mkdir(parents=True)
    (nbs/'fig.png').write_bytes(__import__('base64').b64decode(PNG)); (nbs/'dot.png').write_bytes((nbs/'fig.png').read_bytes())
    links = 'See [the section](b.ipynb#a-section), [its nbconvert anchor](b.ipynb#A-section) and [page B](b.ipynb).'
    if broken: links += ' Also [a bad anchor](b.ipynb#no-such-anchor) and [a dead link](nothere.html).'
    a = new_notebook(cells=[
        new_markdown_cell('# Page A\n> The first fixture page.'),
        new_markdown_cell(EQUATIONS),
        new_markdown_cell(links + '\n\n![a dot](dot.png)'),
        new_code_cell('#| hide\nsecret_setup = 1'),
        new_code_cell('#| default_exp fixture'),
        new_code_cell('plot()', outputs=[new_output('display_data', data={'image/png': PNG, 'text/plain': '<Figure>'})]),
        new_code_cell('show_file()', outputs=[new_output('display_data', data={'text/html': '<img src="fig.png" alt="a figure file">'})]),
    ])
    b_cells = [new_markdown_cell('# Page B\n> The second fixture page.'), new_markdown_cell('## A section\n\nBack to [A](a.ipynb).')]
    if broken: b_cells.append(new_code_cell('boom()', outputs=[new_output('display_data', data={'text/html': '<script>throw new Error("boom-fixture")</script>'})]))
    for name, nb in (('a.ipynb', a), ('b.ipynb', new_notebook(cells=b_cells))): nbformat.write(nb, nbs/name)
    (nbs/'nbdev.yml').write_text('website:\n  title: "Fixture course"\n')
    (nbs/'sidebar.yml').write_text('website:\n  sidebar:\n    contents:\n      - a.ipynb\n      - section: Part two\n'
                                   '        contents:\n          - b.ipynb\n' + sidebar_extra)
    return nbs

EQUATIONS = 'Inline $\\frac{a}{b} + \\mathbb{E}[x]$ and displayed\n\n$$\\sum_{i=1}^{n} x_i = \\left(\\alpha \\cdot \\beta\\right).$$'

def make_faults(d:Path) -> Path:
    "Four pages, each with one kind of fault the browser check must find: an external script, TeX that cannot render, a too wide block, cut-off cells."
    nbs = d/'nbs'; nbs.mkdir(parents=True)
    html_out = lambda h: new_output('display_data', data={'text/html': h, 'text/plain': '<HTML>'})
    nbs_ = {'ext.ipynb': [new_markdown_cell('# External\nSome $x^2$.'), new_code_cell('cdn()', outputs=[html_out('<script src="https://cdn.invalid/lib.js"></script>')])],
            'tex.ipynb': [new_markdown_cell('# Raw TeX\nA ratio \\frac{a}{b} that lost its dollar signs, and $\\notamacro{x}$.')],
            'wide.ipynb': [new_markdown_cell('# Wide\nFine $y$.\n\n<div class="too-wide" style="position: absolute; width: 2400px">a wide banner</div>')],
            'cut.ipynb': [new_markdown_cell('# Cut off\n\n| a | wide markdown table |\n|---|---|\n| 1 | ' + 'x' * 300 + ' |'),
                          new_code_cell('table()', outputs=[html_out('<table style="width:1500px"><tr><td>a wide table</td></tr></table>')])]}
    for name, cells in nbs_.items(): nbformat.write(new_notebook(cells=cells), nbs/name)
    (nbs/'sidebar.yml').write_text('website:\n  sidebar:\n    contents:\n' + ''.join(f'      - {n}\n' for n in nbs_))
    return nbs

def test_build(tmp_path):
    nbs = make_nbs(tmp_path, broken=True); out = tmp_path/'site'
    r = _tool('build_site').build(nbs, out, quiet=True)
    assert r['problems'] == [], r['problems']
    assert r['pages'] == ['a.html', 'b.html']
    assert any('nothere.html' in w for w in r['warnings']), r['warnings']
    a, b = (out/'a.html').read_text(), (out/'b.html').read_text()
    assert '<title>Page A \u2013 Fixture course</title>' in a
    assert 'href="b.html#a-section"' in a and 'href="b.html"' in a and '.ipynb"' not in a and '.ipynb#' not in a
    current = lambda t: re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]*)<', t)
    assert 'class="section-title">Part two<' in a and current(a) == ['Page A'] and current(b) == ['Page B']
    assert 'id="a-section"' in b and 'id="A-section"' in b          # the Quarto-style anchor beside nbconvert's
    assert 'src="dot.png"' not in a and a.count('src="data:image/png;base64,') >= 2  # markdown image embedded, output PNG inline
    assert (out/'fig.png').exists()                                   # an image an output references by file is copied
    assert 'secret_setup' not in a and 'default_exp' not in a         # `#| hide` and directive-only cells dropped
    assert 'href="a.html"' in b and 'Page A</a></nav>' not in b       # pager links back
    # MathJax from the site itself, configured for $...$ and $$...$$, nothing from a CDN
    assert re.search(r'<script defer(="")? src="mathjax/tex-chtml-full.js">', a) and "inlineMath: [['$', '$']" in a
    assert not re.search(r'<script[^>]+src="https?:', a) and 'mathjax/2.7' not in a
    assert (out/'mathjax'/'tex-chtml-full.js').stat().st_size > 100_000 and list((out/'mathjax'/'output'/'chtml'/'fonts'/'woff-v2').glob('*.woff'))

def test_build_errors(tmp_path):
    nbs = make_nbs(tmp_path/'one', sidebar_extra='          - c_missing.ipynb\n')
    r = _run('build_site', '--nbs', nbs, '--out', tmp_path/'site')
    assert r.returncode != 0 and 'c_missing.ipynb' in r.stderr and 'sidebar.yml' in r.stderr, r.stderr
    nbs = make_nbs(tmp_path/'two'); (nbs/'dot.png').unlink()
    r = _run('build_site', '--nbs', nbs, '--out', tmp_path/'site2')
    assert r.returncode == 1 and "markdown image 'dot.png' is not there" in r.stderr, r.stderr
    nbs = make_nbs(tmp_path/'three')
    nb = nbformat.read(nbs/'b.ipynb', as_version=4); nb.cells[1].source += ' And [C](c.ipynb).'; nbformat.write(nb, nbs/'b.ipynb')
    r = _run('build_site', '--nbs', nbs, '--out', tmp_path/'site3')
    assert r.returncode == 1 and "'c.ipynb', a notebook that is not a page" in r.stderr, r.stderr
    # no MathJax in an empty npm cache and no npm to fetch it: say so, and how to get it
    r = _run('build_site', '--nbs', nbs, '--out', tmp_path/'site4', env=dict(DLCV_NPM_CACHE=str(tmp_path/'empty'), PATH=str(tmp_path/'nobin')))
    assert r.returncode == 1 and 'MathJax 3.2.2 is not in' in r.stderr and 'npm install --prefix' in r.stderr, r.stderr
    r = _run('build_site', '--nbs', nbs, '--out', tmp_path/'site5', '--mathjax', tmp_path)
    assert r.returncode == 1 and 'no tex-chtml-full.js there' in r.stderr, r.stderr

def _chromium():
    try: return _tool('check_site').find_chromium()
    except Exception: return None

@pytest.mark.skipif(_chromium() is None, reason='chromium is not installed (apt-get install -y chromium): the browser check cannot run')
def test_check_site(tmp_path):
    # a sound site passes, with a screenshot per page
    out = tmp_path/'good'
    assert _run('build_site', '--nbs', make_nbs(tmp_path/'g'), '--out', out).returncode == 0
    r = _run('check_site', '--site', out)
    assert r.returncode == 0 and 'all pages OK' in r.stdout, r.stdout + r.stderr
    assert (out/'_check'/'a.png').stat().st_size > 1000 and (out/'_check'/'b.png').exists()
    rep = json.loads((out/'_check'/'report.json').read_text())
    assert [p['page'] for p in rep['pages']] == ['a.html', 'b.html'] and rep['pages'][0]['images'] == 3
    # the equations rendered: MathJax typeset both (one mjx-container each), no raw TeX left, nothing from outside
    a = rep['pages'][0]
    assert a['mathjax'] == 'typeset' and a['math'] == 2 and a['external_requests'] == [] and a['scroll_width'] <= 1282, a
    # a broken one fails, naming each fault and only those
    out = tmp_path/'bad'
    assert _run('build_site', '--nbs', make_nbs(tmp_path/'b', broken=True), '--out', out).returncode == 0
    (out/'fig.png').unlink()  # the figure file goes missing after the build
    r = _run('check_site', '--site', out, '--shots', tmp_path/'shots')
    assert r.returncode == 1, r.stdout + r.stderr
    probs = json.loads((tmp_path/'shots'/'report.json').read_text())['problems']
    expect = ["a.html: image did not load: 'fig.png'", "a.html: broken link 'b.html#no-such-anchor'", "a.html: broken link 'nothere.html'",
              'b.html: JavaScript error: Error: boom-fixture']
    for e in expect: assert any(p.startswith(e) for p in probs), (e, probs)
    assert len(probs) == len(expect), probs
    assert 'no anchor #no-such-anchor on b.html' in r.stdout and (tmp_path/'shots'/'a.png').exists()

@pytest.mark.skipif(_chromium() is None, reason='chromium is not installed (apt-get install -y chromium): the browser check cannot run')
def test_check_site_faults(tmp_path):
    # each page fails for its one fault, and only for it
    out = tmp_path/'site'
    assert _run('build_site', '--nbs', make_faults(tmp_path), '--out', out).returncode == 0
    r = _run('check_site', '--site', out)
    assert r.returncode == 1, r.stdout + r.stderr
    pages = {p['page']: p for p in json.loads((out/'_check'/'report.json').read_text())['pages']}
    ext, tex, wide = pages['ext.html']['problems'], pages['tex.html']['problems'], pages['wide.html']['problems']
    assert len(ext) == 1 and ext[0].startswith('loads https://cdn.invalid/lib.js from outside the site'), ext
    assert pages['ext.html']['math'] == 1 and pages['wide.html']['math'] == 1  # the good math on the faulty pages still renders
    assert len(tex) == 2 and tex[0].startswith('raw TeX, not typeset: "A ratio \\frac{a}{b}') and 'notamacro' in tex[1], tex
    assert len(wide) == 1 and wide[0].startswith('scrolls sideways: ') and 'div.too-wide' in wide[0], wide
    assert pages['wide.html']['scroll_width'] > 2400 and 'not checked' not in r.stdout
    cut = pages['cut.html']['problems']
    assert len(cut) == 2 and cut[0].startswith('a markdown cell scrolls sideways inside the page') and 'wide markdown table' in cut[0], cut
    assert cut[1].startswith('an output scrolls sideways inside the page, cut off at the right: 15') and 'a wide table' in cut[1], cut
